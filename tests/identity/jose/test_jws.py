"""Compact JWS with EdDSA: RFC 8037 A.4/A.5, and the checks of RFC 7515 section 5.2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.crypto.encoding import b64url_encode
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import AkashiError, InvalidSignature, MalformedInput, UnsupportedAlgorithm
from identity.jose.jwk import private_key_from_jwk
from identity.jose.jws import sign_compact, sign_jwt, verify_compact, verify_jwt

RFC8037 = json.loads((Path(__file__).parents[2] / "vectors" / "rfc8037" / "okp-ed25519.json").read_text())
KEY = private_key_from_jwk(RFC8037["private_jwk"])
assert isinstance(KEY, Ed25519PrivateKey)


def _raw_token(header: dict[str, object], payload: bytes, key: Ed25519PrivateKey = KEY) -> str:
    signing_input = b64url_encode(json.dumps(header).encode()) + "." + b64url_encode(payload)
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode()))


def test_rfc8037_example_verifies_and_is_reproduced() -> None:
    jws = verify_compact(RFC8037["jws"], KEY.public_key)
    assert jws.payload == RFC8037["payload"].encode()
    # Ed25519 is deterministic: signing the same input gives the RFC's exact token.
    assert sign_compact({}, RFC8037["payload"].encode(), KEY) == RFC8037["jws"]


def test_jwt_round_trip_and_typ_check() -> None:
    token = sign_jwt({"typ": "consent+jwt"}, {"sub": "did:key:z6Mk", "n": 1}, KEY)
    header, claims = verify_jwt(token, KEY.public_key, typ="consent+jwt")
    assert header == {"alg": "EdDSA", "typ": "consent+jwt"}
    assert claims == {"sub": "did:key:z6Mk", "n": 1}
    with pytest.raises(MalformedInput, match="typ"):
        verify_jwt(token, KEY.public_key, typ="kb+jwt")


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ({"alg": "none"}, UnsupportedAlgorithm),
        ({"alg": "ES256"}, UnsupportedAlgorithm),
        ({"alg": "HS256"}, UnsupportedAlgorithm),
        ({}, UnsupportedAlgorithm),
        ({"alg": "EdDSA", "crit": ["exp"], "exp": 1}, UnsupportedAlgorithm),
    ],
)
def test_refused_headers(header: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        verify_compact(_raw_token(header, b"{}"), KEY.public_key)


def test_alg_none_with_empty_signature_is_refused() -> None:
    token = b64url_encode(b'{"alg":"none"}') + "." + b64url_encode(b"{}") + "."
    with pytest.raises(UnsupportedAlgorithm):
        verify_compact(token, KEY.public_key)


def test_duplicate_header_members_are_refused() -> None:
    header = b'{"alg":"EdDSA","alg":"none"}'
    signing_input = b64url_encode(header) + "." + b64url_encode(b"{}")
    token = signing_input + "." + b64url_encode(KEY.sign(signing_input.encode()))
    with pytest.raises(MalformedInput, match="more than once"):
        verify_compact(token, KEY.public_key)


def test_other_key_and_structure_errors() -> None:
    other = Ed25519PrivateKey.from_seed(bytes(32))
    with pytest.raises(InvalidSignature):
        verify_compact(RFC8037["jws"], other.public_key)
    for bad in ["", "a.b", "a.b.c.d", RFC8037["jws"] + "."]:
        with pytest.raises(MalformedInput):
            verify_compact(bad, KEY.public_key)


@settings(max_examples=300)
@given(st.data())
def test_any_flipped_byte_is_rejected(data: st.DataObject) -> None:
    token = RFC8037["jws"].encode()
    position = data.draw(st.integers(0, len(token) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = bytearray(token)
    changed[position] ^= flip
    with pytest.raises(AkashiError):
        verify_compact(changed.decode("latin-1"), KEY.public_key)
