"""The verifier's one SQLite database, shared by its stores so that an answer is one write.

A wallet's answer closes its presentation request (:mod:`verifier.requests`) and stores
what was verified (:mod:`verifier.records`). Were these two files, the request would be
closed in one transaction and the records written in another — two commits, two
``fsync`` — and SQLite cannot make one transaction atomic across two files in WAL mode
(an ``ATTACH``-ed pair commits each file on its own). So both stores live in one file,
``customers.db`` of the data folder, and :class:`Database` gives them one connection per
thread and one :class:`~verifier.group_commit.GroupCommit`: a successful answer closes
its request *and* inserts its records in one transaction, or does neither.

Data folders from before (a separate ``requests.db``):
:meth:`verifier.requests.RequestStore.adopt_legacy` copies its transactions into the shared
file once, under the group commit's lock (several worker processes may open the folder at
the same moment), and keeps the old file as ``requests.db.migrated``; requests opened
before the upgrade can still be answered.

WAL mode; ``synchronous=FULL`` unless ``durable=False`` (tests): a caller told "stored"
finds it on disk after a power cut. Foreign keys are enforced.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from verifier.group_commit import GroupCommit

__all__ = ["Database"]


class Database:
    """One SQLite file: a connection per thread, and its writes through one group commit."""

    def __init__(self, path: Path | str, *, durable: bool = True) -> None:
        self.path = str(path)
        self.durable = durable
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.writes = GroupCommit(self.connection, self.path)

    def connection(self) -> sqlite3.Connection:
        """The calling thread's connection (autocommit: transactions are explicit)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=" + ("FULL" if self.durable else "NORMAL"))
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection opened so far (a later use opens a new one)."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

