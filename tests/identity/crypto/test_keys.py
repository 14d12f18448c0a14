"""Ed25519 and X25519 keys against RFC 8032 / RFC 7748 vectors; sealed boxes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey, X25519PrivateKey
from identity.errors import InvalidSignature, MalformedInput

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "rfc8032-rfc7748" / "vectors.json").read_text())


def test_ed25519_rfc8032_test_1() -> None:
    case = VECTORS["ed25519_rfc8032_test1"]
    key = Ed25519PrivateKey.from_seed(bytes.fromhex(case["secret"]))
    assert key.public_key.raw.hex() == case["public"]
    signature = key.sign(bytes.fromhex(case["message"]))
    assert signature.hex() == case["signature"]
    Ed25519PublicKey(bytes.fromhex(case["public"])).verify(signature, b"")


def test_ed25519_rejects_other_messages_keys_and_short_signatures() -> None:
    key = Ed25519PrivateKey.from_seed(bytes(32))
    other = Ed25519PrivateKey.from_seed(bytes([1]) * 32)
    signature = key.sign(b"consent")
    with pytest.raises(InvalidSignature):
        key.public_key.verify(signature, b"consenT")
    with pytest.raises(InvalidSignature):
        other.public_key.verify(signature, b"consent")
    with pytest.raises(InvalidSignature):
        key.public_key.verify(signature[:63], b"consent")


def test_x25519_rfc7748_key_pairs() -> None:
    case = VECTORS["x25519_rfc7748_6_1"]
    for who in ("alice", "bob"):
        private = X25519PrivateKey(bytes.fromhex(case[f"{who}_private"]))
        assert private.public_key.raw.hex() == case[f"{who}_public"]


def test_sealed_box_opens_only_for_its_recipient_and_detects_tampering() -> None:
    recipient = X25519PrivateKey(bytes(range(32)))
    stranger = X25519PrivateKey(bytes(range(1, 33)))
    box = recipient.public_key.seal("大阪府大阪市北区中之島1-3-20".encode())
    assert recipient.unseal(box).decode() == "大阪府大阪市北区中之島1-3-20"
    with pytest.raises(InvalidSignature):
        stranger.unseal(box)
    with pytest.raises(InvalidSignature):
        recipient.unseal(box[:-1] + bytes([box[-1] ^ 1]))


def test_ed25519_to_x25519_conversion_agrees_on_both_sides() -> None:
    signing = Ed25519PrivateKey.from_seed(bytes([7]) * 32)
    assert signing.to_x25519().public_key == signing.public_key.to_x25519()


def test_wrong_key_lengths_are_malformed_and_secrets_are_not_printed() -> None:
    with pytest.raises(MalformedInput):
        Ed25519PublicKey(b"short")
    with pytest.raises(MalformedInput):
        Ed25519PrivateKey.from_seed(b"short")
    key = Ed25519PrivateKey.from_seed(bytes([9]) * 32)
    assert (bytes([9]) * 32).hex() not in repr(key)
    assert "09090909" not in repr(key.to_x25519())
