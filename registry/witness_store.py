"""The witness's memory: the latest checkpoint it cosigned for each log.

C2SP tlog-witness, section "add-checkpoint": the witness keeps, per log origin,
only the latest checkpoint it verified, and must persist a new one *before*
answering, checking the old size and writing the new checkpoint atomically
(else two racing requests could roll the log back). So the one write is a
compare-and-update: it succeeds only if the stored size is still the old size
the request was checked against.

:class:`SqliteWitnessStore` does it as a single ``UPDATE … WHERE origin = ? AND
size = ?`` (or an ``INSERT`` for a log's first checkpoint) in one transaction,
and the number of rows changed decides: of two concurrent requests with the
same old size, exactly one wins, even across processes sharing the file.
:class:`MemoryWitnessStore` does the same under a lock, for tests.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import sqlite_utils

__all__ = [
    "MemoryWitnessStore",
    "SqliteWitnessStore",
    "StoredCheckpoint",
    "WitnessStore",
    "WitnessStoreError",
]

_TABLE = "witness_checkpoints"


class WitnessStoreError(RuntimeError):
    """The store could not be read or written (disk, lock timeout, corruption).

    Not an :class:`~identity.errors.AkashiError`: it says nothing about the
    request, only that the witness cannot answer now (HTTP 503).
    """


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """The latest checkpoint cosigned for ``origin``: size, root hash and the note as received."""

    origin: str
    size: int
    root_hash: bytes
    note: str


class WitnessStore(Protocol):
    """Per-origin latest checkpoint, with an atomic compare-and-update."""

    def latest(self, origin: str) -> StoredCheckpoint | None:
        """The latest checkpoint stored for ``origin``, or ``None`` if there is none."""
        ...

    def compare_and_update(self, old_size: int, new: StoredCheckpoint) -> bool:
        """Store ``new`` if the stored size for its origin is ``old_size`` (0: none stored).

        Returns whether it was stored; ``False`` means another request changed
        the stored size since the caller read it.
        """
        ...


class MemoryWitnessStore:
    """A :class:`WitnessStore` in a dict; the lock makes compare-and-update atomic."""

    def __init__(self) -> None:
        self._rows: dict[str, StoredCheckpoint] = {}
        self._lock = threading.Lock()

    def latest(self, origin: str) -> StoredCheckpoint | None:
        """The latest checkpoint stored for ``origin``."""
        with self._lock:
            return self._rows.get(origin)

    def compare_and_update(self, old_size: int, new: StoredCheckpoint) -> bool:
        """Store ``new`` if the stored size is still ``old_size``."""
        with self._lock:
            current = self._rows.get(new.origin)
            if (current.size if current is not None else 0) != old_size:
                return False
            self._rows[new.origin] = new
            return True


class SqliteWitnessStore:
    """A :class:`WitnessStore` in SQLite (WAL, ``synchronous=FULL``), one row per origin.

    Sizes are stored as canonical decimal text: they go up to 2**64-1, past
    SQLite's signed 64-bit INTEGER, and equality of canonical decimals is
    equality of sizes. One connection serves all threads, one at a time
    (``sqlite3`` connections must not run statements concurrently); other
    processes on the same file are kept honest by the conditional ``UPDATE``.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self._lock = threading.Lock()
        try:
            conn = sqlite3.connect(str(path), timeout=busy_timeout, check_same_thread=False)
            self._db = sqlite_utils.Database(conn)
            self._db.enable_wal()
            self._db.execute("PRAGMA synchronous=FULL")  # the spec: persisted before the answer
            self._db[_TABLE].create(  # type: ignore[union-attr]
                {"origin": str, "size": str, "root_hash": bytes, "note": str},
                pk="origin",
                not_null={"size", "root_hash", "note"},
                if_not_exists=True,
            )
        except sqlite3.Error as exc:
            raise WitnessStoreError(f"cannot open the witness store at {path}") from exc

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def latest(self, origin: str) -> StoredCheckpoint | None:
        """The latest checkpoint stored for ``origin``."""
        with self._lock:
            try:
                row = self._db.execute(
                    f"SELECT size, root_hash, note FROM {_TABLE} WHERE origin = ?", [origin]
                ).fetchone()
            except sqlite3.Error as exc:
                raise WitnessStoreError("cannot read the witness store") from exc
        if row is None:
            return None
        size, root_hash, note = row
        if not (isinstance(size, str) and size.isdigit() and isinstance(root_hash, bytes)):
            raise WitnessStoreError(f"the witness store row for {origin!r} is corrupt")
        return StoredCheckpoint(origin, int(size), root_hash, str(note))

    def compare_and_update(self, old_size: int, new: StoredCheckpoint) -> bool:
        """Store ``new`` if the stored size is still ``old_size``, in one transaction."""
        values = [str(new.size), new.root_hash, new.note, new.origin, str(old_size)]
        with self._lock:
            try:
                with self._db.atomic():
                    changed = self._db.execute(
                        f"UPDATE {_TABLE} SET size = ?, root_hash = ?, note = ?"
                        " WHERE origin = ? AND size = ?",
                        values,
                    ).rowcount
                    if changed == 0 and old_size == 0:
                        # A first checkpoint: "old 0" matches a log never seen. If a
                        # racing request inserted first, the IGNORE leaves its row.
                        changed = self._db.execute(
                            f"INSERT OR IGNORE INTO {_TABLE} (size, root_hash, note, origin)"
                            " VALUES (?, ?, ?, ?)",
                            values[:4],
                        ).rowcount
            except sqlite3.Error as exc:
                raise WitnessStoreError("cannot write the witness store") from exc
        return changed == 1
