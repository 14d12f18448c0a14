"""The ledger rules: the consortium's "smart contract" (ARCHITECTURE.md, "Ledger entries").

:func:`check` decides whether one signed entry is valid *at its position*, given
the derived state before it, and returns the state changes it makes. It is
deterministic: no clock, no randomness, no I/O — every node that applies it to
the same log in the same order reaches the same state. Times are those the
entries claim (:func:`entry_time`); the node's admission step, not the rules,
refuses an entry whose time is far from its own clock.

Steps, in order (the comments reuse the numbers):

1. The envelope has its shape, and the body satisfies
   ``specs/entry-<type>.schema.json`` (:class:`SchemaViolation`). Every string of
   a body is pattern-limited: the ledger holds digests, DIDs, times, flags and
   organisation data, and no field can carry free text about a person.
2. The signer's key is resolved (:class:`RejectedByRules` ``signer.*`` or ``did.*``):

   - ``did:key:<mk>#<mk>`` is its own key (people's pairwise identifiers);
   - ``did:akashi:<scid>#<mk>``: ``mk`` must be a current key of the DID's state
     on the ledger, and a deactivated DID signs nothing;
   - ``did.*`` entries are signed by one of the key event's authorising keys (the
     inception's or rotation's new keys, the revealed next keys of a
     deactivation, the current keys for an update);
   - ``member.*`` entries are signed by a governance key as ``did:key``.
3. The envelope signature verifies under that key (:class:`InvalidSignature`).
4. The entry type's rule holds (``_RULES`` below; each failure is a
   :class:`RejectedByRules` whose ``rule`` is a stable id such as
   ``consent.verifier-not-member``; :data:`RULE_IDS` lists them all).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.keys import Ed25519PublicKey
from identity.did.akashi import apply_event
from identity.did.key_events import KeyState
from identity.did.multikey import ed25519_from_multikey
from identity.errors import (
    InvalidSignature,
    KeyStateError,
    MalformedInput,
    RejectedByRules,
    UnsupportedAlgorithm,
)
from identity.ledger.envelope import entry_digest, split_signer, verify_parsed_envelope
from identity.schemas import validate
from registry.genesis import Genesis, Governance, approval_message
from registry.state import (
    ATTESTATION,
    CONSENT,
    DID,
    EVIDENCE_METHODS,
    MEMBER,
    NOTICE,
    STATUS_LIST,
    Attestation,
    Consent,
    DidRecord,
    Member,
    Notice,
    StateChange,
    StateView,
    StatusListRecord,
    check_member,
    get_attestation,
    get_consent,
    get_did,
    get_member,
    get_notice,
    get_status_list,
)

__all__ = [
    "RULE_IDS",
    "Prevalidated",
    "apply",
    "check",
    "entry_time",
    "notice_id",
    "prevalidate",
    "signer_key",
]

Envelope = Mapping[str, Any]
Rule = Callable[[StateView, Envelope, Genesis], list[StateChange]]

#: Every rule id :func:`check` can put in :attr:`RejectedByRules.rule`.
RULE_IDS = frozenset(
    {
        "signer.unsupported-method",
        "signer.key-fragment",
        "signer.unknown-did",
        "signer.deactivated",
        "signer.not-current-key",
        "did.exists",
        "did.unknown",
        "did.deactivated",
        "did.signer-other-did",
        "did.signer-not-authorising-key",
        "did.event-rejected",
        "attestation.signer-not-issuer",
        "attestation.issuer-not-member",
        "attestation.member-not-issuer",
        "attestation.method-not-accredited",
        "attestation.duplicate",
        "attestation.expires-before-issued",
        "attestation.status-list-of-other-issuer",
        "status.signer-not-issuer",
        "status.issuer-not-member",
        "status.member-not-issuer",
        "status.uri-of-other-issuer",
        "status.not-newer",
        "consent.signer-not-holder",
        "consent.verifier-not-member",
        "consent.member-not-verifier",
        "consent.purpose-not-registered",
        "consent.expires-before-granted",
        "consent.duplicate",
        "consent.unknown",
        "consent.already-revoked",
        "consent.revoked-before-granted",
        "mailbox.consent-unknown",
        "mailbox.signer-not-holder",
        "mailbox.consent-revoked",
        "mailbox.updates-not-allowed",
        "mailbox.sent-before-consent",
        "mailbox.consent-expired",
        "mailbox.recipient-not-verifier",
        "mailbox.notice-duplicate",
        "mailbox.notice-unknown",
        "mailbox.signer-not-recipient",
        "mailbox.already-acked",
        "mailbox.ack-before-notice",
        "member.signer-not-governance",
        "member.approval-unknown-key",
        "member.threshold-not-met",
        "member.exists",
        "member.not-active",
        "member.version-not-next",
        "member.corporate-number",
        "member.purpose-duplicate",
        "member.note-key-invalid",
    }
)

#: The body member holding the time an entry claims (for the node's clock-skew check).
_TIME_FIELDS = {
    "attestation.anchor": "iat",
    "status.publish": "iat",
    "consent.grant": "granted_at",
    "consent.revoke": "revoked_at",
    "mailbox.notice": "sent_at",
    "mailbox.ack": "acked_at",
}


def _reject(rule: str, message: str) -> RejectedByRules:
    return RejectedByRules(message, rule=rule)


@dataclass(frozen=True, slots=True)
class Prevalidated:
    """An entry whose body satisfies its schema (step 1) and whose signature verifies
    under the key its signer's fragment names (step 3). Whether that key may sign
    this entry at its position is for :func:`apply` (steps 2 and 4).

    Every signer in the ledger names its key by Multikey (``<did>#<multikey>``), so
    these checks need no state: a node may run them in parallel, ahead of the
    strictly ordered :func:`apply`.
    """

    envelope: Envelope
    signing_key: Ed25519PublicKey


def prevalidate(envelope: Envelope, *, data: bytes | None = None) -> Prevalidated:
    """Steps 1 and 3 for an envelope from ``parse_envelope``/``parse_entry``; ``data``, its
    JCS bytes when the caller has them, spares canonicalising it again."""
    validate(envelope["body"], "entry-" + envelope["type"])  # 1
    did, fragment = split_signer(envelope["signer"])
    # The forms of step 2 that need no state, so that they are named before the signature.
    if did.startswith("did:key:"):
        if fragment != did.removeprefix("did:key:"):
            raise _reject("signer.key-fragment", "a did:key signs as <did>#<its own multikey>")
    elif not did.startswith("did:akashi:"):
        raise _reject("signer.unsupported-method", "entries are signed by did:key or did:akashi")
    try:
        key = ed25519_from_multikey(fragment, what="signer key")
    except (MalformedInput, UnsupportedAlgorithm) as exc:
        raise _reject("signer.key-fragment", "a signer names its key as <did>#<Ed25519 Multikey>") from exc
    verify_parsed_envelope(envelope, key, data=data)  # 3
    return Prevalidated(envelope, key)


def apply(view: StateView, entry: Prevalidated, *, genesis: Genesis) -> list[StateChange]:
    """Steps 2 and 4: the state changes of a prevalidated entry at its position after ``view``."""
    envelope = entry.envelope
    authorised = _entry_signer(view, envelope, genesis)  # 2
    if authorised != split_signer(envelope["signer"])[1]:  # both read the fragment: a bug if not
        raise InvalidSignature("the signer's key is not the key that signed")
    return _RULES[envelope["type"]](view, envelope, genesis)  # 4


def check(
    view: StateView, envelope: Envelope, *, genesis: Genesis, data: bytes | None = None
) -> list[StateChange]:
    """The state changes of ``envelope`` at its position after ``view`` (steps 1-4); or raise.

    ``envelope`` comes from ``parse_envelope``/``parse_entry``; ``data``, its JCS bytes
    when the caller has them, spares canonicalising it again for the signature.
    """
    return apply(view, prevalidate(envelope, data=data), genesis=genesis)


def entry_time(envelope: Envelope) -> int | None:
    """The time (seconds since the epoch) an entry claims, or None for types without one."""
    field = _TIME_FIELDS.get(envelope.get("type", ""))
    body = envelope.get("body")
    if field is None or not isinstance(body, Mapping):
        return None
    value = body.get(field)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def notice_id(envelope: Envelope) -> str:
    """A mailbox notice's key in state: base64url of its entry digest (SHA-256 of the leaf)."""
    return b64url_encode(entry_digest(envelope))


# --- step 2: whose key signs --------------------------------------------------------------


def signer_key(view: StateView, signer: str) -> Ed25519PublicKey:
    """The key a ``<did>#<multikey>`` signer names, if it may sign now (step 2).

    did:key names its own key; did:akashi a current key of its state on the ledger.
    """
    return ed25519_from_multikey(_authorised_signer(view, signer), what="signer key")


def _authorised_signer(view: StateView, signer: str) -> str:
    """:func:`signer_key`'s checks; the signer's Multikey (decoding it is the caller's)."""
    did, fragment = split_signer(signer)
    if did.startswith("did:key:"):
        if fragment != did.removeprefix("did:key:"):
            raise _reject("signer.key-fragment", "a did:key signs as <did>#<its own multikey>")
        return fragment
    if not did.startswith("did:akashi:"):
        raise _reject("signer.unsupported-method", "entries are signed by did:key or did:akashi")
    record = view.get(DID, did)  # read raw: decode the one key needed, not the whole state
    if record is None:
        raise _reject("signer.unknown-did", f"{did} is not on the ledger")
    if record["state"]["deactivated"]:
        raise _reject("signer.deactivated", f"{did} is deactivated and signs nothing")
    if fragment not in record["state"]["keys"]:
        raise _reject("signer.not-current-key", f"{fragment} is not a current key of {did}")
    return fragment


def _entry_signer(view: StateView, envelope: Envelope, genesis: Genesis) -> str:
    """Step 2: the Multikey of the key that may sign this entry here (string checks only:
    the key itself was decoded once, by :func:`prevalidate`)."""
    entry_type = envelope["type"]
    if entry_type.startswith("member."):
        return _governance_signer(envelope["signer"], genesis.governance)
    if entry_type.startswith("did."):
        return _did_event_signer(view, envelope)
    return _authorised_signer(view, envelope["signer"])


def _governance_signer(signer: str, governance: Governance) -> str:
    did, fragment = split_signer(signer)
    if did != "did:key:" + fragment or fragment not in governance.keys:
        raise _reject("member.signer-not-governance", "member entries are signed by a governance key")
    return fragment


def _did_event_signer(view: StateView, envelope: Envelope) -> str:
    did, fragment = split_signer(envelope["signer"])
    event = envelope["body"]["event"]
    if did != event["id"]:
        raise _reject("did.signer-other-did", "a DID's key events are signed by that DID's keys")
    record = get_did(view, did)
    if envelope["type"] == "did.create":
        if record is not None:
            raise _reject("did.exists", f"{did} already exists")
    else:
        if record is None:
            raise _reject("did.unknown", f"{did} is not on the ledger")
        if record.state.deactivated:
            raise _reject("did.deactivated", f"{did} is deactivated; no event may follow")
    if event["type"] == "upd":  # an update is authorised by the current keys
        authorising = record is not None and record.current_key(fragment) is not None
    else:  # inception and rotation by the new keys, deactivation by the revealed next keys
        authorising = fragment in event["keys"]
    if not authorising:
        raise _reject("did.signer-not-authorising-key", "the signer is not a key that authorises this event")
    return fragment


# --- step 4: the rules of each entry type -----------------------------------------------------


def _did_event(view: StateView, envelope: Envelope, genesis: Genesis) -> list[StateChange]:
    body = envelope["body"]
    did = body["event"]["id"]
    record = get_did(view, did)
    previous: KeyState | None = None if record is None else record.state
    try:
        state = apply_event(previous, body)  # an invalid event signature stays InvalidSignature
    except KeyStateError as exc:  # chain, pre-rotation and threshold rules of identity.did.akashi
        raise _reject("did.event-rejected", f"key event refused: {exc.message}") from exc
    events = 1 if record is None else record.events + 1
    return [StateChange(DID, did, DidRecord(did, state, events).to_json())]


def _active_member(view: StateView, did: str, role: str, rules: tuple[str, str]) -> Member:
    """The active member ``did`` in ``role``; else refused by ``rules`` (not a member, wrong role)."""
    member = get_member(view, did)
    if member is None or not member.active:
        raise _reject(rules[0], f"{did} is not an active member")
    if member.role != role:
        raise _reject(rules[1], f"{did} is a {member.role}, not a {role}")
    return member


def _signer_did(envelope: Envelope) -> str:
    return split_signer(envelope["signer"])[0]


def _anchor(view: StateView, envelope: Envelope, genesis: Genesis) -> list[StateChange]:
    body = envelope["body"]
    attestation = Attestation.from_json(body)
    if _signer_did(envelope) != attestation.issuer:
        raise _reject("attestation.signer-not-issuer", "an attestation is anchored by its issuer")
    issuer = _active_member(
        view, attestation.issuer, "issuer", ("attestation.issuer-not-member", "attestation.member-not-issuer")
    )
    if attestation.method not in issuer.evidence_methods:
        letter = EVIDENCE_METHODS[attestation.method].value
        raise _reject(
            "attestation.method-not-accredited",
            f"the issuer is not accredited for {attestation.method} (method {letter})",
        )
    if attestation.exp is not None and attestation.exp <= attestation.iat:
        raise _reject("attestation.expires-before-issued", "exp must be after iat")
    if get_attestation(view, attestation.digest) is not None:
        raise _reject("attestation.duplicate", "this attestation is already anchored")
    if attestation.status is not None:
        listed = get_status_list(view, attestation.status.uri)
        if listed is not None and listed.issuer != attestation.issuer:
            raise _reject(
                "attestation.status-list-of-other-issuer", "the status list belongs to another issuer"
            )
    return [StateChange(ATTESTATION, attestation.digest, attestation.to_json())]


def _publish(view: StateView, envelope: Envelope, genesis: Genesis) -> list[StateChange]:
    published = StatusListRecord.from_json(envelope["body"])
    if _signer_did(envelope) != published.issuer:
        raise _reject("status.signer-not-issuer", "a status list is published by its issuer")
    _active_member(view, published.issuer, "issuer", ("status.issuer-not-member", "status.member-not-issuer"))
    previous = get_status_list(view, published.uri)
    if previous is not None:
        if previous.issuer != published.issuer:
            raise _reject("status.uri-of-other-issuer", "another issuer publishes this status list")
        if published.iat <= previous.iat:
            raise _reject("status.not-newer", "a status list version must be newer than the last one")
    return [StateChange(STATUS_LIST, published.uri, published.to_json())]


def _grant(view: StateView, envelope: Envelope, genesis: Genesis) -> list[StateChange]:
    body = envelope["body"]
    if _signer_did(envelope) != body["holder"]:
        raise _reject("consent.signer-not-holder", "a consent is signed by the holder key it names")
    verifier = _active_member(
        view, body["verifier"], "verifier", ("consent.verifier-not-member", "consent.member-not-verifier")
    )
    if verifier.purpose(body["purpose_id"]) is None:
        raise _reject("consent.purpose-not-registered", "the verifier registered no such purpose")
    if body["expires_at"] <= body["granted_at"]:
        raise _reject("consent.expires-before-granted", "expires_at must be after granted_at")
    if get_consent(view, body["receipt_digest"]) is not None:
        raise _reject("consent.duplicate", "this consent is already on the ledger")
    consent = Consent(
        digest=body["receipt_digest"],
        holder=body["holder"],
        verifier=body["verifier"],
        purpose_id=body["purpose_id"],
        granted_at=body["granted_at"],
        expires_at=body["expires_at"],
        updates_allowed=body["updates_allowed"],
    )
    return [StateChange(CONSENT, consent.digest, consent.to_json())]


def _revoke(view: StateView, envelope: Envelope, genesis: Genesis) -> list[StateChange]:
    body = envelope["body"]
    consent = get_consent(view, body["receipt_digest"])
    if consent is None:
        raise _reject("consent.unknown", "no such consent on the ledger")
    if _signer_did(envelope) != consent.holder:
        raise _reject("consent.signer-not-holder", "only the consent's holder revokes it")
    if consent.revoked_at is not None:
        raise _reject("consent.already-revoked", "this consent is already revoked")
    if body["revoked_at"] < consent.granted_at:
        raise _reject("consent.revoked-before-granted", "revoked_at is before granted_at")
    revoked = Consent.from_json({**consent.to_json(), "revoked_at": body["revoked_at"]})
    return [StateChange(CONSENT, revoked.digest, revoked.to_json())]


def _notice(view: StateView, envelope: Envelope, genesis: Genesis) -> list[StateChange]:
    body = envelope["body"]
    consent = get_consent(view, body["consent"])
    if consent is None:
        raise _reject("mailbox.consent-unknown", "no such consent on the ledger")
    if _signer_did(envelope) != consent.holder:
        raise _reject("mailbox.signer-not-holder", "only the consent's holder sends under it")
    # An APPI Art. 35 stop/erasure request outlives the consent: revoked, expired or not
    # allowing updates, the holder may still ask the consent's verifier to stop or erase.
    appi_request = body.get("purpose", "update") == "appi-request"
    if not appi_request and consent.revoked_at is not None:
        raise _reject("mailbox.consent-revoked", "the consent is revoked")
    if not appi_request and not consent.updates_allowed:
        raise _reject("mailbox.updates-not-allowed", "the consent does not allow updates")
    if body["sent_at"] < consent.granted_at:
        raise _reject("mailbox.sent-before-consent", "sent_at is before the consent was granted")
    if not appi_request and body["sent_at"] >= consent.expires_at:
        raise _reject("mailbox.consent-expired", "the consent expired before sent_at")
    if body["recipient"] != consent.verifier:
        raise _reject("mailbox.recipient-not-verifier", "a notice goes to the consent's verifier only")
    key = notice_id(envelope)
    if get_notice(view, key) is not None:
        raise _reject("mailbox.notice-duplicate", "this notice is already on the ledger")
    notice = Notice(key, body["recipient"], body["ciphertext_digest"], body["consent"], body["sent_at"])
    return [StateChange(NOTICE, key, notice.to_json())]


def _ack(view: StateView, envelope: Envelope, genesis: Genesis) -> list[StateChange]:
    body = envelope["body"]
    notice = get_notice(view, body["notice"])
    if notice is None:
        raise _reject("mailbox.notice-unknown", "no such notice on the ledger")
    if _signer_did(envelope) != notice.recipient:
        raise _reject("mailbox.signer-not-recipient", "only the notice's recipient acknowledges it")
    if notice.ack_status is not None:
        raise _reject("mailbox.already-acked", "this notice is already acknowledged")
    if body["acked_at"] < notice.sent_at:
        raise _reject("mailbox.ack-before-notice", "acked_at is before the notice was sent")
    acked = Notice.from_json({**notice.to_json(), "ack_status": body["status"], "acked_at": body["acked_at"]})
    return [StateChange(NOTICE, acked.digest, acked.to_json())]


def _check_approvals(
    entry_type: str, member: Mapping[str, Any], approvals: list[Any], gov: Governance
) -> None:
    message = approval_message(entry_type, member)
    approved: set[str] = set()
    for approval in approvals:
        key = gov.public_key(approval["key"])
        if key is None:
            raise _reject("member.approval-unknown-key", "an approval is by a key outside governance")
        try:
            key.verify(b64url_decode(approval["sig"], what="approval signature"), message)
        except InvalidSignature:
            raise InvalidSignature("member approval signature is invalid") from None
        approved.add(approval["key"])  # distinct keys: one key approving twice counts once
    if len(approved) < gov.threshold:
        raise _reject(
            "member.threshold-not-met",
            f"{len(approved)} distinct governance keys approved; {gov.threshold} are required",
        )


def _member(view: StateView, envelope: Envelope, genesis: Genesis) -> list[StateChange]:
    entry_type, body = envelope["type"], envelope["body"]
    obj = body["member"]
    _check_approvals(entry_type, obj, body["approvals"], genesis.governance)
    current = get_member(view, obj["did"])
    if entry_type == "member.add":
        if current is not None and current.active:
            raise _reject("member.exists", f"{obj['did']} is already an active member")
    elif current is None or not current.active:
        raise _reject("member.not-active", f"{obj['did']} is not an active member")
    expected = 1 if current is None else current.version + 1
    if obj["version"] != expected:
        raise _reject("member.version-not-next", f"member version must be {expected}, not {obj['version']}")
    if entry_type == "member.remove" and current is not None:  # (active: checked above)
        record = Member.from_json({**current.to_json(), "version": obj["version"], "active": False})
    else:
        record = check_member(obj)
    return [StateChange(MEMBER, record.did, record.to_json())]


_RULES: dict[str, Rule] = {
    "did.create": _did_event,
    "did.rotate": _did_event,
    "did.update": _did_event,
    "did.deactivate": _did_event,
    "attestation.anchor": _anchor,
    "status.publish": _publish,
    "consent.grant": _grant,
    "consent.revoke": _revoke,
    "mailbox.notice": _notice,
    "mailbox.ack": _ack,
    "member.add": _member,
    "member.update": _member,
    "member.remove": _member,
}
