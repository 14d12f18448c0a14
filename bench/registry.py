"""The registry's benchmarks in one run: validated durable appends, raw tree integration,
and proof latency at 10^6 entries, side by side with pymerkle 7.0.0.

``make bench`` runs it after the identity-core benchmark; each part also runs alone
(``bench/registry_appends.py``, ``bench/registry_tree.py``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import registry_appends
import registry_tree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=10**6, help="tree size for the proof rows")
    parser.add_argument("--appends", type=int, default=20_000, help="entries per append workload")
    args = parser.parse_args(argv)
    print(
        f"akashi registry benchmark — Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores"
    )
    print()
    registry_appends.print_rows(registry_appends.bench(args.appends))
    print()
    registry_tree.print_rows(registry_tree.bench(args.entries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
