"""The ledger rules, one named scenario per row (python-tuf's test_updater_key_rotations.py style).

Each row starts from the same ledger (:func:`rules_world.base`: two issuers, a
verifier and an outsider with did:akashi identifiers, the trust registry, a KYC
anchor, status lists, a consent and a mailbox notice), may submit a few entries
that must pass, and then checks one last entry: ``None`` means it must be
accepted, otherwise the error class and the rule id it must be refused with.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rules_world import (
    GOVERNANCE,
    LICENCE_NUMBER,
    PERSONAL,
    T0,
    YEAR,
    Base,
    Org,
    World,
    base,
    jwt_digest,
    key,
    mk,
)

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.did.key_events import incept, rotate, sign_event
from identity.errors import AkashiError, InvalidSignature, RejectedByRules, SchemaViolation
from identity.ledger.envelope import Envelope, entry_bytes, parse_envelope, sign_envelope
from identity.ledger.note import ED25519, format_vkey
from registry.genesis import approve, genesis_changes, governance_signer, sign_member_entry
from registry.rules import RULE_IDS, check, entry_time, notice_id
from registry.state import MemoryState, get_consent, get_did, get_member, get_notice

_BASE = base()


def fresh() -> Base:
    """A private copy of the shared starting ledger."""
    return Base(_BASE.world.copy(), _BASE.credential, _BASE.attestation, _BASE.consent, _BASE.notice)


def digest_of(text: str) -> str:
    return b64url_encode(sha256(text.encode()))


def resign(envelope: Envelope, private: Any, signer: str | None = None, **body: Any) -> Envelope:
    """``envelope`` with body members replaced, signed again (by ``private`` as ``signer``)."""
    merged = {**envelope["body"], **body}
    return sign_envelope(envelope["type"], merged, signer or envelope["signer"], private)


@dataclass(frozen=True)
class Case:
    """A scenario: build the entry (submitting what comes first), and the expected outcome."""

    entry: Callable[[Base], Envelope]
    rule: str | None = None  # the RejectedByRules rule id, or None
    error: type[AkashiError] | None = None  # defaults to RejectedByRules when a rule is named

    @property
    def expected(self) -> type[AkashiError] | None:
        return self.error or (RejectedByRules if self.rule else None)


# --- signer resolution, signature, schema ------------------------------------------------------


def _outsider_anchor(b: Base) -> Envelope:
    stranger = Org("stranger")  # never created on the ledger
    return b.world.anchor(stranger, digest_of("x"))


def _anchor_after_rotation_with_old_key(b: Base) -> Envelope:
    w = b.world
    w.submit(w.rotate(w.issuer))
    return w.anchor(w.issuer, digest_of("after rotation"), signer=0)


def _anchor_after_rotation_with_new_key(b: Base) -> Envelope:
    w = b.world
    w.submit(w.rotate(w.issuer))
    return w.anchor(w.issuer, digest_of("after rotation"), signer=1)


def _anchor_after_deactivation(b: Base) -> Envelope:
    w = b.world
    w.submit(w.deactivate(w.issuer))
    return w.anchor(w.issuer, digest_of("after deactivation"), signer=1)


def _did_key_with_other_fragment(b: Base) -> Envelope:
    w = b.world
    grant = w.grant(w.taro)
    return resign(grant, w.taro.key, signer=f"{w.taro.did}#{mk(key('other'))}")


def _unsupported_method(b: Base) -> Envelope:
    return resign(b.world.grant(b.world.taro), b.world.taro.key, signer="did:web:example.com#key-1")


def _forged_anchor(b: Base) -> Envelope:
    w = b.world
    honest = w.anchor(w.issuer, digest_of("forged"))
    return resign(honest, key("thief"))  # claims the issuer's key, signed by another


def _extra_field(b: Base) -> Envelope:
    w = b.world
    return resign(w.grant(w.taro), w.taro.key, family_name="山田")


SIGNER_CASES: dict[str, Case] = {
    "signer: an unknown did:akashi": Case(_outsider_anchor, "signer.unknown-did"),
    "signer: a next key that is not yet current": Case(
        lambda b: b.world.anchor(b.world.issuer, digest_of("n"), signer=1), "signer.not-current-key"),
    "signer: the old key after a rotation": Case(
        _anchor_after_rotation_with_old_key, "signer.not-current-key"),
    "signer: the new key after a rotation": Case(_anchor_after_rotation_with_new_key),
    "signer: a deactivated DID signs nothing": Case(_anchor_after_deactivation, "signer.deactivated"),
    "signer: did:key with a foreign fragment": Case(_did_key_with_other_fragment, "signer.key-fragment"),
    "signer: neither did:key nor did:akashi": Case(_unsupported_method, "signer.unsupported-method"),
    "signature: made by another key": Case(_forged_anchor, error=InvalidSignature),
    "schema: a personal field in a body": Case(_extra_field, error=SchemaViolation),
    "schema: free text in a URL": Case(
        lambda b: b.world.anchor(b.world.issuer, digest_of("u"), vct="https://a.test/山田花子"),
        error=SchemaViolation),
    "schema: a URL with a trailing newline": Case(
        lambda b: b.world.publish(b.world.issuer, uri="https://issuer.test/status/2\n"),
        error=SchemaViolation),
    "schema: a digest that is not SHA-256": Case(
        lambda b: b.world.anchor(b.world.issuer, "not-a-digest"), error=SchemaViolation),
}


# --- did.* ---------------------------------------------------------------------------------------


def _create_signed_by_next_key(b: Base) -> Envelope:
    org = Org("newcomer")
    signed = sign_event(org.inception, [org.keys[0]])
    return sign_envelope("did.create", signed, org.signer(org.keys[1]), org.keys[1])


def _create_signed_as_other_did(b: Base) -> Envelope:
    org, other = Org("newcomer"), b.world.issuer
    signed = sign_event(org.inception, [org.keys[0]])
    return sign_envelope("did.create", signed, f"{other.did}#{mk(org.keys[0])}", org.keys[0])


def _create_with_forged_event_signature(b: Base) -> Envelope:
    org = Org("newcomer")
    signed = sign_event(org.inception, [org.keys[0]])
    signed["sigs"][0]["sig"] = b64url_encode(key("thief").sign(canonicalize(org.inception)))
    return sign_envelope("did.create", signed, org.signer(org.keys[0]), org.keys[0])


def _create_with_wrong_scid(b: Base) -> Envelope:
    org = Org("newcomer")
    event = {**org.inception, "id": "did:akashi:Qm" + "1" * 44}
    signed = sign_event(event, [org.keys[0]])
    return sign_envelope("did.create", signed, f"{event['id']}#{mk(org.keys[0])}", org.keys[0])


def _create_with_a_rotation_event(b: Base) -> Envelope:
    w = b.world
    rotation = w.rotate(w.issuer)
    return sign_envelope("did.create", rotation["body"], rotation["signer"], w.issuer.keys[1])


def _create_with_text_in_a_service_endpoint(b: Base) -> Envelope:
    org = key("talkative")
    service = {"id": "#home", "type": "Web", "serviceEndpoint": "https://home.test/山田花子"}
    event = incept([org.public_key], [key("talkative-next").public_key], services=[service])
    signer = f"{event['id']}#{mk(org)}"
    return sign_envelope("did.create", sign_event(event, [org]), signer, org)


def _rotate_signed_by_current_key(b: Base) -> Envelope:
    w, org = b.world, b.world.issuer
    event = rotate(w.key_state(org), [org.keys[1].public_key], [org.keys[2].public_key])
    return sign_envelope("did.rotate", sign_event(event, [org.keys[1]]), org.signer(org.keys[0]), org.keys[0])


def _rotate_by_thief(b: Base) -> Envelope:
    w, org, thief = b.world, b.world.issuer, key("thief")
    event = rotate(w.key_state(org), [thief.public_key], [thief.public_key])
    return sign_envelope("did.rotate", sign_event(event, [thief]), org.signer(thief), thief)


def _rotate_replayed(b: Base) -> Envelope:
    w = b.world
    first = w.rotate(w.issuer)
    w.submit(first)
    return first


def _rotate_unknown(b: Base) -> Envelope:
    org, scratch = Org("stranger"), World()  # created on another ledger, never on this one
    scratch.submit(scratch.create(org))
    return scratch.rotate(org)


def _rotate_twice(b: Base) -> Envelope:
    w = b.world
    w.submit(w.rotate(w.issuer))
    return w.rotate(w.issuer, 2)


def _rotate_after_deactivation(b: Base) -> Envelope:
    w, org = b.world, b.world.issuer
    state = w.key_state(org)
    w.submit(w.deactivate(org))
    event = rotate(state, [org.keys[1].public_key], [org.keys[2].public_key])
    return sign_envelope("did.rotate", sign_event(event, [org.keys[1]]), org.signer(org.keys[1]), org.keys[1])


def _update_signed_by_next_key(b: Base) -> Envelope:
    return b.world.update(b.world.issuer, envelope_signer=1)


DID_CASES: dict[str, Case] = {
    "did.create: a new organisation": Case(lambda b: b.world.create(Org("newcomer"))),
    "did.create: the same DID twice": Case(lambda b: b.world.create(b.world.issuer), "did.exists"),
    "did.create: signed by a key the inception does not list": Case(
        _create_signed_by_next_key, "did.signer-not-authorising-key"),
    "did.create: signed as another DID": Case(_create_signed_as_other_did, "did.signer-other-did"),
    "did.create: forged event signature": Case(_create_with_forged_event_signature, error=InvalidSignature),
    "did.create: id is not the SCID": Case(_create_with_wrong_scid, "did.event-rejected"),
    "did.create: the body is a rotation": Case(_create_with_a_rotation_event, error=SchemaViolation),
    "did.create: personal text in a service endpoint": Case(
        _create_with_text_in_a_service_endpoint, error=SchemaViolation),
    "did.rotate: by the pre-committed next key": Case(lambda b: b.world.rotate(b.world.issuer)),
    "did.rotate: envelope signed by the current key": Case(
        _rotate_signed_by_current_key, "did.signer-not-authorising-key"),
    "did.rotate: a thief's key was never committed to": Case(_rotate_by_thief, "did.event-rejected"),
    "did.rotate: replaying an applied rotation": Case(_rotate_replayed, "did.event-rejected"),
    "did.rotate: a DID the ledger never saw": Case(_rotate_unknown, "did.unknown"),
    "did.rotate: twice in a row": Case(_rotate_twice),
    "did.update: by the current key": Case(lambda b: b.world.update(b.world.issuer)),
    "did.update: by the next key": Case(_update_signed_by_next_key, "did.signer-not-authorising-key"),
    "did.deactivate: by the next key": Case(lambda b: b.world.deactivate(b.world.issuer)),
    "did.rotate: after deactivation": Case(_rotate_after_deactivation, "did.deactivated"),
}


# --- attestation.anchor and status.publish ----------------------------------------------------------


def _anchor_after_removal(b: Base) -> Envelope:
    w = b.world
    w.submit(w.remove(w.issuer.did, 2))
    return w.anchor(w.issuer, digest_of("after removal"))


def _anchor_into_other_issuers_list(b: Base) -> Envelope:
    w = b.world
    return w.anchor(w.issuer, digest_of("x"), status={"idx": 1, "uri": "https://issuer-b.test/status/1"})


def _publish_after_removal(b: Base) -> Envelope:
    w = b.world
    w.submit(w.remove(w.issuer.did, 2))
    return w.publish(w.issuer, iat=T0 + 60)


ISSUER_CASES: dict[str, Case] = {
    "anchor: an accredited issuer, for its method": Case(
        lambda b: b.world.anchor(b.world.issuer, digest_of("second credential"))),
    "anchor: without status or expiry": Case(
        lambda b: b.world.anchor(b.world.issuer, digest_of("plain"), status=None, exp=None)),
    "anchor: licence method by an issuer accredited for it": Case(
        lambda b: b.world.anchor(b.world.issuer_b, digest_of("licence"), method="drivers_licence_ic")),
    "anchor: a method the issuer is not accredited for": Case(
        lambda b: b.world.anchor(b.world.issuer, digest_of("licence"), method="drivers_licence_ic"),
        "attestation.method-not-accredited"),
    "anchor: naming another issuer": Case(
        lambda b: b.world.anchor(b.world.issuer, digest_of("x"), issuer=b.world.issuer_b.did),
        "attestation.signer-not-issuer"),
    "anchor: an organisation outside the registry": Case(
        lambda b: b.world.anchor(b.world.outsider, digest_of("x")), "attestation.issuer-not-member"),
    "anchor: a verifier is not an issuer": Case(
        lambda b: b.world.anchor(b.world.verifier, digest_of("x")), "attestation.member-not-issuer"),
    "anchor: a removed issuer": Case(_anchor_after_removal, "attestation.issuer-not-member"),
    "anchor: the same credential twice": Case(
        lambda b: b.world.anchor(b.world.issuer, b.attestation), "attestation.duplicate"),
    "anchor: expires when issued": Case(
        lambda b: b.world.anchor(b.world.issuer, digest_of("x"), exp=T0),
        "attestation.expires-before-issued"),
    "anchor: into another issuer's status list": Case(
        _anchor_into_other_issuers_list, "attestation.status-list-of-other-issuer"),
    "status: a newer version of its own list": Case(lambda b: b.world.publish(b.world.issuer, iat=T0 + 60)),
    "status: a version no newer than the last": Case(
        lambda b: b.world.publish(b.world.issuer, iat=T0), "status.not-newer"),
    "status: another issuer's list": Case(
        lambda b: b.world.publish(b.world.issuer_b, uri="https://issuer.test/status/1", iat=T0 + 60),
        "status.uri-of-other-issuer"),
    "status: naming another issuer": Case(
        lambda b: b.world.publish(b.world.issuer, issuer=b.world.issuer_b.did), "status.signer-not-issuer"),
    "status: an organisation outside the registry": Case(
        lambda b: b.world.publish(b.world.outsider), "status.issuer-not-member"),
    "status: a verifier is not an issuer": Case(
        lambda b: b.world.publish(b.world.verifier), "status.member-not-issuer"),
    "status: a removed issuer": Case(_publish_after_removal, "status.issuer-not-member"),
}


# --- consent.grant and consent.revoke --------------------------------------------------------------


def _grant_after_verifier_removed(b: Base) -> Envelope:
    w = b.world
    w.submit(w.remove(w.verifier.did, 2))
    return w.grant(w.taro)


def _revoke_twice(b: Base) -> Envelope:
    w = b.world
    w.submit(w.revoke(w.hanako, b.consent))
    return w.revoke(w.hanako, b.consent, T0 + 2000)


CONSENT_CASES: dict[str, Case] = {
    "grant: to a verifier, for a registered purpose": Case(lambda b: b.world.grant(b.world.taro)),
    "grant: signed by someone else's key": Case(
        lambda b: b.world.grant(b.world.taro, signer=b.world.hanako), "consent.signer-not-holder"),
    "grant: to an organisation outside the registry": Case(
        lambda b: b.world.grant(b.world.taro, verifier=b.world.outsider.did), "consent.verifier-not-member"),
    "grant: to an issuer": Case(
        lambda b: b.world.grant(b.world.taro, verifier=b.world.issuer.did), "consent.member-not-verifier"),
    "grant: to a removed verifier": Case(_grant_after_verifier_removed, "consent.verifier-not-member"),
    "grant: for a purpose the verifier never registered": Case(
        lambda b: b.world.grant(b.world.taro, purpose="marketing"), "consent.purpose-not-registered"),
    "grant: expiring when granted": Case(
        lambda b: b.world.grant(b.world.taro, expires_at=T0), "consent.expires-before-granted"),
    "grant: the same receipt twice": Case(lambda b: b.world.grant(b.world.hanako), "consent.duplicate"),
    "revoke: by the holder": Case(lambda b: b.world.revoke(b.world.hanako, b.consent)),
    "revoke: after expiry, still by the holder": Case(
        lambda b: b.world.revoke(b.world.hanako, b.consent, T0 + 2 * YEAR)),
    "revoke: a consent the ledger never saw": Case(
        lambda b: b.world.revoke(b.world.hanako, digest_of("none")), "consent.unknown"),
    "revoke: by somebody else": Case(
        lambda b: b.world.revoke(b.world.taro, b.consent), "consent.signer-not-holder"),
    "revoke: twice": Case(_revoke_twice, "consent.already-revoked"),
    "revoke: dated before the grant": Case(
        lambda b: b.world.revoke(b.world.hanako, b.consent, T0 - 1), "consent.revoked-before-granted"),
}


# --- mailbox.notice and mailbox.ack ------------------------------------------------------------------


def _notice_after_revocation(b: Base) -> Envelope:
    w = b.world
    w.submit(w.revoke(w.hanako, b.consent))
    return w.notice(w.hanako, b.consent, sent_at=T0 + 2000)


def _notice_without_updates(b: Base) -> Envelope:
    w = b.world
    grant = w.submit(w.grant(w.taro, updates_allowed=False))
    return w.notice(w.taro, grant["body"]["receipt_digest"])


def _appi(b: Base, holder: Any = None, consent: str | None = None, **changes: Any) -> Envelope:
    """A notice marked as an APPI Art. 35 stop/erasure request (``purpose: appi-request``)."""
    w = b.world
    holder = holder or w.hanako
    sent_at = changes.pop("sent_at", T0 + 2000)
    notice = w.notice(holder, consent or b.consent, sent_at=sent_at)
    return resign(notice, holder.key, **{"purpose": "appi-request", **changes})


def _appi_after_revocation(b: Base) -> Envelope:
    b.world.submit(b.world.revoke(b.world.hanako, b.consent))
    return _appi(b)


def _update_purpose_after_revocation(b: Base) -> Envelope:
    w = b.world
    w.submit(w.revoke(w.hanako, b.consent))
    return resign(w.notice(w.hanako, b.consent, sent_at=T0 + 2000), w.hanako.key, purpose="update")


def _appi_without_updates(b: Base) -> Envelope:
    w = b.world
    grant = w.submit(w.grant(w.taro, updates_allowed=False))
    return _appi(b, w.taro, grant["body"]["receipt_digest"])


def _appi_twice(b: Base) -> Envelope:
    w = b.world
    w.submit(w.revoke(w.hanako, b.consent))
    return w.submit(_appi(b))


def _notice_twice(b: Base) -> Envelope:
    return b.world.history[-1]


def _ack_after_rotation(b: Base) -> Envelope:
    w = b.world
    w.submit(w.rotate(w.verifier))
    return w.ack(b.notice, signer=1)


def _ack_by_holder(b: Base) -> Envelope:
    w = b.world
    body = {"notice": b.notice, "status": "applied", "acked_at": T0 + 200}
    return sign_envelope("mailbox.ack", body, w.hanako.signer, w.hanako.key)


def _ack_twice(b: Base) -> Envelope:
    w = b.world
    w.submit(w.ack(b.notice))
    return w.ack(b.notice, acked_at=T0 + 300, status="rejected", reason="not-a-customer")


MAILBOX_CASES: dict[str, Case] = {
    "notice: under an active consent that allows updates": Case(
        lambda b: b.world.notice(b.world.hanako, b.consent, sent_at=T0 + 500)),
    "notice: under a consent the ledger never saw": Case(
        lambda b: b.world.notice(b.world.hanako, digest_of("none")), "mailbox.consent-unknown"),
    "notice: by someone who is not the consent's holder": Case(
        lambda b: b.world.notice(b.world.taro, b.consent, sent_at=T0 + 500), "mailbox.signer-not-holder"),
    "notice: after the consent was revoked": Case(_notice_after_revocation, "mailbox.consent-revoked"),
    "notice: under a consent without updates": Case(_notice_without_updates, "mailbox.updates-not-allowed"),
    "notice: sent before the consent": Case(
        lambda b: b.world.notice(b.world.hanako, b.consent, sent_at=T0 - 1), "mailbox.sent-before-consent"),
    "notice: sent when the consent expires": Case(
        lambda b: b.world.notice(b.world.hanako, b.consent, sent_at=T0 + YEAR), "mailbox.consent-expired"),
    "notice: to another organisation": Case(
        lambda b: b.world.notice(b.world.hanako, b.consent, sent_at=T0 + 500, recipient=b.world.issuer.did),
        "mailbox.recipient-not-verifier"),
    "notice: the same notice twice": Case(_notice_twice, "mailbox.notice-duplicate"),
    "notice: an update, so named, after the consent was revoked": Case(
        _update_purpose_after_revocation, "mailbox.consent-revoked"),
    "notice: with a purpose the schema does not know": Case(
        lambda b: _appi(b, purpose="marketing"), error=SchemaViolation),
    "appi-request: under an active consent": Case(lambda b: _appi(b)),
    "appi-request: after the consent was revoked": Case(_appi_after_revocation),
    "appi-request: after the consent expired": Case(lambda b: _appi(b, sent_at=T0 + 2 * YEAR)),
    "appi-request: under a consent without updates": Case(_appi_without_updates),
    "appi-request: under a consent the ledger never saw": Case(
        lambda b: _appi(b, consent=digest_of("none")), "mailbox.consent-unknown"),
    "appi-request: by someone who is not the consent's holder": Case(
        lambda b: _appi(b, b.world.taro), "mailbox.signer-not-holder"),
    "appi-request: to another organisation": Case(
        lambda b: _appi(b, recipient=b.world.issuer.did), "mailbox.recipient-not-verifier"),
    "appi-request: sent before the consent": Case(
        lambda b: _appi(b, sent_at=T0 - 1), "mailbox.sent-before-consent"),
    "appi-request: the same request twice": Case(_appi_twice, "mailbox.notice-duplicate"),
    "ack: by the recipient": Case(lambda b: b.world.ack(b.notice)),
    "ack: rejected with a reason code": Case(
        lambda b: b.world.ack(b.notice, status="rejected", reason="not-a-customer")),
    "ack: rejected without a reason": Case(lambda b: b.world.ack(b.notice, status="rejected"),
                                           error=SchemaViolation),
    "ack: with the recipient's new key after rotation": Case(_ack_after_rotation),
    "ack: a notice the ledger never saw": Case(
        lambda b: b.world.ack(digest_of("none")), "mailbox.notice-unknown"),
    "ack: by another organisation": Case(
        lambda b: b.world.ack(b.notice, by=b.world.issuer), "mailbox.signer-not-recipient"),
    "ack: by the holder": Case(_ack_by_holder, "mailbox.signer-not-recipient"),
    "ack: twice": Case(_ack_twice, "mailbox.already-acked"),
    "ack: dated before the notice": Case(
        lambda b: b.world.ack(b.notice, acked_at=T0), "mailbox.ack-before-notice"),
}


# --- member.* -------------------------------------------------------------------------------------


def _newcomer_member(b: Base, **changes: Any) -> dict[str, Any]:
    w = b.world
    org = Org("newcomer")
    w.submit(w.create(org))
    return {**w.issuer_member(org).to_body(), **changes}


def _add_with_approvals(approvals: list[dict[str, str]], member: dict[str, Any]) -> Envelope:
    signer = GOVERNANCE[0]
    body = {"member": member, "approvals": approvals}
    return sign_envelope("member.add", body, governance_signer(signer.public_key), signer)


def _add_with_outside_approval(b: Base) -> Envelope:
    member = _newcomer_member(b)
    approvals = [approve("member.add", member, GOVERNANCE[0]), approve("member.add", member, key("outside"))]
    return _add_with_approvals(approvals, member)


def _add_with_one_approval_twice(b: Base) -> Envelope:
    member = _newcomer_member(b)
    once = approve("member.add", member, GOVERNANCE[0])
    return _add_with_approvals([once, once], member)


def _update_with_add_approvals(b: Base) -> Envelope:
    w = b.world
    member = w.issuer_member(w.issuer, ("jpki", "drivers_licence_ic"), version=2).to_body()
    approvals = [approve("member.add", member, k) for k in GOVERNANCE[:2]]
    body = {"member": member, "approvals": approvals}
    return sign_envelope("member.update", body, governance_signer(GOVERNANCE[0].public_key), GOVERNANCE[0])


def _signed_by_non_governance(b: Base) -> Envelope:
    member = _newcomer_member(b)
    return sign_member_entry("member.add", member, GOVERNANCE[:2], submitter=key("outside"))


def _replay_add_after_removal(b: Base) -> Envelope:
    w = b.world
    w.submit(w.remove(w.issuer.did, 2))
    return w.add(w.issuer_member(w.issuer))  # the original, version 1 approvals


def _readd_after_removal(b: Base) -> Envelope:
    w = b.world
    w.submit(w.remove(w.issuer.did, 2))
    return w.add(w.issuer_member(w.issuer, version=3))


def _remove_twice(b: Base) -> Envelope:
    w = b.world
    w.submit(w.remove(w.issuer.did, 2))
    return w.remove(w.issuer.did, 3)


def _witness(b: Base, note_key: str) -> Envelope:
    member = {**_newcomer_member(b), "role": "witness", "note_key": note_key}
    del member["evidence_methods"]
    return b.world.member_entry("member.add", member)


def _issuer_update(w: World, version: int) -> Envelope:
    """member.update accrediting the issuer for the licence method too."""
    member = w.issuer_member(w.issuer, ("jpki", "drivers_licence_ic"), version)
    return w.member_entry("member.update", member.to_body())


GOOD_NOTE_KEY = format_vkey("witness.test", ED25519, key("witness").public_key.raw)
BAD_NOTE_KEY = "witness.test+00000000+" + GOOD_NOTE_KEY.split("+", 2)[2]  # wrong key ID

MEMBER_CASES: dict[str, Case] = {
    "member.add: approved by 2 of 3": Case(lambda b: b.world.member_entry("member.add", _newcomer_member(b))),
    "member.add: approved by 3 of 3": Case(
        lambda b: b.world.member_entry("member.add", _newcomer_member(b), approvers=3)),
    "member.add: approved by 1 of 3": Case(
        lambda b: b.world.member_entry("member.add", _newcomer_member(b), approvers=1),
        "member.threshold-not-met"),
    "member.add: one approval counted twice": Case(_add_with_one_approval_twice, error=SchemaViolation),
    "member.add: an approval by a key outside governance": Case(
        _add_with_outside_approval, "member.approval-unknown-key"),
    "member.add: submitted by a key outside governance": Case(
        _signed_by_non_governance, "member.signer-not-governance"),
    "member.add: an active member again": Case(
        lambda b: b.world.add(b.world.issuer_member(b.world.issuer)), "member.exists"),
    "member.add: starting at version 2": Case(
        lambda b: b.world.member_entry("member.add", _newcomer_member(b, version=2)),
        "member.version-not-next"),
    "member.add: a wrong corporate number check digit": Case(
        lambda b: b.world.member_entry("member.add", _newcomer_member(b, corporate_number="5011001098993")),
        "member.corporate-number"),
    "member.add: a verifier with one purpose id twice": Case(
        lambda b: b.world.member_entry("member.add", {
            **{k: v for k, v in _newcomer_member(b).items() if k != "evidence_methods"}, "role": "verifier",
            "purposes": [{"id": "p", "text": "目的"}, {"id": "p", "text": "別の目的"}]}),
        "member.purpose-duplicate"),
    "member.add: an issuer with purposes": Case(
        lambda b: b.world.member_entry(
            "member.add", _newcomer_member(b, purposes=[{"id": "p", "text": "x"}])),
        error=SchemaViolation),
    "member.add: a witness with its note key": Case(lambda b: _witness(b, GOOD_NOTE_KEY)),
    "member.add: a witness with a malformed note key": Case(
        lambda b: _witness(b, BAD_NOTE_KEY), "member.note-key-invalid"),
    "member.update: the next version": Case(lambda b: _issuer_update(b.world, 2)),
    "member.update: replaying the current version": Case(
        lambda b: _issuer_update(b.world, 1), "member.version-not-next"),
    "member.update: skipping a version": Case(
        lambda b: _issuer_update(b.world, 3), "member.version-not-next"),
    "member.update: with approvals for member.add": Case(_update_with_add_approvals, error=InvalidSignature),
    "member.update: an organisation outside the registry": Case(lambda b: b.world.member_entry(
        "member.update", b.world.issuer_member(b.world.outsider, version=2).to_body()), "member.not-active"),
    "member.remove: an active member": Case(lambda b: b.world.remove(b.world.issuer.did, 2)),
    "member.remove: twice": Case(_remove_twice, "member.not-active"),
    "member.remove: with a stale version": Case(
        lambda b: b.world.remove(b.world.issuer.did, 1), "member.version-not-next"),
    "member.add: replaying the first approval after removal": Case(
        _replay_add_after_removal, "member.version-not-next"),
    "member.add: re-admission after removal at the next version": Case(_readd_after_removal),
}

CASES = {**SIGNER_CASES, **DID_CASES, **ISSUER_CASES, **CONSENT_CASES, **MAILBOX_CASES, **MEMBER_CASES}


@pytest.mark.parametrize("name", list(CASES))
def test_scenario(name: str) -> None:
    case = CASES[name]
    b = fresh()
    entry = case.entry(b)
    if case.expected is None:
        b.world.submit(entry)
        return
    with pytest.raises(case.expected) as caught:
        b.world.check(entry)
    if case.rule is not None:
        assert isinstance(caught.value, RejectedByRules)
        assert caught.value.rule == case.rule, caught.value.message


def test_every_rule_id_is_exercised_by_a_scenario() -> None:
    named = {case.rule for case in CASES.values() if case.rule}
    assert named <= RULE_IDS
    assert RULE_IDS - named == set()


# --- what accepted entries do to the state -------------------------------------------------------------


def test_rotation_moves_the_signing_key_and_counts_events() -> None:
    b = fresh()
    w = b.world
    w.submit(w.rotate(w.verifier))
    record = get_did(w.state, w.verifier.did)
    assert record is not None
    assert record.events == 2
    assert record.current_key(mk(w.verifier.keys[1])) is not None
    assert record.current_key(mk(w.verifier.keys[0])) is None


def test_revocation_and_ack_are_recorded() -> None:
    b = fresh()
    w = b.world
    w.submit(w.ack(b.notice, acked_at=T0 + 250))
    w.submit(w.revoke(w.hanako, b.consent, T0 + 300))
    notice = get_notice(w.state, b.notice)
    consent = get_consent(w.state, b.consent)
    assert notice is not None and (notice.ack_status, notice.acked_at) == ("applied", T0 + 250)
    assert consent is not None and consent.revoked_at == T0 + 300
    assert not consent.active_at(T0 + 301)


def test_removal_keeps_an_inactive_record_at_the_next_version() -> None:
    b = fresh()
    w = b.world
    w.submit(w.remove(w.issuer.did, 2))
    member = get_member(w.state, w.issuer.did)
    assert member is not None
    assert (member.active, member.version, member.evidence_methods) == (False, 2, ("jpki",))


def test_check_reads_but_never_writes_the_state() -> None:
    b = fresh()
    before = json.dumps(b.world.state.to_json(), sort_keys=True)
    changes = b.world.check(b.world.ack(b.notice))
    assert [c.kind for c in changes] == ["notice"]
    assert json.dumps(b.world.state.to_json(), sort_keys=True) == before


def test_a_notice_is_keyed_by_its_entry_digest() -> None:
    b = fresh()
    notice = b.world.history[-1]
    assert notice["type"] == "mailbox.notice"
    assert notice_id(notice) == b.notice
    assert len(b.notice) == 43


# --- times ----------------------------------------------------------------------------------------------


def test_entry_time_is_the_time_each_entry_claims() -> None:
    b = fresh()
    claimed = {entry["type"]: entry_time(entry) for entry in b.world.history}
    assert claimed == {
        "did.create": None,
        "member.add": None,
        "status.publish": T0,
        "attestation.anchor": T0,
        "consent.grant": T0,
        "mailbox.notice": T0 + 100,
    }
    assert entry_time(b.world.ack(b.notice, acked_at=T0 + 7)) == T0 + 7
    assert entry_time(b.world.revoke(b.world.hanako, b.consent, T0 + 9)) == T0 + 9
    assert entry_time({"type": "mailbox.ack", "body": {"acked_at": True}}) is None
    assert entry_time({"type": "mailbox.ack", "body": "junk"}) is None


# --- a whole history: determinism and no personal data -----------------------------------------------------


def long_history() -> World:
    """The base story, continued: rotation, ack with the new key, re-accreditation, a second
    consent without updates, revocation, a deactivated organisation."""
    b = fresh()
    w = b.world
    w.submit(w.rotate(w.verifier))
    w.submit(w.ack(b.notice, signer=1))
    w.submit(_issuer_update(w, 2))
    w.submit(w.publish(w.issuer, iat=T0 + 3600))
    w.submit(w.anchor(w.issuer, digest_of("licence credential"), method="drivers_licence_ic"))
    w.submit(w.grant(w.taro, purpose="age-check", updates_allowed=False))
    w.submit(w.revoke(w.hanako, b.consent, T0 + 5000))
    w.submit(w.update(w.issuer_b))
    w.submit(w.deactivate(w.outsider))
    w.submit(w.remove(w.issuer_b.did, 2))
    return w


def replay(w: World) -> tuple[MemoryState, list[Any]]:
    state = MemoryState()
    changes = genesis_changes(w.genesis)
    state.apply(changes)
    all_changes: list[Any] = list(changes)
    for entry in w.history:
        made = check(state, entry, genesis=w.genesis)
        state.apply(made)
        all_changes.extend(made)
    return state, all_changes


def test_replaying_a_history_twice_reaches_the_same_state() -> None:
    w = long_history()
    first, changes_1 = replay(w)
    second, changes_2 = replay(w)
    assert canonicalize(first.to_json()) == canonicalize(second.to_json()) == canonicalize(w.state.to_json())
    assert changes_1 == changes_2


def test_no_personal_data_reaches_the_ledger_or_its_state() -> None:
    w = long_history()
    _state, changes = replay(w)
    ledger_text = "\n".join(json.dumps(entry, ensure_ascii=False) for entry in w.history)
    state_text = "\n".join(json.dumps(c.value, ensure_ascii=False) for c in changes)
    # The story really carried personal data: the credential's disclosures hold it.
    credential = _BASE.credential
    disclosed = " ".join(b64url_decode(d).decode() for d in credential.split("~")[1:-1])
    assert "花子" in disclosed and "1998-07-15" in disclosed
    for value in PERSONAL:
        assert value not in ledger_text, value
        assert value not in state_text, value
    # Nor any encoded form: no disclosure, credential, receipt or signed JWT part.
    secrets = [*credential.split("~")[:-1], *w.receipts.values()]
    for secret in secrets:
        for part in secret.split("."):
            assert part[:24] not in ledger_text and part[:24] not in state_text
    assert LICENCE_NUMBER not in ledger_text
    assert jwt_digest(credential) in ledger_text  # only the digest is anchored


def test_body_strings_are_digests_dids_urls_codes_or_organisation_data() -> None:
    """Every string in every body of the history is one of the pattern-limited kinds."""
    kinds = re.compile(
        r"did:(akashi:Qm|key:z6Mk)[1-9A-HJ-NP-Za-km-z]{44}"  # DIDs
        r"|z6(Mk|LS)[1-9A-HJ-NP-Za-km-z]{44}|Qm[1-9A-HJ-NP-Za-km-z]{44}"  # keys, KEL digests
        r"|[A-Za-z0-9_-]{43}|[A-Za-z0-9_-]{86}"  # SHA-256 digests, signatures
        r"|https?://[A-Za-z0-9./_-]+|[a-z0-9._:-]+"  # URLs, codes, ids
        r"|icp|rot|upd|dea|\d{13}"  # event types, corporate numbers
    )
    organisation_text = {
        "株式会社issuer", "株式会社issuer-b", "株式会社カーシェア",
        "カーシェア会員登録時の本人確認", "年齢確認",
    }
    for entry in long_history().history:
        for value in _strings(entry["body"]):
            assert kinds.fullmatch(value) or value in organisation_text, (entry["type"], value)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


# --- any flipped byte is refused with an akashi error ---------------------------------------------------


def _states_before(indexes: tuple[int, ...]) -> list[tuple[MemoryState, Envelope]]:
    """For each history index, the state just before that entry, and the entry."""
    w = _BASE.world
    state = MemoryState()
    state.apply(genesis_changes(w.genesis))
    out = []
    for index, entry in enumerate(w.history):
        if index in indexes:
            out.append((copy.deepcopy(state), entry))
        state.apply(check(state, entry, genesis=w.genesis))
    return out


#: did.create, member.add, status.publish, attestation.anchor, consent.grant, mailbox.notice
_BEFORE = _states_before((0, 4, 7, 9, 10, 11))


def test_the_unflipped_entries_pass_where_they_stand() -> None:
    for state, entry in _BEFORE:
        assert check(state, entry, genesis=_BASE.world.genesis)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(which=st.integers(0, len(_BEFORE) - 1), position=st.integers(0, 100_000), bit=st.integers(0, 7))
def test_any_flipped_byte_is_refused(which: int, position: int, bit: int) -> None:
    state, entry = _BEFORE[which]
    data = bytearray(entry_bytes(entry))
    data[position % len(data)] ^= 1 << bit
    with pytest.raises(AkashiError):
        # As a node does: the envelope is parsed (its shape checked) before the rules run.
        check(state, parse_envelope(bytes(data)), genesis=_BASE.world.genesis)
