"""DID URLs and reading keys out of DID documents (Multikey and JWK)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from identity.crypto.keys import Ed25519PrivateKey
from identity.did.did_key import did_key_from_public_key, resolve_did_key
from identity.did.document import (
    find_verification_method,
    key_agreement_key,
    key_agreement_keys,
    public_key_of,
    signing_key,
    signing_keys,
)
from identity.did.multikey import encode_multikey
from identity.did.url import DidUrl, did_url, parse_did, parse_did_url
from identity.errors import MalformedInput, UnknownKey, UnsupportedAlgorithm

KEY = Ed25519PrivateKey.from_seed(bytes(range(32))).public_key
DID = did_key_from_public_key(KEY)
KID = f"{DID}#{encode_multikey(KEY)}"
XID = f"{DID}#{encode_multikey(KEY.to_x25519())}"
OTHER_DID = did_key_from_public_key(Ed25519PrivateKey.from_seed(bytes(32)).public_key)


# --- DID URLs ------------------------------------------------------------------------------


def test_did_url_splits_into_did_and_fragment() -> None:
    assert parse_did_url(KID) == DidUrl(DID, encode_multikey(KEY))
    assert str(parse_did_url(KID)) == KID
    assert did_url(DID, "key-1") == DID + "#key-1"
    assert parse_did("did:web:example.com:user:alice") == "did:web:example.com:user:alice"
    assert parse_did_url("did:example:a%20b#k").fragment == "k"


@pytest.mark.parametrize(
    "value",
    [
        DID,  # no fragment
        DID + "#",  # empty fragment
        DID + "#a#b",  # two fragments
        DID + "#a b",
        "DID:key:z6Mk#k",  # scheme is lower case
        "did:Key:z6Mk#k",  # so is the method
        "did:key:#k",  # empty method-specific id
        "did:key:abc:#k",  # ends with a colon
        "did:key:abc/path#k",  # no paths
        "did:key:abc?q=1#k",  # no queries
        "did:key:a%2#k",  # broken percent escape
        "did:key:" + "a" * 600 + "#k",  # too long
        42,
        None,
    ],
)
def test_bad_did_urls_are_refused(value: Any) -> None:
    with pytest.raises(MalformedInput):
        parse_did_url(value)


@pytest.mark.parametrize("value", ["did:key", "did::abc", "did:key:abc#k", "did:key:é", ""])
def test_bad_dids_are_refused(value: str) -> None:
    with pytest.raises(MalformedInput):
        parse_did(value)


# --- documents -----------------------------------------------------------------------------


@pytest.fixture(params=["Multikey", "JsonWebKey2020"])
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    return resolve_did_key(DID, public_key_format=request.param)


def test_keys_are_found_in_either_format(document: dict[str, Any]) -> None:
    assert signing_key(document, KID) == KEY
    assert signing_key(document, "#" + encode_multikey(KEY), relationship="authentication") == KEY
    assert signing_keys(document) == {KID: KEY}
    assert key_agreement_key(document) == KEY.to_x25519()
    assert key_agreement_key(document, XID) == KEY.to_x25519()
    assert key_agreement_keys(document) == {XID: KEY.to_x25519()}
    assert find_verification_method(document, XID)["id"] == XID


def test_unknown_keys(document: dict[str, Any]) -> None:
    with pytest.raises(UnknownKey):
        signing_key(document, DID + "#nope")
    with pytest.raises(UnknownKey):  # a key of another DID is not this document's
        signing_key(document, f"{OTHER_DID}#{encode_multikey(KEY)}")
    with pytest.raises(UnknownKey):  # the X25519 key is not an assertion method
        signing_key(document, XID)
    with pytest.raises(UnsupportedAlgorithm):  # and it cannot sign anyway
        signing_key(document, XID, relationship="keyAgreement")
    with pytest.raises(UnknownKey):
        key_agreement_key(document, KID)
    with pytest.raises(MalformedInput):
        signing_key(document, "not a DID URL")


def test_a_document_without_key_agreement_has_no_x25519_key() -> None:
    document = resolve_did_key(DID, derive_key_agreement=False)
    assert key_agreement_keys(document) == {}
    with pytest.raises(UnknownKey):
        key_agreement_key(document)


def test_relationship_must_be_listed() -> None:
    document = resolve_did_key(DID)
    document["assertionMethod"] = []
    with pytest.raises(UnknownKey):
        signing_key(document, KID)
    assert signing_key(document, KID, relationship="capabilityInvocation") == KEY
    with pytest.raises(ValueError):
        signing_key(document, KID, relationship="everything")


def test_embedded_and_relative_methods() -> None:
    # DID Core allows methods embedded in a relationship and ids relative to the DID.
    x_method = find_verification_method(resolve_did_key(DID), XID)
    document = {
        "id": DID,
        "verificationMethod": [{**find_verification_method(resolve_did_key(DID), KID), "id": "#signing"}],
        "assertionMethod": ["#signing"],
        "keyAgreement": [dict(x_method)],
    }
    assert signing_key(document, DID + "#signing") == KEY
    assert key_agreement_key(document) == KEY.to_x25519()


def test_reference_to_a_missing_method() -> None:
    document = resolve_did_key(DID)
    document["assertionMethod"] = [DID + "#gone"]
    with pytest.raises(UnknownKey):
        signing_keys(document)


def test_ambiguous_documents_are_refused() -> None:
    document = resolve_did_key(DID)
    duplicate = copy.deepcopy(document["verificationMethod"][1])
    duplicate["id"] = KID  # same id, different key
    document["verificationMethod"].append(duplicate)
    with pytest.raises(MalformedInput):
        signing_key(document, KID)


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ({"type": "Ed25519VerificationKey2018", "publicKeyBase58": "abc"}, UnsupportedAlgorithm),
        ({"type": "Multikey"}, MalformedInput),
        ({"type": "Multikey", "publicKeyMultibase": "uAAAA"}, MalformedInput),
        ({"type": "JsonWebKey2020"}, MalformedInput),
        ({"type": "JsonWebKey2020", "publicKeyJwk": {"kty": "EC", "crv": "P-256"}}, UnsupportedAlgorithm),
        (
            {"type": "Ed25519VerificationKey2020", "publicKeyMultibase": encode_multikey(KEY.to_x25519())},
            UnsupportedAlgorithm,
        ),
        (
            {
                "type": "Multikey",
                "publicKeyMultibase": encode_multikey(KEY),
                "publicKeyJwk": {"kty": "OKP", "crv": "Ed25519", "x": "AA"},
            },
            MalformedInput,
        ),
        ("not an object", MalformedInput),
    ],
)
def test_bad_verification_methods(method: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        public_key_of(method)


def test_public_key_of_2020_suites() -> None:
    assert (
        public_key_of({"type": "Ed25519VerificationKey2020", "publicKeyMultibase": encode_multikey(KEY)})
        == KEY
    )


@pytest.mark.parametrize("document", [None, [], {"id": "not a did"}, {"no": "id"}])
def test_documents_that_are_not_documents(document: Any) -> None:
    with pytest.raises(MalformedInput):
        signing_keys(document)
    with pytest.raises(MalformedInput):
        find_verification_method(document, KID)


def test_non_list_relationships_are_malformed() -> None:
    document = resolve_did_key(DID)
    document["assertionMethod"] = KID
    with pytest.raises(MalformedInput):
        signing_key(document, KID)
