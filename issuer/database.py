"""SQLite connections for the issuer's stores, as the registry keeps them.

sqlite-utils on SQLite in WAL mode with ``synchronous=FULL`` (a change the
caller saw succeed has been fsynced), one connection per thread, and explicit
``BEGIN IMMEDIATE`` transactions so a read-modify-write never races another
writer.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import sqlite_utils

__all__ = ["Database", "Transaction"]


class Database:
    """One SQLite file; each thread that uses it gets its own connection."""

    def __init__(
        self, path: Path | str, *, schema: str, durable: bool = True, secure_delete: bool = False
    ) -> None:
        self.path = str(path)
        self._durable = durable
        self._secure_delete = secure_delete
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.conn.executescript(schema)

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's sqlite-utils database."""
        db: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=" + ("FULL" if self._durable else "OFF"))
            conn.execute("PRAGMA busy_timeout=10000")
            if self._secure_delete:  # deleted content is overwritten with zeros, not left in free pages
                conn.execute("PRAGMA secure_delete=ON")
            db = sqlite_utils.Database(conn)
            self._local.db = db
            with self._lock:
                self._all.append(conn)
        return db

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; use :meth:`transaction` to write)."""
        conn: sqlite3.Connection = self.db.conn
        return conn

    def transaction(self) -> Transaction:
        """``with db.transaction() as conn:`` — BEGIN IMMEDIATE … COMMIT, ROLLBACK on error."""
        return Transaction(self.conn)

    def close(self) -> None:
        """Close every connection this object opened."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


class Transaction:
    """A write transaction on one connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
