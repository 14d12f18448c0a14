"""Key proofs of the ``jwt`` proof type (OpenID4VCI 1.0 Appendix F.1 and F.4).

The wallet proves possession of each key a credential is to be bound to with
a JWT signed by that key (:func:`build_proof_jwt`). The issuer checks each
proof with :func:`verify_proof_jwt` and a batch with :func:`verify_proofs`;
every failure is ``invalid_proof`` except a nonce the issuer does not accept,
which is ``invalid_nonce`` (section 8.3.1.2). Rules, in the order applied:

1. The proof is a string of at most ``policy.max_length`` characters and a
   compact JWS whose header is a JSON object without repeated names.
2. ``typ`` is ``openid4vci-proof+jwt`` (explicit typing, RFC 8725 3.11).
3. The key is given as ``jwk`` and neither ``kid`` nor ``x5c`` is present
   (F.1: exactly one of them); it is a public Ed25519 OKP key — a JWK that
   carries the private member ``d`` is refused (F.4).
4. ``alg`` is ``EdDSA`` — never ``none``, never a MAC — and ``crit`` is absent.
5. The signature verifies under that key, over the received bytes.
6. Only then is the payload parsed: a JSON object without repeated names.
7. ``aud`` is a string equal to the Credential Issuer Identifier.
8. ``iat`` is a number, not more than ``policy.skew`` seconds in the future
   and not older than ``policy.max_age`` (+ skew); ``exp``/``nbf``, if
   present, hold at ``now`` (section 13.8).
9. ``iss``: absent when the access token came from anonymous access to the
   token endpoint (``client_id=None``); otherwise, if present, equal to the
   ``client_id``.
10. ``nonce`` is present (the issuer has a Nonce Endpoint) — else
    ``invalid_proof`` — and is a ``c_nonce`` the issuer accepts — else
    ``invalid_nonce``.

For a batch, additionally:

11. There is at least one proof and at most ``batch_size``.
12. No two proofs carry the same key: each key binds at most one credential
    (section 8.3), and distinct keys are the point of a batch.

``key_attestation`` and ``trust_chain`` headers are not used (akashi announces
no ``key_attestations_required``) and are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey
from identity.crypto.strict_json import loads_object
from identity.errors import AkashiError, MalformedInput
from identity.jose.jwk import public_key_from_jwk, public_key_to_jwk
from identity.jose.jws import (
    ALG,
    JwsVerifier,
    check_header,
    parse_compact_unverified,
    sign_jwt,
    verify_parsed,
)
from identity.jose.jwt import TimePolicy, check_time_claims
from identity.protocols.oid4vci.errors import INVALID_NONCE, INVALID_PROOF, OAuthError
from identity.schemas import validate

__all__ = [
    "DEFAULT_PROOF_POLICY",
    "PROOF_TYP",
    "NonceCheck",
    "ProofPolicy",
    "VerifiedProof",
    "build_proof_jwt",
    "verify_proof_jwt",
    "verify_proofs",
]

PROOF_TYP = "openid4vci-proof+jwt"

#: How the caller says which ``c_nonce`` values it accepts: a predicate, or a set.
NonceCheck = Callable[[str], bool] | Collection[str]


@dataclass(frozen=True, slots=True)
class ProofPolicy:
    """Bounds on key proofs, checked before any work: size, clock skew, age."""

    max_length: int = 8 * 1024
    skew: int = 60
    max_age: int = 300


DEFAULT_PROOF_POLICY = ProofPolicy()


@dataclass(frozen=True, slots=True)
class VerifiedProof:
    """A key proof that passed every rule: the holder key and what it was made for."""

    key: Ed25519PublicKey | JwsVerifier
    nonce: str
    iat: int | float


def build_proof_jwt(
    holder_key: Ed25519PrivateKey,
    *,
    audience: str,
    iat: int,
    nonce: str | None,
    client_id: str | None = None,
) -> str:
    """Wallet side: a key proof JWT for ``holder_key`` (Appendix F.1).

    ``audience`` is the Credential Issuer Identifier and ``nonce`` the
    ``c_nonce`` from its Nonce Endpoint; ``client_id`` becomes ``iss`` and must
    stay ``None`` after anonymous pre-authorized access.
    """
    header = {"typ": PROOF_TYP, "alg": ALG, "jwk": public_key_to_jwk(holder_key.public_key)}
    claims: dict[str, Any] = {"aud": audience, "iat": iat}
    if nonce is not None:
        claims["nonce"] = nonce
    if client_id is not None:
        claims["iss"] = client_id
    validate(header, "oid4vci-proof-jwt-header")
    return sign_jwt(header, claims, holder_key)


def _accepts(nonce_check: NonceCheck, nonce: str) -> bool:
    if callable(nonce_check):
        return bool(nonce_check(nonce))
    return nonce in nonce_check


def _header_key(
    header: dict[str, Any], key_importer: Callable[[dict[str, Any]], JwsVerifier] | None
) -> Ed25519PublicKey | JwsVerifier:
    if "kid" in header or "x5c" in header:  # rule 3
        raise OAuthError(INVALID_PROOF, "the proof must give its key as 'jwk' only (no kid or x5c)")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise OAuthError(INVALID_PROOF, "the proof header has no 'jwk'")
    if "d" in jwk:
        raise OAuthError(INVALID_PROOF, "the proof header 'jwk' contains a private key")
    try:
        if key_importer is not None:
            return key_importer(jwk)
        key = public_key_from_jwk(jwk)
    except AkashiError as exc:
        raise OAuthError(INVALID_PROOF, f"the proof header 'jwk' is not usable: {exc.message}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise OAuthError(INVALID_PROOF, "the proof key must be an Ed25519 signing key")
    return key


def _check_claims(
    claims: dict[str, Any],
    *,
    audience: str,
    now: int | float,
    client_id: str | None,
    policy: ProofPolicy,
) -> None:
    if claims.get("aud") != audience:  # rule 7
        raise OAuthError(INVALID_PROOF, "the proof 'aud' is not this credential issuer")
    iat = claims.get("iat")
    if type(iat) not in (int, float):  # rule 8 (bool is not a number here)
        raise OAuthError(INVALID_PROOF, "the proof 'iat' is missing or not a number")
    try:
        check_time_claims(claims, now, TimePolicy(skew=policy.skew, max_iat_age=policy.max_age), what="proof")
    except AkashiError as exc:
        raise OAuthError(INVALID_PROOF, exc.message) from exc
    if "iss" in claims:  # rule 9
        if client_id is None:
            raise OAuthError(INVALID_PROOF, "the proof must not carry 'iss' after anonymous access")
        if claims["iss"] != client_id:
            raise OAuthError(INVALID_PROOF, "the proof 'iss' is not the client_id")


def verify_proof_jwt(
    proof: Any,
    *,
    audience: str,
    now: int | float,
    nonce: NonceCheck,
    client_id: str | None = None,
    policy: ProofPolicy = DEFAULT_PROOF_POLICY,
    key_importer: Callable[[dict[str, Any]], JwsVerifier] | None = None,
) -> VerifiedProof:
    """Issuer side: rules 1-10 on one key proof; return the proven key or raise :class:`OAuthError`.

    ``key_importer`` exists only so that tests can run the specification's own
    (ES256) example through every rule; akashi passes none and accepts EdDSA only.
    """
    if not isinstance(proof, str) or len(proof) > policy.max_length:  # rule 1
        raise OAuthError(INVALID_PROOF, f"a proof must be a JWT of at most {policy.max_length} characters")
    try:
        jws = parse_compact_unverified(proof, what="proof")
    except MalformedInput as exc:
        raise OAuthError(INVALID_PROOF, exc.message) from exc
    if jws.header.get("typ") != PROOF_TYP:  # rule 2
        raise OAuthError(INVALID_PROOF, f"the proof 'typ' must be {PROOF_TYP!r}")
    key = _header_key(jws.header, key_importer)  # rule 3
    alg = ALG if isinstance(key, Ed25519PublicKey) else key.alg
    try:
        check_header(jws.header, typ=PROOF_TYP, what="proof", alg=alg)  # rule 4
        verify_parsed(jws, key, typ=PROOF_TYP, what="proof")  # rule 5
        claims = loads_object(jws.payload, what="proof claims")  # rule 6
    except AkashiError as exc:
        raise OAuthError(INVALID_PROOF, exc.message) from exc
    _check_claims(claims, audience=audience, now=now, client_id=client_id, policy=policy)  # rules 7-9
    c_nonce = claims.get("nonce")
    if c_nonce is None:  # rule 10
        raise OAuthError(INVALID_PROOF, "the proof has no 'nonce': get a c_nonce from the nonce endpoint")
    if not isinstance(c_nonce, str):
        raise OAuthError(INVALID_PROOF, "the proof 'nonce' must be a string")
    if not _accepts(nonce, c_nonce):
        raise OAuthError(INVALID_NONCE, "the proof 'nonce' is not a valid c_nonce: get a fresh one")
    return VerifiedProof(key, c_nonce, claims["iat"])


def verify_proofs(
    proofs: Sequence[Any],
    *,
    audience: str,
    now: int | float,
    nonce: NonceCheck,
    batch_size: int = 1,
    client_id: str | None = None,
    policy: ProofPolicy = DEFAULT_PROOF_POLICY,
) -> tuple[Ed25519PublicKey, ...]:
    """Issuer side: rules 1-12 on the ``jwt`` proofs of a Credential Request.

    Returns the holder keys in the order given, one credential to issue per key.
    """
    if not proofs or len(proofs) > batch_size:  # rule 11, before any signature work
        raise OAuthError(INVALID_PROOF, f"between 1 and {batch_size} proofs are accepted")
    keys: list[Ed25519PublicKey] = []
    for proof in proofs:
        verified = verify_proof_jwt(
            proof, audience=audience, now=now, nonce=nonce, client_id=client_id, policy=policy
        )
        if not isinstance(verified.key, Ed25519PublicKey):  # cannot happen without a key_importer
            raise OAuthError(INVALID_PROOF, "the proof key must be an Ed25519 signing key")
        if verified.key in keys:  # rule 12
            raise OAuthError(INVALID_PROOF, "two proofs are for the same key")
        keys.append(verified.key)
    return tuple(keys)
