"""The mailbox's tables in the node's SQLite file: ciphertexts addressed to recipient DIDs,
and the nonces and signatures of recent mailbox requests (replay protection).

A ciphertext enters the ``mailbox`` table only in the transaction that appends its
``mailbox.notice`` to the log (:func:`write_mailbox_changes`, called by
:meth:`registry.storage.SqliteStorage.commit`), or later, for a notice already on the
ledger, in a transaction that first reads the notice's state (:meth:`SqliteMailboxStore.attach`).
So a stored ciphertext always has its notice on the ledger, and a crash keeps both or
neither. It leaves the table in the transaction that appends the notice's ``mailbox.ack``
or the revocation of its consent, or when the retention has passed
(:meth:`SqliteMailboxStore.purge`). The node's connections run with
``secure_delete``: a deleted ciphertext is overwritten, not left in free pages.

``seq`` (AUTOINCREMENT: never reused, and assigned in commit order because every write
holds SQLite's write lock) is the recipients' cursor: a message is served once to a
recipient that passes back the cursor it was given.

``delivered_at`` is the node's time when the recipient was first served the message
(:meth:`SqliteMailboxStore.mark_delivered`), NULL until then; a later fetch of the same
message does not move it. It is the node's word, not something the ledger proves, and it
goes with the ciphertext: once the row is deleted (ack, revocation, retention) the node
no longer knows it. Databases created before the column existed gain it when the store
opens (:func:`upgrade_mailbox_schema`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "MAILBOX_SCHEMA",
    "MailboxChange",
    "MailboxDrop",
    "MailboxRow",
    "SqliteMailboxStore",
    "StoredMessage",
    "mailbox_changes",
    "upgrade_mailbox_schema",
    "write_mailbox_changes",
]

MAILBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS mailbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    notice TEXT NOT NULL UNIQUE,
    recipient TEXT NOT NULL,
    consent TEXT NOT NULL,
    notice_index INTEGER NOT NULL,
    sent_at INTEGER NOT NULL,
    ciphertext BLOB NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX IF NOT EXISTS mailbox_recipient ON mailbox (recipient, seq);
CREATE INDEX IF NOT EXISTS mailbox_consent ON mailbox (consent);
CREATE INDEX IF NOT EXISTS mailbox_sent_at ON mailbox (sent_at);
CREATE TABLE IF NOT EXISTS mailbox_seen (
    key BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mailbox_seen_expiry ON mailbox_seen (expires_at);
"""


def upgrade_mailbox_schema(conn: sqlite3.Connection) -> None:
    """Give a ``mailbox`` table created before ``delivered_at`` existed that column (NULL:
    the old messages count as not yet delivered). Run after :data:`MAILBOX_SCHEMA`, on an
    autocommit connection; the check and the change share one write transaction, so two
    processes opening the same old file at once do not both add the column."""
    if _has_column(conn, "mailbox", "delivered_at"):
        return
    with _Transaction(conn):
        if not _has_column(conn, "mailbox", "delivered_at"):
            conn.execute("ALTER TABLE mailbox ADD COLUMN delivered_at INTEGER")


def _has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


@dataclass(frozen=True, slots=True)
class MailboxRow:
    """A ciphertext to keep for ``recipient``, keyed by its notice (the notice's state key)."""

    notice: str
    recipient: str
    consent: str
    notice_index: int
    sent_at: int
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class MailboxDrop:
    """Delete the ciphertexts whose ``by`` column is ``value`` (a notice, or every notice of a consent)."""

    by: Literal["notice", "consent"]
    value: str


MailboxChange = MailboxRow | MailboxDrop


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A ciphertext waiting in a recipient's mailbox, and its place in the recipient's cursor."""

    seq: int
    notice: str
    notice_index: int
    sent_at: int
    ciphertext: bytes


def mailbox_changes(envelope: Any, notice: str, index: int, ciphertext: bytes | None) -> list[MailboxChange]:
    """What an entry the rules accepted at ``index`` (state key ``notice`` for a notice) does
    to the mailbox: a notice posted with its ``ciphertext`` stores it; an ack deletes its
    notice's ciphertext; a consent's revocation deletes every ciphertext sent under it."""
    entry_type, body = envelope["type"], envelope["body"]
    if entry_type == "mailbox.notice" and ciphertext is not None:
        return [MailboxRow(notice, body["recipient"], body["consent"], index, body["sent_at"], ciphertext)]
    if entry_type == "mailbox.ack":
        return [MailboxDrop("notice", body["notice"])]
    if entry_type == "consent.revoke":
        return [MailboxDrop("consent", body["receipt_digest"])]
    return []


def write_mailbox_changes(conn: sqlite3.Connection, changes: Iterable[MailboxChange]) -> None:
    """Apply ``changes`` in order, inside the caller's transaction."""
    for change in changes:
        if isinstance(change, MailboxRow):
            _insert(conn, change)
        elif change.by == "notice":
            conn.execute("DELETE FROM mailbox WHERE notice = ?", (change.value,))
        else:
            conn.execute("DELETE FROM mailbox WHERE consent = ?", (change.value,))


def _insert(conn: sqlite3.Connection, row: MailboxRow) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO mailbox (notice, recipient, consent, notice_index, sent_at, ciphertext)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (row.notice, row.recipient, row.consent, row.notice_index, row.sent_at, row.ciphertext),
    )


StateReader = Callable[[str, str], "dict[str, Any] | None"]


class SqliteMailboxStore:
    """Reads and upkeep of the mailbox tables, on the connections of the node's store
    (``connect`` returns the calling thread's autocommit connection)."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect

    def page(
        self, recipient: str, *, after: int, sent_after: int, limit: int, max_bytes: int
    ) -> list[StoredMessage]:
        """The recipient's messages past cursor ``after``, oldest first: at most ``limit`` of
        them and, beyond the first, at most ``max_bytes`` of ciphertext; none sent at or
        before ``sent_after`` (past their retention, even if not purged yet)."""
        rows = self._connect().execute(
            "SELECT seq, notice, notice_index, sent_at, ciphertext FROM mailbox"
            " WHERE recipient = ? AND seq > ? AND sent_at > ? ORDER BY seq LIMIT ?",
            (recipient, after, sent_after, limit),
        )
        out: list[StoredMessage] = []
        size = 0
        for seq, notice, index, sent_at, ciphertext in rows:
            data = bytes(ciphertext)
            size += len(data)
            if out and size > max_bytes:
                break
            out.append(StoredMessage(int(seq), str(notice), int(index), int(sent_at), data))
        return out

    def held(self, notice: str) -> bool:
        """Whether the mailbox holds the ciphertext of ``notice``."""
        row = self._connect().execute("SELECT 1 FROM mailbox WHERE notice = ?", (notice,)).fetchone()
        return row is not None

    def mark_delivered(self, notices: Sequence[str], at: int) -> None:
        """Record that the messages of ``notices`` were served to their recipient at ``at``,
        for those not marked before (the first delivery is the one kept); one transaction."""
        if not notices:
            return
        conn = self._connect()
        with _Transaction(conn):
            conn.executemany(
                "UPDATE mailbox SET delivered_at = ? WHERE notice = ? AND delivered_at IS NULL",
                [(at, notice) for notice in notices],
            )

    def delivery(self, notice: str) -> tuple[bool, int | None]:
        """``(held, delivered_at)`` for ``notice``: whether its ciphertext is held, and when it
        was first served to the recipient (None if not yet, or if it is no longer held)."""
        conn = self._connect()
        row = conn.execute("SELECT delivered_at FROM mailbox WHERE notice = ?", (notice,)).fetchone()
        if row is None:
            return False, None
        return True, None if row[0] is None else int(row[0])

    def attach(self, row: MailboxRow, admissible: Callable[[StateReader], bool]) -> bool:
        """Store ``row`` for a notice already on the ledger, if ``admissible`` says so when
        given the derived state as it is inside this transaction (so no ack or revocation can
        commit between the check and the write). True if the ciphertext is held afterwards."""
        conn = self._connect()
        with _Transaction(conn):
            if conn.execute("SELECT 1 FROM mailbox WHERE notice = ?", (row.notice,)).fetchone():
                return True
            if not admissible(lambda kind, key: _read_state(conn, kind, key)):
                return False
            _insert(conn, row)
            return True

    def purge(self, sent_before: int) -> int:
        """Delete every ciphertext sent at or before ``sent_before``; how many were deleted."""
        conn = self._connect()
        with _Transaction(conn):
            return conn.execute("DELETE FROM mailbox WHERE sent_at <= ?", (sent_before,)).rowcount

    def remember(self, keys: Sequence[bytes], *, now: int, until: int) -> bool:
        """Record ``keys`` (digests of a request's nonce and signature) as seen until ``until``;
        False, recording nothing, if any of them is still remembered (a replay). Keys whose
        time has passed are forgotten first."""
        conn = self._connect()
        with _Transaction(conn):
            conn.execute("DELETE FROM mailbox_seen WHERE expires_at <= ?", (now,))
            marks = ",".join("?" * len(keys))
            if conn.execute(f"SELECT 1 FROM mailbox_seen WHERE key IN ({marks})", list(keys)).fetchone():
                return False
            conn.executemany(
                "INSERT INTO mailbox_seen (key, expires_at) VALUES (?, ?)", [(key, until) for key in keys]
            )
            return True

    def count(self, recipient: str | None = None) -> int:
        """How many ciphertexts are held (for ``recipient``)."""
        conn = self._connect()
        if recipient is None:
            row = conn.execute("SELECT count(*) FROM mailbox").fetchone()
        else:
            row = conn.execute("SELECT count(*) FROM mailbox WHERE recipient = ?", (recipient,)).fetchone()
        return int(row[0])


def _read_state(conn: sqlite3.Connection, kind: str, key: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT value FROM state WHERE kind = ? AND key = ?", (kind, key)).fetchone()
    if row is None:
        return None
    value: dict[str, Any] = json.loads(row[0])
    return value


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
