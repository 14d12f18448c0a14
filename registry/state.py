"""The registry's derived state: what the ledger's entries establish, as plain records.

Derived state is a cache: every node rebuilds it by applying the rules
(:mod:`registry.rules`) to the log from the first entry, and reaches the same
records. It is a key-value table per *kind*; a :class:`StateChange` upserts one
JSON record (or deletes it, value ``None``)::

    kind         key                        record
    did          did:akashi:Qm…             DidRecord      current key state of a did:akashi
    member       did:akashi:Qm…             Member         the trust registry (issuers, verifiers…)
    attestation  digest of the issuer JWT   Attestation    an anchored credential
    status_list  status list URI            StatusListRecord  latest anchored version
    consent      digest of the receipt      Consent        a holder's consent to one verifier
    notice       entry digest of the notice Notice         a mailbox notice and its ack

Nothing personal: records hold digests, DIDs of organisations, pairwise
did:keys of people, times, flags, and the legal names and corporate numbers of
organisations. Every record has a JSON Schema ``specs/state-<kind>.schema.json``
whose strings are pattern-limited.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

from identity.credentials.kyc import AmlMethod
from identity.credentials.status_list import StatusReference
from identity.crypto.keys import Ed25519PublicKey
from identity.did.key_events import KeyState
from identity.did.multikey import ed25519_from_multikey, encode_multikey, x25519_from_multikey
from identity.errors import AkashiError, RejectedByRules
from identity.ledger.note import Ed25519NoteVerifier

__all__ = [
    "ATTESTATION",
    "CONSENT",
    "DID",
    "EVIDENCE_METHODS",
    "KINDS",
    "MEMBER",
    "NOTICE",
    "RECORD_SCHEMAS",
    "ROLES",
    "STATUS_LIST",
    "Attestation",
    "Consent",
    "DidRecord",
    "Member",
    "MemoryState",
    "Notice",
    "Purpose",
    "StateChange",
    "StateView",
    "StatusListRecord",
    "check_member",
    "corporate_number_valid",
    "get_attestation",
    "get_consent",
    "get_did",
    "get_member",
    "get_notice",
    "get_status_list",
    "key_state_from_json",
    "key_state_to_json",
]

DID, MEMBER, ATTESTATION, STATUS_LIST, CONSENT, NOTICE = (
    "did", "member", "attestation", "status_list", "consent", "notice",
)
KINDS = (DID, MEMBER, ATTESTATION, STATUS_LIST, CONSENT, NOTICE)
#: kind -> name of the record's schema in specs/.
RECORD_SCHEMAS = {kind: "state-" + kind.replace("_", "-") for kind in KINDS}
ROLES = ("issuer", "verifier", "witness", "node")

#: Evidence methods an issuer may be accredited for, with the method letter of the AML
#: ordinance (Art. 6(1)(i)) each satisfies (see identity.credentials.kyc).
EVIDENCE_METHODS: dict[str, AmlMethod] = {
    "jpki": AmlMethod.WA,  # My Number card: JPKI signature certificate and signature
    "drivers_licence_ic": AmlMethod.HE,  # licence IC chip data + face comparison
}


@dataclass(frozen=True, slots=True)
class StateChange:
    """Upsert ``value`` as the record ``key`` of ``kind``; delete it when ``value`` is None."""

    kind: str
    key: str
    value: dict[str, Any] | None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown state kind {self.kind!r}")


class StateView(Protocol):
    """Read access to derived state: one JSON record by kind and key, or None."""

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The record ``key`` of ``kind``; callers must not mutate it."""
        ...


class MemoryState:
    """A dict-backed :class:`StateView` that applies changes: for tests and rebuilding."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The record, or None."""
        return self._tables[kind].get(key)

    def apply(self, changes: Iterable[StateChange]) -> None:
        """Apply ``changes`` in order (a copy of each value is stored)."""
        for change in changes:
            table = self._tables[change.kind]
            if change.value is None:
                table.pop(change.key, None)
            else:
                table[change.key] = copy.deepcopy(change.value)

    def items(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every ``(key, record)`` of ``kind``, in key order."""
        table = self._tables[kind]
        return ((key, table[key]) for key in sorted(table))

    def to_json(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The whole state, tables and keys in sorted order (for comparing two states)."""
        return {kind: dict(self.items(kind)) for kind in KINDS}


# --- did:akashi key state ---------------------------------------------------------------


def key_state_to_json(state: KeyState) -> dict[str, Any]:
    """A :class:`KeyState` as JSON (key lists as Multikeys, as in the key events)."""
    return {
        "did": state.did,
        "seq": state.seq,
        "keys": [encode_multikey(k) for k in state.keys],
        "kt": state.kt,
        "next": list(state.next_digests),
        "nt": state.nt,
        "keyAgreement": [encode_multikey(k) for k in state.key_agreement],
        "service": [dict(s) for s in state.services],
        "deactivated": state.deactivated,
        "last_digest": state.last_digest,
    }


def key_state_from_json(obj: Mapping[str, Any]) -> KeyState:
    """Read :func:`key_state_to_json` output back (strict Multikey decoding)."""
    return KeyState(
        did=obj["did"],
        seq=obj["seq"],
        keys=tuple(ed25519_from_multikey(k, what="signing key") for k in obj["keys"]),
        kt=obj["kt"],
        next_digests=tuple(obj["next"]),
        nt=obj["nt"],
        key_agreement=tuple(x25519_from_multikey(k, what="keyAgreement key") for k in obj["keyAgreement"]),
        services=tuple(dict(s) for s in obj["service"]),
        deactivated=obj["deactivated"],
        last_digest=obj["last_digest"],
    )


# --- records ------------------------------------------------------------------------------


def _flat_json(record: Any) -> dict[str, Any]:
    """A record of plain fields as JSON, in field order."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


@dataclass(frozen=True, slots=True)
class DidRecord:
    """A did:akashi's current key state and how many events its log holds."""

    did: str
    state: KeyState
    events: int

    def current_key(self, multikey: str) -> Ed25519PublicKey | None:
        """The current signing key whose Multikey is ``multikey``, if any (none once deactivated)."""
        for key in self.state.keys:
            if encode_multikey(key) == multikey:
                return key
        return None

    def to_json(self) -> dict[str, Any]:
        """The stored record."""
        return {"did": self.did, "state": key_state_to_json(self.state), "events": self.events}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> DidRecord:
        """Read a stored record."""
        return cls(obj["did"], key_state_from_json(obj["state"]), obj["events"])


@dataclass(frozen=True, slots=True)
class Purpose:
    """A purpose a verifier registered: a stable id, the text shown to holders, and the
    claims it covers (DCQL claims path pointers; None when the member registered no list)."""

    id: str
    text: str
    claims: tuple[tuple[str | int | None, ...], ...] | None = None

    def to_json(self) -> dict[str, Any]:
        """``{id, text}``, with ``claims`` when registered."""
        out: dict[str, Any] = {"id": self.id, "text": self.text}
        if self.claims is not None:
            out["claims"] = [list(path) for path in self.claims]
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Purpose:
        """Read :meth:`to_json`'s object (its shape already checked by the schema)."""
        claims = obj.get("claims")
        paths = None if claims is None else tuple(tuple(path) for path in claims)
        return cls(obj["id"], obj["text"], paths)


@dataclass(frozen=True, slots=True)
class Member:
    """An organisation in the trust registry, as governance last approved it.

    ``evidence_methods`` (issuers: keys of :data:`EVIDENCE_METHODS`) and ``purposes``
    (verifiers) are empty for the other roles; ``note_key`` is the C2SP verifier key
    of a witness's or node's checkpoint-signing key, when it has one.
    """

    did: str
    role: str
    legal_name: str
    corporate_number: str
    version: int
    active: bool = True
    evidence_methods: tuple[str, ...] = ()
    purposes: tuple[Purpose, ...] = ()
    note_key: str | None = None

    def purpose(self, purpose_id: str) -> Purpose | None:
        """The registered purpose with ``purpose_id``, if any."""
        return next((p for p in self.purposes if p.id == purpose_id), None)

    def to_body(self) -> dict[str, Any]:
        """The ``member`` object of a member.add/update entry (and of the genesis)."""
        out: dict[str, Any] = {
            "did": self.did,
            "role": self.role,
            "legal_name": self.legal_name,
            "corporate_number": self.corporate_number,
            "version": self.version,
        }
        if self.role == "issuer":
            out["evidence_methods"] = list(self.evidence_methods)
        if self.role == "verifier":
            out["purposes"] = [p.to_json() for p in self.purposes]
        if self.note_key is not None:
            out["note_key"] = self.note_key
        return out

    @classmethod
    def from_body(cls, obj: Mapping[str, Any], *, active: bool = True) -> Member:
        """Read the ``member`` object of an entry that satisfied its schema."""
        return cls(
            did=obj["did"],
            role=obj["role"],
            legal_name=obj["legal_name"],
            corporate_number=obj["corporate_number"],
            version=obj["version"],
            active=active,
            evidence_methods=tuple(obj.get("evidence_methods", ())),
            purposes=tuple(Purpose.from_json(p) for p in obj.get("purposes", ())),
            note_key=obj.get("note_key"),
        )

    def to_json(self) -> dict[str, Any]:
        """The stored record: every field, ``note_key`` null when absent."""
        return {
            "did": self.did,
            "role": self.role,
            "legal_name": self.legal_name,
            "corporate_number": self.corporate_number,
            "version": self.version,
            "active": self.active,
            "evidence_methods": list(self.evidence_methods),
            "purposes": [p.to_json() for p in self.purposes],
            "note_key": self.note_key,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Member:
        """Read a stored record."""
        return cls.from_body(obj, active=obj["active"])


@dataclass(frozen=True, slots=True)
class Attestation:
    """An issuer's anchor of one credential: the SHA-256 of its issuer-signed JWT."""

    digest: str
    issuer: str
    vct: str
    method: str
    iat: int
    status: StatusReference | None = None
    exp: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored record."""
        status = None if self.status is None else {"idx": self.status.idx, "uri": self.status.uri}
        return {
            "digest": self.digest,
            "issuer": self.issuer,
            "vct": self.vct,
            "method": self.method,
            "status": status,
            "iat": self.iat,
            "exp": self.exp,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Attestation:
        """Read a stored record or an attestation.anchor body (status and exp optional)."""
        status = obj.get("status")
        return cls(
            digest=obj["digest"],
            issuer=obj["issuer"],
            vct=obj["vct"],
            method=obj["method"],
            iat=obj["iat"],
            status=None if status is None else StatusReference(idx=status["idx"], uri=status["uri"]),
            exp=obj.get("exp"),
        )


@dataclass(frozen=True, slots=True)
class StatusListRecord:
    """The latest anchored version of one status list: its token's digest and ``iat``."""

    uri: str
    issuer: str
    digest: str
    iat: int

    def to_json(self) -> dict[str, Any]:
        """The stored record (also the status.publish body)."""
        return _flat_json(self)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> StatusListRecord:
        """Read a stored record or a status.publish body."""
        return cls(**obj)


@dataclass(frozen=True, slots=True)
class Consent:
    """A consent receipt's ledger trace: its digest, the parties and its terms."""

    digest: str
    holder: str
    verifier: str
    purpose_id: str
    granted_at: int
    expires_at: int
    updates_allowed: bool
    revoked_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored record."""
        return _flat_json(self)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Consent:
        """Read a stored record."""
        return cls(**obj)

    def active_at(self, when: int) -> bool:
        """Not revoked, and ``granted_at <= when < expires_at``."""
        return self.revoked_at is None and self.granted_at <= when < self.expires_at


@dataclass(frozen=True, slots=True)
class Notice:
    """A mailbox notice (keyed by its entry digest) and the recipient's acknowledgement."""

    digest: str
    recipient: str
    ciphertext_digest: str
    consent: str
    sent_at: int
    ack_status: str | None = None
    acked_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored record."""
        return _flat_json(self)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Notice:
        """Read a stored record."""
        return cls(**obj)


# --- typed reads ----------------------------------------------------------------------------


def get_did(view: StateView, did: str) -> DidRecord | None:
    """The did:akashi's record, if the ledger created it."""
    obj = view.get(DID, did)
    return None if obj is None else DidRecord.from_json(obj)


def get_member(view: StateView, did: str) -> Member | None:
    """The member record of ``did`` (active or removed), if any."""
    obj = view.get(MEMBER, did)
    return None if obj is None else Member.from_json(obj)


def get_attestation(view: StateView, digest: str) -> Attestation | None:
    """The anchored attestation with ``digest``, if any."""
    obj = view.get(ATTESTATION, digest)
    return None if obj is None else Attestation.from_json(obj)


def get_status_list(view: StateView, uri: str) -> StatusListRecord | None:
    """The latest anchored version of the status list at ``uri``, if any."""
    obj = view.get(STATUS_LIST, uri)
    return None if obj is None else StatusListRecord.from_json(obj)


def get_consent(view: StateView, digest: str) -> Consent | None:
    """The consent whose receipt has ``digest``, if granted on the ledger."""
    obj = view.get(CONSENT, digest)
    return None if obj is None else Consent.from_json(obj)


def get_notice(view: StateView, digest: str) -> Notice | None:
    """The mailbox notice whose entry digest is ``digest``, if any."""
    obj = view.get(NOTICE, digest)
    return None if obj is None else Notice.from_json(obj)


# --- 法人番号 (corporate number) --------------------------------------------------------------


def corporate_number_valid(number: str) -> bool:
    """True if ``number`` is 13 ASCII digits whose first is the check digit of the other 12.

    法人番号の指定等に関する省令 (財務省令第七十号) Art. 2: check digit =
    9 − (Σ_{n=1..12} P_n × Q_n mod 9), P_n the n-th digit of the 12-digit base number
    counted from the right, Q_n = 1 for odd n and 2 for even n.
    """
    if not (isinstance(number, str) and len(number) == 13 and number.isascii() and number.isdigit()):
        return False
    base = number[1:]
    total = sum(int(digit) * (1 if n % 2 else 2) for n, digit in enumerate(reversed(base), start=1))
    return int(number[0]) == 9 - total % 9


def check_member(obj: Mapping[str, Any], *, active: bool = True) -> Member:
    """The member an entry's (schema-valid) ``member`` object describes, if it is sound.

    Beyond the schema: the corporate number's check digit (``member.corporate-number``),
    distinct purpose ids (``member.purpose-duplicate``) and a well-formed Ed25519
    ``note_key`` (``member.note-key-invalid``). Raises :class:`RejectedByRules`.
    """
    if not corporate_number_valid(obj["corporate_number"]):
        raise RejectedByRules(
            f"corporate number {obj['corporate_number']} has a wrong check digit",
            rule="member.corporate-number",
        )
    ids = [purpose["id"] for purpose in obj.get("purposes", ())]
    if len(set(ids)) != len(ids):
        raise RejectedByRules("a verifier's purpose ids must be distinct", rule="member.purpose-duplicate")
    if "note_key" in obj:
        try:
            Ed25519NoteVerifier.from_vkey(obj["note_key"])
        except AkashiError as exc:
            raise RejectedByRules(
                f"note_key is not an Ed25519 verifier key: {exc.message}", rule="member.note-key-invalid"
            ) from exc
    return Member.from_body(obj, active=active)
