"""Verifying an SD-JWT presentation (RFC 9901 sections 7.1 and 7.3, SD-JWT VC section 3).

An SD-JWT is ``<issuer-signed JWT>~<disclosure>~…~<disclosure>~[<KB-JWT>]``.
The issuer replaces each selectively disclosable object property by a digest
in an ``_sd`` array, and each disclosable array element by ``{"...": digest}``;
a disclosure is the base64url JSON array ``[salt, name, value]`` (property) or
``[salt, value]`` (element), and its digest is the base64url SHA-256 of the
disclosure's ASCII text.

Verification (:func:`verify`) follows RFC 9901 section 7.1 and 7.3; the rule
numbers below are used in the code comments:

1. The presentation is ASCII, within size limits, and splits on ``~`` into the
   issuer-signed JWT, the disclosures and the (possibly empty) KB-JWT.
2. The issuer-signed JWT verifies under the issuer's key, with ``alg`` not
   ``none`` and the expected ``typ`` (``dc+sd-jwt`` for SD-JWT VC).
3. ``_sd_alg``, if present, is ``sha-256`` (the only hash accepted).
4. Every disclosure decodes to a JSON array of the right length, with a string
   salt and, for properties, a string name that is neither ``_sd`` nor ``...``.
5. No two disclosures have the same digest.
6. Embedding: each digest in an ``_sd`` array or ``{"...": d}`` element that
   matches a disclosure is replaced by its claim, recursively; a property name
   that already exists at that level is refused; a property disclosure
   referenced from an array, or an element disclosure from ``_sd``, is refused;
   unmatched digests (decoys, or undisclosed claims) are dropped.
7. No digest occurs more than once in the whole payload, disclosures included.
8. Every disclosure was referenced exactly once: unreferenced ones are an error.
9. ``_sd`` and ``_sd_alg`` are removed; ``exp``, ``nbf``, ``iat`` are checked.
10. SD-JWT VC: ``vct`` is present, and ``iss``, ``nbf``, ``exp``, ``cnf``,
    ``vct``, ``vct#integrity`` and ``status`` were not selectively disclosed.
11. Key binding: when required, a KB-JWT is present; it verifies (typ
    ``kb+jwt``) under the ``cnf.jwk`` key of the issuer-signed JWT; its
    ``nonce`` and ``aud`` are the expected ones; its ``iat`` is fresh; its
    ``sd_hash`` is the digest of the presentation up to the last ``~``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from identity.credentials.sdjwt.common import (
    KB_JWT_TYP,
    NEVER_DISCLOSABLE_IN_VC,
    SD_ALG,
    SD_JWT_VC_TYP,
    ClaimPath,
    Disclosure,
    SdJwtLimits,
    index_disclosures,
    split_sd_jwt,
)
from identity.credentials.sdjwt.presentation import sd_hash
from identity.crypto.keys import Ed25519PublicKey
from identity.crypto.strict_json import loads_object
from identity.errors import BindingError, MalformedInput, ProofMismatch, UnsupportedAlgorithm
from identity.jose.jwk import public_key_from_jwk
from identity.jose.jws import JwsVerifier, parse_compact_unverified, verify_parsed
from identity.jose.jwt import TimePolicy, check_time_claims

__all__ = ["VerifiedSdJwt", "parse_claims_unverified", "process_payload", "verify"]


@dataclass(frozen=True, slots=True)
class VerifiedSdJwt:
    """What a verifier may rely on after :func:`verify` returned.

    ``claims`` holds exactly the issuer-signed claims plus the disclosed ones;
    ``paths`` lists the claim paths the holder chose to disclose.
    """

    header: dict[str, Any]
    claims: dict[str, Any]
    disclosures: list[Disclosure]
    paths: list[ClaimPath]
    holder_key: Ed25519PublicKey | None = None
    key_binding: dict[str, Any] | None = field(default=None)


@lru_cache(maxsize=32)
def _kb_time_policy(skew: int, max_age: int) -> TimePolicy:
    return TimePolicy(skew=skew, max_iat_age=max_age, require=frozenset({"iat"}))


class _Embedder:
    """Rules 6-8: replace digests by disclosed claims, each exactly once."""

    def __init__(self, disclosures: dict[str, Disclosure], max_depth: int) -> None:
        self.disclosures = disclosures
        self.max_depth = max_depth
        self.seen: set[str] = set()
        self.used: list[tuple[ClaimPath, Disclosure]] = []

    def _see(self, digest: Any) -> Disclosure | None:
        if not isinstance(digest, str):
            raise MalformedInput("an SD-JWT digest must be a string")
        if digest in self.seen:  # rule 7
            raise ProofMismatch("a digest occurs more than once in the SD-JWT")
        self.seen.add(digest)
        return self.disclosures.get(digest)

    def embed(self, value: Any, path: ClaimPath) -> Any:
        if len(path) > self.max_depth:
            raise MalformedInput(f"SD-JWT claims nest deeper than {self.max_depth} levels")
        if isinstance(value, dict):
            return self._embed_object(value, path)
        if isinstance(value, list):
            return self._embed_array(value, path)
        return value

    def _embed_object(self, obj: dict[str, Any], path: ClaimPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in obj.items():
            if name == "_sd":
                continue
            # Only containers can hide digests; scalars are copied as they are.
            out[name] = self.embed(value, (*path, name)) if isinstance(value, (dict, list)) else value
        digests = obj.get("_sd")
        if digests is None:
            return out
        if not isinstance(digests, list):
            raise MalformedInput("'_sd' must be an array of digests")
        for digest in digests:
            disclosure = self._see(digest)
            if disclosure is None:
                continue  # a decoy, or a claim the holder did not disclose
            if disclosure.name is None:
                raise MalformedInput("an array-element disclosure is referenced from '_sd'")
            if disclosure.name in out:
                raise MalformedInput(f"disclosed claim {disclosure.name!r} already exists")
            claim_path = (*path, disclosure.name)
            self.used.append((claim_path, disclosure))
            value = disclosure.value
            out[disclosure.name] = self.embed(value, claim_path) if isinstance(value, (dict, list)) else value
        return out

    def _embed_array(self, array: list[Any], path: ClaimPath) -> list[Any]:
        out: list[Any] = []
        for element in array:
            if isinstance(element, dict) and "..." in element:
                if len(element) != 1:
                    raise MalformedInput("an array digest object must hold only '...'")
                disclosure = self._see(element["..."])
                if disclosure is None:
                    continue
                if disclosure.name is not None:
                    raise MalformedInput("an object-property disclosure is referenced from an array")
                claim_path = (*path, len(out))
                self.used.append((claim_path, disclosure))
                out.append(self.embed(disclosure.value, claim_path))
            else:
                out.append(self.embed(element, (*path, len(out))))
        return out


def process_payload(
    payload: dict[str, Any], disclosures: dict[str, Disclosure], limits: SdJwtLimits
) -> tuple[dict[str, Any], list[tuple[ClaimPath, Disclosure]]]:
    """Rules 3 and 6-9 (all but the time checks)."""
    sd_alg = payload.get("_sd_alg", SD_ALG)
    if sd_alg != SD_ALG:  # rule 3
        raise UnsupportedAlgorithm(f"SD-JWT hash algorithm {sd_alg!r} is not supported")
    embedder = _Embedder(disclosures, limits.max_depth)
    claims = embedder.embed(payload, ())
    if len(embedder.used) != len(disclosures):  # rule 8
        raise ProofMismatch("the SD-JWT carries a disclosure that none of its digests refers to")
    claims.pop("_sd_alg", None)
    return claims, embedder.used


def _holder_key(claims: Mapping[str, Any]) -> Ed25519PublicKey:
    cnf = claims.get("cnf")
    if not isinstance(cnf, dict) or not isinstance(cnf.get("jwk"), dict):
        raise BindingError("the credential has no 'cnf.jwk' holder key to bind to")
    key = public_key_from_jwk(cnf["jwk"])
    if not isinstance(key, Ed25519PublicKey):
        raise UnsupportedAlgorithm("the holder key in 'cnf.jwk' must be an Ed25519 key")
    return key


def _verify_key_binding(
    kb_jwt: str,
    presentation_without_kb: str,
    holder_key: Ed25519PublicKey,
    *,
    now: int,
    nonce: str | None,
    aud: str | None,
    max_age: int,
    skew: int,
) -> dict[str, Any]:
    """Rule 11, for a KB-JWT that is present."""
    jws = parse_compact_unverified(kb_jwt, what="key-binding JWT")
    verify_parsed(jws, holder_key, typ=KB_JWT_TYP, what="key-binding JWT")
    claims = jws.payload_json(what="key-binding JWT claims")
    expected_hash = sd_hash(presentation_without_kb)
    got_hash = claims.get("sd_hash")
    if not isinstance(got_hash, str) or not hmac.compare_digest(got_hash, expected_hash):
        raise BindingError("key-binding JWT 'sd_hash' does not match the presentation")
    if nonce is not None and claims.get("nonce") != nonce:
        raise BindingError("key-binding JWT 'nonce' is not the one this verifier asked for")
    if aud is not None and claims.get("aud") != aud:
        raise BindingError("key-binding JWT 'aud' names another verifier")
    check_time_claims(claims, now, _kb_time_policy(skew, max_age), what="key-binding JWT")
    return claims


def verify(
    presentation: str,
    issuer_key: Ed25519PublicKey | JwsVerifier,
    *,
    now: int,
    nonce: str | None,
    aud: str | None,
    require_key_binding: bool = True,
    typ: str | None = SD_JWT_VC_TYP,
    time_policy: TimePolicy = TimePolicy(),
    kb_max_age: int = 300,
    limits: SdJwtLimits = SdJwtLimits(),
) -> VerifiedSdJwt:
    """Verify an SD-JWT presentation (rules 1-11 above) and return only what it proves.

    ``issuer_key`` is the key the caller resolved for this issuer. With
    ``require_key_binding`` (the default), a KB-JWT with exactly ``nonce`` and
    ``aud`` must be present.
    """
    jwt, encoded, kb = split_sd_jwt(presentation, limits)  # rule 1
    jws = parse_compact_unverified(jwt, what="issuer-signed JWT")
    verify_parsed(jws, issuer_key, typ=typ, what="issuer-signed JWT")  # rule 2
    payload = jws.payload_json(what="issuer-signed JWT claims")
    disclosures = index_disclosures(encoded)  # rules 4-5
    claims, used = process_payload(payload, disclosures, limits)  # rules 3, 6-8
    check_time_claims(claims, now, time_policy, what="credential")  # rule 9
    if typ == SD_JWT_VC_TYP:  # rule 10
        if not isinstance(claims.get("vct"), str):
            raise MalformedInput("an SD-JWT VC must carry a 'vct' string")
        for path, _ in used:
            if len(path) == 1 and path[0] in NEVER_DISCLOSABLE_IN_VC:
                raise MalformedInput(f"claim {path[0]!r} must not be selectively disclosed")
    holder_key: Ed25519PublicKey | None = None
    kb_claims: dict[str, Any] | None = None
    if kb or require_key_binding:  # rule 11
        if not kb:
            raise BindingError("the presentation has no key-binding JWT")
        holder_key = _holder_key(claims)
        kb_claims = _verify_key_binding(
            kb,
            presentation[: len(presentation) - len(kb)],
            holder_key,
            now=now,
            nonce=nonce,
            aud=aud,
            max_age=kb_max_age,
            skew=time_policy.skew,
        )
    return VerifiedSdJwt(
        header=jws.header,
        claims=claims,
        disclosures=[d for _, d in used],
        paths=[p for p, _ in used],
        holder_key=holder_key,
        key_binding=kb_claims,
    )


def parse_claims_unverified(sd_jwt: str, limits: SdJwtLimits = SdJwtLimits()) -> dict[str, Any]:
    """The claims of an SD-JWT with all its disclosures embedded, *without* checking the
    issuer's signature: for a holder showing its own credential, never for trust."""
    jwt, encoded, _ = split_sd_jwt(sd_jwt, limits)
    payload = loads_object(parse_compact_unverified(jwt).payload, what="issuer-signed JWT claims")
    claims, _ = process_payload(payload, index_disclosures(encoded), limits)
    return claims
