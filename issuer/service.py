"""The issuer service: from a real evidence check to a credential in the person's wallet.

1. An operator runs an evidence check (:meth:`Issuer.check_jpki`,
   :meth:`Issuer.check_licence`): real cryptography against the configured trust
   anchors. The AML verification record is sealed into its own store; the
   verified claims are sealed into a pre-authorized **offer**.
2. The wallet redeems the offer by OpenID4VCI 1.0: token endpoint (pre-authorized
   code, optional transaction code), nonce endpoint, credential endpoint with JWT
   proofs of possession (batch: one copy per holder key).
3. Each credential gets a random status-list index, is signed as an SD-JWT VC,
   and its digest is anchored on the ledger (``attestation.anchor``, one batch per
   request); the wallet receives the inclusion proof beside each credential. The
   offer's personal data is then deleted.
4. Revoke / suspend / reinstate change the status list; each new list version is
   served at its URI and anchored with ``status.publish``. The operator does it
   (:meth:`Issuer.change_status`), or the holder revokes its own copy with a request
   signed by the key the copy is bound to (:meth:`Issuer.revoke_by_holder`): the way a
   wallet recovered after a lost phone ends the copies the phone still holds.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from identity.credentials.holder_revocation import (
    parse_holder_revocation_unverified,
    verify_holder_revocation,
)
from identity.credentials.kyc import FaceComparison, Verification, kyc_claims, licence_claims
from identity.credentials.sdjwt import issue
from identity.credentials.status_list import VALID
from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.keys import RandomSource
from identity.errors import AkashiError, MalformedInput, NotFound, RejectedByRules, Unauthorized, UnknownKey
from identity.ledger.envelope import sign_envelope
from identity.protocols.oid4vci.credential import build_credential_response, parse_credential_request
from identity.protocols.oid4vci.errors import INVALID_GRANT, INVALID_TOKEN, OAuthError
from identity.protocols.oid4vci.offer import TxCode, build_offer, offer_url_by_value
from identity.protocols.oid4vci.proof import verify_proofs
from identity.protocols.oid4vci.token import (
    bearer_token,
    build_nonce_response,
    build_token_response,
    c_nonce_is_fresh,
    issue_c_nonce,
    new_secret,
    parse_token_request,
)
from issuer.config import IssuerConfig
from issuer.credentials import KYC, LICENCE, CredentialType, kyc_layout, licence_layout
from issuer.evidence import ChallengeBook, JpkiTrust, LicenceTrust, verify_jpki_signature, verify_licence
from issuer.evidence.challenges import Challenge
from issuer.identity import IssuerIdentity
from issuer.records import JpkiCertificate, LicenceDocument, RecordStore, VerificationRecord
from issuer.status import IssuedCredential, StatusRegistry
from issuer.store import OperationalStore
from registry.client import RegistryClient

__all__ = ["Issuer", "OfferOut"]

log = logging.getLogger("akashi.issuer")

Clock = Callable[[], float]
_VERIFICATION_PROCESS = "akashi-issuer/v1"


@dataclass(frozen=True, slots=True)
class OfferOut:
    """A created offer: the OpenID4VCI offer object, its URL (for a QR code), and the
    transaction code to tell the person through another channel, if one was set."""

    offer: dict[str, Any]
    url: str
    tx_code: str | None
    offer_id: str
    record_id: str


class Issuer:
    """One identity provider's issuing service over its data folder."""

    def __init__(
        self,
        config: IssuerConfig,
        identity: IssuerIdentity,
        *,
        jpki_trust: JpkiTrust | None,
        licence_trust: LicenceTrust | None,
        ledger: RegistryClient | None,
        clock: Clock = time.time,
        random: RandomSource = os.urandom,
    ) -> None:
        self.config = config
        self.identity = identity
        self.jpki_trust = jpki_trust
        self.licence_trust = licence_trust
        self.ledger = ledger
        self.clock = clock
        self.random = random
        self.url = config.public_url
        self.store = OperationalStore(config.path("issuer.db"), identity.data_key)
        self.records = RecordStore(
            config.path("records.db"), identity.data_key, clock, retention_years=config.retention_years
        )
        self.status = StatusRegistry(
            config.path("status.db"),
            uri_base=self.url + "/status",
            size=config.status_list_size,
            random=random,
            clock=clock,
        )
        self.challenges = ChallengeBook(ttl=timedelta(seconds=config.challenge_ttl), random=random)
        self._anchors = _GroupSubmitter(ledger.submit_batch if ledger is not None else None)

    def close(self) -> None:
        """Close the stores."""
        self.store.close()
        self.records.close()
        self.status.close()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # ------------------------------------------------------------------ evidence checks

    def challenge(self) -> Challenge:
        """A fresh challenge for a My Number card to sign."""
        return self.challenges.issue(self._now())

    def check_jpki(
        self,
        challenge_id: str,
        certificate: bytes,
        intermediates: Sequence[bytes],
        signature: bytes,
        *,
        operator: str,
        tx_code: bool = False,
    ) -> OfferOut:
        """Verify a card's signature over our challenge (method ワ) and offer a KYC credential."""
        if self.jpki_trust is None:
            raise NotFound("this issuer has no JPKI trust anchors configured")
        now = self._now()
        challenge = self.challenges.consume(challenge_id, now)
        result = verify_jpki_signature(
            certificate, list(intermediates), challenge, signature, self.jpki_trust, now=now
        )
        verification = Verification(
            time=now, verification_process=_VERIFICATION_PROCESS, evidence=(result.evidence,)
        )
        record = VerificationRecord(
            checked_by=operator,
            checked_at=now,
            method="jpki",
            document=JpkiCertificate(result.evidence.issuer, result.evidence.serial_number),
            person=result.person,
            verification_process=_VERIFICATION_PROCESS,
        )
        record_id = self.records.add(record)
        evidence = {"method": "jpki", "kyc": kyc_claims(result.person, verification, _day_in_japan(now))}
        return self._offer(evidence, (KYC,), record_id, tx_code)

    def check_licence(
        self,
        data: bytes,
        signature: bytes,
        authority_certificate: bytes | None,
        *,
        operator: str,
        face_compared: bool,
        tx_code: bool = False,
    ) -> OfferOut:
        """Verify a licence IC chip's signed data and offer a KYC credential (method ヘ only
        with the face comparison this provider attests) and a licence credential."""
        if self.licence_trust is None:
            raise NotFound("this issuer has no licence authorities configured")
        now = self._now()
        face = FaceComparison(time=now, organization=operator) if face_compared else None
        result = verify_licence(
            data,
            signature,
            authority_certificate,
            self.licence_trust,
            now=now,
            face_comparison=face,
            organization=operator,
        )
        verification = Verification(
            time=now, verification_process=_VERIFICATION_PROCESS, evidence=(result.evidence,)
        )
        record = VerificationRecord(
            checked_by=operator,
            checked_at=now,
            method="drivers_licence_ic",
            document=LicenceDocument(result.licence.number, result.licence.issuing_authority),
            person=result.person,
            verification_process=_VERIFICATION_PROCESS,
            face_comparison=face,
        )
        record_id = self.records.add(record)
        evidence = {
            "method": "drivers_licence_ic",
            "kyc": kyc_claims(result.person, verification, _day_in_japan(now)),
            "licence": licence_claims(result.person, result.licence),
        }
        return self._offer(evidence, (KYC, LICENCE), record_id, tx_code)

    def _offer(
        self, evidence: dict[str, Any], types: Sequence[CredentialType], record_id: str, with_tx_code: bool
    ) -> OfferOut:
        # Expired offers lose their personal data now, not only when an operator purges.
        self.store.purge(int(self.clock()))
        code = new_secret(self.random)
        offer_id = new_secret(self.random, 16)
        tx_code = _digits(self.random, 6) if with_tx_code else None
        configurations = tuple(t.configuration_id for t in types)
        self.store.add_offer(
            offer_id,
            code,
            tx_code,
            configurations,
            evidence,
            record_id,
            now=int(self.clock()),
            ttl=self.config.offer_ttl,
            random=self.random,
        )
        offer = build_offer(
            self.url,
            configurations,
            code,
            tx_code=TxCode(input_mode="numeric", length=6, description="店頭でお伝えした6桁の番号")
            if tx_code
            else None,
        )
        return OfferOut(offer, offer_url_by_value(offer), tx_code, offer_id, record_id)

    # ------------------------------------------------------------------ OpenID4VCI

    def token(self, body: bytes) -> dict[str, Any]:
        """Token endpoint: a pre-authorized code (and transaction code) for an access token."""
        request = parse_token_request(body)
        now = int(self.clock())
        redeemed = self.store.redeem_code(request.pre_authorized_code, request.tx_code, now=now)
        # One answer for unknown, used, expired and wrong-tx-code: nothing tells whether a person exists.
        if redeemed is None or not redeemed[1]:
            raise OAuthError(INVALID_GRANT, "the pre-authorized code or transaction code is not valid")
        access_token = new_secret(self.random)
        self.store.add_token(access_token, redeemed[0], expires_at=now + self.config.token_ttl)
        return build_token_response(access_token, self.config.token_ttl)

    def nonce(self) -> dict[str, str]:
        """Nonce endpoint: a fresh, unpredictable ``c_nonce`` for proofs of possession."""
        c_nonce = issue_c_nonce(self.identity.nonce_key, int(self.clock()), self.random)
        self.store.add_nonce(c_nonce, expires_at=int(self.clock()) + self.config.nonce_ttl)
        return build_nonce_response(c_nonce)

    def credential(self, authorization: str | None, body: bytes) -> dict[str, Any]:
        """Credential endpoint: verify the access token and proofs, issue one credential per
        holder key, anchor them, and forget the offer's personal data."""
        token = bearer_token(authorization)
        now = int(self.clock())
        offer_id = self.store.token_offer(token, now=now)
        offer = None if offer_id is None else self.store.offer(offer_id)
        if offer_id is None or offer is None:
            raise OAuthError(INVALID_TOKEN, "the access token is not valid")
        request = parse_credential_request(
            body, batch_size=self.config.batch_size, configuration_ids=offer.configurations
        )
        used: set[str] = set()

        def nonce_ok(nonce: str) -> bool:
            # The MAC and age first (no storage), then single use: a c_nonce proves one request.
            if nonce in used:
                return True
            fresh = c_nonce_is_fresh(nonce, self.identity.nonce_key, now, max_age=self.config.nonce_ttl)
            if fresh and self.store.use_nonce(nonce, now=now):
                used.add(nonce)
                return True
            return False

        holder_keys = verify_proofs(
            request.proofs, audience=self.url, now=now, nonce=nonce_ok, batch_size=self.config.batch_size
        )
        kind = KYC if request.credential_configuration_id == KYC.configuration_id else LICENCE
        claimed, complete = self.store.claim_configuration(offer_id, kind.configuration_id)
        if not claimed:
            raise OAuthError(INVALID_TOKEN, "this credential was already issued for the access token")
        claims = offer.evidence["kyc" if kind is KYC else "licence"]
        try:
            credentials = self._issue(kind, claims, holder_keys, now)
            anchors = self._anchor(credentials, kind, _anchor_method(offer.evidence, kind), now)
        except BaseException:
            # Nothing reached the wallet: the offer may be redeemed for this credential again.
            self.store.release_configuration(offer_id, kind.configuration_id)
            raise
        self.records.attach_credentials(offer.record_id, [digest for _, digest in credentials])
        if complete:
            self.store.finish_offer(offer_id)
        response = build_credential_response([credential for credential, _ in credentials])
        for item, anchor in zip(response["credentials"], anchors, strict=True):
            if anchor is not None:
                item["akashi_anchor"] = anchor
        return response

    def _issue(
        self, kind: CredentialType, claims: Mapping[str, Any], holder_keys: Sequence[Any], now: int
    ) -> list[tuple[str, str]]:
        layout = kyc_layout(claims) if kind is KYC else licence_layout(claims)
        references = self.status.allocate_many(len(holder_keys))
        expires = now + self.config.credential_days * 86400
        out: list[tuple[str, str]] = []
        registered: list[IssuedCredential] = []
        for holder_key, reference in zip(holder_keys, references, strict=True):
            payload = {
                "iss": self.identity.did,
                "vct": kind.vct(self.url),
                "iat": now,
                "exp": expires,
                "status": {"status_list": {"idx": reference.idx, "uri": reference.uri}},
                **layout,
            }
            credential = issue(
                payload,
                self.identity.signing_key,
                header={"typ": "dc+sd-jwt", "kid": self.identity.kid},
                holder_key=holder_key,
                decoys=2,
                random=self.random,
            )
            digest = b64url_encode(sha256(credential.split("~", 1)[0].encode("ascii")))
            out.append((credential, digest))
            registered.append(
                IssuedCredential(
                    digest, kind.vct(self.url), VALID, now, expires, reference, holder_key=holder_key
                )
            )
        self.status.register_many(registered)  # one transaction for the whole batch
        return out

    def _anchor(
        self, credentials: list[tuple[str, str]], kind: CredentialType, method: str, now: int
    ) -> list[dict[str, Any] | None]:
        """Anchor every credential's digest in one ledger batch, under the evidence ``method``
        of the check that produced them; the proofs for the wallet."""
        if self.ledger is None:
            return [None] * len(credentials)
        envelopes = [
            sign_envelope(
                "attestation.anchor",
                {
                    "digest": digest,
                    "issuer": self.identity.did,
                    "vct": kind.vct(self.url),
                    "method": method,
                    "iat": now,
                    "exp": now + self.config.credential_days * 86400,
                },
                self.identity.kid,
                self.identity.signing_key,
            )
            for _, digest in credentials
        ]
        receipts = self._anchors.submit(envelopes)
        anchors: list[dict[str, Any] | None] = []
        for envelope, receipt in zip(envelopes, receipts, strict=True):
            if isinstance(receipt, AkashiError):
                raise receipt
            anchors.append(
                {
                    "entry": dict(envelope),
                    "leaf_index": receipt.index,
                    "inclusion_proof": receipt.proof.to_json() if receipt.proof else None,
                    "checkpoint": receipt.checkpoint.note if receipt.checkpoint else None,
                }
            )
        return anchors

    # ------------------------------------------------------------------ status

    def status_token(self, list_id: str) -> str:
        """The signed status list token served at ``/status/<list_id>``."""
        return self.status.token(
            f"{self.url}/status/{list_id}", self.identity.signing_key, self.identity.kid, self.clock()
        )

    def change_status(self, credential_id: str, action: str) -> dict[str, Any]:
        """``revoke``, ``suspend`` or ``reinstate`` one credential, then publish the new list."""
        change = {
            "revoke": self.status.revoke,
            "suspend": self.status.suspend,
            "reinstate": self.status.reinstate,
        }[action](credential_id)
        published = self.publish_status()
        return {
            "credential": credential_id,
            "status": action,
            "version": change.version,
            "anchored": published,
        }

    def revoke_by_holder(self, body: bytes) -> dict[str, Any]:
        """``POST /credentials/revoke``: the holder revokes its own credential.

        ``body`` is a ``holder-revocation+jwt``
        (:mod:`identity.credentials.holder_revocation`). Its claims are read first only to
        find the credential by digest (unknown: :class:`NotFound`); the request must then
        verify under the holder key this issuer bound that credential to (one issued before
        holder keys were kept: :class:`UnknownKey`), name this issuer as ``aud`` and be
        fresh. Then the credential is revoked as the operator's ``revoke`` does it — a new
        status list version, signed and anchored. Asking again is answered with the state
        (``changed`` false), and anchors what is still pending; an anchoring failure
        (:class:`~identity.errors.RemoteError`) leaves the credential revoked here.
        """
        try:
            token = body.decode("ascii").strip()
        except UnicodeDecodeError:
            raise MalformedInput("a holder revocation request is a compact JWS (ASCII)") from None
        claimed = parse_holder_revocation_unverified(token)
        try:
            issued = self.status.credential(claimed.credential)
        except NotFound:
            raise NotFound("this issuer issued no credential with that digest") from None
        if issued.holder_key is None:
            raise UnknownKey(
                "this credential was issued before its holder key was kept: ask the issuer's operator"
            )
        verify_holder_revocation(
            token, issued.holder_key, credential=issued.credential_id, audience=self.url, now=self.clock()
        )
        change = self.status.revoke(issued.credential_id)
        anchored = self.publish_status()
        if change.changed:
            log.info("credential %s revoked by its holder", issued.credential_id)
        revoked = self.status.credential(issued.credential_id)
        return {
            "credential": revoked.credential_id,
            "status": revoked.status_name,
            "revoked_at": revoked.changed_at,
            "changed": change.changed,
            "version": change.version,
            "anchored": anchored,
        }

    def publish_status(self) -> int:
        """Sign every changed list and anchor each new version with ``status.publish``."""
        self.status.refresh(self.identity.signing_key, self.identity.kid, self.clock())
        if self.ledger is None:
            return 0
        count = 0
        for publication in self.status.pending_publications():
            body = {
                "uri": publication.uri,
                "issuer": self.identity.did,
                "digest": publication.digest,
                "iat": publication.iat,
            }
            envelope = sign_envelope("status.publish", body, self.identity.kid, self.identity.signing_key)
            try:
                receipt = self.ledger.submit(envelope, prove=False)
            except RejectedByRules as error:
                if error.rule != "status.not-newer":
                    raise
                index = -1  # published before a crash: the ledger already has a newer version
            else:
                index = receipt.index
            self.status.mark_published(publication.uri, publication.version, index, digest=publication.digest)
            count += 1
        return count

    def check_admin(self, authorization: str | None) -> None:
        """Refuse an admin request that does not carry the operator credential."""
        expected = self.identity.admin_token_hash
        try:
            presented = bearer_token(authorization)
        except OAuthError:
            raise Unauthorized("the admin API needs the operator's bearer token") from None
        if not hmac.compare_digest(sha256(presented.encode()), expected):
            raise Unauthorized("the admin API needs the operator's bearer token")


class _GroupSubmitter:
    """Anchors from concurrent credential requests go to the ledger together: whoever finds
    the ledger free submits everything waiting (one request, one commit, one checkpoint),
    and the others find their receipts done — as the registry node groups its commits."""

    def __init__(self, submit: Callable[[list[Any]], list[Any]] | None) -> None:
        self._submit = submit
        self._waiting: list[_AnchorJob] = []
        self._queue_lock = threading.Lock()
        self._ledger_lock = threading.Lock()

    def submit(self, envelopes: list[Any]) -> list[Any]:
        if self._submit is None:
            raise RuntimeError("no ledger to anchor to")
        job = _AnchorJob(envelopes)
        with self._queue_lock:
            self._waiting.append(job)
        with self._ledger_lock:
            if not job.done:
                with self._queue_lock:
                    jobs, self._waiting = self._waiting, []
                try:
                    results = self._submit([e for j in jobs for e in j.envelopes])
                except BaseException as error:
                    for j in jobs:
                        j.error, j.done = error, True
                else:
                    start = 0
                    for j in jobs:
                        j.results, j.done = results[start : start + len(j.envelopes)], True
                        start += len(j.envelopes)
        if job.error is not None:
            raise job.error
        return job.results


class _AnchorJob:
    def __init__(self, envelopes: list[Any]) -> None:
        self.envelopes = envelopes
        self.results: list[Any] = []
        self.error: BaseException | None = None
        self.done = False


def _digits(random: RandomSource, count: int) -> str:
    value = int.from_bytes(random(8), "big")
    return str(value % 10**count).zfill(count)


def _day_in_japan(moment: datetime) -> date:
    return (moment + timedelta(hours=9)).date()


def _anchor_method(evidence: Mapping[str, Any], kind: CredentialType) -> str:
    """The evidence method an anchor names: the one of the check behind the offer (a KYC
    credential from a licence check is ``drivers_licence_ic``, not ``jpki``). Offers stored
    before the method was kept with them fall back to the credential kind."""
    method = evidence.get("method")
    if isinstance(method, str):
        return method
    return "jpki" if kind is KYC else "drivers_licence_ic"
