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

Every delivery is kept in the wallet (:class:`holder_app.records.SentUpdate`) and tracked
by :func:`refresh_updates`: ``sent`` → ``delivered`` (the operator fetched it, as the
mailbox reports) → ``applied`` or ``rejected`` (the operator's signed ``mailbox.ack``, read
from the ledger with its proof and kept as evidence for the audit export).

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

from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, cast

from holder_app.claim_text import dotted
from holder_app.records import ClaimPath, Consent, CredentialCopy, SentUpdate, StoredCredential, UpdateStatus
from holder_app.wallet import Wallet
from identity.credentials.sdjwt import parse_claims_unverified, present
from identity.credentials.updates import UpdateKind, new_customer_update, seal_update, sign_update
from identity.crypto.keys import Ed25519PrivateKey
from identity.did.did_key import did_key_from_public_key
from identity.did.document import key_agreement_key
from identity.errors import AkashiError, NotFound, PolicyError, ProofMismatch
from identity.jose.jws import parse_compact_unverified
from identity.ledger.envelope import sign_envelope, split_signer
from identity.protocols.dcql import path_within

__all__ = [
    "APPI_KINDS",
    "ATTESTED_CLAIMS",
    "CLAIMS_OF_KIND",
    "Delivery",
    "UpdatePlan",
    "plan_update",
    "recipients_text",
    "refresh_updates",
    "send_update",
]

#: What an address attestation discloses: the address, and how and under which law it was verified.
ATTESTED_CLAIMS: tuple[ClaimPath, ...] = (
    ("verified_claims", "claims", "address"),
    ("verified_claims", "verification", "trust_framework"),
    ("verified_claims", "verification", "evidence", None, "jp_aml_method"),
)

#: DID resolutions in flight at once while preparing a fan-out.
RESOLVERS = 8

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
    wallet: Wallet, plan: UpdatePlan, value: Any, effective_date: date, *, attest_with: str | None = None
) -> list[Delivery]:
    """Post the update to every recipient of ``plan`` (steps 1-3); one :class:`Delivery` each,
    and one :class:`SentUpdate` kept in the wallet each (one batch), ``sent`` or ``failed``.
    The operators' DIDs are resolved concurrently and every notice goes to the mailbox in one
    request (the node appends them in one transaction, and still judges each by the rules),
    so a fan-out to a hundred operators costs one ledger commit, not a hundred. A refusal for
    one operator (e.g. the ledger finds its consent revoked) does not stop the others; every
    outcome is logged, with the claim names only. For an erasure or stop request, ``value``
    None means the claims each consent shared.

    ``attest_with`` names a KYC credential in the wallet (e.g. issued after the issuer
    re-checked her My Number card at the new address) whose address backs an address
    update: each operator receives, inside its sealed update, a presentation of the copy
    bound to that operator's key, disclosing only the address and how it was verified, with
    a key-binding JWT to that operator (``aud``) for this update (``nonce``: its id).
    ``value`` None takes the credential's address; another value is refused."""
    attesting = None
    if attest_with is not None:
        value = _attested_value(wallet, plan, attest_with, value)
        attesting = wallet.store.credential(attest_with)
    batch, new_id = wallet.store.new_update_ids()
    now = int(wallet.clock())
    keys = _pairwise_keys(wallet)
    documents = _resolve_all(wallet, {consent.verifier for consent in plan.recipients})
    records: list[SentUpdate] = []
    prepared: list[tuple[int, _Prepared]] = []
    for consent in plan.recipients:
        record = SentUpdate(
            new_id(), batch, plan.kind, value, effective_date.isoformat(), consent.id, consent.digest,
            consent.verifier, _claims_of(plan.kind, consent), now, "failed",
        )  # fmt: skip
        try:
            if plan.kind in APPI_KINDS and value is None:
                record = replace(record, value=_shared_claims(consent))
            prepared.append((len(records), _prepare(wallet, consent, record, effective_date, attesting,
                                                    keys, documents)))  # fmt: skip
        except AkashiError as error:
            record = replace(record, reason=error.message)
        records.append(record)
    items = [(item.notice, item.ciphertext) for _, item in prepared]
    try:
        posted = wallet.ledger.send_updates(items) if items else []
    except AkashiError as error:  # the mailbox could not be reached, or answered nonsense
        posted = [error] * len(prepared)
    for (number, item), result in zip(prepared, posted, strict=True):
        if isinstance(result, AkashiError):
            records[number] = replace(records[number], reason=result.message)
        else:
            records[number] = replace(
                records[number], status="sent", update_id=item.update_id, notice=result.id,
                notice_anchor=wallet.receipt_evidence(item.notice, result.receipt),
            )  # fmt: skip
    wallet.store.add_updates(records)  # with their log lines, in one transaction
    for number, item in prepared:
        if item.copy_id is not None and records[number].status == "sent":
            wallet.store.mark_copy_used(item.copy_id, records[number].verifier)
    return [_delivery(record) for record in records]


def _delivery(record: SentUpdate) -> Delivery:
    index = None if record.notice_anchor is None else record.notice_anchor["index"]
    error = record.reason if record.status == "failed" else None
    return Delivery(record.consent_id, record.verifier, record.update_id, record.notice, index, error)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One operator's sealed update and its signed notice, ready to post."""

    update_id: str
    notice: dict[str, Any]
    ciphertext: bytes
    copy_id: str | None = None  # the attesting credential's copy shown to the operator


def _claims_of(kind: str, consent: Consent) -> tuple[ClaimPath, ...]:
    """The claims an update of ``kind`` concerns: the changed ones, or for an APPI request
    every claim the consent shared."""
    return tuple(consent.claims) if kind in APPI_KINDS else CLAIMS_OF_KIND.get(kind, ())


def _pairwise_keys(wallet: Wallet) -> dict[str, Ed25519PrivateKey]:
    """Every holder key of the wallet (retired ones too), by its did:key."""
    stored = wallet.store.keys("holder", active_only=False)
    return {did_key_from_public_key(k.key.public_key): k.key for k in stored}


def _resolve_all(wallet: Wallet, dids: set[str]) -> dict[str, dict[str, Any] | AkashiError]:
    """Each operator's current DID document from its proven key events, or why not; a few
    at a time (each is a round trip to the node and a replay of the key events)."""

    def resolve(did: str) -> dict[str, Any] | AkashiError:
        try:
            document = wallet.ledger.resolve_did(did).document
        except AkashiError as error:
            return error
        return document if document is not None else PolicyError(f"{did} is deactivated on the ledger")

    ordered = sorted(dids)
    with ThreadPoolExecutor(max_workers=min(RESOLVERS, len(ordered) or 1)) as pool:
        return dict(zip(ordered, pool.map(resolve, ordered), strict=True))


def _prepare(
    wallet: Wallet,
    consent: Consent,
    record: SentUpdate,
    effective_date: date,
    attesting: StoredCredential | None,
    keys: Mapping[str, Ed25519PrivateKey],
    documents: Mapping[str, dict[str, Any] | AkashiError],
) -> _Prepared:
    holder = parse_compact_unverified(consent.receipt).payload_json().get("holder")
    key = keys.get(str(holder))
    if key is None:
        raise NotFound("the key that signed this consent is not in the wallet")
    document = documents[consent.verifier]
    if isinstance(document, AkashiError):
        raise document
    kind = cast(UpdateKind, record.kind)
    update = new_customer_update(
        key.public_key, kind=kind, value=record.value, effective_date=effective_date,
        issued_at=record.sent_at, recipient=consent.verifier, consent_digest=consent.digest,
        random=wallet.random,
    )  # fmt: skip
    copy_id = None
    if attesting is not None:
        copy = _copy_bound_to(wallet, attesting, key)
        presentation = present(
            copy.sd_jwt, ATTESTED_CLAIMS, holder_key=key, nonce=update.update_id, aud=consent.verifier,
            iat=record.sent_at,
        )  # fmt: skip
        update, copy_id = replace(update, attestation=presentation), copy.id
    sealed = seal_update(sign_update(update, key), key_agreement_key(document))
    body = {
        "consent": consent.digest,
        "recipient": consent.verifier,
        "ciphertext_digest": sealed.digest,
        "sent_at": record.sent_at,
    }
    if kind in APPI_KINDS:
        body["purpose"] = "appi-request"
    notice = sign_envelope("mailbox.notice", body, f"{holder}#{str(holder).removeprefix('did:key:')}", key)
    return _Prepared(update.update_id, dict(notice), sealed.ciphertext, copy_id)


def _attested_value(wallet: Wallet, plan: UpdatePlan, credential_id: str, value: Any) -> Any:
    """The address ``credential_id`` attests, which the update must carry (rules of
    :func:`send_update`)."""
    if plan.kind != "address":
        raise PolicyError("only an address update is backed by a credential")
    credential = wallet.store.credential(credential_id)
    claims = parse_claims_unverified(credential.copies[0].sd_jwt) if credential.copies else {}
    address = claims.get("verified_claims", {}).get("claims", {}).get("address")
    if address is None:
        raise PolicyError("that credential attests no address")
    if value is not None and value != address:
        raise PolicyError("the address given differs from the one the credential attests")
    return address


def _copy_bound_to(wallet: Wallet, credential: StoredCredential, key: Ed25519PrivateKey) -> CredentialCopy:
    """The copy of ``credential`` bound to ``key`` (the operator's slot): the operator must see
    the key it knows the person by, and no other."""
    for copy in credential.copies:
        if wallet.store.key(copy.holder_key_id).public_key.raw == key.public_key.raw:
            return copy
    raise NotFound("the wallet holds no copy of that credential for this operator's key")


def refresh_updates(wallet: Wallet) -> list[SentUpdate]:
    """Ask the ledger where every unsettled update stands, keep what changed, and return all
    updates, oldest first. An acknowledgement is taken only as a proven ``mailbox.ack`` of
    the update's own notice, signed by the operator it was sent to (whose signature the
    ledger's rules checked when they accepted it); its evidence is kept for the audit export.
    ``delivered`` is the mailbox's word (it saw the operator fetch it), not proven."""
    for update in wallet.store.updates():
        if update.settled or update.notice is None:
            continue
        proven = wallet.ledger.notice(update.notice)
        record = proven.record
        if (record.recipient, record.consent) != (update.verifier, update.consent_digest):
            raise ProofMismatch("the ledger's notice names another operator or consent than was sent")
        changed = update
        if record.ack_status is not None and record.acked_at is not None:
            envelope = proven.entry.envelope
            if split_signer(envelope["signer"])[0] != update.verifier:
                raise ProofMismatch("the acknowledgement is not signed by the operator")
            status: UpdateStatus = "applied" if record.ack_status == "applied" else "rejected"
            changed = replace(
                update, status=status, acked_at=record.acked_at,
                reason=envelope["body"].get("reason"), ack_anchor=wallet.evidence(proven.entry),
                delivered_at=update.delivered_at or proven.delivered_at or record.acked_at,
            )  # fmt: skip
        elif proven.delivered_at is not None and update.status == "sent":
            changed = replace(update, status="delivered", delivered_at=proven.delivered_at)
        if changed != update:
            wallet.store.save_update(changed)
    return wallet.store.updates()


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
