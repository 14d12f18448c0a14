"""Secret-key boxes (XSalsa20-Poly1305) against the NaCl/libsodium vector; tampering and wrong keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.crypto.secretbox import NONCE_BYTES, OVERHEAD_BYTES, open_secret, seal_secret
from identity.errors import AkashiError, InvalidSignature, MalformedInput

VECTOR = json.loads(
    (Path(__file__).parents[2] / "vectors" / "libsodium-secretbox" / "vectors.json").read_text()
)["secretbox_easy_nacl_firstkey"]
KEY = bytes(range(32))


def test_sealed_form_is_nonce_then_libsodium_secretbox_easy_output() -> None:
    key, nonce = bytes.fromhex(VECTOR["key"]), bytes.fromhex(VECTOR["nonce"])
    message = bytes.fromhex(VECTOR["message"])
    sealed = seal_secret(key, message, lambda n: nonce[:n])
    assert sealed == nonce + bytes.fromhex(VECTOR["mac_and_ciphertext"])
    assert open_secret(key, sealed) == message


def test_round_trip_with_a_fresh_nonce_each_time() -> None:
    first, second = seal_secret(KEY, "山田 花子".encode()), seal_secret(KEY, "山田 花子".encode())
    assert first != second and first[:NONCE_BYTES] != second[:NONCE_BYTES]
    assert open_secret(KEY, first) == open_secret(KEY, second) == "山田 花子".encode()
    assert len(first) == len("山田 花子".encode()) + OVERHEAD_BYTES


def test_another_key_or_truncation_is_invalid_never_garbage() -> None:
    sealed = seal_secret(KEY, b"1998-07-15")
    with pytest.raises(InvalidSignature):
        open_secret(bytes(32), sealed)
    for cut in (0, 1, OVERHEAD_BYTES - 1, len(sealed) - 1):
        with pytest.raises(InvalidSignature):
            open_secret(KEY, sealed[:cut])


@pytest.mark.parametrize("key", [b"", bytes(31), bytes(33)])
def test_keys_of_the_wrong_length_are_malformed(key: bytes) -> None:
    with pytest.raises(MalformedInput):
        seal_secret(key, b"x")
    with pytest.raises(MalformedInput):
        open_secret(key, bytes(64))


SEALED = seal_secret(KEY, "東京都千代田区霞が関1-1-1".encode(), lambda n: bytes(n))


@settings(max_examples=200, derandomize=True)
@given(position=st.integers(0, len(SEALED) - 1), flip=st.integers(1, 255))
def test_any_flipped_byte_is_rejected(position: int, flip: int) -> None:
    altered = bytearray(SEALED)
    altered[position] ^= flip
    with pytest.raises(AkashiError) as caught:
        open_secret(KEY, bytes(altered))
    assert isinstance(caught.value, InvalidSignature)
