"""OKP JWKs (RFC 8037) and thumbprints (RFC 7638) against RFC 8037 Appendix A."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from identity.crypto.keys import Ed25519PrivateKey, X25519PrivateKey
from identity.errors import MalformedInput, UnsupportedAlgorithm
from identity.jose.jwk import (
    private_key_from_jwk,
    private_key_to_jwk,
    public_key_from_jwk,
    public_key_to_jwk,
    thumbprint,
    thumbprint_uri,
)

RFC8037 = json.loads((Path(__file__).parents[2] / "vectors" / "rfc8037" / "okp-ed25519.json").read_text())


def test_rfc8037_private_and_public_jwk_round_trip() -> None:
    key = private_key_from_jwk(RFC8037["private_jwk"])
    assert isinstance(key, Ed25519PrivateKey)
    assert private_key_to_jwk(key) == RFC8037["private_jwk"]
    assert public_key_to_jwk(key.public_key) == RFC8037["public_jwk"]
    assert public_key_from_jwk(RFC8037["public_jwk"]) == key.public_key


def test_rfc8037_thumbprint() -> None:
    assert thumbprint(RFC8037["public_jwk"]) == RFC8037["thumbprint"]
    # Members beyond the required ones do not change the thumbprint (RFC 7638 section 3.2).
    assert thumbprint({**RFC8037["public_jwk"], "kid": "anything", "use": "sig"}) == RFC8037["thumbprint"]
    assert thumbprint_uri(RFC8037["public_jwk"]).endswith(":sha-256:" + RFC8037["thumbprint"])


def test_x25519_jwk_round_trip() -> None:
    key = X25519PrivateKey(bytes(range(32)))
    assert private_key_from_jwk(private_key_to_jwk(key)) == key
    assert public_key_from_jwk(public_key_to_jwk(key.public_key)) == key.public_key


@pytest.mark.parametrize(
    ("jwk", "error"),
    [
        ({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}, UnsupportedAlgorithm),
        ({"kty": "OKP", "crv": "Ed448", "x": "AA"}, UnsupportedAlgorithm),
        ({"kty": "OKP", "crv": "Ed25519"}, MalformedInput),
        ({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}, MalformedInput),
        (
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
            MalformedInput,
        ),
        ("not a jwk", MalformedInput),
    ],
)
def test_bad_public_jwks_are_refused(jwk: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        public_key_from_jwk(jwk)  # type: ignore[arg-type]


def test_a_public_jwk_with_a_private_part_is_refused() -> None:
    with pytest.raises(MalformedInput, match="'d'"):
        public_key_from_jwk(RFC8037["private_jwk"])


def test_a_private_jwk_whose_x_is_another_key_is_refused() -> None:
    other = public_key_to_jwk(Ed25519PrivateKey.from_seed(bytes(32)).public_key)
    with pytest.raises(MalformedInput, match="same key"):
        private_key_from_jwk({**RFC8037["private_jwk"], "x": other["x"]})
