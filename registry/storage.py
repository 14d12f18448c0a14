"""Storage of a registry node: the log, its tiles, checkpoints and derived state.

:class:`Storage` is the interface the node uses; :class:`SqliteStorage` is the
embedded implementation (sqlite-utils on SQLite in WAL mode with
``synchronous=FULL``: a batch acknowledged to a submitter has been fsynced).
A PostgreSQL implementation will sit behind the same interface.

Every write of a batch — entries, tiles, state changes, the checkpoint, the
new tree size and the mailbox ciphertexts its entries store or delete
(:mod:`registry.mailbox_store`) — is one transaction, so a crash leaves either
all of a batch or none of it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlite_utils

from registry.mailbox_store import (
    MAILBOX_SCHEMA,
    MailboxChange,
    SqliteMailboxStore,
    upgrade_mailbox_schema,
    write_mailbox_changes,
)

__all__ = [
    "Batch",
    "SqliteStorage",
    "Storage",
    "StoredCheckpoint",
    "StoredEntry",
    "as_blob",
]


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One log entry as stored: its index, digest, leaf hash, type and exact bytes."""

    index: int
    digest: bytes
    leaf_hash: bytes
    type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A signed checkpoint (C2SP signed note) and the cosignature lines gathered for it."""

    size: int
    root: bytes
    note: str
    cosignatures: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The signed note with every cosignature line gathered for it, as served."""
        lines = "".join(line if line.endswith("\n") else line + "\n" for line in self.cosignatures)
        return self.note + lines


@dataclass(slots=True)
class Batch:
    """Everything one integration step writes, in one transaction."""

    start: int
    entries: list[StoredEntry] = field(default_factory=list)
    tiles: dict[tuple[int, int], bytes] = field(default_factory=dict)
    state: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    checkpoint: StoredCheckpoint | None = None
    mailbox: list[MailboxChange] = field(default_factory=list)

    @property
    def end(self) -> int:
        """The tree size after this batch."""
        return self.start + len(self.entries)


class Storage(Protocol):
    """What a node needs from its store."""

    def size(self) -> int: ...
    def read_tiles(self, ids: Iterable[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]: ...
    def entry(self, index: int) -> StoredEntry | None: ...
    def entries(self, start: int, end: int) -> list[StoredEntry]: ...
    def find_digests(self, digests: Sequence[bytes]) -> dict[bytes, int]: ...
    def find_leaf_hash(self, leaf_hash: bytes) -> int | None: ...
    def get_state(self, kind: str, key: str) -> dict[str, Any] | None: ...
    def state_items(self, kind: str | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]: ...
    def latest_checkpoint(self) -> StoredCheckpoint | None: ...
    def checkpoint(self, size: int) -> StoredCheckpoint | None: ...
    def checkpoints(self) -> Iterator[StoredCheckpoint]: ...
    def add_cosignature(self, size: int, witness: str, line: str) -> None: ...
    def commit(self, batch: Batch) -> None: ...
    def replace_state(self, items: Iterable[tuple[str, str, dict[str, Any]]]) -> None: ...
    @property
    def mailbox(self) -> SqliteMailboxStore: ...
    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    leaf_hash BLOB NOT NULL,
    type TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_leaf_hash ON entries (leaf_hash);
CREATE TABLE IF NOT EXISTS tiles (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY,
    root BLOB NOT NULL,
    note TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cosignatures (
    size INTEGER NOT NULL,
    witness TEXT NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (size, witness)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
""" + MAILBOX_SCHEMA


class SqliteStorage:
    """The embedded store: one SQLite file in WAL mode.

    Reads may come from several threads (HTTP handlers); writes come from the
    node's single sequencer. Each thread gets its own connection.
    """

    def __init__(self, path: Path | str, *, durable: bool = True) -> None:
        self.path = str(path)
        self._durable = durable
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.mailbox = SqliteMailboxStore(lambda: self._conn)
        db = self.db
        db.conn.executescript(_SCHEMA)
        upgrade_mailbox_schema(db.conn)  # a file from before the mailbox tracked deliveries
        if db.conn.execute("SELECT value FROM meta WHERE key = 'size'").fetchone() is None:
            db.conn.execute("INSERT INTO meta (key, value) VALUES ('size', '0')")
            db.conn.commit()

    # ------------------------------------------------------------------ connections

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's sqlite-utils database."""
        db: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=" + ("FULL" if self._durable else "OFF"))
            conn.execute("PRAGMA busy_timeout=10000")
            # Deleted content (acknowledged mailbox ciphertexts) is overwritten, not left in free pages.
            conn.execute("PRAGMA secure_delete=ON")
            db = sqlite_utils.Database(conn)
            self._local.db = db
            with self._lock:
                self._all.append(conn)
        return db

    @property
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection = self.db.conn
        return conn

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # ------------------------------------------------------------------ reads

    def size(self) -> int:
        """The number of entries integrated into the tree."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'size'").fetchone()
        return int(row[0])

    def read_tiles(self, ids: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored tiles among ``ids``, in one query (one primary-key range per level)."""
        by_level: dict[int, list[int]] = {}
        for level, idx in dict.fromkeys(ids):
            by_level.setdefault(level, []).append(idx)
        if not by_level:
            return {}
        clauses = []
        params: list[int] = []
        for level, indexes in by_level.items():
            clauses.append(f"(level = ? AND idx IN ({','.join('?' * len(indexes))}))")
            params.append(level)
            params.extend(indexes)
        rows = self._conn.execute(f"SELECT level, idx, data FROM tiles WHERE {' OR '.join(clauses)}", params)
        return {(level, idx): as_blob(data) for level, idx, data in rows}

    def entry(self, index: int) -> StoredEntry | None:
        """The entry at ``index``, or ``None``."""
        row = self._conn.execute(
            "SELECT idx, digest, leaf_hash, type, data FROM entries WHERE idx = ?", (index,)
        ).fetchone()
        return _entry(row) if row else None

    def entries(self, start: int, end: int) -> list[StoredEntry]:
        """Entries ``start`` … ``end - 1`` in order."""
        rows = self._conn.execute(
            "SELECT idx, digest, leaf_hash, type, data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx",
            (start, end),
        )
        return [_entry(row) for row in rows]

    def find_digests(self, digests: Sequence[bytes]) -> dict[bytes, int]:
        """For each of ``digests`` already in the log, its index."""
        found: dict[bytes, int] = {}
        for chunk_start in range(0, len(digests), 500):
            chunk = digests[chunk_start : chunk_start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(f"SELECT digest, idx FROM entries WHERE digest IN ({marks})", chunk)
            found.update((as_blob(digest), idx) for digest, idx in rows)
        return found

    def find_leaf_hash(self, leaf_hash: bytes) -> int | None:
        """The first index whose leaf hash is ``leaf_hash``."""
        row = self._conn.execute(
            "SELECT idx FROM entries WHERE leaf_hash = ? ORDER BY idx LIMIT 1", (leaf_hash,)
        ).fetchone()
        return int(row[0]) if row else None

    def get_state(self, kind: str, key: str) -> dict[str, Any] | None:
        """One derived-state record."""
        row = self._conn.execute("SELECT value FROM state WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        if row is None:
            return None
        value: dict[str, Any] = json.loads(row[0])
        return value

    def state_items(self, kind: str | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every derived-state record (of one ``kind``), in key order."""
        if kind is None:
            rows = self._conn.execute("SELECT kind, key, value FROM state ORDER BY kind, key")
        else:
            rows = self._conn.execute(
                "SELECT kind, key, value FROM state WHERE kind = ? ORDER BY key", (kind,)
            )
        for row_kind, key, value in rows:
            yield row_kind, key, json.loads(value)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint of the largest tree size."""
        row = self._conn.execute(
            "SELECT size, root, note FROM checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return self._checkpoint(row) if row else None

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        """The checkpoint for tree size ``size``, if one was signed."""
        row = self._conn.execute(
            "SELECT size, root, note FROM checkpoints WHERE size = ?", (size,)
        ).fetchone()
        return self._checkpoint(row) if row else None

    def checkpoints(self) -> Iterator[StoredCheckpoint]:
        """Every checkpoint, smallest first."""
        rows = self._conn.execute("SELECT size, root, note FROM checkpoints ORDER BY size").fetchall()
        for row in rows:
            yield self._checkpoint(row)

    def _checkpoint(self, row: tuple[Any, ...]) -> StoredCheckpoint:
        size, root, note = row
        lines = self._conn.execute(
            "SELECT line FROM cosignatures WHERE size = ? ORDER BY witness", (size,)
        ).fetchall()
        return StoredCheckpoint(size, as_blob(root), str(note), tuple(str(line) for (line,) in lines))

    # ------------------------------------------------------------------ writes

    def add_cosignature(self, size: int, witness: str, line: str) -> None:
        """Store a witness's cosignature line for the checkpoint of ``size``."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO cosignatures (size, witness, line) VALUES (?, ?, ?)",
                (size, witness, line),
            )

    def commit(self, batch: Batch) -> None:
        """Write ``batch`` in one transaction; refuse it unless it starts at the current size."""
        with self._transaction() as conn:
            current = int(conn.execute("SELECT value FROM meta WHERE key = 'size'").fetchone()[0])
            if current != batch.start:
                raise RuntimeError(f"batch starts at {batch.start} but the log has {current} entries")
            conn.executemany(
                "INSERT INTO entries (idx, digest, leaf_hash, type, data) VALUES (?, ?, ?, ?, ?)",
                [(e.index, e.digest, e.leaf_hash, e.type, e.data) for e in batch.entries],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO tiles (level, idx, data) VALUES (?, ?, ?)",
                [(level, idx, data) for (level, idx), data in batch.tiles.items()],
            )
            _write_state(conn, batch.state)
            write_mailbox_changes(conn, batch.mailbox)
            if batch.checkpoint is not None:
                cp = batch.checkpoint
                conn.execute(
                    "INSERT INTO checkpoints (size, root, note) VALUES (?, ?, ?)",
                    (cp.size, cp.root, cp.note),
                )
            conn.execute("UPDATE meta SET value = ? WHERE key = 'size'", (str(batch.end),))

    def replace_state(self, items: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        """Replace all derived state by ``items`` (``rebuild``), in one transaction."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM state")
            conn.executemany(
                "INSERT INTO state (kind, key, value) VALUES (?, ?, ?)",
                [(kind, key, _dump(value)) for kind, key, value in items],
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    # ------------------------------------------------------------------ raw access for `verify`

    def raw_rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        """Every row of ``table`` as stored (for integrity checks)."""
        if table not in {"entries", "tiles", "checkpoints", "cosignatures", "state", "meta", "mailbox"}:
            raise ValueError(f"no table {table}")
        yield from self._conn.execute(f"SELECT * FROM {table}")


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


def _dump(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _write_state(conn: sqlite3.Connection, changes: list[tuple[str, str, dict[str, Any] | None]]) -> None:
    for kind, key, value in changes:
        if value is None:
            conn.execute("DELETE FROM state WHERE kind = ? AND key = ?", (kind, key))
        else:
            conn.execute(
                "INSERT OR REPLACE INTO state (kind, key, value) VALUES (?, ?, ?)", (kind, key, _dump(value))
            )


def as_blob(value: Any) -> bytes:
    """A BLOB column's bytes. A tampered database may hold text or numbers there:
    they are returned as bytes that match nothing, for ``verify`` to report."""
    if isinstance(value, (bytes, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8", "surrogateescape")


def _entry(row: tuple[Any, ...]) -> StoredEntry:
    idx, digest, leaf_hash, type_, data = row
    return StoredEntry(idx, as_blob(digest), as_blob(leaf_hash), str(type_), as_blob(data))
