"""Shared test helpers live beside the tests of their role (tests/<role>/*_world.py,
tests/registry/node_harness.py); make them importable from every test folder."""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for folder in ("registry", "issuer"):
    path = str(_HERE / folder)
    if path not in sys.path:
        sys.path.append(path)
