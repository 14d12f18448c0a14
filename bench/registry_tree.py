"""Benchmarks of the registry's tiled Merkle tree, side by side with pymerkle 7.0.0.

Run alone with ``.venv/bin/python bench/registry_tree.py`` (about a minute at
10^6 entries); the combined bench imports :func:`bench` (or the parts) and
prints the :class:`Row` list its own way. pymerkle is a bench-only dependency
(``pip install pymerkle==7.0.0``); without it the pymerkle column stays empty.

What is compared, in one process on the same entries (96-byte entries):

* integration: akashi's :class:`registry.tree.Integrator` hashing every
  interior node once and assembling height-8 tiles, in batches of 1,000 as the
  node does, against pymerkle's ``InmemoryTree.append_entries`` (which updates
  its node objects up to the root on every append) and
  ``SqliteTree.append_entries`` (one bulk transaction that stores leaf hashes
  only; pymerkle computes interior nodes later, at proof time);
* proofs at 10^6 entries: akashi from tiles in a dict and from a SQLite
  table of tiles (one query per proof), against pymerkle's ``SqliteTree``
  (the first proof after start-up, with its subroot cache empty, and then the
  median of random proofs with a warm cache).

Every proof of ours is checked against pymerkle's root and with the RFC 9162
verifiers of identity.ledger.merkle on a sample, so the rows compare equal work.
"""

from __future__ import annotations

import argparse
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from registry.tree import Integrator, consistency_proof, inclusion_proof, root_at

Key = tuple[int, int]
BATCH = 1000
#: Build pymerkle's SQLite tree at the full size only if that should take less than this.
PYMERKLE_BUILD_LIMIT = 180.0


class Row(NamedTuple):
    """One measurement: ``unit`` is ``"/s"`` (higher is better) or ``"ms"`` (lower is better)."""

    measure: str
    ours: float
    pymerkle: float | None
    unit: str
    note: str = ""

    def speedup(self) -> float | None:
        """How many times better ours is than pymerkle's (None without a pymerkle figure)."""
        if not self.pymerkle or not self.ours:
            return None
        return self.ours / self.pymerkle if self.unit == "/s" else self.pymerkle / self.ours


def entries(count: int, start: int = 0) -> Iterator[bytes]:
    """``count`` distinct 96-byte entries (about the size of a small ledger envelope's digest part)."""
    for i in range(start, start + count):
        yield i.to_bytes(8, "big") * 12


class DictTiles:
    """Tiles in memory, the way tests hold them."""

    def __init__(self) -> None:
        self.tiles: dict[Key, bytes] = {}

    def read_tiles(self, ids: Iterable[Key]) -> Mapping[Key, bytes]:
        tiles = self.tiles
        return {key: tiles[key] for key in ids if key in tiles}


class SqliteTiles:
    """A minimal SQLite tile table ``(level, idx, data)``: one upsert per batch, one query per proof."""

    def __init__(self, path: Path) -> None:
        self.con = sqlite3.connect(path)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS tiles (level INTEGER NOT NULL, idx INTEGER NOT NULL,"
            " data BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID"
        )
        self.con.execute("CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")

    def write(self, first: int, batch: list[bytes], tiles: Mapping[Key, bytes]) -> None:
        with self.con:  # one transaction per batch, as the node writes one
            rows = zip(range(first, first + len(batch)), batch, strict=True)
            self.con.executemany("INSERT INTO entries (id, data) VALUES (?, ?)", rows)
            self.con.executemany(
                "INSERT INTO tiles (level, idx, data) VALUES (?, ?, ?)"
                " ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data",
                [(level, idx, data) for (level, idx), data in tiles.items()],
            )

    def read_tiles(self, ids: Iterable[Key]) -> Mapping[Key, bytes]:
        by_level: dict[int, list[int]] = {}
        for level, idx in ids:
            by_level.setdefault(level, []).append(idx)
        if not by_level:
            return {}
        # One term per level, each a primary-key search. (A row-value "(level, idx) IN (VALUES …)"
        # makes SQLite 3.40 scan the whole table: 0.8 ms at 10^6 entries instead of 0.03 ms.)
        terms = " OR ".join(f"(level = ? AND idx IN ({','.join('?' * len(v))}))" for v in by_level.values())
        params = [p for level, idxs in by_level.items() for p in (level, *idxs)]
        query = f"SELECT level, idx, data FROM tiles WHERE {terms}"
        return {(level, idx): data for level, idx, data in self.con.execute(query, params)}

    def close(self) -> None:
        self.con.close()


def _best_seconds(fn: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _integrate(hashes: list[bytes], batch: int = BATCH) -> Integrator:
    integrator = Integrator()
    for i in range(0, len(hashes), batch):
        integrator.append(hashes[i : i + batch])
    return integrator


def bench_integration(size: int = 10**6, pymerkle_memory_size: int = 10**5, rounds: int = 3) -> list[Row]:
    """Integration rates: ours in memory (leaf hashes, and whole entries) vs pymerkle's in-memory tree."""
    data = list(entries(size))
    hashes = [leaf_hash(d) for d in data]
    raw = size / _best_seconds(lambda: _integrate(hashes), rounds)
    whole = size / _best_seconds(lambda: _integrate([leaf_hash(d) for d in data]), rounds)
    label = f"integrate leaf hashes -> tiles/s ({_exp(size)}, batches of {BATCH})"
    rows = [Row(label, raw, None, "/s", "hashing + tile assembly, no SQL; goal >= 130,000/s")]
    pm_memory = None
    try:
        from pymerkle import InmemoryTree  # type: ignore[import-untyped]

        def pymerkle_memory() -> None:
            InmemoryTree().append_entries(entries(pymerkle_memory_size))

        pm_memory = pymerkle_memory_size / _best_seconds(pymerkle_memory, 1)
    except ImportError:
        pass
    rows.append(
        Row(
            "append entries in memory/s (leaf hash + tree)",
            whole,
            pm_memory,
            "/s",
            f"pymerkle InmemoryTree at {_exp(pymerkle_memory_size)} entries",
        )
    )
    return rows


def _latency_ms(calls: list[Callable[[], object]]) -> float:
    times = []
    for call in calls:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench_proofs(size: int = 10**6, proofs: int = 1000, pymerkle_proofs: int = 100) -> list[Row]:
    """Proof latency at ``size`` entries: ours from dict and SQLite tiles vs pymerkle's SqliteTree."""
    rng = random.Random(2024)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="akashi-bench-") as tmp:
        # ---- ours: the node's write path (entries + tiles, one transaction per batch), then proofs
        store, memory = SqliteTiles(Path(tmp) / "tiles.db"), DictTiles()
        integrator = Integrator()
        start = time.perf_counter()
        batch: list[bytes] = []
        for entry in entries(size):
            batch.append(entry)
            if len(batch) == BATCH:
                result = integrator.append([leaf_hash(d) for d in batch])
                store.write(result.size - len(batch), batch, result.tiles)
                memory.tiles.update(result.tiles)
                batch = []
        if batch:
            result = integrator.append([leaf_hash(d) for d in batch])
            store.write(result.size - len(batch), batch, result.tiles)
            memory.tiles.update(result.tiles)
        ours_build = size / (time.perf_counter() - start)
        root = integrator.root

        indexes = [rng.randrange(size) for _ in range(proofs)]
        olds = [rng.randint(1, size - 1) for _ in range(proofs)]
        for i, m in zip(indexes[:50], olds[:50], strict=True):  # the proofs are right before they are fast
            verify_inclusion(leaf_hash(next(entries(1, i))), i, size, inclusion_proof(i, size, store), root)
            verify_consistency(m, size, consistency_proof(m, size, memory), root_at(m, store), root)
        ours: dict[str, float] = {}
        for name, reader in (("dict", memory), ("sqlite", store)):
            ours[f"incl-{name}"] = _latency_ms([partial(inclusion_proof, i, size, reader) for i in indexes])
            ours[f"cons-{name}"] = _latency_ms([partial(consistency_proof, m, size, reader) for m in olds])
        store.close()

        # ---- pymerkle's SQLite tree at the same size, if building it is affordable
        pm = _pymerkle_sqlite(Path(tmp), size, root, indexes[:pymerkle_proofs], olds[:pymerkle_proofs])

    exp = _exp(size)
    same = "" if not pm or pm["size"] == size else f"; pymerkle built at {_exp(int(pm['size']))} only"
    write = f"ours: entries+tiles, 1 txn per {BATCH}; pymerkle: 1 bulk txn, leaf hashes only{same}"
    rows.append(Row(f"append entries to SQLite/s (to {exp})", ours_build, pm.get("build"), "/s", write))
    for kind, label in (("incl", "inclusion"), ("cons", "consistency")):
        warm, cold = pm.get(f"{kind}-warm"), pm.get(f"{kind}-cold")
        median = f"median of {proofs} (pymerkle {pymerkle_proofs}){same}"
        rows += [
            Row(
                f"{label} proof at {exp}, ours dict tiles vs pymerkle warm",
                ours[f"{kind}-dict"],
                warm,
                "ms",
                median,
            ),
            Row(
                f"{label} proof at {exp}, ours SQLite tiles vs pymerkle warm",
                ours[f"{kind}-sqlite"],
                warm,
                "ms",
                "one SELECT per proof; goal < 1 ms" + same,
            ),
            Row(
                f"{label} proof at {exp}, ours SQLite vs pymerkle cold",
                ours[f"{kind}-sqlite"],
                cold,
                "ms",
                "pymerkle: first proof after opening, empty cache" + same,
            ),
        ]
    return rows


def _exp(n: int) -> str:
    return f"10^{len(str(n)) - 1}" if str(n).strip("0") == "1" else f"{n:,}"


def _pymerkle_sqlite(
    tmp: Path, size: int, root: bytes, indexes: list[int], olds: list[int]
) -> dict[str, float]:
    """pymerkle's build rate and proof latencies (ms); empty without pymerkle."""
    try:
        from pymerkle import SqliteTree
    except ImportError:
        return {}
    # Time a tenth first; build the full size only if that should stay under the limit.
    probe = max(1, size // 10)
    start = time.perf_counter()
    with SqliteTree(str(tmp / "pymerkle-probe.db")) as tree:
        tree.append_entries(entries(probe))
    estimate = (time.perf_counter() - start) * size / probe
    built = size if estimate <= PYMERKLE_BUILD_LIMIT else probe
    path = tmp / "pymerkle.db"
    start = time.perf_counter()
    with SqliteTree(str(path)) as tree:
        tree.append_entries(entries(built))
    result = {"size": float(built), "build": built / (time.perf_counter() - start)}
    for kind, args in (("incl", [i % built + 1 for i in indexes]), ("cons", [m % built or 1 for m in olds])):
        with SqliteTree(str(path)) as tree:  # a fresh tree object: an empty subroot cache
            # pymerkle counts leaves from 1
            if kind == "incl":
                prove = partial(tree.prove_inclusion, size=built)
            else:
                prove = partial(tree.prove_consistency, later_size=built)
            start = time.perf_counter()
            prove(args[0])
            result[f"{kind}-cold"] = (time.perf_counter() - start) * 1000
            result[f"{kind}-warm"] = _latency_ms([partial(prove, a) for a in args])
            if built == size and tree.get_root(built) != root:
                raise RuntimeError("pymerkle and akashi disagree on the root: the comparison is void")
    return result


def bench(size: int = 10**6) -> list[Row]:
    """Every row: integration rates, then proof latencies at ``size`` entries."""
    return bench_integration(size) + bench_proofs(size)


def print_rows(rows: list[Row]) -> None:
    """The table as the standalone run prints it."""
    python = f"Python {platform.python_version()}, {platform.machine()}"
    print(f"akashi registry tree vs pymerkle 7.0.0 — {python}")
    print(f"{'measure':64s} {'akashi':>12s} {'pymerkle':>12s} {'unit':>4s} {'better':>8s}  note")
    for row in rows:
        fmt = "{:12,.0f}" if row.unit == "/s" else "{:12.3f}"
        ref = fmt.format(row.pymerkle) if row.pymerkle else f"{'':12s}"
        speedup = row.speedup()
        ratio = f"{speedup:7.1f}x" if speedup else f"{'':8s}"
        print(f"{row.measure:64s} {fmt.format(row.ours)} {ref} {row.unit:>4s} {ratio}  {row.note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10**6, help="entries in the tree (default 10^6)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    print_rows(bench(args.size))
    print(f"(took {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
