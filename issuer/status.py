"""The issuer's Token Status Lists (draft-ietf-oauth-status-list) over SQLite.

One list per issuer — a new one when it is nearly full — of ``size`` entries
(2^17 by default) with 2 bits each: VALID, INVALID (revoked), SUSPENDED.

* **Herd privacy.** :meth:`StatusRegistry.allocate` draws each index uniformly
  at random among the free ones, so an index says nothing about when the
  credential was issued, and the large list hides each holder among many.
  Allocation does not change the list (a fresh entry is VALID, as is every
  unused one), so it does not bump the version either.
* **Transitions.** suspend: VALID → SUSPENDED; reinstate: SUSPENDED → VALID;
  revoke: VALID or SUSPENDED → INVALID. Revocation is final: any change away
  from INVALID is refused with :class:`~identity.errors.Revoked`. Each change
  bumps its list's version; setting the status an entry already has is a
  no-op.
* **Tokens.** A list's Status List Token is signed once per version (and again
  when half its lifetime has passed, or under a new key) and kept in the
  database, so serving is one indexed read. Every signed token is a
  *publication* the service must anchor with ``status.publish``; the ledger
  wants each list's ``iat`` strictly increasing, so a token's ``iat`` is
  ``max(now, previous iat + 1)``.
* **Listing.** The issuer's id of each issued credential (its digest), its
  ``vct``, status and times, and the holder's public key it was bound to (``cnf``),
  so that the holder can ask for its revocation (:mod:`identity.credentials.holder_revocation`).
  No personal data is stored here: a holder key is a public key, one per copy.
* **Older files.** A ``status.db`` written before holder keys were kept gains the
  (nullable) ``holder_key`` column when it is opened; its credentials have none.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from identity.credentials.status_list import (
    INVALID,
    SUSPENDED,
    VALID,
    StatusList,
    StatusReference,
    sign_status_list_token,
)
from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey, RandomSource
from identity.errors import NotFound, Revoked
from issuer.database import Database, Transaction

__all__ = [
    "STATUS_NAMES",
    "IssuedCredential",
    "Publication",
    "StatusChange",
    "StatusListInfo",
    "StatusRegistry",
]

STATUS_NAMES = {VALID: "valid", INVALID: "invalid", SUSPENDED: "suspended"}

_URL_BASE = re.compile(r"https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?")
_RANDOM_TRIES = 64  # rejection-sampling tries before counting the free indexes exactly

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lists (
    uri TEXT PRIMARY KEY,
    bits INTEGER NOT NULL,
    size INTEGER NOT NULL,
    capacity INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    uri TEXT NOT NULL,
    idx INTEGER NOT NULL,
    status INTEGER NOT NULL DEFAULT 0,
    credential_id TEXT UNIQUE,
    vct TEXT,
    issued_at INTEGER,
    expires_at INTEGER,
    changed_at INTEGER,
    holder_key BLOB,
    PRIMARY KEY (uri, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_not_valid ON entries (uri, status) WHERE status != 0;
CREATE TABLE IF NOT EXISTS tokens (
    uri TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    iat INTEGER NOT NULL,
    signer BLOB NOT NULL,
    token TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS publications (
    uri TEXT NOT NULL,
    iat INTEGER NOT NULL,
    version INTEGER NOT NULL,
    digest TEXT NOT NULL,
    ledger_index INTEGER,
    superseded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (uri, iat)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class Publication:
    """A signed list version to anchor: the ``status.publish`` body is uri, issuer, digest, iat."""

    uri: str
    version: int
    digest: str  # unpadded base64url SHA-256 of the token's ASCII bytes
    iat: int


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """One issued credential as ``akashi-issuer list`` shows it."""

    credential_id: str
    vct: str
    status: int
    issued_at: int
    expires_at: int | None
    reference: StatusReference
    changed_at: int | None = None  # when the status last changed
    #: The public key the credential is bound to (its ``cnf``); None if issued before it was kept.
    holder_key: Ed25519PublicKey | None = None

    @property
    def status_name(self) -> str:
        """``valid``, ``invalid`` (revoked) or ``suspended``."""
        return STATUS_NAMES[self.status]


@dataclass(frozen=True, slots=True)
class StatusChange:
    """The outcome of :meth:`StatusRegistry.set_status`."""

    reference: StatusReference
    previous: int
    status: int
    version: int  # the list's version after the change

    @property
    def changed(self) -> bool:
        """False when the entry already had the status asked for."""
        return self.previous != self.status


@dataclass(frozen=True, slots=True)
class StatusListInfo:
    """One list: where it is served, its shape, how full it is and its version."""

    uri: str
    bits: int
    size: int
    used: int
    version: int


class StatusRegistry:
    """The issuer's status lists in one SQLite file (WAL; one connection per thread).

    ``bits``, ``size`` and ``fill_limit`` shape lists created from now on; a list
    takes no more than ``size * fill_limit`` credentials, so a random free index
    is always quick to find. Tokens live ``token_lifetime`` seconds (``exp``) and
    tell consumers to cache them ``ttl`` seconds.
    """

    def __init__(
        self,
        db_path: Path | str,
        *,
        uri_base: str,
        bits: int = 2,
        size: int = 131072,
        fill_limit: float = 0.9,
        token_lifetime: int = 86400,
        ttl: int = 900,
        random: RandomSource = os.urandom,
        clock: Callable[[], float] = time.time,
        durable: bool = True,
    ) -> None:
        base = uri_base.rstrip("/")
        if _URL_BASE.fullmatch(base) is None:
            raise ValueError(f"status list URI base {uri_base!r} is not an http(s) URL")
        if bits not in (2, 4, 8):
            raise ValueError("VALID, INVALID and SUSPENDED need 2, 4 or 8 bits per status")
        if size < 1 or not 0 < fill_limit <= 1 or token_lifetime < 2 or ttl < 1:
            raise ValueError("size, fill_limit, token_lifetime and ttl must be positive")
        StatusList.new(bits, size)  # refuses shapes the list cannot take
        self.path = str(db_path)
        self.uri_base = base
        self._bits, self._size, self._fill = bits, size, fill_limit
        self._lifetime, self._ttl = token_lifetime, ttl
        self._random, self._clock = random, clock
        self._db = Database(db_path, schema=_SCHEMA, durable=durable)
        self._add_holder_key_column()

    def _add_holder_key_column(self) -> None:
        """A file from before holder keys were kept gets the column (module docstring)."""

        def missing(conn: sqlite3.Connection) -> bool:
            return "holder_key" not in {str(row[1]) for row in conn.execute("PRAGMA table_info(entries)")}

        if not missing(self._conn):
            return
        with self._transaction() as conn:  # BEGIN IMMEDIATE: two processes opening it do not race
            if missing(conn):
                conn.execute("ALTER TABLE entries ADD COLUMN holder_key BLOB")

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._db.conn

    def _transaction(self) -> Transaction:
        return self._db.transaction()

    def close(self) -> None:
        """Close every connection this registry opened."""
        self._db.close()

    # ------------------------------------------------------------------ allocation

    def allocate(self) -> StatusReference:
        """Reserve a random free index (in a new list when the current one is full).

        The index stays used for good, even if the credential is never issued:
        reusing it could make an old credential's status say something new."""
        return self.allocate_many(1)[0]

    def allocate_many(self, count: int) -> list[StatusReference]:
        """:meth:`allocate` ``count`` times in one transaction (batch issuance)."""
        if count < 0:
            raise ValueError("cannot allocate a negative number of indexes")
        references = []
        with self._transaction() as conn:
            for _ in range(count):
                row = conn.execute(
                    "SELECT uri, size FROM lists WHERE used < capacity ORDER BY rowid DESC LIMIT 1"
                ).fetchone()
                uri, size = (str(row[0]), int(row[1])) if row else self._new_list(conn)
                idx = self._free_index(conn, uri, size)
                conn.execute("INSERT INTO entries (uri, idx) VALUES (?, ?)", (uri, idx))
                conn.execute("UPDATE lists SET used = used + 1 WHERE uri = ?", (uri,))
                references.append(StatusReference(idx=idx, uri=uri))
        return references

    def _new_list(self, conn: sqlite3.Connection) -> tuple[str, int]:
        # A random name: list names must not count how many lists came before.
        uri = f"{self.uri_base}/{b64url_encode(self._random(12))}"
        size = StatusList.new(self._bits, self._size).size
        capacity = max(1, int(size * self._fill))
        conn.execute(
            "INSERT INTO lists (uri, bits, size, capacity, created_at) VALUES (?, ?, ?, ?, ?)",
            (uri, self._bits, size, capacity, int(self._clock())),
        )
        return uri, size

    def _free_index(self, conn: sqlite3.Connection, uri: str, size: int) -> int:
        taken = "SELECT 1 FROM entries WHERE uri = ? AND idx = ?"
        for _ in range(_RANDOM_TRIES):  # uniform over the free indexes: rejection sampling
            idx = _uniform(self._random, size)
            if conn.execute(taken, (uri, idx)).fetchone() is None:
                return idx
        used = {int(r[0]) for r in conn.execute("SELECT idx FROM entries WHERE uri = ?", (uri,))}
        free = [idx for idx in range(size) if idx not in used]
        if not free:
            raise RuntimeError(f"status list {uri} has no free index")
        return free[_uniform(self._random, len(free))]

    def register(
        self,
        credential_id: str,
        reference: StatusReference,
        *,
        vct: str,
        issued_at: int,
        expires_at: int | None = None,
        holder_key: Ed25519PublicKey | None = None,
    ) -> None:
        """Bind an allocated ``reference`` to the credential signed with it (its id: e.g. its
        digest) and, when given, to the holder key it was issued to."""
        self.register_many(
            [
                IssuedCredential(
                    credential_id, vct, VALID, issued_at, expires_at, reference, holder_key=holder_key
                )
            ]
        )

    def register_many(self, issued: list[IssuedCredential]) -> None:
        """:meth:`register` each of ``issued`` (their ``status`` is ignored) in one transaction."""
        with self._transaction() as conn:
            for item in issued:
                ref = item.reference
                row = conn.execute(
                    "SELECT credential_id FROM entries WHERE uri = ? AND idx = ?", (ref.uri, ref.idx)
                ).fetchone()
                if row is None:
                    raise NotFound(f"status index {ref.idx} of {ref.uri} was never allocated")
                if row[0] is not None:
                    raise ValueError(f"status index {ref.idx} of {ref.uri} is already bound")
                holder = None if item.holder_key is None else item.holder_key.raw
                try:
                    conn.execute(
                        "UPDATE entries SET credential_id = ?, vct = ?, issued_at = ?, expires_at = ?, "
                        "holder_key = ? WHERE uri = ? AND idx = ?",
                        (
                            item.credential_id,
                            item.vct,
                            item.issued_at,
                            item.expires_at,
                            holder,
                            ref.uri,
                            ref.idx,
                        ),
                    )
                except sqlite3.IntegrityError as exc:
                    raise ValueError(f"credential {item.credential_id!r} is already registered") from exc

    # ------------------------------------------------------------------ status

    def set_status(self, target: StatusReference | str, status: int) -> StatusChange:
        """Change the status of a credential (by reference or credential id).

        Refuses any change of a revoked credential with :class:`Revoked`."""
        if status not in STATUS_NAMES:
            raise ValueError(f"status must be VALID, INVALID or SUSPENDED, not {status!r}")
        with self._transaction() as conn:
            uri, idx, previous = self._entry(conn, target)
            version = int(conn.execute("SELECT version FROM lists WHERE uri = ?", (uri,)).fetchone()[0])
            if previous != status:
                if previous == INVALID:
                    raise Revoked(f"credential {_name(target)} is revoked; revocation is final")
                version += 1
                conn.execute(
                    "UPDATE entries SET status = ?, changed_at = ? WHERE uri = ? AND idx = ?",
                    (status, int(self._clock()), uri, idx),
                )
                conn.execute("UPDATE lists SET version = ? WHERE uri = ?", (version, uri))
        return StatusChange(StatusReference(idx=idx, uri=uri), previous, status, version)

    def suspend(self, target: StatusReference | str) -> StatusChange:
        """VALID → SUSPENDED."""
        return self.set_status(target, SUSPENDED)

    def reinstate(self, target: StatusReference | str) -> StatusChange:
        """SUSPENDED → VALID; a revoked credential stays revoked (:class:`Revoked`)."""
        return self.set_status(target, VALID)

    def revoke(self, target: StatusReference | str) -> StatusChange:
        """VALID or SUSPENDED → INVALID, for good."""
        return self.set_status(target, INVALID)

    def status_of(self, target: StatusReference | str) -> int:
        """The current status of a credential (by reference or credential id)."""
        return self._entry(self._conn, target)[2]

    @staticmethod
    def _entry(conn: sqlite3.Connection, target: StatusReference | str) -> tuple[str, int, int]:
        args: tuple[object, ...]
        if isinstance(target, StatusReference):
            sql, args = "uri = ? AND idx = ?", (target.uri, target.idx)
        else:
            sql, args = "credential_id = ?", (target,)
        row = conn.execute(f"SELECT uri, idx, status FROM entries WHERE {sql}", args).fetchone()
        if row is None:
            raise NotFound(f"no credential {_name(target)} in the status lists")
        return str(row[0]), int(row[1]), int(row[2])

    # ------------------------------------------------------------------ tokens

    def token(self, uri: str, signing_key: Ed25519PrivateKey, kid: str | None, now: float) -> str:
        """The current Status List Token of the list at ``uri``, signed if not cached."""
        row = self._conn.execute(
            "SELECT l.version, t.version, t.iat, t.signer, t.token "
            "FROM lists l LEFT JOIN tokens t ON t.uri = l.uri WHERE l.uri = ?",
            (uri,),
        ).fetchone()
        if row is None:
            raise NotFound(f"no status list at {uri}")
        if row[4] is not None and self._fresh(row[0], row[1], row[2], row[3], signing_key, now):
            return str(row[4])
        with self._transaction() as conn:
            return self._sign(conn, uri, signing_key, kid, now)[0]

    def refresh(self, signing_key: Ed25519PrivateKey, kid: str | None, now: float) -> int:
        """Sign every list whose token is missing, stale, of an older version or under another
        key (after status changes, and periodically); return how many tokens were signed."""
        signed = 0
        for info in self.lists():
            with self._transaction() as conn:
                signed += self._sign(conn, info.uri, signing_key, kid, now)[1]
        return signed

    def _fresh(
        self, version: int, token_version: int, iat: int, signer: bytes, key: Ed25519PrivateKey, now: float
    ) -> bool:
        same_key = bytes(signer) == key.public_key.raw
        return version == token_version and same_key and now < iat + self._lifetime // 2

    def _sign(
        self, conn: sqlite3.Connection, uri: str, key: Ed25519PrivateKey, kid: str | None, now: float
    ) -> tuple[str, bool]:
        shape = conn.execute("SELECT bits, size, version FROM lists WHERE uri = ?", (uri,))
        bits, size, version = shape.fetchone()
        previous = conn.execute("SELECT version, iat, signer, token FROM tokens WHERE uri = ?", (uri,))
        cached = previous.fetchone()
        if cached is not None and self._fresh(version, cached[0], cached[1], cached[2], key, now):
            return str(cached[3]), False  # already current (or another thread signed it meanwhile)
        last = conn.execute("SELECT MAX(iat) FROM publications WHERE uri = ?", (uri,)).fetchone()[0]
        iat = int(now) if last is None else max(int(now), int(last) + 1)
        status_list = StatusList.new(bits, size)
        not_valid = conn.execute("SELECT idx, status FROM entries WHERE uri = ? AND status != 0", (uri,))
        for idx, status in not_valid:
            status_list.set(idx, status)
        token = sign_status_list_token(
            status_list, uri=uri, iat=iat, exp=iat + self._lifetime, ttl=self._ttl, key=key, kid=kid
        )
        digest = b64url_encode(sha256(token.encode("ascii")))
        conn.execute(
            "INSERT OR REPLACE INTO tokens (uri, version, iat, signer, token) VALUES (?, ?, ?, ?, ?)",
            (uri, version, iat, key.public_key.raw, token),
        )
        conn.execute(
            "INSERT INTO publications (uri, iat, version, digest) VALUES (?, ?, ?, ?)",
            (uri, iat, version, digest),
        )
        return token, True

    # ------------------------------------------------------------------ publications

    def pending_publications(self) -> list[Publication]:
        """Signed tokens not yet anchored, oldest first per list (the order the ledger accepts)."""
        rows = self._conn.execute(
            "SELECT uri, version, digest, iat FROM publications "
            "WHERE ledger_index IS NULL AND superseded = 0 ORDER BY uri, iat"
        )
        return [Publication(str(u), int(v), str(d), int(i)) for u, v, d, i in rows]

    def mark_published(self, uri: str, version: int, ledger_index: int, *, digest: str | None = None) -> None:
        """Record that version ``version`` of ``uri`` (its newest token, or the one with
        ``digest``) is anchored at ``ledger_index``. Older pending tokens of the list are
        dropped: the ledger would refuse them now, as not newer."""
        with self._transaction() as conn:
            where = "uri = ? AND version = ? AND ledger_index IS NULL AND superseded = 0"
            args: tuple[object, ...] = (uri, version)
            if digest is not None:
                where, args = where + " AND digest = ?", (*args, digest)
            newest = f"SELECT iat FROM publications WHERE {where} ORDER BY iat DESC LIMIT 1"
            row = conn.execute(newest, args).fetchone()
            if row is None:
                done = conn.execute(
                    "SELECT 1 FROM publications WHERE uri = ? AND version = ? AND ledger_index = ?",
                    (uri, version, ledger_index),
                ).fetchone()
                if done is not None:
                    return  # marked before: a retry after a crash
                raise NotFound(f"no pending publication of {uri} version {version}")
            conn.execute(
                "UPDATE publications SET ledger_index = ? WHERE uri = ? AND iat = ?",
                (ledger_index, uri, row[0]),
            )
            conn.execute(
                "UPDATE publications SET superseded = 1 WHERE uri = ? AND iat < ? AND ledger_index IS NULL",
                (uri, row[0]),
            )

    # ------------------------------------------------------------------ listing

    def lists(self) -> list[StatusListInfo]:
        """Every list, oldest first."""
        rows = self._conn.execute("SELECT uri, bits, size, used, version FROM lists ORDER BY rowid")
        return [StatusListInfo(str(u), int(b), int(s), int(n), int(v)) for u, b, s, n, v in rows]

    def credentials(
        self, *, status: int | None = None, limit: int = 1000, offset: int = 0
    ) -> list[IssuedCredential]:
        """Issued credentials (optionally only those with ``status``), by issuance time."""
        where, args = "credential_id IS NOT NULL", tuple[object, ...]()
        if status is not None:
            where, args = where + " AND status = ?", (status,)
        rows = self._conn.execute(
            "SELECT credential_id, vct, status, issued_at, expires_at, uri, idx, changed_at, holder_key "
            "FROM entries "
            f"WHERE {where} ORDER BY issued_at, credential_id LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [_issued(row) for row in rows]

    def credential(self, credential_id: str) -> IssuedCredential:
        """One issued credential by its id."""
        row = self._conn.execute(
            "SELECT credential_id, vct, status, issued_at, expires_at, uri, idx, changed_at, holder_key "
            "FROM entries "
            "WHERE credential_id = ?",
            (credential_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"no credential {credential_id!r} in the status lists")
        return _issued(row)


def _uniform(random: RandomSource, n: int) -> int:
    """A uniform integer in [0, n) from ``random``: mask to the next power of two, reject the rest."""
    if n <= 1:
        return 0
    nbits = (n - 1).bit_length()
    mask = (1 << nbits) - 1
    for _ in range(256):  # each draw succeeds with probability > 1/2
        value = int.from_bytes(random((nbits + 7) // 8), "big") & mask
        if value < n:
            return value
    raise RuntimeError("the random source keeps returning the same out-of-range values")


def _name(target: StatusReference | str) -> str:
    return f"{target.uri}#{target.idx}" if isinstance(target, StatusReference) else repr(target)


def _issued(row: tuple[Any, ...]) -> IssuedCredential:
    cred, vct, status, issued, expires, uri, idx, changed, holder = row
    return IssuedCredential(
        credential_id=str(cred),
        vct=str(vct),
        status=int(status),
        issued_at=int(issued),
        expires_at=None if expires is None else int(expires),
        reference=StatusReference(idx=int(idx), uri=str(uri)),
        changed_at=None if changed is None else int(changed),
        holder_key=None if holder is None else Ed25519PublicKey(bytes(holder)),
    )
