"""The verifier's OpenID4VP transactions: signed requests by reference, single-use by ``state``.

One transaction per presentation request (OpenID4VP 1.0 sections 5 and 8.2): a fresh
``nonce`` (the KB-JWT must carry it) and ``state`` (the ``direct_post`` response must
echo it), the signed Request Object served at ``request_uri``, and the
``openid4vp://?client_id=…&request_uri=…`` URL a phone reads from a QR code.

Rules, numbered for the comments:

1. ``nonce``, ``state`` and the transaction id are 256/256/128 bits from ``random``.
2. ``client_id`` is the ``decentralized_identifier`` of the DID of ``kid`` (the
   Request Object says so and a wallet checks it, section 5.10.1).
3. The Request Object is served only while the transaction is open: unknown →
   :class:`NotFound`, answered → :class:`BindingError`, past ``expires_at`` → :class:`Expired`.
4. A response's ``state`` must name an open transaction: unknown or already answered →
   :class:`BindingError` (a replayed response), past ``expires_at`` when the response
   arrived → :class:`Expired`. :meth:`RequestStore.pending` checks this without writing
   (the verifier then checks the answer); :meth:`RequestStore.consume` checks it again
   and closes the transaction, once, in one group-committed ``BEGIN IMMEDIATE``
   transaction. Its ``then`` (the records of a verified answer) runs in that same
   transaction, after the close: of two answers carrying one state, the second finds it
   closed, raises :class:`BindingError`, and its ``then`` never runs — nothing of it is
   stored.
5. A transaction's status, for the page that shows it (:meth:`Transaction.status_at`):
   ``verified`` when it was closed together with a stored verification record (its id is
   kept, ``record_id``, in the same transaction as the records); ``failed`` when it was
   closed without one (a refusal, or a response that failed a check: nothing tells them
   apart here); ``expired`` when still open past ``expires_at``; ``waiting`` otherwise.
   A transaction closed before ``record_id`` was kept (an older version) reads ``failed``.

akashi extension: ``client_metadata.akashi_consent_request`` tells an akashi wallet the
policy's ``purpose_id``, ``consent_days``, ``updates_allowed`` and whether the signed
consent receipt (``akashi_consent``) is required; plain wallets ignore it (section 5.1).

Stored in SQLite (WAL, ``synchronous=FULL``), one connection per thread: a file of its own,
or the verifier's shared :class:`~verifier.database.Database` (the customer records live
in the same file, so that closing a request and recording its answer are one commit).
"""

from __future__ import annotations

import html
import io
import json
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import segno

from identity.crypto.encoding import b64url_encode
from identity.crypto.keys import Ed25519PrivateKey
from identity.did.url import parse_did_url
from identity.errors import BindingError, Expired, MalformedInput, NotFound
from identity.protocols.dcql import DcqlQuery, parse_dcql_query
from identity.protocols.oid4vp import (
    build_client_metadata,
    build_request_object,
    client_id_for_did,
    request_url_by_reference,
)
from verifier.database import Database
from verifier.policies import Policy, VctValues, to_dcql

__all__ = [
    "CONSENT_REQUEST_METADATA",
    "DEFAULT_REQUEST_PATH",
    "REQUEST_STATUSES",
    "RequestStore",
    "Transaction",
    "qr_png",
    "qr_svg",
    "qr_svg_element",
]

CONSENT_REQUEST_METADATA = "akashi_consent_request"
DEFAULT_REQUEST_PATH = "/oid4vp/requests/"
_MAX_REQUEST_OBJECT_LIFETIME = 3600  # a wallet refuses longer-lived Request Objects
#: What :meth:`Transaction.status_at` answers (rule 5).
REQUEST_STATUSES = ("waiting", "verified", "failed", "expired")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL UNIQUE,
    nonce TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    response_uri TEXT NOT NULL,
    dcql_query TEXT NOT NULL,
    request_uri_path TEXT NOT NULL,
    request_object TEXT NOT NULL,
    url TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    consumed_at INTEGER,
    record_id TEXT
);
CREATE INDEX IF NOT EXISTS transactions_expiry ON transactions (expires_at);
"""
# The columns of every version (a requests.db from before has these); record_id came later.
_LEGACY_COLUMNS = (
    "id, state, nonce, policy_id, client_id, response_uri, dcql_query, request_uri_path,"
    " request_object, url, created_at, expires_at, consumed_at"
)
_COLUMNS = _LEGACY_COLUMNS + ", record_id"
_BY_STATE = f"SELECT {_COLUMNS} FROM transactions WHERE state = ?"


@dataclass(frozen=True, slots=True)
class Transaction:
    """One presentation request and what its response must match."""

    id: str
    state: str
    nonce: str
    policy_id: str
    client_id: str
    response_uri: str
    dcql_query: dict[str, Any]
    request_uri_path: str
    request_object: str
    url: str
    created_at: int
    expires_at: int
    consumed_at: int | None = None
    #: The verification record stored with the close (rule 5); None while open or when none was.
    record_id: str | None = None

    def status_at(self, now: int | float) -> str:
        """One of :data:`REQUEST_STATUSES` at ``now`` (rule 5)."""
        if self.record_id is not None:
            return "verified"
        if self.consumed_at is not None:
            return "failed"
        return "expired" if now > self.expires_at else "waiting"  # "past expires_at", as rule 3

    @property
    def query(self) -> DcqlQuery:
        """The DCQL query that was sent (as stored, so later policy edits do not change it)."""
        return _parsed_query(json.dumps(self.dcql_query, sort_keys=True, ensure_ascii=False))

    @classmethod
    def _from_row(cls, row: tuple[Any, ...]) -> Transaction:
        (tid, state, nonce, policy_id, client_id, response_uri, query, path, obj, url,
         created, expires, consumed, record_id) = row
        return cls(tid, state, nonce, policy_id, client_id, response_uri, json.loads(query), path, obj,
                   url, created, expires, consumed, record_id)


def _consent_metadata(policy: Policy) -> dict[str, Any]:
    return {
        "purpose_id": policy.purpose_id,
        "consent_days": policy.consent_days,
        "updates_allowed": policy.updates_allowed,
        "receipt_required": policy.receipt_required,
    }


class RequestStore:
    """Open and answered OpenID4VP transactions, in one SQLite file.

    ``db``: a path (the store opens and owns its database; ``durable=False`` relaxes
    ``synchronous`` for tests) or a :class:`~verifier.database.Database` shared with the
    customer records (then the owner closes it).
    """

    def __init__(
        self,
        db: Path | str | Database,
        clock: Callable[[], float] = time.time,
        *,
        lifetime: int = 600,
        request_path: str = DEFAULT_REQUEST_PATH,
        durable: bool = True,
    ) -> None:
        if lifetime <= 0 or not request_path.startswith("/") or not request_path.endswith("/"):
            raise ValueError("lifetime must be positive and request_path '/…/'")
        self._owns = not isinstance(db, Database)
        self.database = db if isinstance(db, Database) else Database(db, durable=durable)
        self.path = self.database.path
        self.clock = clock
        self.lifetime = lifetime
        self.request_path = request_path
        self._writes = self.database.writes
        self._conn().executescript(_SCHEMA)
        self._add_record_id()

    def _conn(self) -> sqlite3.Connection:
        return self.database.connection()

    def close(self) -> None:
        """Close the database if this store opened it."""
        if self._owns:
            self.database.close()

    def _add_record_id(self) -> None:
        """Give a ``transactions`` table from before rule 5 its ``record_id`` column. Under the
        group commit's lock, checked again inside: worker processes may open the file together."""
        if self._has_record_id(self._conn()):
            return
        with self._writes.transaction() as conn:
            if not self._has_record_id(conn):
                conn.execute("ALTER TABLE transactions ADD COLUMN record_id TEXT")

    @staticmethod
    def _has_record_id(conn: sqlite3.Connection) -> bool:
        return any(row[1] == "record_id" for row in conn.execute("PRAGMA table_info(transactions)"))

    def adopt_legacy(self, legacy: Path) -> int:
        """Copy the transactions of ``legacy``, a ``requests.db`` an older version kept
        beside the customer records, into this store; return how many rows were read.

        Once per folder: under the group commit's lock (worker processes may start
        together), the old file is checkpointed, read and renamed ``<name>.migrated``
        before the copy commits; a process that waited for the lock finds nothing left.
        Should the commit fail, the renamed file still holds every row.
        """
        if not legacy.exists():
            return 0
        with self._writes.transaction() as conn:
            if not legacy.exists():  # adopted by another process while this one waited
                return 0
            try:
                rows = _legacy_rows(legacy)
            except sqlite3.Error as exc:
                raise MalformedInput(f"cannot read the older request database {legacy}: {exc}") from exc
            insert = f"INSERT OR IGNORE INTO transactions ({_LEGACY_COLUMNS}) VALUES ({','.join('?' * 13)})"
            conn.executemany(insert, rows)
            os.replace(legacy, legacy.with_name(legacy.name + ".migrated"))
        return len(rows)

    def _now(self, now: int | float | None) -> int:
        return int(self.clock() if now is None else now)

    def create(
        self,
        policy: Policy,
        *,
        client_id: str,
        response_uri: str,
        signing_key: Ed25519PrivateKey,
        kid: str,
        issuers: VctValues | str | Sequence[str],
        random: Callable[[int], bytes] = os.urandom,
        request_uri_base: str | None = None,
        now: int | float | None = None,
    ) -> Transaction:
        """Open a transaction for ``policy`` and sign its Request Object.

        ``issuers``: the issuer URL(s) or ``vct`` values the query accepts.
        ``request_uri_base``: where ``request_uri_path`` is served (default: the origin of
        ``response_uri``). Raises ``ValueError`` if ``client_id`` is not ``kid``'s DID (rule 2).
        """
        if client_id != client_id_for_did(parse_did_url(kid, what="kid").did):  # rule 2
            raise ValueError("client_id must be the decentralized_identifier of kid's DID")
        issued_at = self._now(now)
        tid = b64url_encode(random(16))  # rule 1
        nonce, state = b64url_encode(random(32)), b64url_encode(random(32))
        query = to_dcql(policy, issuers).to_json()
        metadata = {**build_client_metadata(), CONSENT_REQUEST_METADATA: _consent_metadata(policy)}
        request_object = build_request_object(
            signing_key,
            kid,
            response_uri=response_uri,
            nonce=nonce,
            state=state,
            dcql_query=query,
            now=issued_at,
            lifetime=min(self.lifetime, _MAX_REQUEST_OBJECT_LIFETIME),
            client_metadata=metadata,
        )
        if request_uri_base is None:
            parts = urlsplit(response_uri)
            request_uri_base = f"{parts.scheme}://{parts.netloc}"
        path = self.request_path + tid
        url = request_url_by_reference(client_id, request_uri_base.rstrip("/") + path)
        transaction = Transaction(
            tid, state, nonce, policy.id, client_id, response_uri, query, path, request_object, url,
            issued_at, issued_at + self.lifetime,
        )
        row = (tid, state, nonce, policy.id, client_id, response_uri, json.dumps(query, ensure_ascii=False),
               path, request_object, url, issued_at, transaction.expires_at, None)
        insert = f"INSERT INTO transactions ({_LEGACY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
        self._writes.run(lambda conn: conn.execute(insert, row))
        return transaction

    def get(self, transaction_id: str) -> Transaction:
        """The transaction ``transaction_id``, open or not; :class:`NotFound` if unknown."""
        row = self._conn().execute(
            f"SELECT {_COLUMNS} FROM transactions WHERE id = ?", (transaction_id,)
        ).fetchone()
        if row is None:
            raise NotFound("no such presentation request")
        return Transaction._from_row(row)

    def status(self, transaction_id: str, *, now: int | float | None = None) -> str:
        """The status of ``transaction_id`` (rule 5); :class:`NotFound` if unknown (or purged)."""
        return self.get(transaction_id).status_at(self._now(now))

    def request_object(self, transaction_id: str, *, now: int | float | None = None) -> str:
        """The signed Request Object to serve at ``request_uri`` (rule 3)."""
        transaction = self.get(transaction_id)
        if transaction.consumed_at is not None:
            raise BindingError("this presentation request has already been answered")
        if self._now(now) > transaction.expires_at:
            raise Expired("this presentation request has expired")
        return transaction.request_object

    def pending(self, state: str, *, now: int | float | None = None) -> Transaction:
        """The open transaction a response's ``state`` names, read without writing (rule 4):
        what the response must match. :meth:`consume` closes it."""
        return _open(self._conn().execute(_BY_STATE, (state,)).fetchone(), self._now(now))

    def consume(
        self,
        state: str,
        *,
        now: int | float | None = None,
        then: Callable[[sqlite3.Connection], object] | None = None,
        record_id: str | None = None,
    ) -> Transaction:
        """Close the transaction whose ``state`` a response carries; only once (rule 4).

        ``then(conn)`` runs in the same transaction, after the close, on this store's
        database: the answer's records are stored together with the close, or neither is
        (should ``then`` raise, the transaction stays open and its error is raised).
        ``record_id`` names the verification record ``then`` stores (rule 5: ``verified``).
        Returns the transaction (with its ``nonce`` and query, for verifying the response).
        """
        at = self._now(now)

        def close(conn: sqlite3.Connection) -> Transaction:
            rows = conn.execute(
                f"UPDATE transactions SET consumed_at = ?, record_id = ? WHERE state = ?"
                f" AND consumed_at IS NULL AND expires_at >= ? RETURNING {_COLUMNS}",
                (at, record_id, state, at),
            ).fetchall()
            if not rows:  # not open: say why (rule 4)
                _open(conn.execute(_BY_STATE, (state,)).fetchone(), at)
                raise RuntimeError("a transaction that is open was not closed")  # unreachable
            if then is not None:
                then(conn)
            return Transaction._from_row(rows[0])

        # Answers arriving together close their requests in one transaction (one fsync).
        return self._writes.run(close)

    def purge(self, *, now: int | float | None = None, keep: int = 86400) -> int:
        """Delete transactions that expired more than ``keep`` seconds ago; how many."""
        cutoff = self._now(now) - keep
        with self._writes.transaction() as conn:
            deleted: int = conn.execute("DELETE FROM transactions WHERE expires_at < ?", (cutoff,)).rowcount
        return deleted


def _open(row: tuple[Any, ...] | None, at: int) -> Transaction:
    """Rule 4 on the row a response's ``state`` found, at the response's arrival ``at``."""
    if row is None:
        raise BindingError("the response's state matches no open presentation request")
    transaction = Transaction._from_row(row)
    if transaction.consumed_at is not None:
        raise BindingError("the presentation request was already answered (replayed state)")
    if at > transaction.expires_at:
        raise Expired("the presentation request expired before the response arrived")
    return transaction


def _legacy_rows(legacy: Path) -> list[tuple[Any, ...]]:
    old = sqlite3.connect(str(legacy), isolation_level=None)
    try:
        old.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file alone holds every row
        if old.execute("SELECT 1 FROM sqlite_master WHERE name = 'transactions'").fetchone() is None:
            return []
        return old.execute(f"SELECT {_LEGACY_COLUMNS} FROM transactions").fetchall()
    finally:
        old.close()  # the last connection: SQLite removes the -wal and -shm files


@lru_cache(maxsize=256)
def _parsed_query(text: str) -> DcqlQuery:
    # A policy's query is the same for every request made from it: check and parse it once.
    return parse_dcql_query(json.loads(text))


# -- QR codes -----------------------------------------------------------------------------


def _qr(url: str) -> segno.QRCode:
    # error level M: readable from a phone screen or a slightly damaged print
    return segno.make_qr(url, error="m")


def qr_svg(url: str, *, scale: int = 4) -> str:
    """The URL as an SVG QR code (a complete XML document)."""
    out = io.BytesIO()
    _qr(url).save(out, kind="svg", scale=scale, border=4, title="OpenID4VP request")
    return out.getvalue().decode("utf-8")


def qr_svg_element(url: str, *, label: str) -> str:
    """The URL as an ``<svg>`` element to put inside an HTML page: no XML declaration, no
    fixed size (its ``viewBox`` scales to the width CSS gives it), dark on white whatever the
    page's colours (a scanner needs the contrast), and announced as an image named ``label``."""
    out = io.BytesIO()
    _qr(url).save(
        out, kind="svg", xmldecl=False, omitsize=True, border=4, dark="#000", light="#fff",
        svgclass="qr", lineclass=None, title=label,
    )  # fmt: skip
    svg = out.getvalue().decode("utf-8")
    if not svg.startswith("<svg "):
        raise RuntimeError("segno's SVG no longer starts with <svg")  # the attributes below would be lost
    # crispEdges: scaled modules meet without the hairline seams anti-aliasing draws between them
    return '<svg role="img" aria-label="' + html.escape(label) + '" shape-rendering="crispEdges" ' + svg[5:]


def qr_png(url: str, *, scale: int = 6) -> bytes:
    """The URL as a PNG QR code."""
    out = io.BytesIO()
    _qr(url).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
