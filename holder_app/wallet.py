"""The wallet engine: what ``akashi-wallet`` (and the phone-sized app) do, without the screens.

The person's keys never leave :class:`~holder_app.store.WalletStore`. The engine speaks
OpenID4VCI 1.0 to issuers, OpenID4VP 1.0 to verifiers and the registry's API for the
ledger, and trusts the ledger only through :class:`~registry.client.RegistryClient`'s
proofs.

Copies and pairwise keys. Every credential is issued as several copies, copy *i* of
every credential bound to the same holder key *k_i* (a "slot"). A verifier is given one
slot for good: the KYC copy and the licence copy it sees share one key — its pairwise
did:key for this person — and no two verifiers see the same key or the same copy, so
they cannot join their customer lists. A slot is taken by the first presentation to a
verifier; new credentials are issued to every slot, taken or free, so an existing
relationship can be shown them too.

Presenting (rules, in order; each refusal says why and is logged):

1. The request object is fetched from ``request_uri`` and verified with the key its
   ``kid`` names, resolved from the verifier's did:akashi on the ledger.
2. The verifier is an active ``verifier`` member of the trust registry; its legal name
   and corporate number are shown from there.
3. The purpose the request states (``akashi_consent_request.purpose_id``) is one the
   verifier registered; a request without one is shown as "no purpose stated".
4. The query asks for nothing outside the claims the purpose registered (when it
   registered them); the DCQL query is answered from the wallet's credentials; a query
   the wallet cannot answer is refused with what is missing.
5. Approved: present only the selected claims, with the slot's copies, a KB-JWT on the
   request's nonce and audience, and a consent receipt (nonce = the request's, claims =
   the disclosed paths) anchored on the ledger by ``consent.grant`` before it is sent.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from holder_app.claim_text import KNOWN_CLAIMS, claim_label, dotted, has_claim
from holder_app.records import ClaimPath, Consent, CredentialCopy, NewCopy, StoredCredential
from holder_app.recovery_kit import RecoveryKit
from holder_app.store import WalletStore
from identity.credentials.consent import (
    consent_digest,
    consent_grant_body,
    new_consent_receipt,
    sign_consent_receipt,
)
from identity.credentials.sdjwt import parse_claims_unverified, present, verify
from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey, RandomSource
from identity.did.did_key import did_key_from_public_key
from identity.did.document import signing_key
from identity.did.key_events import incept, sign_event
from identity.did.multikey import encode_multikey
from identity.errors import AkashiError, BindingError, MalformedInput, NotFound, PolicyError, RemoteError
from identity.jose.jwk import public_key_from_jwk
from identity.jose.jws import parse_compact_unverified
from identity.ledger.envelope import sign_envelope
from identity.protocols.dcql import Candidate, parse_dcql_query, path_within, select_credentials
from identity.protocols.oid4vci import (
    CredentialOffer,
    build_credential_request,
    build_proof_jwt,
    build_token_request,
    parse_authorization_server_metadata,
    parse_credential_issuer_metadata,
    parse_credential_response,
    parse_nonce_response,
    parse_offer,
    parse_offer_url,
    parse_token_response,
)
from identity.protocols.oid4vp import (
    ACCESS_DENIED,
    build_authorization_response,
    build_error_response,
    did_from_client_id,
    parse_request_url,
    parse_response_uri_answer,
    request_object_kid_unverified,
    verify_request_object,
)
from registry.client import ProvenEntry, Receipt, RegistryClient

__all__ = ["Approval", "PresentationRequest", "RequestedClaim", "Wallet", "create_wallet"]

Clock = Callable[[], float]
FORM = {"content-type": "application/x-www-form-urlencoded"}
#: Copies asked for when a wallet has no slot yet: room for this many verifiers.
DEFAULT_SLOTS = 3
CONSENT_DAYS = 365


def create_wallet(
    store: WalletStore, ledger: RegistryClient, *, random: RandomSource = os.urandom
) -> RecoveryKit:
    """Give a new wallet its root did:akashi (pre-rotation: the next key is committed to
    now and kept offline, in the recovery kit), registered on the ledger.

    The wallet keeps the next key only until the kit has been shown: call
    :func:`holder_app.recovery.forget_recovery_keys` then."""
    if store.identity() is not None:
        raise BindingError("this wallet already has its identity")
    device, following = Ed25519PrivateKey.generate(random), Ed25519PrivateKey.generate(random)
    inception = sign_event(incept([device.public_key], [following.public_key]), [device])
    did = str(inception["event"]["id"])
    kid = f"{did}#{encode_multikey(device.public_key)}"
    ledger.submit(sign_envelope("did.create", inception, kid, device))
    store.add_key("root", device)
    store.add_key("next", following)
    store.set_identity(did, [inception])
    store.log("rotation", outcome="completed", counterpart=did, reason="identity created on the ledger")
    return RecoveryKit(did, following.seed)


@dataclass(frozen=True, slots=True)
class RequestedClaim:
    """One claim a verifier asks for, in the person's words."""

    credential_id: str
    path: ClaimPath
    label_ja: str
    label_en: str


@dataclass(frozen=True, slots=True)
class PresentationRequest:
    """A verified OpenID4VP request, ready for the person to approve or refuse."""

    verifier_did: str
    legal_name: str
    corporate_number: str
    purpose_id: str | None
    purpose_text: str | None
    updates_allowed: bool
    receipt_required: bool
    consent_days: int
    claims: tuple[RequestedClaim, ...]
    client_id: str
    nonce: str
    state: str
    response_uri: str
    #: credential query id -> [(credential id, paths to disclose)]
    selection: Mapping[str, tuple[tuple[str, tuple[ClaimPath, ...]], ...]] = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """What the consent screen shows, as JSON (for ``--json``)."""
        return {
            "verifier": {
                "did": self.verifier_did,
                "legal_name": self.legal_name,
                "corporate_number": self.corporate_number,
            },
            "purpose": {"id": self.purpose_id, "text": self.purpose_text},
            "updates_allowed": self.updates_allowed,
            "consent_days": self.consent_days,
            "claims": [
                {"path": dotted(c.path), "ja": c.label_ja, "en": c.label_en, "credential": c.credential_id}
                for c in self.claims
            ],
        }


@dataclass(frozen=True, slots=True)
class Approval:
    """A completed presentation: the consent it left behind, and the verifier's answer."""

    consent: Consent | None
    redirect_uri: str | None


class Wallet:
    """An open wallet, its ledger, and an HTTP client for issuers and verifiers."""

    def __init__(
        self,
        store: WalletStore,
        ledger: RegistryClient,
        *,
        http: httpx.Client | None = None,
        clock: Clock = time.time,
        random: RandomSource = os.urandom,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.http = http or httpx.Client(timeout=30, follow_redirects=False)
        self.clock = clock
        self.random = random

    def close(self) -> None:
        """Close the HTTP client (the caller closes the store and the ledger client)."""
        self.http.close()

    def _now(self) -> int:
        return int(self.clock())

    # ------------------------------------------------------------------ issuance

    def receive(self, offer_url: str, *, tx_code: str | None = None) -> list[StoredCredential]:
        """Redeem an OpenID4VCI offer (pre-authorized code); verify every copy — issuer
        signature, holder binding, anchor on the ledger — before anything is stored."""
        try:
            return self._receive(offer_url, tx_code)
        except AkashiError as error:
            self.store.log("issuance", outcome="failed", reason=str(error))
            raise

    def offer_needs_tx_code(self, offer_url: str) -> bool:
        """Whether redeeming the offer needs a transaction code (the issuer gives it apart)."""
        return self._offer(offer_url).tx_code is not None

    def _offer(self, offer_url: str) -> CredentialOffer:
        reference = parse_offer_url(offer_url.strip())
        if reference.offer is not None:
            return reference.offer
        assert reference.offer_uri is not None
        return parse_offer(self._get(reference.offer_uri).content)

    def _receive(self, offer_url: str, tx_code: str | None) -> list[StoredCredential]:
        offer = self._offer(offer_url)
        if offer.pre_authorized_code is None:
            raise MalformedInput("this offer has no pre-authorized code; akashi wallets redeem only those")
        if offer.tx_code is not None and not tx_code:
            raise BindingError("this offer needs the transaction code the issuer gave you (--tx-code)")
        base = offer.credential_issuer
        metadata = parse_credential_issuer_metadata(
            self._get(base + "/.well-known/openid-credential-issuer").content, expected_issuer=base
        )
        server = parse_authorization_server_metadata(
            self._get(base + "/.well-known/oauth-authorization-server").content, expected_issuer=base
        )
        token = parse_token_response(
            self._post(
                server["token_endpoint"],
                content=build_token_request(
                    offer.pre_authorized_code, tx_code=tx_code if offer.tx_code else None
                ),
                headers=FORM,
            ).content
        )
        batch = int(metadata.get("batch_credential_issuance", {}).get("batch_size", 1))
        slots = self._slots_for_issuance(batch)
        received = []
        for configuration in offer.credential_configuration_ids:
            nonce = parse_nonce_response(self._post(metadata["nonce_endpoint"]).content)
            proofs = [build_proof_jwt(key, audience=base, iat=self._now(), nonce=nonce) for _, key in slots]
            body = build_credential_request(proofs, credential_configuration_id=configuration)
            answer = parse_credential_response(
                self._post(
                    metadata["credential_endpoint"],
                    json=body,
                    headers={"authorization": f"{token.token_type} {token.access_token}"},
                ).content
            )
            if len(answer.credentials) != len(slots):
                raise BindingError("the issuer returned a different number of copies than keys proven")
            by_key = {key.public_key.raw: (key_id, key) for key_id, key in slots}
            copies = [self._checked_copy(sd_jwt, by_key) for sd_jwt in answer.credentials]
            if len({c.holder_key_id for c in copies}) != len(slots):
                raise BindingError("the issuer bound two copies to one key")
            claims = parse_claims_unverified(answer.credentials[0])
            stored = self.store.add_credential(
                vct=str(claims.get("vct")),
                issuer=str(claims.get("iss")),
                issued_at=int(claims.get("iat", self._now())),
                expires_at=claims.get("exp") if isinstance(claims.get("exp"), int) else None,
                copies=copies,
                issuer_url=base,
            )
            self.store.log(
                "issuance",
                outcome="completed",
                counterpart=str(claims.get("iss")),
                claims=_claim_names(claims),
            )
            received.append(stored)
        return received

    def _slots_for_issuance(self, batch: int) -> list[tuple[str, Ed25519PrivateKey]]:
        """Every slot (taken or free), plus fresh ones until :data:`DEFAULT_SLOTS` are free."""
        slots = [(k.id, k.key) for k in self.store.keys("holder")]
        taken = self._taken_slots()
        free = [s for s in slots if s[0] not in taken]
        while len(free) < DEFAULT_SLOTS and len(slots) < batch:
            key = Ed25519PrivateKey.generate(self.random)
            slot = (self.store.add_key("holder", key), key)
            slots.append(slot)
            free.append(slot)
        if len(slots) > batch:  # keep the relationships first, then as many free slots as fit
            slots = [s for s in slots if s[0] in taken][:batch]
            slots += free[: batch - len(slots)]
        return slots

    def _taken_slots(self) -> dict[str, str]:
        """Active holder key id -> the verifier its copies were shown to. Retired slots (a
        recovered wallet: the lost device holds their keys) are nobody's any more."""
        active = {k.id for k in self.store.keys("holder")}
        taken: dict[str, str] = {}
        for credential in self.store.credentials():
            for copy in credential.copies:
                if copy.used_by is not None and copy.holder_key_id in active:
                    taken[copy.holder_key_id] = copy.used_by
        return taken

    def _checked_copy(
        self, sd_jwt: str, slots: Mapping[bytes, tuple[str, Ed25519PrivateKey]]
    ) -> NewCopy:
        issuer_jwt = sd_jwt.split("~", 1)[0]
        jws = parse_compact_unverified(issuer_jwt, what="credential")
        kid = jws.header.get("kid")
        claims = parse_claims_unverified(sd_jwt)
        issuer = claims.get("iss")
        if not isinstance(kid, str) or not isinstance(issuer, str) or not kid.startswith(issuer + "#"):
            raise BindingError("the credential's key id is not a key of its issuer's DID")
        resolved = self.ledger.resolve_did(issuer)
        if resolved.document is None:
            raise PolicyError(f"the issuer {issuer} is deactivated on the ledger")
        verify(
            sd_jwt, signing_key(resolved.document, kid), now=self._now(), nonce=None, aud=None,
            require_key_binding=False,
        )  # fmt: skip
        cnf = claims.get("cnf")
        bound = public_key_from_jwk(cnf["jwk"]) if isinstance(cnf, Mapping) and "jwk" in cnf else None
        slot = slots.get(bound.raw) if isinstance(bound, Ed25519PublicKey) else None
        if slot is None:
            raise BindingError("the credential is not bound to a key this wallet proved")
        key_id = slot[0]
        digest = b64url_encode(sha256(issuer_jwt.encode("ascii")))
        anchored = self.ledger.attestation(digest)  # proven under a cosigned checkpoint
        if anchored.record.issuer != issuer or anchored.entry is None:
            raise BindingError("the credential's anchor on the ledger names another issuer")
        return NewCopy(sd_jwt, key_id, digest, self.evidence(anchored.entry))

    # ------------------------------------------------------------------ presentation

    def open_request(self, request_url: str) -> PresentationRequest:
        """Fetch, verify and explain a presentation request (rules 1-4); raise on refusal."""
        try:
            return self._open_request(request_url)
        except AkashiError as error:
            self.store.log("presentation", outcome="refused", reason=str(error))
            raise

    def _open_request(self, request_url: str) -> PresentationRequest:
        reference = parse_request_url(request_url.strip())
        token = self._get(reference.request_uri).text
        kid = request_object_kid_unverified(token)
        verifier_did = did_from_client_id(reference.client_id)
        if not kid.startswith(verifier_did + "#"):
            raise BindingError("the request is signed by a key of another DID than the verifier's")
        resolved = self.ledger.resolve_did(verifier_did)  # 1
        if resolved.document is None:
            raise PolicyError(f"the verifier {verifier_did} is deactivated on the ledger")
        key = signing_key(resolved.document, kid, relationship="authentication")
        request = verify_request_object(token, key, expected_client_id=reference.client_id, now=self._now())
        try:  # 2
            member = self.ledger.member(verifier_did).record
        except NotFound:
            raise PolicyError(
                "this verifier is not in the trust registry: the wallet will not answer it"
            ) from None
        if not member.active or member.role != "verifier":
            raise PolicyError(f"{member.legal_name} is not an active verifier in the trust registry")
        terms = request.client_metadata.get("akashi_consent_request")
        terms = terms if isinstance(terms, Mapping) else {}
        purpose_id = terms.get("purpose_id") if isinstance(terms.get("purpose_id"), str) else None
        purpose_text = None
        registered_claims = None
        if purpose_id is not None:  # 3
            registered = member.purpose(purpose_id)
            if registered is None:
                raise PolicyError(
                    f"{member.legal_name} did not register the purpose {purpose_id!r}: the wallet will not"
                    " answer"
                )
            purpose_text = registered.text
            registered_claims = registered.claims
        if request.state is None:
            raise MalformedInput("the request carries no state")
        query = parse_dcql_query(request.dcql_query)  # 4
        holdings = self._holdings(verifier_did)
        if not holdings:
            raise PolicyError("the wallet holds no credential it could show this verifier")
        candidates = [Candidate.from_claims(parse_claims_unverified(copy.sd_jwt)) for _, copy in holdings]
        selection = select_credentials(query, candidates)
        if registered_claims is not None:  # 4: no more than the registered purpose covers
            asked = [tuple(item.path) for credential in query.credentials for item in credential.claims or ()]
            outside = [path for path in asked if not path_within(path, registered_claims)]
            if outside:
                raise PolicyError(
                    f"{member.legal_name} asks for {', '.join(claim_label(p, 'en') for p in outside)}, which "
                    f"its registered purpose {purpose_id!r} does not cover: the wallet will not answer"
                )
        chosen: dict[str, tuple[tuple[str, tuple[ClaimPath, ...]], ...]] = {}
        claims: list[RequestedClaim] = []
        for query_id, answers in selection.items():
            items = []
            for index, paths in answers:
                credential_id = holdings[index][0]
                typed = tuple(tuple(p) for p in paths)
                items.append((credential_id, typed))
                claims += [
                    RequestedClaim(credential_id, p, claim_label(p, "ja"), claim_label(p, "en"))
                    for p in typed
                ]
            chosen[query_id] = tuple(items)
        return PresentationRequest(
            verifier_did=verifier_did,
            legal_name=member.legal_name,
            corporate_number=member.corporate_number,
            purpose_id=purpose_id,
            purpose_text=purpose_text,
            updates_allowed=bool(terms.get("updates_allowed", False)),
            receipt_required=bool(terms.get("receipt_required", False)),
            consent_days=int(terms.get("consent_days", CONSENT_DAYS)),
            claims=tuple(claims),
            client_id=request.client_id,
            nonce=request.nonce,
            state=request.state,
            response_uri=request.response_uri,
            selection=chosen,
        )

    def _holdings(self, verifier_did: str) -> list[tuple[str, CredentialCopy]]:
        """One copy per credential, all in the slot this verifier has (or the freest one)."""
        slot = self._slot_for(verifier_did)
        if slot is None:
            return []
        holdings = []
        for credential in self.store.credentials():
            copy = next((c for c in credential.copies if c.holder_key_id == slot), None)
            if copy is not None:
                holdings.append((credential.id, copy))
        return holdings

    def _slot_for(self, verifier_did: str) -> str | None:
        taken = self._taken_slots()
        for key_id, verifier in taken.items():
            if verifier == verifier_did:
                return key_id
        free = [k.id for k in self.store.keys("holder") if k.id not in taken]
        if not free:
            return None
        # The free slot holding copies of the most credentials.
        counts = {key_id: 0 for key_id in free}
        for credential in self.store.credentials():
            for copy in credential.copies:
                if copy.holder_key_id in counts:
                    counts[copy.holder_key_id] += 1
        return max(free, key=lambda k: counts[k])

    def withheld(self, request: PresentationRequest) -> tuple[ClaimPath, ...]:
        """What the credentials chosen for ``request`` hold that will *not* be shared: every
        claim the wallet can name in plain words, present in one of them, and not requested
        (the other half of the consent screen)."""
        requested = [claim.path for claim in request.claims]
        held: list[ClaimPath] = []
        for items in request.selection.values():
            for credential_id, _ in items:
                copies = self.store.credential(credential_id).copies
                claims = parse_claims_unverified(copies[0].sd_jwt) if copies else {}
                held += [path for path in KNOWN_CLAIMS if has_claim(claims, path)]
        return tuple(
            path for path in dict.fromkeys(held)
            if not path_within(path, requested) and not any(path_within(r, [path]) for r in requested)
        )  # fmt: skip

    def approve(self, request: PresentationRequest) -> Approval:
        """Present what ``request`` selected, with an anchored consent receipt (rule 5)."""
        try:
            return self._approve(request)
        except AkashiError as error:
            self.store.log(
                "presentation", outcome="failed", counterpart=request.verifier_did,
                claims=[c.path for c in request.claims], reason=str(error),
            )  # fmt: skip
            raise

    def _approve(self, request: PresentationRequest) -> Approval:
        now = self._now()
        vp_token: dict[str, list[str]] = {}
        used: list[CredentialCopy] = []
        holder: Ed25519PrivateKey | None = None
        holdings = dict(self._holdings(request.verifier_did))
        for query_id, items in request.selection.items():
            for credential_id, paths in items:
                copy = holdings.get(credential_id)
                if copy is None:
                    raise PolicyError("the credential chosen for this request is no longer in the wallet")
                key = self.store.key(copy.holder_key_id)
                holder = key
                presentation = present(
                    copy.sd_jwt, paths, holder_key=key, nonce=request.nonce,
                    aud=request.client_id, iat=now,
                )  # fmt: skip
                vp_token.setdefault(query_id, []).append(presentation)
                used.append(copy)
        if holder is None:
            raise PolicyError("nothing to present")
        receipt_token = None
        consent = None
        disclosed = [c.path for c in request.claims]
        if request.purpose_id is not None:
            receipt = new_consent_receipt(
                holder.public_key,
                verifier=request.verifier_did,
                purpose_id=request.purpose_id,
                purpose=request.purpose_text or request.purpose_id,
                claims=sorted({dotted(p) for p in disclosed}),
                granted_at=now,
                expires_at=now + request.consent_days * 86400,
                updates_allowed=request.updates_allowed,
                nonce=request.nonce,
                random=self.random,
            )
            receipt_token = sign_consent_receipt(receipt, holder)
            holder_did = did_key_from_public_key(holder.public_key)
            signer = f"{holder_did}#{holder_did.removeprefix('did:key:')}"
            grant = sign_envelope("consent.grant", consent_grant_body(receipt_token, receipt), signer, holder)
            submitted = self.ledger.submit(grant)
            evidence = self.evidence(self.ledger.entry(submitted.index))
            consent = self.store.add_consent(
                receipt=receipt_token,
                digest=consent_digest(receipt_token),
                verifier=request.verifier_did,
                purpose=request.purpose_id,
                claims=disclosed,
                expires_at=receipt.expires_at,
                updates_allowed=request.updates_allowed,
                created_at=now,
                anchor=evidence,
            )
            self.store.log("consent", outcome="completed", counterpart=request.verifier_did, claims=disclosed)
        elif request.receipt_required:
            raise PolicyError("the verifier requires a consent receipt but states no purpose")
        body = build_authorization_response(vp_token, request.state, akashi_consent=receipt_token)
        answer = self.http.post(request.response_uri, content=body, headers=FORM)
        if answer.status_code != 200:
            raise RemoteError(f"the verifier refused the presentation: {_reason(answer)}")
        redirect = parse_response_uri_answer(answer.content)
        for copy in used:
            self.store.mark_copy_used(copy.id, request.verifier_did)
        self.store.log(
            "presentation", outcome="completed", counterpart=request.verifier_did, claims=disclosed
        )
        return Approval(consent, redirect)

    def refuse(self, request: PresentationRequest) -> None:
        """Tell the verifier the person said no (``access_denied``); nothing is disclosed."""
        body = build_error_response(ACCESS_DENIED, state=request.state, description="the person declined")
        self.http.post(request.response_uri, content=body, headers=FORM)
        self.store.log(
            "presentation", outcome="refused", counterpart=request.verifier_did,
            claims=[c.path for c in request.claims], reason="declined by the person",
        )  # fmt: skip

    # ------------------------------------------------------------------ consents

    def revoke(self, consent_id: str) -> Consent:
        """Withdraw a consent on the ledger (effective at once), signed by its pairwise key."""
        consent = self.store.consent(consent_id)
        if consent.status == "revoked":
            raise BindingError("this consent is already revoked")
        holder_did = str(parse_compact_unverified(consent.receipt).payload_json().get("holder"))
        key = next(
            (k.key for k in self.store.keys("holder", active_only=False)
             if did_key_from_public_key(k.key.public_key) == holder_did),
            None,
        )  # fmt: skip
        if key is None:
            raise NotFound("the key that signed this consent is not in the wallet")
        now = self._now()
        signer = f"{holder_did}#{holder_did.removeprefix('did:key:')}"
        envelope = sign_envelope(
            "consent.revoke", {"receipt_digest": consent.digest, "revoked_at": now}, signer, key
        )
        submitted = self.ledger.submit(envelope)
        evidence = self.evidence(self.ledger.entry(submitted.index))
        revoked = self.store.revoke_consent(consent_id, at=now, anchor=evidence)
        self.store.log("revocation", outcome="completed", counterpart=consent.verifier, claims=consent.claims)
        return revoked

    # ------------------------------------------------------------------ plumbing

    def evidence(self, entry: ProvenEntry) -> dict[str, Any]:
        """The entry, its inclusion proof and the cosigned checkpoint note it leads to (the
        ledger evidence kept with a record and exported in the audit record)."""
        last = self.ledger.last_checkpoint
        if last is None or last.checkpoint != entry.checkpoint:
            entry = self.ledger.entry(entry.index)
            last = self.ledger.last_checkpoint
        if last is None or last.checkpoint != entry.checkpoint:
            raise RemoteError("the ledger moved while its proof was read; try again")
        return {
            "index": entry.index,
            "entry": dict(entry.envelope),
            "leaf_hash": b64url_encode(entry.leaf_hash),
            "inclusion_proof": entry.proof.to_json(),
            "checkpoint": last.note,
        }

    def receipt_evidence(self, envelope: Mapping[str, Any], receipt: Receipt) -> dict[str, Any]:
        """:meth:`evidence` for an entry this wallet just submitted, from its proven receipt
        (no second read of the ledger); from the ledger if the receipt carries no proof."""
        if receipt.proof is None or receipt.checkpoint is None:
            return self.evidence(self.ledger.entry(receipt.index))
        return {
            "index": receipt.index,
            "entry": dict(envelope),
            "leaf_hash": b64url_encode(receipt.leaf_hash),
            "inclusion_proof": receipt.proof.to_json(),
            "checkpoint": receipt.checkpoint.note,
        }

    def _get(self, url: str) -> httpx.Response:
        return self._checked(lambda: self.http.get(url), url)

    def _post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self._checked(lambda: self.http.post(url, **kwargs), url)

    @staticmethod
    def _checked(call: Callable[[], httpx.Response], url: str) -> httpx.Response:
        try:
            answer = call()
        except httpx.HTTPError as error:
            raise RemoteError(f"{url} could not be reached: {error}") from None
        if answer.status_code >= 400:
            raise RemoteError(f"{url} answered {answer.status_code}: {_reason(answer)}")
        return answer


def _reason(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200]
    if isinstance(body, Mapping):
        for name in ("detail", "error_description", "title", "error"):
            if isinstance(body.get(name), str):
                return str(body[name])
    return answer.text[:200]


def _claim_names(claims: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[ClaimPath]:
    """The claim names of a credential (leaves' paths; never their values)."""
    skip = {"iss", "iat", "exp", "nbf", "vct", "cnf", "status", "_sd_alg", "vct#integrity"}
    names: list[ClaimPath] = []
    for name, value in claims.items():
        if not prefix and name in skip:
            continue
        if isinstance(value, Mapping) and value:
            names += _claim_names(value, (*prefix, name))
        else:
            names.append((*prefix, name))
    return names
