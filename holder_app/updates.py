"""Sending a change of personal data once, to exactly the operators the person allowed.

:func:`plan_update` says, before anything is sent, who will receive an update of a kind and
who will not (and why); :func:`send_update` then, for each recipient:

1. builds the update (new value, effective date) and signs it with the pairwise key of the
   consent it travels under (``update+jwt``, :mod:`identity.credentials.updates`);
2. seals it to the operator's X25519 key from the ``keyAgreement`` of its did:akashi,
   resolved from the ledger — only that operator can open it;
3. posts the ciphertext with its signed ``mailbox.notice`` (consent digest, recipient,
   SHA-256 of the ciphertext, time) to the registry's mailbox; the ledger's rules refuse a
   notice under a consent that is revoked, expired or does not allow updates, even if this
   wallet's view is out of date.

A consent qualifies when it is active and unexpired, allows updates, and its claims cover
the kind's claim (a consent for the address covers an address update; one for the age check
does not). Erasure and stop requests (APPI Art. 35) go to every active consent's operator,
updates allowed or not: they ask the operator to stop using what it received. Asked of named
operators (``verifiers``), they go under every consent given to them, active, expired or
revoked: the right to ask for erasure outlives the consent. Their notice's ``purpose`` is
``appi-request``, which the ledger accepts under such a consent (an ``update`` it refuses),
and their value names the claims the consent shared (``{"claims": [...]}``) unless given.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from holder_app.claim_text import dotted
from holder_app.records import ClaimPath, Consent
from holder_app.wallet import Wallet
from identity.credentials.updates import UpdateKind, new_customer_update, seal_update, sign_update
from identity.crypto.keys import Ed25519PrivateKey
from identity.did.did_key import did_key_from_public_key
from identity.did.document import key_agreement_key
from identity.errors import AkashiError, NotFound, PolicyError
from identity.jose.jws import parse_compact_unverified
from identity.ledger.envelope import sign_envelope
from identity.protocols.dcql import path_within

__all__ = [
    "APPI_KINDS",
    "CLAIMS_OF_KIND",
    "Delivery",
    "UpdatePlan",
    "plan_update",
    "recipients_text",
    "send_update",
]

#: The kinds that are APPI Art. 35 requests (stop using, erase), not changes of data.
APPI_KINDS = frozenset({"erasure", "stop"})

#: The claim each kind of update changes (what a consent must cover to receive it).
CLAIMS_OF_KIND: dict[str, tuple[ClaimPath, ...]] = {
    "address": (("verified_claims", "claims", "address"),),
    "name": (("verified_claims", "claims", "family_name"), ("verified_claims", "claims", "given_name")),
}


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    """Who will receive an update of ``kind``, and who will not, with the reason."""

    kind: UpdateKind
    recipients: tuple[Consent, ...]
    excluded: tuple[tuple[Consent, str], ...]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One update posted to one operator's mailbox (or refused, with why)."""

    consent_id: str
    verifier: str
    update_id: str | None
    message_id: str | None
    notice_index: int | None
    error: str | None = None


def _covers(consent: Consent, kind: str) -> bool:
    if kind in ("erasure", "stop"):
        return True
    wanted = CLAIMS_OF_KIND.get(kind, ())
    granted = [tuple(path) for path in consent.claims]
    return bool(wanted) and all(path_within(path, granted) for path in wanted)


def plan_update(wallet: Wallet, kind: UpdateKind, verifiers: Collection[str] | None = None) -> UpdatePlan:
    """Every consent of the wallet, split into those an update of ``kind`` goes to and the
    others, each with the reason it does not. With ``verifiers``, only consents given to
    them are considered; an erasure or stop request then goes under each of them whatever
    its state (active, expired or revoked), and asking an operator the wallet never gave a
    consent to is refused (:class:`NotFound`)."""
    if kind not in ("address", "name", "erasure", "stop"):
        raise PolicyError(f"no such update kind: {kind}")
    now = int(wallet.clock())
    recipients: list[Consent] = []
    excluded: list[tuple[Consent, str]] = []
    consents = wallet.store.consents()
    if verifiers is not None:
        unknown = sorted(set(verifiers) - {c.verifier for c in consents})
        if unknown:
            raise NotFound(f"no consent was ever given to {', '.join(unknown)}")
    for consent in consents:
        state = consent.state(now)
        if verifiers is not None and consent.verifier not in verifiers:
            excluded.append((consent, "not asked"))
        elif verifiers is not None and kind in APPI_KINDS:
            recipients.append(consent)  # the right to ask outlives the consent
        elif state != "active":
            excluded.append((consent, f"the consent is {state}"))
        elif kind not in ("erasure", "stop") and not consent.updates_allowed:
            excluded.append((consent, "the consent does not allow updates"))
        elif not _covers(consent, kind):
            names = ", ".join(dotted(p) for p in CLAIMS_OF_KIND.get(kind, ()))
            excluded.append((consent, f"the consent does not cover {names}: it never received it"))
        else:
            recipients.append(consent)
    return UpdatePlan(kind, tuple(recipients), tuple(excluded))


def send_update(
    wallet: Wallet, plan: UpdatePlan, value: Any, effective_date: date, *, attestation: str | None = None
) -> list[Delivery]:
    """Post the update to every recipient of ``plan`` (steps 1-3); one :class:`Delivery` each.
    A refusal for one operator (e.g. the ledger finds its consent revoked) does not stop the
    others; every outcome is logged, with the claim names only. For an erasure or stop
    request, ``value`` None means the claims each consent shared."""
    deliveries = []
    for consent in plan.recipients:
        try:
            deliveries.append(_send_one(wallet, consent, plan.kind, value, effective_date, attestation))
        except AkashiError as error:
            deliveries.append(Delivery(consent.id, consent.verifier, None, None, None, error.message))
            wallet.store.log(
                "update", outcome="failed", counterpart=consent.verifier,
                claims=list(CLAIMS_OF_KIND.get(plan.kind, ())), reason=f"{plan.kind}: {error.message}",
            )  # fmt: skip
    return deliveries


def _pairwise_key(wallet: Wallet, consent: Consent) -> Ed25519PrivateKey:
    holder = parse_compact_unverified(consent.receipt).payload_json().get("holder")
    for stored in wallet.store.keys("holder", active_only=False):
        if did_key_from_public_key(stored.key.public_key) == holder:
            return stored.key
    raise NotFound("the key that signed this consent is not in the wallet")


def _send_one(
    wallet: Wallet,
    consent: Consent,
    kind: UpdateKind,
    value: Any,
    effective_date: date,
    attestation: str | None,
) -> Delivery:
    key = _pairwise_key(wallet, consent)
    now = int(wallet.clock())
    if kind in APPI_KINDS and value is None:
        value = _shared_claims(consent)
    update = new_customer_update(
        key.public_key, kind=kind, value=value, effective_date=effective_date,
        issued_at=now, recipient=consent.verifier, consent_digest=consent.digest,
        attestation=attestation, random=wallet.random,
    )  # fmt: skip
    resolved = wallet.ledger.resolve_did(consent.verifier)
    if resolved.document is None:
        raise PolicyError(f"{consent.verifier} is deactivated on the ledger")
    sealed = seal_update(sign_update(update, key), key_agreement_key(resolved.document))
    holder = did_key_from_public_key(key.public_key)
    body = {
        "consent": consent.digest,
        "recipient": consent.verifier,
        "ciphertext_digest": sealed.digest,
        "sent_at": now,
    }
    if kind in APPI_KINDS:
        body["purpose"] = "appi-request"
    notice = sign_envelope("mailbox.notice", body, f"{holder}#{holder.removeprefix('did:key:')}", key)
    posted = wallet.ledger.send_update(notice, sealed.ciphertext)
    wallet.store.log(
        "update", outcome="completed", counterpart=consent.verifier,
        claims=list(CLAIMS_OF_KIND.get(kind, ())), reason=f"{kind} sent (update {update.update_id})",
    )  # fmt: skip
    return Delivery(consent.id, consent.verifier, update.update_id, posted.id, posted.receipt.index)


def _shared_claims(consent: Consent) -> dict[str, list[str]]:
    """An erasure or stop request's value: the claims ``consent`` shared, by name."""
    claims = list(dict.fromkeys(dotted(path) for path in consent.claims))
    if not claims:
        raise PolicyError("the consent shared no claims to stop using or erase")
    return {"claims": claims}


def recipients_text(plan: UpdatePlan) -> Sequence[str]:
    """The plan in plain words, one line per consent, for the person to read before sending."""
    lines = [f"will receive it: {c.verifier} (consent {c.id}, {c.purpose})" for c in plan.recipients]
    lines += [f"will NOT receive it: {c.verifier} — {why}" for c, why in plan.excluded]
    return lines
