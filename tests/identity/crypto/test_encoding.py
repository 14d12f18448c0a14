"""Strict base64url / base64 / multibase decoding: one spelling per byte string."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity.crypto.encoding import (
    b64decode_std,
    b64encode_std,
    b64url_decode,
    b64url_encode,
    multibase_b58_decode,
    multibase_b58_encode,
    varint_decode,
    varint_encode,
)
from identity.errors import MalformedInput


@given(st.binary(max_size=200))
def test_base64url_round_trip_matches_stdlib(data: bytes) -> None:
    text = b64url_encode(data)
    assert text == base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    assert b64url_decode(text) == data


@pytest.mark.parametrize(
    "bad",
    ["A", "AB==", "AQ=", "a+bc", "a/bc", "ab c", "AB\nA", "AR", "AAB", "ÄÄÄÄ", "AAAA="],
)
def test_base64url_refuses_non_canonical_spellings(bad: str) -> None:
    with pytest.raises(MalformedInput):
        b64url_decode(bad)


@given(st.binary(min_size=1, max_size=64), st.data())
def test_no_two_base64url_spellings_decode_to_the_same_bytes(data: bytes, draw: st.DataObject) -> None:
    text = b64url_encode(data)
    position = draw.draw(st.integers(0, len(text) - 1))
    replacement = draw.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    )
    changed = text[:position] + replacement + text[position + 1 :]
    if changed != text:
        with contextlib.suppress(MalformedInput):
            assert b64url_decode(changed) != data


@given(st.binary(max_size=100))
def test_standard_base64_round_trip(data: bytes) -> None:
    assert b64decode_std(b64encode_std(data)) == data


def test_standard_base64_refuses_missing_padding_and_stray_bits() -> None:
    for bad in ["AQ", "AR==", "A===", "-_8="]:
        with pytest.raises(MalformedInput):
            b64decode_std(bad)


def test_multibase_base58btc() -> None:
    assert multibase_b58_encode(b"Hello World!") == "z2NEpo7TZRRrLZSi2U"
    assert multibase_b58_encode(b"\x00\x00ab") == "z118Qq"  # each leading zero byte is a "1"
    assert multibase_b58_decode("z118Qq") == b"\x00\x00ab"
    for bad in ["1Cn8", "z0OIl", "z"]:
        with pytest.raises(MalformedInput):
            multibase_b58_decode(bad)


@given(st.integers(0, 2**63 - 1))  # multiformats varints are at most 9 bytes
def test_varint_round_trip(value: int) -> None:
    encoded = varint_encode(value)
    assert varint_decode(encoded + b"\xff") == (value, len(encoded))


def test_multicodec_prefixes_are_the_published_ones() -> None:
    assert varint_encode(0xED) == b"\xed\x01"  # ed25519-pub
    assert varint_encode(0xEC) == b"\xec\x01"  # x25519-pub
    with pytest.raises(MalformedInput):
        varint_decode(b"\x80\x00")  # not minimal
