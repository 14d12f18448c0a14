"""Group commit: answers arriving together share a transaction, each keeps its own outcome,
and writers in several processes queue instead of failing or sleeping."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from verifier.group_commit import GroupCommit


class Database:
    """One connection per thread, as the verifier's stores open them."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        self.connection().execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, thread INTEGER)")
        self.writes = GroupCommit(self.connection, self.path)

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def keys(self) -> set[str]:
        return {k for (k,) in self.connection().execute("SELECT k FROM t")}


def test_a_failing_write_is_rolled_back_alone_and_its_caller_sees_the_error(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    first_is_writing, release = threading.Event(), threading.Event()

    def slow(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO t VALUES ('slow', ?)", (threading.get_ident(),))
        first_is_writing.set()
        release.wait(10)
        return "slow"

    def insert(key: str) -> object:
        def work(conn: sqlite3.Connection) -> str:
            conn.execute("INSERT INTO t VALUES (?, ?)", (key, threading.get_ident()))
            if key == "bad":
                raise ValueError("refused")
            return key

        return work

    outcomes: dict[str, object] = {}
    callers: dict[str, int] = {}

    def call(key: str, work: object) -> None:
        callers[key] = threading.get_ident()
        try:
            outcomes[key] = db.writes.run(work)  # type: ignore[arg-type]
        except ValueError as error:
            outcomes[key] = error

    leader = threading.Thread(target=call, args=("slow", slow))
    leader.start()
    assert first_is_writing.wait(10)
    # These arrive while a commit is under way: they queue and go together in the next batch.
    followers = [threading.Thread(target=call, args=(k, insert(k))) for k in ("a", "b", "bad", "c")]
    for thread in followers:
        thread.start()
    while len(db.writes._queue) < len(followers):
        threading.Event().wait(0.01)
    release.set()
    for thread in [leader, *followers]:
        thread.join(10)

    assert outcomes["slow"] == "slow" and outcomes["a"] == "a" and outcomes["c"] == "c"
    assert isinstance(outcomes["bad"], ValueError)
    assert db.keys() == {"slow", "a", "b", "c"}  # "bad" alone was rolled back
    rows = dict(db.connection().execute("SELECT k, thread FROM t WHERE k IN ('a', 'b', 'c')").fetchall())
    # One thread ran the whole batch: one transaction, one fsync, for three answers.
    assert len(set(rows.values())) == 1
    assert sum(rows[k] != callers[k] for k in rows) >= 2


def test_a_failed_commit_reaches_every_caller_of_the_batch_and_stores_nothing(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    db.connection().execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.connection().execute(
        "CREATE TABLE child (p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"
    )
    db.connection().execute("PRAGMA foreign_keys=ON")

    def orphan(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES ('x', 0)")
        conn.execute("INSERT INTO child VALUES (42)")  # checked only at COMMIT

    with pytest.raises(sqlite3.IntegrityError):
        db.writes.run(orphan)
    assert db.keys() == set()
    assert db.writes.run(lambda conn: conn.execute("INSERT INTO t VALUES ('y', 0)").rowcount) == 1
    assert db.keys() == {"y"}


def _write_many(path: str, prefix: str, count: int) -> None:
    db = Database(Path(path))
    threads = [
        threading.Thread(
            target=lambda n=n: db.writes.run(
                lambda conn: conn.execute("INSERT INTO t VALUES (?, 0)", (f"{prefix}{n}",))
            )
        )
        for n in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_processes_writing_the_same_file_all_commit(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Database(path)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(str(path), p, 40)) for p in "abc"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert len(Database(path).keys()) == 120
