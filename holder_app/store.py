"""The holder's wallet store: keys, identity, credentials, consents and a transaction
log in one SQLite file, everything personal or secret sealed under the passphrase.

How rows are sealed and checked, and what opening checks, is :mod:`holder_app.sealed_db`;
this module says what the tables hold. Plain columns are ids, kinds, statuses and
times, plus a credential's type and issuer (public facts about the credential).
Everything else is only in the sealed record. The DIDs of verifiers — of a pairwise
key, a consent, a used copy, a log line — would tell a thief of the file which
companies the person deals with, so their columns hold tags (``*_tag``), not DIDs.

Tables (``meta`` aside)::

    keys         id, role, relation_tag, created_at, retired_at   → StoredKey (seed sealed)
    identity     id ("root")                                      → WalletIdentity
    credentials  id, vct, issuer, format, issued_at, expires_at   → StoredCredential (without copies)
    copies       id, credential_id, holder_key_id, used_by_tag    → CredentialCopy (SD-JWT sealed)
    consents     id, verifier_tag, status, created_at, expires_at, revoked_at → Consent
    log          seq, kind, at, outcome, counterpart_tag          → LogEntry
    updates      id, batch, verifier_tag, status, sent_at         → SentUpdate

``updates`` came after the first wallets were written: opening a file without it adds it
(empty), in the same format version, so older wallets keep working and an older akashi,
which ignores the table, can still open a newer file.

Copies and verifiers: a copy is shown to one verifier only, so two verifiers cannot
link their customers through it; the same verifier may see its copy again (it learns
nothing new), which :meth:`WalletStore.copy_for` prefers.

Every mutating method is one transaction: on any error the file is as before.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from holder_app.backup import MAX_BACKUP_BYTES, decode_backup, encode_backup
from holder_app.records import (
    KEY_ROLES,
    LOG_KINDS,
    OUTCOMES,
    Consent,
    ConsentStatus,
    CredentialCopy,
    KeyRole,
    LogEntry,
    LogKind,
    NewCopy,
    Outcome,
    SentUpdate,
    StoredCredential,
    StoredKey,
    WalletContents,
    WalletIdentity,
    check_paths,
)
from holder_app.sealed_db import SealedDb, Table, write_new_file
from identity.crypto.keys import Ed25519PrivateKey, RandomSource
from identity.crypto.passphrase import DEFAULT_PARAMS, KdfParams
from identity.errors import ConsentError, CorruptBackup, CorruptWallet, MalformedInput, NotFound

__all__ = ["SCHEMA_VERSION", "WALLET_FORMAT", "Clock", "WalletStore"]

WALLET_FORMAT = "akashi-wallet"
SCHEMA_VERSION = 1
#: POSIX seconds now (``time.time``; tests pass a fixed one).
Clock = Callable[[], float]

R = TypeVar("R")

_UPDATES_SCHEMA = """
CREATE TABLE IF NOT EXISTS updates (
    id TEXT PRIMARY KEY, batch TEXT NOT NULL, verifier_tag TEXT NOT NULL, status TEXT NOT NULL,
    sent_at INTEGER NOT NULL, sealed BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS updates_batch ON updates (batch);
"""

_SCHEMA = """
CREATE TABLE keys (
    id TEXT PRIMARY KEY, role TEXT NOT NULL, relation_tag TEXT, created_at INTEGER NOT NULL,
    retired_at INTEGER, sealed BLOB NOT NULL
);
CREATE UNIQUE INDEX keys_one_pairwise ON keys (relation_tag) WHERE role = 'pairwise' AND retired_at IS NULL;
CREATE TABLE identity (id TEXT PRIMARY KEY, sealed BLOB NOT NULL);
CREATE TABLE credentials (
    id TEXT PRIMARY KEY, vct TEXT NOT NULL, issuer TEXT NOT NULL, format TEXT NOT NULL,
    issued_at INTEGER NOT NULL, expires_at INTEGER, sealed BLOB NOT NULL
);
CREATE TABLE copies (
    id TEXT PRIMARY KEY, credential_id TEXT NOT NULL REFERENCES credentials (id),
    holder_key_id TEXT NOT NULL REFERENCES keys (id), used_by_tag TEXT, sealed BLOB NOT NULL
);
CREATE INDEX copies_credential ON copies (credential_id);
CREATE TABLE consents (
    id TEXT PRIMARY KEY, verifier_tag TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL,
    expires_at INTEGER, revoked_at INTEGER, sealed BLOB NOT NULL
);
CREATE INDEX consents_verifier ON consents (verifier_tag);
CREATE TABLE log (
    seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, at INTEGER NOT NULL, outcome TEXT NOT NULL,
    counterpart_tag TEXT, sealed BLOB NOT NULL
);
CREATE INDEX log_counterpart ON log (counterpart_tag);
""" + _UPDATES_SCHEMA

_KEYS: Table[StoredKey] = Table(
    "keys", ("id", "role", "relation_tag", "created_at", "retired_at"),
    lambda k, tag: (k.id, k.role, tag(k.relation), k.created_at, k.retired_at),
    StoredKey.to_json, StoredKey.from_json, "created_at, rowid",
)
_IDENTITY: Table[WalletIdentity] = Table(
    "identity", ("id",), lambda i, tag: ("root",), WalletIdentity.to_json, WalletIdentity.from_json
)
_CREDENTIALS: Table[StoredCredential] = Table(
    "credentials", ("id", "vct", "issuer", "format", "issued_at", "expires_at"),
    lambda c, tag: (c.id, c.vct, c.issuer, c.format, c.issued_at, c.expires_at),
    StoredCredential.header_json, StoredCredential.from_json, "issued_at, rowid",
)
_COPIES: Table[CredentialCopy] = Table(
    "copies", ("id", "credential_id", "holder_key_id", "used_by_tag"),
    lambda c, tag: (c.id, c.credential_id, c.holder_key_id, tag(c.used_by)),
    CredentialCopy.to_json, CredentialCopy.from_json,
)
_CONSENTS: Table[Consent] = Table(
    "consents", ("id", "verifier_tag", "status", "created_at", "expires_at", "revoked_at"),
    lambda c, tag: (c.id, tag(c.verifier), c.status, c.created_at, c.expires_at, c.revoked_at),
    Consent.to_json, Consent.from_json, "created_at, rowid",
)
_LOG: Table[LogEntry] = Table(
    "log", ("seq", "kind", "at", "outcome", "counterpart_tag"),
    lambda e, tag: (e.seq, e.kind, e.at, e.outcome, tag(e.counterpart)),
    LogEntry.to_json, LogEntry.from_json, "seq",
)
_UPDATES: Table[SentUpdate] = Table(
    "updates", ("id", "batch", "verifier_tag", "status", "sent_at"),
    lambda u, tag: (u.id, u.batch, tag(u.verifier), u.status, u.sent_at),
    SentUpdate.to_json, SentUpdate.from_json, "sent_at, rowid",
)


def _check_passphrase(passphrase: str) -> None:
    if not isinstance(passphrase, str):
        raise TypeError("a passphrase is text (str)")
    if not passphrase:
        raise MalformedInput("a wallet passphrase must not be empty")


class WalletStore:
    """The wallet file (module docstring). Make one with :meth:`create`, :meth:`open`
    or :meth:`restore`; close it with :meth:`close` or a ``with`` block."""

    def __init__(self, db: SealedDb, *, random: RandomSource, clock: Clock) -> None:
        """Internal: use :meth:`create`, :meth:`open` or :meth:`restore`."""
        self._db = db
        self._random = random
        self._clock = clock

    @property
    def path(self) -> Path:
        """The wallet file."""
        return self._db.path

    # --- lifecycle ----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: Path | str,
        passphrase: str,
        *,
        params: KdfParams = DEFAULT_PARAMS,
        random: RandomSource = os.urandom,
        clock: Clock = time.time,
    ) -> WalletStore:
        """A new, empty wallet at ``path``, locked with ``passphrase`` (not empty). An
        existing file is refused (``FileExistsError``), never written over."""
        _check_passphrase(passphrase)
        db = SealedDb.create(
            Path(path), passphrase, kind=WALLET_FORMAT, version=SCHEMA_VERSION, schema=_SCHEMA,
            params=params, random=random,
        )
        return cls(db, random=random, clock=clock)

    @classmethod
    def open(
        cls, path: Path | str, passphrase: str, *, random: RandomSource = os.urandom, clock: Clock = time.time
    ) -> WalletStore:
        """The wallet at ``path``, every row checked. A wrong passphrase is
        :class:`~identity.errors.WrongPassphrase` and leaves the file untouched; a file that
        is not a wallet, or is damaged or altered, :class:`~identity.errors.CorruptWallet`;
        one of a newer format, :class:`~identity.errors.UnsupportedVersion`; no file,
        :class:`~identity.errors.NotFound`."""
        if not isinstance(passphrase, str):
            raise TypeError("a passphrase is text (str)")
        path = Path(path)
        if not path.is_file():
            raise NotFound(f"there is no wallet at {path}")
        db = SealedDb.open(path, passphrase, kind=WALLET_FORMAT, version=SCHEMA_VERSION, random=random)
        store = cls(db, random=random, clock=clock)
        try:
            db.add_missing_tables(_UPDATES_SCHEMA)
            store.contents()  # every row opens and agrees with its columns: damage shows now
        except BaseException:
            db.close()
            raise
        return store

    @classmethod
    def restore(
        cls,
        backup_path: Path | str,
        passphrase: str,
        new_wallet_path: Path | str,
        *,
        params: KdfParams = DEFAULT_PARAMS,
        random: RandomSource = os.urandom,
        clock: Clock = time.time,
    ) -> WalletStore:
        """A new wallet at ``new_wallet_path`` (which must not exist) holding what the backup
        at ``backup_path`` holds, locked with the backup's ``passphrase``. The backup is
        read and checked completely before the new file is made; if writing it fails,
        the new file is removed."""
        with open(backup_path, "rb") as source:  # no more than a backup may be: size checked next
            data = source.read(MAX_BACKUP_BYTES + 1)
        contents = decode_backup(data, passphrase)
        store = cls.create(new_wallet_path, passphrase, params=params, random=random, clock=clock)
        try:
            store._load(contents)
        except BaseException as exc:
            store.close()
            Path(new_wallet_path).unlink(missing_ok=True)
            if isinstance(exc, CorruptWallet):  # authentic, yet its records do not fit together
                raise CorruptBackup(f"the backup's records are inconsistent: {exc.message}") from exc
            raise
        return store

    def close(self) -> None:
        """Close the file; using the store afterwards is a ``RuntimeError``."""
        self._db.close()

    def __enter__(self) -> WalletStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- keys ---------------------------------------------------------------------------

    def add_key(
        self, role: KeyRole, key: Ed25519PrivateKey, relation: str | None = None, *, at: int | None = None
    ) -> str:
        """Keep ``key`` in ``role``; return its new id. A ``pairwise`` key names its verifier
        DID as ``relation`` (one active pairwise key per verifier); other roles have none."""
        if role not in KEY_ROLES:
            raise ValueError(f"key role must be one of {', '.join(KEY_ROLES)}")
        if not isinstance(key, Ed25519PrivateKey):
            raise TypeError("key must be an Ed25519PrivateKey")
        if (role == "pairwise") != isinstance(relation, str):
            raise ValueError("a pairwise key names its verifier DID as relation; other keys name none")
        with self._db.write() as conn:
            if relation is not None and self._pairwise(conn, relation) is not None:
                raise ValueError(f"{relation} already has an active pairwise key; retire it first")
            record = StoredKey(self._new_id("key"), role, key, relation, self._now(at))
            self._db.insert(conn, _KEYS, record)
        return record.id

    def key(self, key_id: str) -> Ed25519PrivateKey:
        """The private key with ``key_id`` (retired ones too); :class:`NotFound` if none."""
        with self._db.read() as conn:
            return self._get(conn, _KEYS, key_id).key

    def keys(self, role: KeyRole | None = None, *, active_only: bool = True) -> list[StoredKey]:
        """The wallet's keys, oldest first: of ``role`` if given, unretired unless ``active_only=False``."""
        where: list[str] = []
        params: list[Any] = []
        if role is not None:
            where.append("role = ?")
            params.append(role)
        if active_only:
            where.append("retired_at IS NULL")
        with self._db.read() as conn:
            return self._db.select(conn, _KEYS, " AND ".join(where), params)

    def pairwise_key(self, verifier_did: str) -> StoredKey | None:
        """The active pairwise key for ``verifier_did``, or None if there is none yet."""
        with self._db.read() as conn:
            return self._pairwise(conn, verifier_did)

    def retire_key(self, key_id: str, at: int | None = None) -> StoredKey:
        """Mark a key retired (kept, but no longer listed as active); return it."""
        with self._db.write() as conn:
            record = self._get(conn, _KEYS, key_id)
            if record.retired_at is not None:
                raise ValueError(f"key {key_id} was already retired at {record.retired_at}")
            record = replace(record, retired_at=self._now(at))
            self._db.update(conn, _KEYS, record)
        return record

    def forget_key(self, key_id: str) -> None:
        """Delete a key from the file for good — its sealed row overwritten, not only unlinked
        (``secure_delete``), so a copy of the file made afterwards does not hold it. For the
        pre-committed recovery key once the person has its kit: a thief with the device and
        the passphrase must not be able to rotate the identity away."""
        with self._db.write() as conn:
            self._get(conn, _KEYS, key_id)  # NotFound for an unknown id
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("DELETE FROM keys WHERE id = ?", (key_id,))

    # --- identity -----------------------------------------------------------------------

    def set_identity(self, did: str, events: Sequence[Mapping[str, Any]]) -> WalletIdentity:
        """Record (or replace) the wallet's root DID and its signed key events, oldest first."""
        record = WalletIdentity(did, tuple(dict(event) for event in events))
        with self._db.write() as conn:
            conn.execute("DELETE FROM identity")
            self._db.insert(conn, _IDENTITY, record)
        return record

    def identity(self) -> WalletIdentity | None:
        """The root DID and its key events, or None before :meth:`set_identity`."""
        with self._db.read() as conn:
            found = self._db.select(conn, _IDENTITY)
        return found[0] if found else None

    # --- credentials --------------------------------------------------------------------

    def add_credential(
        self,
        *,
        vct: str,
        issuer: str,
        issued_at: int,
        expires_at: int | None,
        copies: Sequence[NewCopy],
        format: str = "dc+sd-jwt",
        issuer_url: str | None = None,
    ) -> StoredCredential:
        """Keep an issued credential with its copies (each bound to its own ``holder`` key) and,
        when known, the credential issuer identifier (URL) it came from."""
        if not copies:
            raise ValueError("a credential has at least one copy")
        if len({copy.holder_key_id for copy in copies}) != len(copies):
            raise ValueError("each copy of a credential is bound to a different holder key")
        with self._db.write() as conn:
            for copy in copies:
                if self._get(conn, _KEYS, copy.holder_key_id).role != "holder":
                    raise ValueError(f"key {copy.holder_key_id} is not a holder key")
            credential = StoredCredential(
                self._new_id("cred"), vct, issuer, format, issued_at, expires_at, issuer_url=issuer_url
            )
            self._db.insert(conn, _CREDENTIALS, credential)
            stored = []
            for copy in copies:
                record = CredentialCopy(
                    self._new_id("copy"), credential.id, copy.sd_jwt, copy.holder_key_id, copy.digest,
                    None if copy.anchor is None else dict(copy.anchor),
                )
                self._db.insert(conn, _COPIES, record)
                stored.append(record)
        return replace(credential, copies=tuple(stored))

    def credentials(self) -> list[StoredCredential]:
        """Every credential with its copies, oldest issued first."""
        with self._db.read() as conn:
            return [self._with_copies(conn, c) for c in self._db.select(conn, _CREDENTIALS)]

    def credential(self, credential_id: str) -> StoredCredential:
        """One credential with its copies; :class:`NotFound` if there is none."""
        with self._db.read() as conn:
            return self._with_copies(conn, self._get(conn, _CREDENTIALS, credential_id))

    def unused_copy(self, credential_id: str) -> CredentialCopy | None:
        """The first copy of the credential not yet shown to any verifier, or None."""
        return next((c for c in self.credential(credential_id).copies if c.used_by is None), None)

    def copy_for(self, credential_id: str, verifier_did: str) -> CredentialCopy | None:
        """The copy to show ``verifier_did``: the one it has already seen, else an unused one,
        else None (every copy went to another verifier: showing one would link them)."""
        copies = self.credential(credential_id).copies
        seen = next((c for c in copies if c.used_by == verifier_did), None)
        return seen or next((c for c in copies if c.used_by is None), None)

    def mark_copy_used(self, copy_id: str, verifier_did: str) -> CredentialCopy:
        """Record that the copy was shown to ``verifier_did``. Again to the same verifier is
        fine (nothing new to link); to a second verifier is refused (``ValueError``)."""
        with self._db.write() as conn:
            copy = self._get(conn, _COPIES, copy_id)
            if copy.used_by == verifier_did:
                return copy
            if copy.used_by is not None:
                raise ValueError(f"copy {copy_id} was shown to another verifier; use an unused copy")
            copy = replace(copy, used_by=verifier_did)
            self._db.update(conn, _COPIES, copy)
        return copy

    # --- consents -----------------------------------------------------------------------

    def add_consent(
        self,
        *,
        receipt: str,
        digest: str,
        verifier: str,
        purpose: str,
        claims: Sequence[Sequence[str | int | None]],
        expires_at: int | None,
        updates_allowed: bool,
        created_at: int | None = None,
        anchor: Mapping[str, Any] | None = None,
    ) -> Consent:
        """Keep a consent the person gave (its signed receipt and what it covers), active."""
        consent = Consent(
            self._new_id("consent"), receipt, digest, verifier, purpose, check_paths(claims),
            self._now(created_at), expires_at, bool(updates_allowed),
            grant_anchor=None if anchor is None else dict(anchor),
        )
        with self._db.write() as conn:
            self._db.insert(conn, _CONSENTS, consent)
        return consent

    def consents(self, *, verifier: str | None = None, status: ConsentStatus | None = None) -> list[Consent]:
        """Consents, oldest first, optionally only those to ``verifier`` or with ``status``
        (see :meth:`Consent.state` for expiry)."""
        return self._select_where(_CONSENTS, verifier, status=status)

    def consent(self, consent_id: str) -> Consent:
        """One consent; :class:`NotFound` if there is none."""
        with self._db.read() as conn:
            return self._get(conn, _CONSENTS, consent_id)

    def revoke_consent(
        self, consent_id: str, *, at: int | None = None, anchor: Mapping[str, Any] | None = None
    ) -> Consent:
        """Mark a consent revoked at ``at``, with the ledger proof of the revocation if known.
        Revoking a revoked consent is a :class:`ConsentError`."""
        with self._db.write() as conn:
            consent = self._get(conn, _CONSENTS, consent_id)
            if consent.status == "revoked":
                raise ConsentError(f"consent {consent_id} was already revoked")
            consent = replace(
                consent, status="revoked", revoked_at=self._now(at),
                revocation_anchor=None if anchor is None else dict(anchor),
            )
            self._db.update(conn, _CONSENTS, consent)
        return consent

    def set_consent_anchor(
        self,
        consent_id: str,
        *,
        grant: Mapping[str, Any] | None = None,
        revocation: Mapping[str, Any] | None = None,
    ) -> Consent:
        """Attach a ledger proof that arrived after the consent was stored."""
        with self._db.write() as conn:
            consent = self._get(conn, _CONSENTS, consent_id)
            if revocation is not None and consent.status != "revoked":
                raise ValueError(f"consent {consent_id} is not revoked")
            consent = replace(
                consent,
                grant_anchor=consent.grant_anchor if grant is None else dict(grant),
                revocation_anchor=consent.revocation_anchor if revocation is None else dict(revocation),
            )
            self._db.update(conn, _CONSENTS, consent)
        return consent

    # --- transaction log ----------------------------------------------------------------

    def log(
        self,
        kind: LogKind,
        *,
        outcome: Outcome,
        counterpart: str | None = None,
        claims: Sequence[Sequence[str | int | None]] = (),
        reason: str | None = None,
        at: int | None = None,
    ) -> LogEntry:
        """Append a line to the transaction log: what happened, with whom, which claims
        (their paths — never their values), how it ended and why."""
        if kind not in LOG_KINDS:
            raise ValueError(f"log kind must be one of {', '.join(LOG_KINDS)}")
        if outcome not in OUTCOMES:
            raise ValueError(f"log outcome must be one of {', '.join(OUTCOMES)}")
        paths = check_paths(claims)
        with self._db.write() as conn:
            (last,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM log").fetchone()
            entry = LogEntry(last + 1, kind, self._now(at), outcome, counterpart, paths, reason)
            self._db.insert(conn, _LOG, entry)
        return entry

    def history(self, counterpart: str | None = None) -> list[LogEntry]:
        """The transaction log in order, or only the lines with ``counterpart``."""
        with self._db.read() as conn:
            if counterpart is None:
                return self._db.select(conn, _LOG)
            return self._db.select(conn, _LOG, "counterpart_tag = ?", [self._db.tag(counterpart)])

    # --- updates sent -------------------------------------------------------------------

    def add_updates(self, updates: Sequence[SentUpdate]) -> None:
        """Keep the updates of one send (one per operator), each with its transaction-log line
        (``completed`` if sent, ``failed`` with why), in one transaction."""
        with self._db.write() as conn:
            (last,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM log").fetchone()
            for number, update in enumerate(updates, start=last + 1):
                self._db.insert(conn, _UPDATES, update)
                sent = update.status != "failed"
                reason = (
                    f"{update.kind} sent (update {update.update_id})" if sent
                    else f"{update.kind}: {update.reason}"
                )  # fmt: skip
                line = LogEntry(number, "update", update.sent_at, "completed" if sent else "failed",
                                update.verifier, update.claims, reason)  # fmt: skip
                self._db.insert(conn, _LOG, line)

    def new_update_ids(self) -> tuple[str, Callable[[], str]]:
        """A new batch id, and a maker of new update ids."""
        return self._new_id("batch"), lambda: self._new_id("update")

    def updates(self, *, verifier: str | None = None, batch: str | None = None) -> list[SentUpdate]:
        """Updates sent, oldest first, optionally only those to ``verifier`` or of ``batch``."""
        return self._select_where(_UPDATES, verifier, batch=batch)

    def save_update(self, update: SentUpdate) -> SentUpdate:
        """Record where an update now stands (delivered, acknowledged); it must exist."""
        with self._db.write() as conn:
            self._get(conn, _UPDATES, update.id)
            self._db.update(conn, _UPDATES, update)
        return update

    # --- backup -------------------------------------------------------------------------

    def contents(self) -> WalletContents:
        """Everything the wallet holds (private keys included), read and checked row by row."""
        with self._db.read() as conn:
            identity = self._db.select(conn, _IDENTITY)
            return WalletContents(
                identity=identity[0] if identity else None,
                keys=tuple(self._db.select(conn, _KEYS)),
                credentials=tuple(self._with_copies(conn, c) for c in self._db.select(conn, _CREDENTIALS)),
                consents=tuple(self._db.select(conn, _CONSENTS)),
                log=tuple(self._db.select(conn, _LOG)),
                updates=tuple(self._db.select(conn, _UPDATES)),
            )

    def export_backup(
        self,
        path: Path | str,
        passphrase: str,
        *,
        params: KdfParams = DEFAULT_PARAMS,
        overwrite: bool = False,
    ) -> None:
        """Write an encrypted backup of the whole wallet (:mod:`holder_app.backup`) to ``path``,
        locked with ``passphrase`` (which may differ from the wallet's). An existing file is
        refused (``FileExistsError``) unless ``overwrite``; then it is replaced atomically."""
        _check_passphrase(passphrase)
        data = encode_backup(self.contents(), passphrase, params=params, random=self._random)
        write_new_file(Path(path), data, overwrite=overwrite, random=self._random)

    # --- internals ----------------------------------------------------------------------

    def _now(self, at: int | None) -> int:
        if at is None:
            return int(self._clock())
        if not isinstance(at, int) or isinstance(at, bool):
            raise TypeError("times are POSIX seconds (int)")
        return at

    def _select_where(self, table: Table[R], verifier: str | None, **columns: str | None) -> list[R]:
        """The records of ``table`` to ``verifier`` (by its tag) and with the given plain
        ``columns`` values; a None filter is no filter."""
        where = ["verifier_tag = ?"] if verifier is not None else []
        params: list[Any] = [self._db.tag(verifier)] if verifier is not None else []
        for column, value in columns.items():
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        with self._db.read() as conn:
            return self._db.select(conn, table, " AND ".join(where), params)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{self._random(16).hex()}"

    def _get(self, conn: sqlite3.Connection, table: Table[R], row_id: str) -> R:
        found = self._db.select(conn, table, f"{table.columns[0]} = ?", [row_id])
        if not found:
            raise NotFound(f"the wallet has no {table.name} entry {row_id!r}")
        return found[0]

    def _pairwise(self, conn: sqlite3.Connection, verifier_did: str) -> StoredKey | None:
        where = "role = 'pairwise' AND retired_at IS NULL AND relation_tag = ?"
        found = self._db.select(conn, _KEYS, where, [self._db.tag(verifier_did)])
        return found[0] if found else None

    def _with_copies(self, conn: sqlite3.Connection, credential: StoredCredential) -> StoredCredential:
        copies = self._db.select(conn, _COPIES, "credential_id = ?", [credential.id])
        return replace(credential, copies=tuple(copies))

    def _load(self, contents: WalletContents) -> None:
        """Write every record of ``contents`` into this (empty) wallet, in one transaction."""
        with self._db.write() as conn:
            for key in contents.keys:
                self._db.insert(conn, _KEYS, key)
            if contents.identity is not None:
                self._db.insert(conn, _IDENTITY, contents.identity)
            for credential in contents.credentials:
                self._db.insert(conn, _CREDENTIALS, credential)
                for copy in credential.copies:
                    self._db.insert(conn, _COPIES, copy)
            for consent in contents.consents:
                self._db.insert(conn, _CONSENTS, consent)
            for entry in contents.log:
                self._db.insert(conn, _LOG, entry)
            for update in contents.updates:
                self._db.insert(conn, _UPDATES, update)
