"""JSON Web Keys for Ed25519 and X25519 (RFC 8037 OKP) and RFC 7638 thumbprints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
    X25519PrivateKey,
    X25519PublicKey,
)
from identity.errors import MalformedInput, UnsupportedAlgorithm

__all__ = [
    "PublicJwkKey",
    "private_key_from_jwk",
    "private_key_to_jwk",
    "public_key_from_jwk",
    "public_key_to_jwk",
    "thumbprint",
    "thumbprint_uri",
]

PublicJwkKey = Ed25519PublicKey | X25519PublicKey

_CURVES: dict[str, type[Ed25519PublicKey] | type[X25519PublicKey]] = {
    "Ed25519": Ed25519PublicKey,
    "X25519": X25519PublicKey,
}


def public_key_to_jwk(key: PublicJwkKey) -> dict[str, str]:
    """The public JWK of ``key`` (RFC 8037 section 2)."""
    crv = "Ed25519" if isinstance(key, Ed25519PublicKey) else "X25519"
    return {"kty": "OKP", "crv": crv, "x": b64url_encode(key.raw)}


def private_key_to_jwk(key: Ed25519PrivateKey | X25519PrivateKey) -> dict[str, str]:
    """The private JWK of ``key``: its public members plus ``d``."""
    if isinstance(key, Ed25519PrivateKey):
        jwk = public_key_to_jwk(key.public_key)
        jwk["d"] = b64url_encode(key.seed)
    else:
        jwk = public_key_to_jwk(key.public_key)
        jwk["d"] = b64url_encode(key.raw)
    return jwk


def _okp_members(jwk: Mapping[str, Any]) -> tuple[str, bytes]:
    # dict first: the ABC check is slow, and JSON always gives a dict.
    if not isinstance(jwk, dict) and not isinstance(jwk, Mapping):
        raise MalformedInput("a JWK must be a JSON object")
    if jwk.get("kty") != "OKP":
        raise UnsupportedAlgorithm(f"JWK key type {jwk.get('kty')!r} is not supported (only OKP)")
    crv = jwk.get("crv")
    if crv not in _CURVES:
        raise UnsupportedAlgorithm(f"JWK curve {crv!r} is not supported (Ed25519 or X25519)")
    x = jwk.get("x")
    if not isinstance(x, str):
        raise MalformedInput("JWK member 'x' is missing or not a string")
    raw = b64url_decode(x, what="JWK member 'x'")
    if len(raw) != 32:
        raise MalformedInput(f"JWK member 'x' must be 32 bytes for {crv}")
    return crv, raw


def public_key_from_jwk(jwk: Mapping[str, Any]) -> PublicJwkKey:
    """Import a public OKP JWK. A private member ``d`` is refused: it does not belong here."""
    crv, raw = _okp_members(jwk)
    if "d" in jwk:
        raise MalformedInput("a public JWK must not contain the private member 'd'")
    return _CURVES[crv](raw)


def private_key_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PrivateKey | X25519PrivateKey:
    """Import a private OKP JWK, checking that ``x`` is the public key of ``d``."""
    crv, raw_x = _okp_members(jwk)
    d = jwk.get("d")
    if not isinstance(d, str):
        raise MalformedInput("private JWK member 'd' is missing or not a string")
    raw_d = b64url_decode(d, what="JWK member 'd'")
    if len(raw_d) != 32:
        raise MalformedInput("JWK member 'd' must be 32 bytes")
    key: Ed25519PrivateKey | X25519PrivateKey = (
        Ed25519PrivateKey.from_seed(raw_d) if crv == "Ed25519" else X25519PrivateKey(raw_d)
    )
    if key.public_key.raw != raw_x:
        raise MalformedInput("JWK members 'x' and 'd' do not belong to the same key")
    return key


def thumbprint(jwk: Mapping[str, Any] | PublicJwkKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) over the required OKP members."""
    if isinstance(jwk, (Ed25519PublicKey, X25519PublicKey)):
        jwk = public_key_to_jwk(jwk)
    crv, raw = _okp_members(jwk)
    required = {"crv": crv, "kty": "OKP", "x": b64url_encode(raw)}
    return b64url_encode(sha256(canonicalize(required)))


def thumbprint_uri(jwk: Mapping[str, Any] | PublicJwkKey) -> str:
    """RFC 9278 thumbprint URI, ``urn:ietf:params:oauth:jwk-thumbprint:sha-256:…``."""
    return "urn:ietf:params:oauth:jwk-thumbprint:sha-256:" + thumbprint(jwk)
