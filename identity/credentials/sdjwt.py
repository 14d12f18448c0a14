"""Selective Disclosure for JWTs (RFC 9901) and SD-JWT VC (draft-ietf-oauth-sd-jwt-vc).

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
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple, TypeAlias

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey, RandomSource
from identity.crypto.strict_json import loads, loads_object
from identity.errors import BindingError, MalformedInput, ProofMismatch, UnsupportedAlgorithm
from identity.jose.jwk import public_key_from_jwk, public_key_to_jwk
from identity.jose.jws import JwsVerifier, parse_compact_unverified, sign_compact, verify_parsed
from identity.jose.jwt import TimePolicy, check_time_claims

__all__ = [
    "KB_JWT_TYP",
    "SD",
    "SD_JWT_VC_TYP",
    "ClaimPath",
    "Disclosure",
    "SdJwtLimits",
    "VerifiedSdJwt",
    "issue",
    "present",
    "sd_hash",
    "verify",
]

SD_JWT_VC_TYP = "dc+sd-jwt"
KB_JWT_TYP = "kb+jwt"
# The KB-JWT header never varies: encode it once.
_KB_HEADER_B64 = b64url_encode(canonicalize({"alg": "EdDSA", "typ": KB_JWT_TYP}))
SD_ALG = "sha-256"
_NEVER_DISCLOSABLE_IN_VC = frozenset(
    {"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"}
)

#: A claim path as DCQL writes it: names for object members, integers for
#: array positions, ``None`` for every element of an array.
ClaimPath: TypeAlias = tuple[str | int | None, ...]


@dataclass(frozen=True, slots=True)
class SD:
    """Marks a value, in the claims given to :func:`issue`, as selectively disclosable."""

    value: Any


class Disclosure(NamedTuple):
    """One decoded disclosure: ``name`` is ``None`` for an array element."""

    encoded: str
    digest: str
    salt: str
    name: str | None
    value: Any


@dataclass(frozen=True, slots=True)
class SdJwtLimits:
    """Bounds checked before any work, so hostile input costs little."""

    max_length: int = 256 * 1024
    max_disclosures: int = 512
    max_depth: int = 32


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


# --------------------------------------------------------------------------- issuing


def _digest(encoded: str) -> str:
    """The digest that refers to a disclosure: base64url SHA-256 of its ASCII text."""
    return b64url_encode(sha256(encoded.encode("ascii")))


@lru_cache(maxsize=32)
def _kb_time_policy(skew: int, max_age: int) -> TimePolicy:
    return TimePolicy(skew=skew, max_iat_age=max_age, require=frozenset({"iat"}))


_compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _encode_disclosure(items: list[Any]) -> str:
    return b64url_encode(_compact_json(items).encode("utf-8"))


class _Concealer:
    def __init__(self, decoys: int, random: RandomSource) -> None:
        self.decoys = decoys
        self.random = random
        self.disclosures: list[str] = []

    def salt(self) -> str:
        return b64url_encode(self.random(16))

    def disclose(self, items: list[Any]) -> str:
        encoded = _encode_disclosure(items)
        self.disclosures.append(encoded)
        return _digest(encoded)

    def decoy(self) -> str:
        return b64url_encode(sha256(self.random(32)))

    def conceal(self, value: Any) -> Any:
        if isinstance(value, SD):
            raise MalformedInput("SD() marks an object member or array element, not a whole value")
        if isinstance(value, Mapping):
            return self._conceal_object(value)
        if isinstance(value, (list, tuple)):
            return self._conceal_array(value)
        return value

    def _conceal_object(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        digests: list[str] = []
        for name, value in obj.items():
            if name in ("_sd", "...", "_sd_alg"):
                raise MalformedInput(f"claim name {name!r} is reserved by SD-JWT")
            if isinstance(value, SD):
                digests.append(self.disclose([self.salt(), name, self.conceal(value.value)]))
            else:
                out[name] = self.conceal(value)
        if digests:
            digests.extend(self.decoy() for _ in range(self.decoys))
            # Sorting hides the original order of the claims (RFC 9901 section 4.2.4.1).
            out["_sd"] = sorted(digests)
        return out

    def _conceal_array(self, array: Sequence[Any]) -> list[Any]:
        out: list[Any] = []
        for element in array:
            if isinstance(element, SD):
                digest = self.disclose([self.salt(), self.conceal(element.value)])
                out.append({"...": digest})
            else:
                out.append(self.conceal(element))
        if len(out) != len(array) or any(isinstance(e, SD) for e in array):
            for _ in range(self.decoys):
                position = int.from_bytes(self.random(2), "big") % (len(out) + 1)
                out.insert(position, {"...": self.decoy()})
        return out


def issue(
    claims: Mapping[str, Any],
    issuer_key: Ed25519PrivateKey,
    *,
    header: Mapping[str, Any] | None = None,
    holder_key: Ed25519PublicKey | None = None,
    decoys: int = 0,
    random: RandomSource = os.urandom,
) -> str:
    """Issue an SD-JWT (``<jwt>~<disclosure>~…~``) over ``claims``.

    Values wrapped in :class:`SD` become selectively disclosable, at any depth.
    ``holder_key`` is bound through ``cnf.jwk``; ``decoys`` adds that many
    decoy digests to every object and array holding disclosable items.
    """
    for name in _NEVER_DISCLOSABLE_IN_VC:
        if isinstance(claims.get(name), SD):
            raise MalformedInput(f"claim {name!r} must not be selectively disclosable")
    concealer = _Concealer(decoys, random)
    payload = concealer.conceal(dict(claims))
    payload["_sd_alg"] = SD_ALG
    if holder_key is not None:
        payload["cnf"] = {"jwk": public_key_to_jwk(holder_key)}
    jwt_header = dict(header) if header is not None else {"typ": SD_JWT_VC_TYP}
    jwt = sign_compact(jwt_header, _compact_json(payload).encode("utf-8"), issuer_key)
    return jwt + "~" + "".join(d + "~" for d in concealer.disclosures)


# --------------------------------------------------------------------------- parsing


def _split(presentation: str, limits: SdJwtLimits) -> tuple[str, list[str], str]:
    """Rule 1: split into issuer JWT, disclosures and KB-JWT (empty if absent)."""
    if not isinstance(presentation, str):
        raise MalformedInput("an SD-JWT must be a string")
    if len(presentation) > limits.max_length:
        raise MalformedInput(f"SD-JWT is longer than {limits.max_length} characters")
    if not presentation.isascii():
        raise MalformedInput("SD-JWT contains non-ASCII characters")
    parts = presentation.split("~")
    if len(parts) < 2:
        raise MalformedInput("SD-JWT must contain at least one '~' separator")
    if len(parts) - 2 > limits.max_disclosures:
        raise MalformedInput(f"SD-JWT carries more than {limits.max_disclosures} disclosures")
    return parts[0], parts[1:-1], parts[-1]


def _decode_disclosure(encoded: str, digest: str | None = None) -> Disclosure:
    """Rule 4. ``digest`` saves recomputing it when the caller has it."""
    if not encoded:
        raise MalformedInput("SD-JWT contains an empty disclosure ('~~')")
    items = loads(b64url_decode(encoded, what="disclosure"), what="disclosure")
    if not isinstance(items, list) or len(items) not in (2, 3):
        raise MalformedInput("a disclosure must be a JSON array of 2 or 3 elements")
    salt = items[0]
    if not isinstance(salt, str):
        raise MalformedInput("a disclosure's salt must be a string")
    if len(items) == 2:
        return Disclosure(encoded, digest or _digest(encoded), salt, None, items[1])
    name = items[1]
    if not isinstance(name, str):
        raise MalformedInput("a disclosure's claim name must be a string")
    if name in ("_sd", "..."):
        raise MalformedInput(f"a disclosure must not use the reserved claim name {name!r}")
    return Disclosure(encoded, digest or _digest(encoded), salt, name, items[2])


def _index_disclosures(encoded: Iterable[str]) -> dict[str, Disclosure]:
    """Rules 4 and 5."""
    by_digest: dict[str, Disclosure] = {}
    for text in encoded:
        disclosure = _decode_disclosure(text)
        if disclosure.digest in by_digest:
            raise ProofMismatch("the same disclosure is given more than once")
        by_digest[disclosure.digest] = disclosure
    return by_digest


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
            out[disclosure.name] = (
                self.embed(value, claim_path) if isinstance(value, (dict, list)) else value
            )
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


def _process(
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


# --------------------------------------------------------------------------- presenting


def _on_the_way(path: ClaimPath, wanted: Sequence[ClaimPath]) -> tuple[bool, bool]:
    """``(needed, covered)``: whether ``path`` lies on the way to a wanted path or
    inside one, and whether it lies inside one (so everything below is wanted)."""
    needed = False
    for request in wanted:
        for got, want in zip(path, request, strict=False):
            if want != got and not (want is None and type(got) is int):
                break
        else:
            if len(request) <= len(path):
                return True, True
            needed = True
    return needed, False


class _Selector:
    """Walks a holder's own SD-JWT and picks the disclosures a set of paths needs.

    It decodes only the disclosures it meets on the way, so an unrequested
    branch of the credential costs nothing. The credential was verified when
    the wallet received it; this walk trusts its structure but still raises
    :class:`MalformedInput` on anything it cannot follow.
    """

    def __init__(self, by_digest: dict[str, str], wanted: Sequence[ClaimPath], max_depth: int) -> None:
        self.by_digest = by_digest
        self.wanted = wanted
        self.max_depth = max_depth
        self.chosen: set[str] = set()

    def walk(self, value: Any, path: ClaimPath, covered: bool) -> None:
        if len(path) > self.max_depth:
            raise MalformedInput(f"SD-JWT claims nest deeper than {self.max_depth} levels")
        if isinstance(value, dict):
            self._walk_object(value, path, covered)
        elif isinstance(value, list):
            self._walk_array(value, path, covered)

    def _visit(self, value: Any, path: ClaimPath, covered: bool, encoded: str | None) -> None:
        if not covered:
            needed, covered = _on_the_way(path, self.wanted)
            if not needed:
                return
        if encoded is not None:
            self.chosen.add(encoded)
        self.walk(value, path, covered)

    def _walk_object(self, obj: dict[str, Any], path: ClaimPath, covered: bool) -> None:
        for name, value in obj.items():
            if name != "_sd" and isinstance(value, (dict, list)):
                self._visit(value, (*path, name), covered, None)
        digests = obj.get("_sd", [])
        if not isinstance(digests, list):
            raise MalformedInput("'_sd' must be an array of digests")
        for digest in digests:
            encoded = self.by_digest.get(digest) if isinstance(digest, str) else None
            if encoded is not None:
                disclosure = _decode_disclosure(encoded, digest)
                if disclosure.name is None:
                    raise MalformedInput("an array-element disclosure is referenced from '_sd'")
                self._visit(disclosure.value, (*path, disclosure.name), covered, encoded)

    def _walk_array(self, array: list[Any], path: ClaimPath, covered: bool) -> None:
        position = 0  # among the real elements: decoys do not count
        for element in array:
            if isinstance(element, dict) and "..." in element:
                digest = element["..."]
                encoded = self.by_digest.get(digest) if isinstance(digest, str) else None
                if encoded is None:
                    continue
                disclosure = _decode_disclosure(encoded, digest)
                self._visit(disclosure.value, (*path, position), covered, encoded)
            else:
                self._visit(element, (*path, position), covered, None)
            position += 1


def present(
    sd_jwt: str,
    disclose: Iterable[ClaimPath],
    *,
    holder_key: Ed25519PrivateKey | None = None,
    nonce: str | None = None,
    aud: str | None = None,
    iat: int | None = None,
    limits: SdJwtLimits = SdJwtLimits(),
) -> str:
    """The presentation of ``sd_jwt`` that discloses exactly the claims at ``disclose``.

    Disclosures needed to reach a wanted path, and those nested inside it, are
    included; nothing else is. Array positions count the credential's real
    elements (decoys excluded). With ``holder_key``, a KB-JWT binds the
    presentation to ``nonce`` and ``aud`` at time ``iat``.
    """
    jwt, encoded, kb = _split(sd_jwt, limits)
    if kb:
        raise MalformedInput("present() takes an SD-JWT without a key-binding JWT")
    payload = parse_compact_unverified(jwt, what="issuer-signed JWT").payload_json()
    by_digest = {_digest(text): text for text in encoded}
    selector = _Selector(by_digest, [tuple(p) for p in disclose], limits.max_depth)
    selector.walk(payload, (), False)
    kept = [text for text in encoded if text in selector.chosen]
    presentation = jwt + "~" + "".join(text + "~" for text in kept)
    if holder_key is None:
        return presentation
    if nonce is None or aud is None or iat is None:
        raise TypeError("key binding needs nonce, aud and iat")
    kb_claims = {"iat": iat, "aud": aud, "nonce": nonce, "sd_hash": sd_hash(presentation)}
    signing_input = _KB_HEADER_B64 + "." + b64url_encode(_compact_json(kb_claims).encode("utf-8"))
    signature = holder_key.sign(signing_input.encode("ascii"))
    return presentation + signing_input + "." + b64url_encode(signature)


def sd_hash(presentation_without_kb: str) -> str:
    """The ``sd_hash`` of a presentation: SHA-256 over its ASCII up to the last ``~``."""
    return b64url_encode(sha256(presentation_without_kb.encode("ascii")))


# --------------------------------------------------------------------------- verifying


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
    jwt, encoded, kb = _split(presentation, limits)  # rule 1
    jws = parse_compact_unverified(jwt, what="issuer-signed JWT")
    verify_parsed(jws, issuer_key, typ=typ, what="issuer-signed JWT")  # rule 2
    payload = jws.payload_json(what="issuer-signed JWT claims")
    disclosures = _index_disclosures(encoded)  # rules 4-5
    claims, used = _process(payload, disclosures, limits)  # rules 3, 6-8
    check_time_claims(claims, now, time_policy, what="credential")  # rule 9
    if typ == SD_JWT_VC_TYP:  # rule 10
        if not isinstance(claims.get("vct"), str):
            raise MalformedInput("an SD-JWT VC must carry a 'vct' string")
        for path, _ in used:
            if len(path) == 1 and path[0] in _NEVER_DISCLOSABLE_IN_VC:
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
    jwt, encoded, _ = _split(sd_jwt, limits)
    payload = loads_object(parse_compact_unverified(jwt).payload, what="issuer-signed JWT claims")
    claims, _ = _process(payload, _index_disclosures(encoded), limits)
    return claims
