"""What the wallet keeps: one frozen dataclass per kind of record, each with
``to_json`` / ``from_json``.

The JSON form is what :mod:`holder_app.store` seals into a row and what a backup
carries, so ``from_json`` is strict: exactly the expected members, of the
expected types (``MalformedInput`` otherwise; the store reports it as a corrupt
wallet or backup). Times are POSIX seconds (int). Claim paths are DCQL-style
paths such as ``("address", "locality")`` — names, never values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, cast, get_args

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import MalformedInput

__all__ = [
    "CONSENT_STATUSES",
    "KEY_ROLES",
    "LOG_KINDS",
    "OUTCOMES",
    "UPDATE_STATUSES",
    "ClaimPath",
    "Consent",
    "ConsentStatus",
    "CredentialCopy",
    "KeyRole",
    "LogEntry",
    "LogKind",
    "NewCopy",
    "Outcome",
    "SentUpdate",
    "StoredCredential",
    "StoredKey",
    "UpdateStatus",
    "WalletContents",
    "WalletIdentity",
    "check_paths",
]

#: ``root``: the did:akashi signing key; ``next``: its pre-committed rotation key (the
#: recovery kit); ``pairwise``: one per verifier relationship; ``holder``: credential binding.
KeyRole = Literal["root", "next", "pairwise", "holder"]
KEY_ROLES: tuple[KeyRole, ...] = get_args(KeyRole)
LogKind = Literal[
    "issuance", "presentation", "consent", "revocation", "update", "recovery", "rotation", "backup", "restore"
]
LOG_KINDS: tuple[LogKind, ...] = get_args(LogKind)
Outcome = Literal["completed", "refused", "failed"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
ConsentStatus = Literal["active", "revoked"]
CONSENT_STATUSES: tuple[ConsentStatus, ...] = get_args(ConsentStatus)
ClaimPath = tuple[str | int | None, ...]
#: Where one update to one operator stands: ``sent`` (its notice is on the ledger and the
#: mailbox holds it), ``delivered`` (the operator has fetched it), ``applied`` / ``rejected``
#: (the operator's signed ``mailbox.ack`` is on the ledger), ``failed`` (never sent: the
#: ledger refused the notice, or the operator could not be reached).
UpdateStatus = Literal["sent", "delivered", "applied", "rejected", "failed"]
UPDATE_STATUSES: tuple[UpdateStatus, ...] = get_args(UpdateStatus)


# --- strict readers -------------------------------------------------------------------


def _members(value: object, names: Sequence[str], what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict) or set(value) != set(names):
        raise MalformedInput(f"a stored {what} must be an object with exactly {', '.join(names)}")
    return value


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise MalformedInput(f"{what} must be a string")
    return value


def _opt_str(value: object, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedInput(f"{what} must be an integer")
    return value


def _opt_int(value: object, what: str) -> int | None:
    return None if value is None else _int(value, what)


def _bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise MalformedInput(f"{what} must be true or false")
    return value


def _opt_object(value: object, what: str) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise MalformedInput(f"{what} must be an object or null")
    return value


def _choice(value: object, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise MalformedInput(f"{what} must be one of {', '.join(allowed)}")
    return value


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedInput(f"{what} must be a list")
    return value


def _paths(value: object, what: str) -> tuple[ClaimPath, ...]:
    paths = []
    for path in _list(value, what):
        steps = _list(path, what)
        if not steps or not all(
            step is None or isinstance(step, str) or (isinstance(step, int) and not isinstance(step, bool))
            for step in steps
        ):
            raise MalformedInput(f"{what} must be non-empty paths of names, indexes and null")
        paths.append(tuple(steps))
    return tuple(paths)


def check_paths(
    paths: Sequence[Sequence[str | int | None]], what: str = "claim paths"
) -> tuple[ClaimPath, ...]:
    """``paths`` as tuples, checked as :meth:`Consent.from_json` would (for callers' input)."""
    return _paths([list(path) for path in paths], what)


# --- records --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredKey:
    """An Ed25519 private key of the wallet, by id and role (``relation``: the verifier
    DID of a ``pairwise`` key, else None)."""

    id: str
    role: KeyRole
    key: Ed25519PrivateKey
    relation: str | None
    created_at: int
    retired_at: int | None = None

    @property
    def active(self) -> bool:
        """Not retired."""
        return self.retired_at is None

    def to_json(self) -> dict[str, Any]:
        """The JSON form, **with the private seed**: only ever sealed."""
        return {
            "id": self.id, "role": self.role, "seed": b64url_encode(self.key.seed),
            "relation": self.relation, "created_at": self.created_at, "retired_at": self.retired_at,
        }

    @classmethod
    def from_json(cls, value: object) -> StoredKey:
        """Parse :meth:`to_json`'s form."""
        obj = _members(value, ("id", "role", "seed", "relation", "created_at", "retired_at"), "key")
        return cls(
            id=_str(obj["id"], "key id"),
            role=cast(KeyRole, _choice(obj["role"], KEY_ROLES, "key role")),
            key=Ed25519PrivateKey.from_seed(b64url_decode(_str(obj["seed"], "key seed"), what="key seed")),
            relation=_opt_str(obj["relation"], "key relation"),
            created_at=_int(obj["created_at"], "key created_at"),
            retired_at=_opt_int(obj["retired_at"], "key retired_at"),
        )


@dataclass(frozen=True, slots=True)
class WalletIdentity:
    """The wallet's root did:akashi and its signed key events, oldest first."""

    did: str
    events: tuple[dict[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {"did": self.did, "events": list(self.events)}

    @classmethod
    def from_json(cls, value: object) -> WalletIdentity:
        """Parse :meth:`to_json`'s form."""
        obj = _members(value, ("did", "events"), "identity")
        events = _list(obj["events"], "identity events")
        if not all(isinstance(event, dict) for event in events):
            raise MalformedInput("identity events must be JSON objects")
        return cls(_str(obj["did"], "identity did"), tuple(events))


@dataclass(frozen=True, slots=True)
class NewCopy:
    """One copy of a credential as the issuer delivered it (input of ``add_credential``)."""

    sd_jwt: str
    holder_key_id: str
    digest: str
    anchor: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CredentialCopy:
    """One SD-JWT VC copy of a credential, bound to its own holder key.

    ``used_by`` is the verifier DID it was presented to: a copy is shown to one
    verifier only (so two verifiers cannot link their customers by it), and may be
    shown to that verifier again (it has seen it already).
    """

    id: str
    credential_id: str
    sd_jwt: str
    holder_key_id: str
    digest: str
    anchor: dict[str, Any] | None
    used_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "id": self.id, "credential_id": self.credential_id, "sd_jwt": self.sd_jwt,
            "holder_key_id": self.holder_key_id, "digest": self.digest, "anchor": self.anchor,
            "used_by": self.used_by,
        }

    @classmethod
    def from_json(cls, value: object) -> CredentialCopy:
        """Parse :meth:`to_json`'s form."""
        names = ("id", "credential_id", "sd_jwt", "holder_key_id", "digest", "anchor", "used_by")
        obj = _members(value, names, "credential copy")
        return cls(
            id=_str(obj["id"], "copy id"),
            credential_id=_str(obj["credential_id"], "copy credential_id"),
            sd_jwt=_str(obj["sd_jwt"], "copy sd_jwt"),
            holder_key_id=_str(obj["holder_key_id"], "copy holder_key_id"),
            digest=_str(obj["digest"], "copy digest"),
            anchor=_opt_object(obj["anchor"], "copy anchor"),
            used_by=_opt_str(obj["used_by"], "copy used_by"),
        )


@dataclass(frozen=True, slots=True)
class StoredCredential:
    """An issued credential: its public description and its copies (batch issuance).

    ``issuer`` is the DID that signed it; ``issuer_url`` the credential issuer identifier
    (the OpenID4VCI URL) it was received from — None for a credential stored before the
    wallet kept it, whose JSON form has no ``issuer_url`` member (and is read as before).
    """

    id: str
    vct: str
    issuer: str
    format: str
    issued_at: int
    expires_at: int | None
    copies: tuple[CredentialCopy, ...] = ()
    issuer_url: str | None = None

    def header_json(self) -> dict[str, Any]:
        """The JSON form without the copies (each copy is stored as its own record)."""
        header: dict[str, Any] = {
            "id": self.id, "vct": self.vct, "issuer": self.issuer, "format": self.format,
            "issued_at": self.issued_at, "expires_at": self.expires_at,
        }
        if self.issuer_url is not None:
            header["issuer_url"] = self.issuer_url
        return header

    def to_json(self) -> dict[str, Any]:
        """The JSON form, copies included."""
        return {**self.header_json(), "copies": [copy.to_json() for copy in self.copies]}

    @classmethod
    def from_json(cls, value: object) -> StoredCredential:
        """Parse :meth:`to_json`'s form, or :meth:`header_json`'s (then without copies)."""
        names = ["id", "vct", "issuer", "format", "issued_at", "expires_at"]
        for optional in ("copies", "issuer_url"):
            if isinstance(value, dict) and optional in value:
                names.append(optional)
        obj = _members(value, names, "credential")
        credential = cls(
            id=_str(obj["id"], "credential id"),
            vct=_str(obj["vct"], "credential vct"),
            issuer=_str(obj["issuer"], "credential issuer"),
            format=_str(obj["format"], "credential format"),
            issued_at=_int(obj["issued_at"], "credential issued_at"),
            expires_at=_opt_int(obj["expires_at"], "credential expires_at"),
            issuer_url=_str(obj["issuer_url"], "credential issuer_url") if "issuer_url" in obj else None,
        )
        copies = tuple(CredentialCopy.from_json(c) for c in _list(obj.get("copies", []), "copies"))
        if any(copy.credential_id != credential.id for copy in copies):
            raise MalformedInput("a credential copy names another credential")
        return replace(credential, copies=copies)


@dataclass(frozen=True, slots=True)
class Consent:
    """A consent the person gave a verifier: the signed receipt and what it covers."""

    id: str
    receipt: str  # compact JWS, as signed
    digest: str  # of the receipt, as anchored on the ledger
    verifier: str
    purpose: str
    claims: tuple[ClaimPath, ...]
    created_at: int
    expires_at: int | None
    updates_allowed: bool
    status: ConsentStatus = "active"
    revoked_at: int | None = None
    grant_anchor: dict[str, Any] | None = None
    revocation_anchor: dict[str, Any] | None = None

    def state(self, now: int | float) -> Literal["active", "expired", "revoked"]:
        """``revoked``, else ``expired`` once ``expires_at`` has passed, else ``active``."""
        if self.status == "revoked":
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "id": self.id, "receipt": self.receipt, "digest": self.digest, "verifier": self.verifier,
            "purpose": self.purpose, "claims": [list(path) for path in self.claims],
            "created_at": self.created_at, "expires_at": self.expires_at,
            "updates_allowed": self.updates_allowed, "status": self.status, "revoked_at": self.revoked_at,
            "grant_anchor": self.grant_anchor, "revocation_anchor": self.revocation_anchor,
        }

    @classmethod
    def from_json(cls, value: object) -> Consent:
        """Parse :meth:`to_json`'s form."""
        names = (
            "id", "receipt", "digest", "verifier", "purpose", "claims", "created_at", "expires_at",
            "updates_allowed", "status", "revoked_at", "grant_anchor", "revocation_anchor",
        )
        obj = _members(value, names, "consent")
        consent = cls(
            id=_str(obj["id"], "consent id"),
            receipt=_str(obj["receipt"], "consent receipt"),
            digest=_str(obj["digest"], "consent digest"),
            verifier=_str(obj["verifier"], "consent verifier"),
            purpose=_str(obj["purpose"], "consent purpose"),
            claims=_paths(obj["claims"], "consent claims"),
            created_at=_int(obj["created_at"], "consent created_at"),
            expires_at=_opt_int(obj["expires_at"], "consent expires_at"),
            updates_allowed=_bool(obj["updates_allowed"], "consent updates_allowed"),
            status=cast(ConsentStatus, _choice(obj["status"], CONSENT_STATUSES, "consent status")),
            revoked_at=_opt_int(obj["revoked_at"], "consent revoked_at"),
            grant_anchor=_opt_object(obj["grant_anchor"], "consent grant_anchor"),
            revocation_anchor=_opt_object(obj["revocation_anchor"], "consent revocation_anchor"),
        )
        if (consent.status == "revoked") != (consent.revoked_at is not None):
            raise MalformedInput("a consent has revoked_at exactly when it is revoked")
        return consent


@dataclass(frozen=True, slots=True)
class SentUpdate:
    """One update (or APPI request) the person sent to one operator, and where it stands.

    ``batch`` is shared by every operator one send went to. ``value`` is what was sent (sealed
    in the wallet like every record; never logged or exported). ``notice`` is the digest of
    the ``mailbox.notice`` (the mailbox's message id), ``notice_anchor`` / ``ack_anchor`` the
    ledger evidence of the notice and of the operator's acknowledgement.
    """

    id: str
    batch: str
    kind: str
    value: Any
    effective_date: str
    consent_id: str
    consent_digest: str
    verifier: str
    claims: tuple[ClaimPath, ...]
    sent_at: int
    status: UpdateStatus
    update_id: str | None = None
    notice: str | None = None
    reason: str | None = None
    delivered_at: int | None = None
    acked_at: int | None = None
    notice_anchor: dict[str, Any] | None = None
    ack_anchor: dict[str, Any] | None = None

    @property
    def settled(self) -> bool:
        """Nothing more will happen to it: acknowledged, or never sent."""
        return self.status in ("applied", "rejected", "failed")

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "id": self.id, "batch": self.batch, "kind": self.kind, "value": self.value,
            "effective_date": self.effective_date, "consent_id": self.consent_id,
            "consent_digest": self.consent_digest, "verifier": self.verifier,
            "claims": [list(path) for path in self.claims], "sent_at": self.sent_at,
            "status": self.status, "update_id": self.update_id, "notice": self.notice,
            "reason": self.reason, "delivered_at": self.delivered_at, "acked_at": self.acked_at,
            "notice_anchor": self.notice_anchor, "ack_anchor": self.ack_anchor,
        }  # fmt: skip

    @classmethod
    def from_json(cls, value: object) -> SentUpdate:
        """Parse :meth:`to_json`'s form."""
        names = (
            "id", "batch", "kind", "value", "effective_date", "consent_id", "consent_digest", "verifier",
            "claims", "sent_at", "status", "update_id", "notice", "reason", "delivered_at", "acked_at",
            "notice_anchor", "ack_anchor",
        )  # fmt: skip
        obj = _members(value, names, "update")
        update = cls(
            id=_str(obj["id"], "update id"),
            batch=_str(obj["batch"], "update batch"),
            kind=_str(obj["kind"], "update kind"),
            value=obj["value"],
            effective_date=_str(obj["effective_date"], "update effective_date"),
            consent_id=_str(obj["consent_id"], "update consent_id"),
            consent_digest=_str(obj["consent_digest"], "update consent_digest"),
            verifier=_str(obj["verifier"], "update verifier"),
            claims=_paths(obj["claims"], "update claims"),
            sent_at=_int(obj["sent_at"], "update sent_at"),
            status=cast(UpdateStatus, _choice(obj["status"], UPDATE_STATUSES, "update status")),
            update_id=_opt_str(obj["update_id"], "update update_id"),
            notice=_opt_str(obj["notice"], "update notice"),
            reason=_opt_str(obj["reason"], "update reason"),
            delivered_at=_opt_int(obj["delivered_at"], "update delivered_at"),
            acked_at=_opt_int(obj["acked_at"], "update acked_at"),
            notice_anchor=_opt_object(obj["notice_anchor"], "update notice_anchor"),
            ack_anchor=_opt_object(obj["ack_anchor"], "update ack_anchor"),
        )
        if (update.status == "failed") != (update.notice is None):
            raise MalformedInput("an update has a notice exactly when it was sent")
        if (update.status in ("applied", "rejected")) != (update.acked_at is not None):
            raise MalformedInput("an update has acked_at exactly when it was acknowledged")
        return update


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of the wallet's transaction log (append-only; ``seq`` from 1)."""

    seq: int
    kind: LogKind
    at: int
    outcome: Outcome
    counterpart: str | None = None  # DID or URL of the issuer / verifier
    claims: tuple[ClaimPath, ...] = ()
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "seq": self.seq, "kind": self.kind, "at": self.at, "outcome": self.outcome,
            "counterpart": self.counterpart, "claims": [list(path) for path in self.claims],
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, value: object) -> LogEntry:
        """Parse :meth:`to_json`'s form."""
        names = ("seq", "kind", "at", "outcome", "counterpart", "claims", "reason")
        obj = _members(value, names, "log entry")
        return cls(
            seq=_int(obj["seq"], "log seq"),
            kind=cast(LogKind, _choice(obj["kind"], LOG_KINDS, "log kind")),
            at=_int(obj["at"], "log at"),
            outcome=cast(Outcome, _choice(obj["outcome"], OUTCOMES, "log outcome")),
            counterpart=_opt_str(obj["counterpart"], "log counterpart"),
            claims=_paths(obj["claims"], "log claims"),
            reason=_opt_str(obj["reason"], "log reason"),
        )


@dataclass(frozen=True, slots=True)
class WalletContents:
    """Everything a wallet holds: what a backup carries and a restore writes back."""

    identity: WalletIdentity | None
    keys: tuple[StoredKey, ...]
    credentials: tuple[StoredCredential, ...]
    consents: tuple[Consent, ...]
    log: tuple[LogEntry, ...]
    updates: tuple[SentUpdate, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The JSON form, **with private keys**: only ever sealed."""
        return {
            "identity": None if self.identity is None else self.identity.to_json(),
            "keys": [key.to_json() for key in self.keys],
            "credentials": [credential.to_json() for credential in self.credentials],
            "consents": [consent.to_json() for consent in self.consents],
            "log": [entry.to_json() for entry in self.log],
            "updates": [update.to_json() for update in self.updates],
        }

    @classmethod
    def from_json(cls, value: object) -> WalletContents:
        """Parse :meth:`to_json`'s form."""
        names = ("identity", "keys", "credentials", "consents", "log")
        # Backups written before updates were tracked have no "updates" member.
        has_updates = isinstance(value, dict) and "updates" in value
        obj = _members(value, (*names, "updates") if has_updates else names, "wallet")
        return cls(
            identity=None if obj["identity"] is None else WalletIdentity.from_json(obj["identity"]),
            keys=tuple(StoredKey.from_json(k) for k in _list(obj["keys"], "keys")),
            credentials=tuple(
                StoredCredential.from_json(c) for c in _list(obj["credentials"], "credentials")
            ),
            consents=tuple(Consent.from_json(c) for c in _list(obj["consents"], "consents")),
            log=tuple(LogEntry.from_json(e) for e in _list(obj["log"], "log")),
            updates=tuple(SentUpdate.from_json(u) for u in _list(obj.get("updates", []), "updates")),
        )
