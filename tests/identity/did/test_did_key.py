"""did:key (Ed25519): the w3c-ccg vectors, strict parsing, DID documents, multikeys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.crypto.encoding import multibase_b58_decode, multibase_b58_encode, varint_encode
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey, X25519PublicKey
from identity.did.did_key import (
    did_key_from_public_key,
    public_key_from_did_key,
    resolve_did_key,
)
from identity.did.document import key_agreement_key, signing_key
from identity.did.multikey import decode_multikey, encode_multikey
from identity.errors import AkashiError, MalformedInput, UnsupportedAlgorithm
from identity.schemas import validate

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "vectors" / "did-key" / "ed25519-x25519.json").read_text()
)
SPEC_EXAMPLE = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"


def _b58(text: str) -> bytes:
    return multibase_b58_decode("z" + text)


@pytest.mark.parametrize("did", sorted(VECTORS))
def test_vector_keys(did: str) -> None:
    case = VECTORS[did]
    key = Ed25519PrivateKey.from_seed(bytes.fromhex(case["seed"])).public_key
    assert did_key_from_public_key(key) == did
    assert public_key_from_did_key(did) == key
    x25519_id = case["keyAgreementKeyPair"]["id"].rsplit("#", 1)[1]
    assert encode_multikey(key.to_x25519()) == x25519_id
    document = resolve_did_key(did)
    assert key_agreement_key(document) == key.to_x25519()
    assert signing_key(document, did + "#" + did.split(":")[2]) == key


def _material(method: dict[str, Any]) -> tuple[str, bytes]:
    """(curve, raw key) of a vector's or our verification method, whatever its format."""
    if "publicKeyBase58" in method:  # the vectors' 2018/2019 suites
        curve = "Ed25519" if method["type"].startswith("Ed25519") else "X25519"
        return curve, _b58(method["publicKeyBase58"])
    key = decode_multikey(method["publicKeyMultibase"])
    return ("Ed25519" if isinstance(key, Ed25519PublicKey) else "X25519"), key.raw


def _shape(document: dict[str, Any]) -> dict[str, Any]:
    """The document with each method's type and key format replaced by (curve, raw key)."""
    shape = {k: v for k, v in document.items() if k != "@context"}
    shape["verificationMethod"] = [
        {"id": m["id"], "controller": m["controller"], "key": _material(m)}
        for m in document["verificationMethod"]
    ]
    return shape


@pytest.mark.parametrize("did", sorted(VECTORS))
def test_vector_documents(did: str) -> None:
    expected = VECTORS[did]["didDocument"]
    if expected["verificationMethod"][0]["type"] == "JsonWebKey2020":
        # A format the current text still lists: the document matches exactly.
        assert resolve_did_key(did, public_key_format="JsonWebKey2020") == expected
    else:
        # Ed25519VerificationKey2018 is gone from the current text: same ids,
        # relationships and key bytes, in Multikey form.
        assert _shape(resolve_did_key(did)) == _shape(expected)


def test_multikey_document_is_what_the_spec_describes() -> None:
    document = resolve_did_key(SPEC_EXAMPLE)
    validate(document, "did-document")
    vm_id = SPEC_EXAMPLE + "#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    x_id = SPEC_EXAMPLE + "#z6LSj72tK8brWgZja8NLRwPigth2T9QRiG1uH9oKZuKjdh9p"
    assert document["@context"] == [
        "https://www.w3.org/ns/did/v1",
        "https://w3id.org/security/multikey/v1",
    ]
    assert [m["id"] for m in document["verificationMethod"]] == [vm_id, x_id]
    assert document["verificationMethod"][0]["type"] == "Multikey"
    assert document["verificationMethod"][0]["publicKeyMultibase"] == vm_id.split("#")[1]
    for relationship in (
        "authentication",
        "assertionMethod",
        "capabilityInvocation",
        "capabilityDelegation",
    ):
        assert document[relationship] == [vm_id]
    assert document["keyAgreement"] == [x_id]


def test_key_agreement_derivation_can_be_turned_off() -> None:
    document = resolve_did_key(SPEC_EXAMPLE, derive_key_agreement=False)
    assert "keyAgreement" not in document
    assert len(document["verificationMethod"]) == 1
    validate(document, "did-document")


def test_jwk_document_validates() -> None:
    validate(resolve_did_key(SPEC_EXAMPLE, public_key_format="JsonWebKey2020"), "did-document")


def test_document_schema_names_the_bad_field() -> None:
    document = resolve_did_key(SPEC_EXAMPLE)
    document["verificationMethod"][0]["type"] = "Ed25519VerificationKey2018"
    with pytest.raises(AkashiError) as info:
        validate(document, "did-document")
    assert "/verificationMethod/0/type" in str(info.value)


_ED = public_key_from_did_key(SPEC_EXAMPLE)
_X = _ED.to_x25519()


def _mb(codec: int, raw: bytes) -> str:
    return multibase_b58_encode(varint_encode(codec) + raw)


BAD_DIDS = [
    ("not a string", b"did:key:z6Mk", MalformedInput),
    ("another method", "did:web:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", MalformedInput),
    ("no multibase prefix", "did:key:6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", MalformedInput),
    ("base64 multibase", "did:key:m7QEbD3k", MalformedInput),
    ("version segment", "did:key:1:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", MalformedInput),
    ("fragment", SPEC_EXAMPLE + "#z6Mk", MalformedInput),
    ("not base58", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do0", MalformedInput),
    ("x25519 key", "did:key:" + _mb(0xEC, _X.raw), UnsupportedAlgorithm),
    ("secp256k1 codec", "did:key:" + _mb(0xE7, b"\x02" + bytes(32)), UnsupportedAlgorithm),
    ("key too short", "did:key:" + _mb(0xED, _ED.raw[:31]), MalformedInput),
    ("key too long", "did:key:" + _mb(0xED, _ED.raw + b"\x00"), MalformedInput),
    ("non-minimal varint", "did:key:" + multibase_b58_encode(b"\xed\x81\x00" + _ED.raw), MalformedInput),
    ("small-order point", "did:key:" + _mb(0xED, b"\x01" + bytes(31)), MalformedInput),
    ("huge value", "did:key:z" + "2" * 5000, MalformedInput),
    ("empty", "", MalformedInput),
]


@pytest.mark.parametrize(("did", "error"), [pytest.param(d, e, id=name) for name, d, e in BAD_DIDS])
def test_bad_did_key_is_refused(did: Any, error: type[AkashiError]) -> None:
    with pytest.raises(error):
        public_key_from_did_key(did)
    with pytest.raises(error):
        resolve_did_key(did)


def test_only_ed25519_keys_make_a_did_key() -> None:
    with pytest.raises(TypeError):
        did_key_from_public_key(_X)  # type: ignore[arg-type]


def test_multikeys_round_trip_both_curves() -> None:
    assert decode_multikey(encode_multikey(_ED)) == _ED
    assert decode_multikey(encode_multikey(_X)) == _X
    assert isinstance(decode_multikey(encode_multikey(_X)), X25519PublicKey)
    assert encode_multikey(_X).startswith("z6LS")


@settings(max_examples=50, derandomize=True, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_round_trip(seed: bytes) -> None:
    key = Ed25519PrivateKey.from_seed(seed).public_key
    did = did_key_from_public_key(key)
    assert did.startswith("did:key:z6Mk")
    assert public_key_from_did_key(did) == key


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.integers(min_value=0, max_value=len(SPEC_EXAMPLE) - 1), st.characters(codec="ascii"))
def test_any_changed_character_is_refused_or_names_another_key(position: int, char: str) -> None:
    changed = SPEC_EXAMPLE[:position] + char + SPEC_EXAMPLE[position + 1 :]
    try:
        key = public_key_from_did_key(changed)
    except AkashiError:
        return
    # Accepted only if it is the canonical did:key of a different key.
    assert changed == SPEC_EXAMPLE or (key != _ED and did_key_from_public_key(key) == changed)
