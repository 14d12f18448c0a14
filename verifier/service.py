"""The verifier service: ask for exactly what a policy needs, check everything, record it.

1. The operator opens a request for a policy (:meth:`Verifier.new_request`): a DCQL
   query from the policy, a fresh nonce and state, a signed request object served by
   reference, and its URL (a QR code for a phone).
2. The wallet posts its ``direct_post`` response (:meth:`Verifier.receive`): its state
   must name an open request (read without writing); every presentation goes through
   :mod:`verifier.pipeline`; the licence must be valid today when the policy says so;
   the consent receipt (the akashi extension) is checked by the rules below.
3. The verification is recorded per customer (their pairwise DID), with the ledger
   proofs, and the APPI receipt record is kept — in the same SQLite transaction that
   closes the request (:mod:`verifier.database`): one commit per answer. If the request
   was closed meanwhile (the same answer posted twice at once), that transaction raises
   :class:`BindingError` and stores nothing. A response that fails any check, or a
   refusal, closes its request too: a state is single-use whatever the outcome.
   :meth:`Verifier.recheck` watches the status lists afterwards.

The consent receipt, when one is given (required when the policy asks for updates):

a. It verifies under the holder key every presented credential is bound to, and names
   this verifier, the policy's purpose and this request's ``nonce`` (so a receipt given
   for one request cannot be replayed with another: :class:`BindingError`).
b. Its ``claims`` cover what was disclosed: for every presentation, each claim path of
   the DCQL query's claim set it met (the query's paths — what the person was asked
   for — not the concrete disclosed array indices) must be listed, in the wallet's
   dotted form (steps joined by ``.``, "every element" as ``*``), as an exact string. A
   parent path does not stand for its children; listing more than was asked is
   allowed (the receipt is what the person agreed to, the disclosure may be less).
   Since the pipeline refuses any disclosure outside those paths, everything stored
   is consented to (:class:`ConsentError` otherwise).
c. When the policy asks for updates, its ``consent.grant`` is on the ledger, for this
   verifier and holder, and not revoked (:class:`ConsentError`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from identity.credentials.consent import consent_digest, verify_consent_receipt
from identity.credentials.sdjwt.common import ClaimPath
from identity.crypto.keys import Ed25519PublicKey, RandomSource
from identity.did.did_key import did_key_from_public_key
from identity.did.document import signing_key
from identity.errors import AkashiError, BindingError, ConsentError, Expired, NotFound, PolicyError
from identity.protocols.oid4vp import AuthorizationError, build_response_uri_answer, parse_direct_post
from registry.client import ProvenEntry, RegistryClient
from verifier.config import VerifierConfig
from verifier.database import Database
from verifier.export import AnchorProof
from verifier.identity import VerifierIdentity
from verifier.monitoring import Change, recheck
from verifier.pipeline import TrustCache, VerifiedCredential, verify_vp_token
from verifier.policies import LICENCE_QUERY_ID, Policy, VctValues, find_policy, licence_valid_today
from verifier.records import CustomerStore, PreparedRecord, consent_record, prove_anchor
from verifier.requests import RequestStore, Transaction

__all__ = ["Outcome", "Verifier"]

StatusFetcher = Callable[[str], str]
#: Seconds the operator's legal name read from the trust registry is reused (a failed read:
#: a tenth of it, so that a registry that is down does not slow every request page).
_NAME_TTL = 600.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the verifier concluded about one response."""

    customer: str
    policy: str
    record_id: str
    claims: dict[str, dict[str, Any]]


class Verifier:
    """One operator's verifier over its data folder."""

    def __init__(
        self,
        config: VerifierConfig,
        identity: VerifierIdentity,
        *,
        ledger: RegistryClient,
        policies: dict[str, Policy],
        issuers: Sequence[str],
        fetch_status_list: StatusFetcher,
        clock: Callable[[], float] = time.time,
        random: RandomSource = os.urandom,
    ) -> None:
        self.config = config
        self.identity = identity
        self.ledger = ledger
        self.policies = policies
        self.vct_values = VctValues.for_issuers(list(issuers))
        self.fetch_status_list = fetch_status_list
        self.clock = clock
        self.random = random
        self.url = config.public_url
        # One file for requests and records, so that an answer is one commit (module
        # docstring); customers.db keeps its name, and a requests.db from before is adopted.
        self.database = Database(config.path("customers.db"))
        self.requests = RequestStore(self.database, clock, lifetime=config.request_ttl)
        self.requests.adopt_legacy(config.path("requests.db"))
        self.customers = CustomerStore(self.database, clock)
        self.cache = TrustCache()
        self._proofs: dict[str, AnchorProof] = {}
        self._proofs_lock = threading.Lock()
        self._answer = build_response_uri_answer()  # the same (schema-checked) answer every time
        self._name: tuple[str, float] | None = None  # (legal name, monotonic time it is good until)

    def close(self) -> None:
        """Close the stores' database."""
        self.database.close()

    @property
    def response_uri(self) -> str:
        """Where wallets post their responses."""
        return self.url + "/oid4vp/response"

    # ------------------------------------------------------------------ requests

    def new_request(self, policy_id: str) -> Transaction:
        """A presentation request for ``policy_id``: signed, served by reference."""
        policy = find_policy(self.policies, policy_id)
        return self.requests.create(
            policy,
            client_id=self.identity.client_id,
            response_uri=self.response_uri,
            signing_key=self.identity.signing_key,
            kid=self.identity.kid,
            issuers=self.vct_values,
            random=self.random,
        )

    def request_page_url(self, transaction_id: str) -> str:
        """The public page showing request ``transaction_id`` as a QR code and a link
        (``GET /requests/{tid}``; its 128-bit id is what lets one see it)."""
        return f"{self.url}/requests/{quote(transaction_id, safe='')}"

    def request_status(self, transaction_id: str) -> str:
        """``waiting``, ``verified``, ``failed`` or ``expired`` (:mod:`verifier.requests`, rule 5);
        :class:`NotFound` for an unknown or purged request."""
        return self.requests.status(transaction_id, now=self.clock())

    def operator_name(self) -> str:
        """The operator's legal name as its trust-registry member record states it; the
        verifier's DID when the record cannot be read (not registered, registry unreachable).
        Remembered for a while: every request page shows it."""
        remembered = self._name
        if remembered is not None and remembered[1] > time.monotonic():
            return remembered[0]
        try:
            name, ttl = self.ledger.member(self.identity.did).record.legal_name, _NAME_TTL
        except AkashiError:  # the page still works; the DID names the operator unambiguously
            name, ttl = self.identity.did, _NAME_TTL / 10
        self._name = (name, time.monotonic() + ttl)  # a race only reads the registry twice
        return name

    # ------------------------------------------------------------------ responses

    def receive(self, body: bytes) -> tuple[dict[str, Any], Outcome | None]:
        """Handle a wallet's ``direct_post`` response: the answer for the wallet, and what was
        verified (None when the person refused)."""
        parsed = parse_direct_post(body)
        now = int(self.clock())
        if isinstance(parsed, AuthorizationError):
            if parsed.state:
                self.requests.consume(parsed.state, now=now)  # the person refused: this request is done
            return dict(self._answer), None
        transaction = self.requests.pending(parsed.state, now=now)
        closed = False
        try:
            record, outcome = self._verify(transaction, parsed.vp_token, parsed.akashi_consent, now)
            # close + records: one commit; the record's id marks the request verified for its page
            self.requests.consume(parsed.state, now=now, then=record.insert, record_id=record.id)
            closed = True
        finally:
            if not closed:  # single use after a failure too; already closed or expired: so be it
                with suppress(BindingError, Expired):
                    self.requests.consume(parsed.state, now=now)
        return dict(self._answer), outcome

    def _verify(
        self,
        transaction: Transaction,
        vp_token: Mapping[str, Sequence[str]],
        consent_token: str | None,
        now: int,
    ) -> tuple[PreparedRecord, Outcome]:
        """Check a response against its request; the records to store (not yet written)."""
        policy = find_policy(self.policies, transaction.policy_id)
        verified = verify_vp_token(
            vp_token,
            ledger=self.ledger,
            fetch_status_list=self.fetch_status_list,
            nonce=transaction.nonce,
            audience=transaction.client_id,
            now=now,
            query=transaction.query,
            kb_max_age=self.config.kb_max_age,
            cache=self.cache,
        )
        holder = _one_holder(verified)
        if policy.licence is not None and policy.licence.valid_today:
            licence = verified.get(LICENCE_QUERY_ID, [])
            if not licence:
                raise PolicyError("the policy needs a driving licence credential")
            today = (datetime.fromtimestamp(now, UTC) + timedelta(hours=9)).date()
            licence_valid_today(licence[0].claims, policy.licence.category, today)
        everything = [credential for items in verified.values() for credential in items]
        answered = sorted({_dotted(path) for credential in everything for path in credential.answered})
        nonce = transaction.nonce
        consent, consent_proof = self._consent(consent_token, holder, policy, nonce, answered, now)
        proofs = {
            credential.digest: self._anchor_proof(credential.digest, credential.anchor_index)
            for credential in everything
            if credential.anchor_index is not None
        }
        if consent is not None and consent_proof is not None:  # the APPI record proves the consent too
            proofs[consent["receipt_digest"]] = consent_proof
        customer = did_key_from_public_key(holder)
        purpose = {"id": policy.purpose_id, "ja": policy.purpose_ja, "en": policy.purpose_en}
        record = self.customers.prepare_verification(
            customer, policy.id, everything, consent, proofs, purpose=purpose
        )
        claims = {query_id: items[0].claims for query_id, items in verified.items() if items}
        return record, Outcome(customer, policy.id, record.id, claims)

    def _consent(
        self,
        token: str | None,
        holder: Ed25519PublicKey,
        policy: Policy,
        nonce: str,
        answered: Sequence[str],
        now: int,
    ) -> tuple[dict[str, Any] | None, AnchorProof | None]:
        """The consent receipt, verified (rules a-c of the module docstring), and, when the
        grant was looked up on the ledger (rule c), its inclusion proof for the APPI record."""
        if token is None:
            if policy.receipt_required:
                raise ConsentError("this request asks for updates: it needs a consent receipt")
            return None, None
        receipt = verify_consent_receipt(  # a, b
            token,
            holder,
            now=now,
            verifier=self.identity.did,
            purpose=policy.purpose_id,
            nonce=nonce,
            claims=answered,
        )
        digest = consent_digest(token)
        proof = None
        if policy.receipt_required:  # c
            try:
                proven = self.ledger.consent(digest)
            except NotFound:
                raise ConsentError("the consent receipt is not anchored on the ledger") from None
            granted = proven.record
            if granted.verifier != self.identity.did or granted.holder != receipt.holder:
                raise ConsentError("the consent on the ledger is for another verifier or by another key")
            if granted.revoked_at is not None:
                raise ConsentError("the consent was revoked on the ledger")
            if proven.entry is not None:
                proof = self._proven_proof(proven.entry)
        return consent_record(digest, receipt.to_json()), proof

    def _proven_proof(self, entry: ProvenEntry) -> AnchorProof:
        """The proof of an entry the ledger client just proved, with the signed note of its
        checkpoint (read again if the client has moved past it)."""
        last = self.ledger.last_checkpoint
        if last is not None and last.checkpoint == entry.checkpoint:
            return AnchorProof.from_proven(entry, last.note)
        return prove_anchor(self.ledger, entry.index)

    def _anchor_proof(self, digest: str, index: int) -> AnchorProof:
        """The anchor's inclusion proof for the records: one ledger read per credential (a proof
        under an older checkpoint stays valid, so it is kept)."""
        with self._proofs_lock:
            known = self._proofs.get(digest)
        if known is None:
            known = prove_anchor(self.ledger, index)
            with self._proofs_lock:
                self._proofs[digest] = known
        return known

    # ------------------------------------------------------------------ monitoring

    def recheck(self) -> list[Change]:
        """Re-read the status lists of every stored credential; flip statuses that changed."""
        return recheck(self.customers, self.fetch_status_list, self._issuer_key, int(self.clock()))

    def _issuer_key(self, issuer: str) -> Ed25519PublicKey:
        resolved = self.ledger.resolve_did(issuer)
        if resolved.document is None:
            raise PolicyError(f"the issuer {issuer} is deactivated")
        methods = resolved.document.get("assertionMethod", [])
        return signing_key(resolved.document, methods[0] if methods else issuer)


def _dotted(path: ClaimPath) -> str:
    """A claim path as a consent receipt names it: the akashi wallet's form (steps joined
    by ``.``, ``None`` — every element — as ``*``)."""
    return ".".join("*" if step is None else str(step) for step in path)


def _one_holder(verified: dict[str, list[VerifiedCredential]]) -> Ed25519PublicKey:
    """Every credential of one response must be bound to the same holder key."""
    keys = {c.result.holder_key.raw for items in verified.values() for c in items if c.result.holder_key}
    if len(keys) != 1:
        raise BindingError("the presented credentials are not bound to one and the same holder key")
    return Ed25519PublicKey(keys.pop())
