"""Ledger entry envelopes: signing, shape, verification, leaf bytes, byte flips."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey
from identity.errors import (
    AkashiError,
    InvalidSignature,
    MalformedInput,
    SchemaViolation,
    UnknownKey,
)
from identity.ledger.envelope import (
    ENTRY_TYPES,
    entry_bytes,
    entry_digest,
    parse_entry,
    parse_envelope,
    sign_envelope,
    signing_input,
    split_signer,
    verify_envelope,
)
from identity.ledger.merkle import leaf_hash
from identity.schemas import SPECS_DIR, validate

KEY = Ed25519PrivateKey.from_seed(b"\x50" * 32)
OTHER = Ed25519PrivateKey.from_seed(b"\x51" * 32)
SIGNER = "did:akashi:QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG#key-1"
BODY = {"issuer": "did:akashi:QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "jwt_sha256": "ab" * 32,
        "vct": "urn:akashi:kyc:1", "n": 3}
ENVELOPE = sign_envelope("attestation.anchor", BODY, SIGNER, KEY)
KEYS = {SIGNER: KEY.public_key}


def test_sign_then_verify() -> None:
    assert ENVELOPE["v"] == 1 and ENVELOPE["type"] == "attestation.anchor"
    assert ENVELOPE["signer"] == SIGNER and ENVELOPE["body"] == BODY
    assert verify_envelope(ENVELOPE, KEY.public_key) == ENVELOPE
    assert verify_envelope(ENVELOPE, KEYS) == ENVELOPE
    assert verify_envelope(ENVELOPE, lambda signer: KEYS[signer]) == ENVELOPE
    assert verify_envelope(json.dumps(ENVELOPE), KEYS) == ENVELOPE  # any JSON spelling


def test_signature_covers_everything_but_sig() -> None:
    expected = canonicalize({"v": 1, "type": "attestation.anchor", "body": BODY, "signer": SIGNER})
    assert signing_input(ENVELOPE) == expected
    KEY.public_key.verify(b64url_decode(ENVELOPE["sig"]), expected)


def test_leaf_bytes_are_the_jcs_of_the_whole_envelope() -> None:
    data = entry_bytes(ENVELOPE)
    assert data == canonicalize(dict(ENVELOPE))
    assert data.startswith(b'{"body":{')
    assert entry_digest(ENVELOPE) == sha256(data)
    assert parse_entry(data) == ENVELOPE
    assert leaf_hash(data) == sha256(b"\x00" + data)


def test_leaf_bytes_must_be_canonical() -> None:
    with pytest.raises(MalformedInput):
        parse_entry(json.dumps(ENVELOPE).encode())
    with pytest.raises(MalformedInput):
        parse_entry(entry_bytes(ENVELOPE) + b"\n")


def test_wrong_key_or_unknown_signer() -> None:
    with pytest.raises(InvalidSignature):
        verify_envelope(ENVELOPE, OTHER.public_key)
    with pytest.raises(UnknownKey):
        verify_envelope(ENVELOPE, {})

    def resolver(signer: str) -> Ed25519PublicKey:
        raise UnknownKey(f"no key for {signer}")

    with pytest.raises(UnknownKey):
        verify_envelope(ENVELOPE, resolver)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e.update(v=2), "/v"),
        (lambda e: e.update(type="did.explode"), "/type"),
        (lambda e: e.update(body=[1]), "/body"),
        (lambda e: e.update(signer="did:akashi:Qm123"), "/signer"),  # no key fragment
        (lambda e: e.update(signer="https://example.com#k"), "/signer"),
        (lambda e: e.update(sig=e["sig"] + "A"), "/sig"),
        (lambda e: e.update(sig=e["sig"].replace(e["sig"][0], "+")), "/sig"),
        (lambda e: e.update(extra=1), "/"),
        (lambda e: e.pop("sig"), "/"),
    ],
)
def test_bad_shapes_fail_naming_the_field(change: Any, field: str) -> None:
    bad = dict(ENVELOPE)
    change(bad)
    with pytest.raises(SchemaViolation) as info:
        parse_envelope(bad)
    assert info.value.path == field
    with pytest.raises(SchemaViolation):
        verify_envelope(json.dumps(bad), KEY.public_key)


def test_our_output_validates_against_the_schema() -> None:
    for entry_type in sorted(ENTRY_TYPES):
        envelope = sign_envelope(entry_type, {}, SIGNER, KEY)
        validate(envelope, "ledger-envelope")
    multikey = "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    did_key = f"did:key:{multikey}#{multikey}"
    verify_envelope(sign_envelope("consent.grant", {"x": "y"}, did_key, KEY), KEY.public_key)


def test_entry_types_match_the_schema() -> None:
    schema = json.loads((SPECS_DIR / "ledger-envelope.schema.json").read_text())
    assert set(schema["properties"]["type"]["enum"]) == ENTRY_TYPES


def test_sign_refuses_what_readers_would_refuse() -> None:
    with pytest.raises(SchemaViolation):
        sign_envelope("no.such.type", {}, SIGNER, KEY)
    with pytest.raises(SchemaViolation):
        sign_envelope("did.create", {}, "not a did", KEY)
    with pytest.raises(MalformedInput):
        sign_envelope("did.create", {"n": 2**60 + 1}, SIGNER, KEY)  # not I-JSON


def test_malformed_text_and_limits() -> None:
    for text in ["", "[]", "{", '{"v":1,"v":1}', "NaN"]:
        with pytest.raises(MalformedInput):
            verify_envelope(text, KEYS)
    with pytest.raises(MalformedInput):
        parse_envelope(entry_bytes(ENVELOPE), max_bytes=10)
    short_sig = dict(ENVELOPE, sig=b64url_encode(bytes(63)) + "AAA")
    with pytest.raises(MalformedInput):
        parse_envelope(short_sig)


def test_split_signer() -> None:
    assert split_signer(SIGNER) == (SIGNER.split("#")[0], "key-1")
    for bad in ["did:x:y", "#k", "did:x:y#"]:
        with pytest.raises(MalformedInput):
            split_signer(bad)


LEAF = entry_bytes(ENVELOPE)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(at=st.integers(0, len(LEAF) - 1), bit=st.integers(0, 7), by_key=st.booleans())
def test_any_flipped_byte_is_rejected(at: int, bit: int, by_key: bool) -> None:
    flipped = bytearray(LEAF)
    flipped[at] ^= 1 << bit
    key: Any = KEY.public_key if by_key else KEYS
    with pytest.raises(AkashiError) as info:
        verify_envelope(parse_entry(bytes(flipped)), key)
    assert isinstance(info.value, (MalformedInput, InvalidSignature, UnknownKey))
