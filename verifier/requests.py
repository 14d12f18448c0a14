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
4. :meth:`RequestStore.consume` closes a transaction by its ``state`` once, in one
   ``BEGIN IMMEDIATE`` transaction: unknown or already used → :class:`BindingError`
   (a replayed response), past ``expires_at`` → :class:`Expired`.

akashi extension: ``client_metadata.akashi_consent_request`` tells an akashi wallet the
policy's ``purpose_id``, ``consent_days``, ``updates_allowed`` and whether the signed
consent receipt (``akashi_consent``) is required; plain wallets ignore it (section 5.1).

Stored in SQLite (WAL, ``synchronous=FULL``), one connection per thread.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import threading
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
from identity.errors import BindingError, Expired, NotFound
from identity.protocols.dcql import DcqlQuery, parse_dcql_query
from identity.protocols.oid4vp import (
    build_client_metadata,
    build_request_object,
    client_id_for_did,
    request_url_by_reference,
)
from verifier.group_commit import GroupCommit
from verifier.policies import Policy, VctValues, to_dcql

__all__ = [
    "CONSENT_REQUEST_METADATA",
    "DEFAULT_REQUEST_PATH",
    "RequestStore",
    "Transaction",
    "qr_png",
    "qr_svg",
]

CONSENT_REQUEST_METADATA = "akashi_consent_request"
DEFAULT_REQUEST_PATH = "/oid4vp/requests/"
_MAX_REQUEST_OBJECT_LIFETIME = 3600  # a wallet refuses longer-lived Request Objects

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
    consumed_at INTEGER
);
CREATE INDEX IF NOT EXISTS transactions_expiry ON transactions (expires_at);
"""
_COLUMNS = (
    "id, state, nonce, policy_id, client_id, response_uri, dcql_query, request_uri_path,"
    " request_object, url, created_at, expires_at, consumed_at"
)


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

    @property
    def query(self) -> DcqlQuery:
        """The DCQL query that was sent (as stored, so later policy edits do not change it)."""
        return _parsed_query(json.dumps(self.dcql_query, sort_keys=True, ensure_ascii=False))

    @classmethod
    def _from_row(cls, row: tuple[Any, ...]) -> Transaction:
        (tid, state, nonce, policy_id, client_id, response_uri, query, path, obj, url,
         created, expires, consumed) = row
        return cls(tid, state, nonce, policy_id, client_id, response_uri, json.loads(query), path, obj,
                   url, created, expires, consumed)


def _consent_metadata(policy: Policy) -> dict[str, Any]:
    return {
        "purpose_id": policy.purpose_id,
        "consent_days": policy.consent_days,
        "updates_allowed": policy.updates_allowed,
        "receipt_required": policy.receipt_required,
    }


class RequestStore:
    """Open and answered OpenID4VP transactions in one SQLite file."""

    def __init__(
        self,
        db_path: Path | str,
        clock: Callable[[], float] = time.time,
        *,
        lifetime: int = 600,
        request_path: str = DEFAULT_REQUEST_PATH,
        durable: bool = True,
    ) -> None:
        if lifetime <= 0 or not request_path.startswith("/") or not request_path.endswith("/"):
            raise ValueError("lifetime must be positive and request_path '/…/'")
        self.path = str(db_path)
        self.clock = clock
        self.lifetime = lifetime
        self.request_path = request_path
        self._durable = durable
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writes = GroupCommit(self._conn, self.path)
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=" + ("FULL" if self._durable else "NORMAL"))
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

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
        insert = f"INSERT INTO transactions ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
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

    def request_object(self, transaction_id: str, *, now: int | float | None = None) -> str:
        """The signed Request Object to serve at ``request_uri`` (rule 3)."""
        transaction = self.get(transaction_id)
        if transaction.consumed_at is not None:
            raise BindingError("this presentation request has already been answered")
        if self._now(now) > transaction.expires_at:
            raise Expired("this presentation request has expired")
        return transaction.request_object

    def consume(self, state: str, *, now: int | float | None = None) -> Transaction:
        """Close the transaction whose ``state`` a response carries; only once (rule 4).

        Returns it (with its ``nonce`` and query, for verifying the response).
        """
        at = self._now(now)

        def close(conn: sqlite3.Connection) -> Transaction:
            row = conn.execute(f"SELECT {_COLUMNS} FROM transactions WHERE state = ?", (state,)).fetchone()
            if row is None:
                raise BindingError("the response's state matches no open presentation request")
            transaction = Transaction._from_row(row)
            if transaction.consumed_at is not None:
                raise BindingError("the presentation request was already answered (replayed state)")
            if at > transaction.expires_at:
                raise Expired("the presentation request expired before the response arrived")
            conn.execute("UPDATE transactions SET consumed_at = ? WHERE id = ?", (at, transaction.id))
            return Transaction._from_row((*row[:-1], at))

        # Answers arriving together close their requests in one transaction (one fsync).
        return self._writes.run(close)

    def purge(self, *, now: int | float | None = None, keep: int = 86400) -> int:
        """Delete transactions that expired more than ``keep`` seconds ago; how many."""
        cutoff = self._now(now) - keep
        with self._writes.transaction() as conn:
            deleted: int = conn.execute("DELETE FROM transactions WHERE expires_at < ?", (cutoff,)).rowcount
        return deleted


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


def qr_png(url: str, *, scale: int = 6) -> bytes:
    """The URL as a PNG QR code."""
    out = io.BytesIO()
    _qr(url).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
