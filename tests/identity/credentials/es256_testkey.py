"""A test-only ES256 (ECDSA P-256 / SHA-256) verifier for third-party SD-JWT vectors.

akashi itself signs and accepts only EdDSA. The public SD-JWT examples (RFC 9901)
are signed with ES256, so the tests pass this object as a
:class:`identity.jose.jws.JwsVerifier`. It uses ``cryptography``, which is only
installed as a dependency of the test tools: nothing under ``identity/`` imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature as _CryptographyInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from identity.crypto.encoding import b64url_decode
from identity.errors import InvalidSignature

_COORDINATE_LEN = 32


@dataclass(frozen=True)
class Es256Verifier:
    """Checks JWS ES256 signatures (raw ``r || s``, RFC 7518 section 3.4) under one P-256 key."""

    key: ec.EllipticCurvePublicKey
    alg: str = "ES256"

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> Es256Verifier:
        """The verifier for a public EC JWK on P-256."""
        if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            raise ValueError("an ES256 key is an EC JWK on P-256")
        x = int.from_bytes(b64url_decode(jwk["x"]), "big")
        y = int.from_bytes(b64url_decode(jwk["y"]), "big")
        return cls(ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key())

    def verify(self, signature: bytes, message: bytes) -> None:
        """Return if ``signature`` is valid over ``message``; raise akashi's InvalidSignature."""
        if len(signature) != 2 * _COORDINATE_LEN:
            raise InvalidSignature("signature is invalid")
        r = int.from_bytes(signature[:_COORDINATE_LEN], "big")
        s = int.from_bytes(signature[_COORDINATE_LEN:], "big")
        try:
            self.key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
        except _CryptographyInvalidSignature as exc:
            raise InvalidSignature("signature is invalid") from exc
