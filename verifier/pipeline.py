"""Verifying one presented credential: every step its own check with its own error.

This is the verifier's core, usable as a library by an operator's own backend
(``verify_presentation``), without HTTP. Trust comes from the ledger only,
through :class:`registry.client.RegistryClient`, which verifies every answer
against witness-cosigned checkpoints consistent with the last one it saw.

Steps (the comments reuse the numbers):

1. The issuer-signed JWT names its issuer (``iss``, a did:akashi) and key (``kid``).
2. The issuer's key is resolved from its DID's key event log on the ledger, and
   must be listed for ``assertionMethod`` (:class:`UnknownKey`/:class:`KeyStateError`).
3. The SD-JWT VC verifies under that key: signature, every disclosure rule,
   time claims, and key binding to this request's nonce and audience with a fresh
   ``iat`` (RFC 9901; :mod:`identity.credentials.sdjwt`).
4. The issuer is an active member of the trust registry, accredited for the
   evidence method the credential claims (:class:`PolicyError`).
5. The credential's digest is anchored on the ledger by that issuer, for that
   method (:class:`ProofMismatch`/:class:`PolicyError`).
6. Its status list, fetched from the URI it names and signed by the issuer's key,
   says valid (:class:`Revoked`, :class:`Suspended`).
7. When a DCQL query is given, the presentation satisfies it, and discloses
   nothing it did not ask for (:class:`PolicyError`); the claim paths of the query it
   answered (those of the claim set met) are kept, for the consent receipt to cover.

:func:`verify_vp_token` runs steps 1-6 on every presentation of a response, then step 7
once for the whole VP Token (DCQL rules on every presentation, and the credential sets
across them): a presentation is not held to the query on its own first, which would only
repeat the same claim checks.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from identity.credentials.sdjwt import VerifiedSdJwt, verify
from identity.credentials.sdjwt.common import ClaimPath
from identity.credentials.status_list import (
    StatusListToken,
    StatusReference,
    check_status,
    parse_status_reference,
    verify_status_list_token,
)
from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PublicKey
from identity.did.document import signing_key
from identity.errors import MalformedInput, NotFound, PolicyError, ProofMismatch
from identity.jose.jws import parse_compact_unverified
from identity.protocols.dcql import CheckedPresentation, CredentialQuery, DcqlQuery, check_presentation
from registry.client import RegistryClient

__all__ = ["EVIDENCE_METHODS", "TrustCache", "VerifiedCredential", "verify_presentation", "verify_vp_token"]

#: AML method letter in a credential's evidence → the evidence method an issuer is accredited for.
EVIDENCE_METHODS = {"ワ": "jpki", "ヘ": "drivers_licence_ic"}

StatusFetcher = Callable[[str], str]


class TrustCache:
    """What the ledger and issuers said, remembered for a while so that each verification
    need not ask again: issuer keys and accreditations for ``ttl`` seconds (a rotation or
    removal on the ledger takes effect within that), anchors for good (an anchored entry
    stays in an append-only log), status lists until their own ``ttl``/``exp``.

    It also remembers, per credential digest (the SHA-256 of the issuer-signed JWT), what
    was read from those bytes: the issuer and key they name (step 1) and their status
    reference (step 6, kept with the claim it was parsed from and used only for an equal
    claim). A returning customer presents the same copy to the same verifier, so these
    are not parsed and schema-checked again; the signatures and every other check still
    run on each presentation. At most ``memo`` digests are kept (then it starts afresh).

    ``None`` (the default of :func:`verify_presentation`) asks every time.
    """

    def __init__(self, ttl: int = 60, *, memo: int = 65536) -> None:
        self.ttl = ttl
        self.memo = memo
        self._lock = threading.Lock()
        self._keys: dict[tuple[str, str], tuple[Ed25519PublicKey, float]] = {}
        self._members: dict[str, tuple[Any, float]] = {}
        self._anchors: dict[str, Any] = {}
        self._lists: dict[str, tuple[StatusListToken, float]] = {}
        self._issuers: dict[str, tuple[str, str]] = {}
        self._references: dict[str, tuple[Any, StatusReference]] = {}

    def _remember(self, table: dict[str, Any], digest: str, value: Any) -> None:
        with self._lock:
            if len(table) >= self.memo:
                table.clear()
            table[digest] = value

    def _get(self, table: dict[Any, tuple[Any, float]], key: Any, now: float) -> Any:
        with self._lock:
            found = table.get(key)
        return found[0] if found is not None and found[1] > now else None

    def _put(self, table: dict[Any, tuple[Any, float]], key: Any, value: Any, until: float) -> None:
        with self._lock:
            table[key] = (value, until)


@dataclass(frozen=True, slots=True)
class VerifiedCredential:
    """What a verifier may rely on about one presented credential."""

    issuer: str
    issuer_name: str
    digest: str
    methods: tuple[str, ...]
    anchor_index: int | None
    result: VerifiedSdJwt
    #: Where the credential's status is published (None when it carries no status claim).
    status: StatusReference | None = None
    #: The claim paths of the DCQL query this presentation answered: those of the claim set
    #: met (the query's paths, ``None`` for "every element", not the disclosed indices);
    #: empty when no query was given.
    answered: tuple[ClaimPath, ...] = ()

    @property
    def claims(self) -> dict[str, Any]:
        """The issuer-signed and disclosed claims."""
        return self.result.claims


def _issuer_of(presentation: str, cache: TrustCache | None) -> tuple[str, str, str]:
    """Step 1: ``(iss, kid, digest)`` read before verification, only to know whom to ask."""
    if not isinstance(presentation, str) or "~" not in presentation:
        raise MalformedInput("a presentation is an SD-JWT: <jwt>~<disclosures>~<kb-jwt>")
    jwt = presentation.split("~", 1)[0]
    try:
        digest = b64url_encode(sha256(jwt.encode("ascii")))
    except UnicodeEncodeError:
        raise MalformedInput("the issuer-signed JWT is not a compact JWS") from None
    if cache is not None and (known := cache._issuers.get(digest)) is not None:
        return known[0], known[1], digest
    jws = parse_compact_unverified(jwt, what="issuer-signed JWT")
    payload = jws.payload_json(what="issuer-signed JWT claims")
    iss, kid = payload.get("iss"), jws.header.get("kid")
    if not isinstance(iss, str) or not iss.startswith("did:akashi:"):
        raise MalformedInput("the credential's issuer must be a did:akashi on the ledger")
    if not isinstance(kid, str) or not kid.startswith(iss + "#"):
        raise MalformedInput("the credential's 'kid' must name a key of its issuer's DID")
    if cache is not None:
        cache._remember(cache._issuers, digest, (iss, kid))
    return iss, kid, digest


def _issuer_key(
    ledger: RegistryClient, iss: str, kid: str, cache: TrustCache | None, now: int
) -> Ed25519PublicKey:
    """Step 2."""
    if cache is not None and (known := cache._get(cache._keys, (iss, kid), now)) is not None:
        return known  # type: ignore[no-any-return]
    resolved = ledger.resolve_did(iss)
    if resolved.document is None:
        raise PolicyError(f"the issuer {iss} is deactivated")
    key = signing_key(resolved.document, kid)
    if cache is not None:
        cache._put(cache._keys, (iss, kid), key, now + cache.ttl)
    return key


def _member(ledger: RegistryClient, iss: str, cache: TrustCache | None, now: int) -> Any:
    if cache is not None and (known := cache._get(cache._members, iss, now)) is not None:
        return known
    try:
        member = ledger.member(iss).record
    except NotFound:
        raise PolicyError(f"{iss} is not in the trust registry") from None
    if cache is not None:
        cache._put(cache._members, iss, member, now + cache.ttl)
    return member


def _anchor(ledger: RegistryClient, digest: str, cache: TrustCache | None) -> Any:
    if cache is not None:
        with cache._lock:
            known = cache._anchors.get(digest)
        if known is not None:
            return known
    try:
        anchored = ledger.attestation(digest)
    except NotFound:
        raise ProofMismatch("the credential is not anchored on the ledger") from None
    if cache is not None:
        with cache._lock:
            cache._anchors[digest] = anchored
    return anchored


def _status_list(
    fetch: StatusFetcher, uri: str, key: Ed25519PublicKey, cache: TrustCache | None, now: int
) -> StatusListToken:
    if cache is not None and (known := cache._get(cache._lists, uri, now)) is not None:
        return known  # type: ignore[no-any-return]
    token = verify_status_list_token(fetch(uri), key, uri=uri, now=now)
    if cache is not None:
        until = now + (token.ttl or cache.ttl)
        if token.exp is not None:
            until = min(until, token.exp)
        cache._put(cache._lists, uri, token, until)
    return token


def _status_reference(claims: Mapping[str, Any], digest: str, cache: TrustCache | None) -> StatusReference:
    """Step 6: the status claim parsed (and schema-checked) once per credential and claim."""
    status = claims.get("status")
    if cache is not None:
        known = cache._references.get(digest)
        if known is not None and known[0] == status:
            return known[1]
    reference = parse_status_reference(claims)
    if cache is not None:
        cache._remember(cache._references, digest, (copy.deepcopy(status), reference))
    return reference


def _evidence_methods(claims: Mapping[str, Any]) -> tuple[str, ...]:
    verification = claims.get("verified_claims", {}).get("verification", {})
    letters = [e.get("jp_aml_method") for e in verification.get("evidence", []) if isinstance(e, Mapping)]
    return tuple(EVIDENCE_METHODS[letter] for letter in letters if letter in EVIDENCE_METHODS)


def verify_presentation(
    presentation: str,
    *,
    ledger: RegistryClient,
    fetch_status_list: StatusFetcher,
    nonce: str,
    audience: str,
    now: int,
    query: DcqlQuery | None = None,
    query_id: str | None = None,
    kb_max_age: int = 300,
    cache: TrustCache | None = None,
) -> VerifiedCredential:
    """Verify one presented credential (steps 1-7 above); return what it proves or raise."""
    iss, kid, digest = _issuer_of(presentation, cache)  # 1
    key = _issuer_key(ledger, iss, kid, cache, now)  # 2
    result = verify(presentation, key, now=now, nonce=nonce, aud=audience, kb_max_age=kb_max_age)  # 3
    methods = _evidence_methods(result.claims)
    member = _member(ledger, iss, cache, now)  # 4
    if not member.active or member.role != "issuer":
        raise PolicyError(f"{iss} is not an active issuer in the trust registry")
    unaccredited = [m for m in methods if m not in member.evidence_methods]
    if unaccredited:
        raise PolicyError(f"{member.legal_name} is not accredited for {', '.join(unaccredited)}")
    anchored = _anchor(ledger, digest, cache)  # 5
    if anchored.record.issuer != iss:
        raise ProofMismatch("the credential's anchor names another issuer")
    if methods and anchored.record.method not in methods:
        raise PolicyError("the credential's anchor names another evidence method")
    reference = None
    if "status" in result.claims:  # 6
        reference = _status_reference(result.claims, digest, cache)
        # The fetcher maps its own transport failures to RemoteError.
        check_status(reference, _status_list(fetch_status_list, reference.uri, key, cache, now))
    answered: tuple[ClaimPath, ...] = ()
    if query is not None:  # 7
        if query_id is None:
            raise TypeError("a DCQL query needs the id of the credential query answered")
        checked = check_presentation(query, {query_id: [result]})
        if any(checked.not_requested.values()):
            raise PolicyError("the presentation discloses claims the request did not ask for")
        answered = _answered(query, checked.presentations[0])
    index = anchored.entry.index if anchored.entry is not None else None
    return VerifiedCredential(iss, member.legal_name, digest, methods, index, result, reference, answered)


def _answered(query: DcqlQuery, item: CheckedPresentation) -> tuple[ClaimPath, ...]:
    """The paths of the claim option ``item`` met (step 7)."""
    credential: CredentialQuery = next(c for c in query.credentials if c.id == item.query_id)
    options = credential.claim_options()
    if item.claim_set is None or credential.claim_sets is None:
        return tuple(c.path for c in options[0])
    return tuple(c.path for c in options[credential.claim_sets.index(item.claim_set)])


def verify_vp_token(
    vp_token: Mapping[str, Sequence[str]],
    *,
    ledger: RegistryClient,
    fetch_status_list: StatusFetcher,
    nonce: str,
    audience: str,
    now: int,
    query: DcqlQuery,
    kb_max_age: int = 300,
    cache: TrustCache | None = None,
) -> dict[str, list[VerifiedCredential]]:
    """Verify every presentation of an OpenID4VP ``vp_token`` (steps 1-6), then the query as a
    whole (step 7, once); each credential comes back with the query paths it answered."""
    asked = {c.id for c in query.credentials}
    verified: dict[str, list[VerifiedCredential]] = {}
    for query_id, presentations in vp_token.items():
        if query_id not in asked:  # refused before any work on its presentations
            raise PolicyError(f"the response answers a credential query {query_id!r} that was not asked")
        verified[query_id] = [
            verify_presentation(
                p,
                ledger=ledger,
                fetch_status_list=fetch_status_list,
                nonce=nonce,
                audience=audience,
                now=now,
                kb_max_age=kb_max_age,
                cache=cache,
            )
            for p in presentations
        ]
    checked = check_presentation(query, {qid: [v.result for v in items] for qid, items in verified.items()})
    if any(item.not_requested for item in checked.presentations):
        raise PolicyError("the presentation discloses claims the request did not ask for")
    for item in checked.presentations:
        items = verified[item.query_id]
        items[item.index] = replace(items[item.index], answered=_answered(query, item))
    return verified
