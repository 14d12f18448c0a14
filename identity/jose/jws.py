"""JWS compact serialisation (RFC 7515) with EdDSA over Ed25519 (RFC 8037) only.

Verification follows RFC 7515 section 5.2, reduced to what akashi accepts:

1. Exactly three base64url segments; the header decodes to a JSON object
   without duplicate names.
2. ``alg`` is ``EdDSA``; ``none`` and everything else are refused.
3. ``crit`` is refused: akashi understands no critical extension.
4. If the caller names a ``typ``, the header carries exactly that ``typ``.
5. The signature is checked over the received ASCII bytes of
   ``header.payload`` — never over a re-serialisation.
6. Only then is the payload decoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey
from identity.crypto.strict_json import loads_object
from identity.errors import InvalidSignature, MalformedInput, UnsupportedAlgorithm

__all__ = [
    "ALG",
    "Jws",
    "JwsVerifier",
    "check_header",
    "parse_compact_unverified",
    "sign_compact",
    "sign_jwt",
    "verify_compact",
    "verify_jwt",
    "verify_parsed",
]

ALG = "EdDSA"


@runtime_checkable
class JwsVerifier(Protocol):
    """A public key that checks signatures of one JWS algorithm.

    akashi's own keys are Ed25519 (``EdDSA``); the protocol exists so that
    tests can check third-party vectors signed with other algorithms without
    akashi accepting those algorithms anywhere by default.
    """

    @property
    def alg(self) -> str: ...

    def verify(self, signature: bytes, message: bytes) -> None: ...


def _as_verifier(
    key: Ed25519PublicKey | JwsVerifier,
) -> tuple[str, Ed25519PublicKey | JwsVerifier]:
    if isinstance(key, Ed25519PublicKey):
        return ALG, key
    return key.alg, key


class Jws(NamedTuple):
    """A parsed compact JWS. ``payload`` is the decoded payload bytes."""

    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes

    def payload_json(self, *, what: str = "JWS payload") -> dict[str, Any]:
        """The payload parsed as a JSON object."""
        return loads_object(self.payload, what=what)


def sign_compact(header: Mapping[str, Any], payload: bytes, key: Ed25519PrivateKey) -> str:
    """Sign ``payload`` with ``key``; ``alg`` is set to ``EdDSA`` whatever ``header`` says."""
    full_header = {**header, "alg": ALG}
    signing_input = b64url_encode(canonicalize(full_header)) + "." + b64url_encode(payload)
    signature = key.sign(signing_input.encode("ascii"))
    return signing_input + "." + b64url_encode(signature)


def sign_jwt(header: Mapping[str, Any], claims: Mapping[str, Any], key: Ed25519PrivateKey) -> str:
    """Sign a JSON claims set (serialised canonically) as a compact JWS."""
    return sign_compact(header, canonicalize(dict(claims)), key)


def parse_compact_unverified(token: str, *, what: str = "JWS") -> Jws:
    """Split and decode a compact JWS without checking its signature (rule 1)."""
    if not isinstance(token, str):
        raise MalformedInput(f"{what} must be a string")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedInput(f"{what} must have exactly three dot-separated parts")
    header_b64, payload_b64, signature_b64 = parts
    header = loads_object(b64url_decode(header_b64, what=f"{what} header"), what=f"{what} header")
    payload = b64url_decode(payload_b64, what=f"{what} payload")
    signature = b64url_decode(signature_b64, what=f"{what} signature")
    signing_input = token[: len(header_b64) + 1 + len(payload_b64)].encode("ascii")
    return Jws(header, payload, signing_input, signature)


def check_header(
    header: Mapping[str, Any], *, typ: str | None, what: str = "JWS", alg: str = ALG
) -> None:
    """Rules 2-4 on a decoded protected header."""
    if header.get("alg") != alg:  # rule 2
        raise UnsupportedAlgorithm(
            f"{what} algorithm {header.get('alg')!r} is not accepted (only {alg})"
        )
    if "crit" in header:  # rule 3
        raise UnsupportedAlgorithm(f"{what} has critical header parameters akashi does not understand")
    if typ is not None and header.get("typ") != typ:  # rule 4
        raise MalformedInput(f"{what} header 'typ' must be {typ!r}, not {header.get('typ')!r}")


def verify_compact(
    token: str, key: Ed25519PublicKey | JwsVerifier, *, typ: str | None = None, what: str = "JWS"
) -> Jws:
    """Verify a compact JWS under ``key`` and return it; raise on any failure."""
    jws = parse_compact_unverified(token, what=what)
    return verify_parsed(jws, key, typ=typ, what=what)


def verify_parsed(
    jws: Jws, key: Ed25519PublicKey | JwsVerifier, *, typ: str | None = None, what: str = "JWS"
) -> Jws:
    """Rules 2-5 on a JWS already split by :func:`parse_compact_unverified`."""
    alg, verifier = _as_verifier(key)
    check_header(jws.header, typ=typ, what=what, alg=alg)
    try:
        verifier.verify(jws.signature, jws.signing_input)  # rule 5
    except InvalidSignature:
        raise InvalidSignature(f"{what} signature is invalid") from None
    return jws


def verify_jwt(
    token: str, key: Ed25519PublicKey | JwsVerifier, *, typ: str | None = None, what: str = "JWT"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a JWT and return ``(header, claims)``. Time claims are the caller's to check
    with :func:`identity.jose.jwt.check_time_claims`."""
    jws = verify_compact(token, key, typ=typ, what=what)
    return jws.header, jws.payload_json(what=f"{what} claims")  # rule 6
