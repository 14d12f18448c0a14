"""Customer-data updates: sign, seal, open, verify; APPI requests; the verifier's ack."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.credentials.consent import consent_digest
from identity.credentials.updates import (
    MAX_SEALED_BYTES,
    CustomerUpdate,
    UpdateAck,
    new_customer_update,
    open_update,
    seal_update,
    sign_update,
    sign_update_ack,
    verify_update,
    verify_update_ack,
)
from identity.crypto.encoding import b64url_encode
from identity.crypto.keys import Ed25519PrivateKey, X25519PrivateKey
from identity.did.did_key import did_key_from_public_key
from identity.errors import (
    AkashiError,
    BindingError,
    ConsentError,
    InvalidSignature,
    MalformedInput,
    ProofMismatch,
    SchemaViolation,
    TimeError,
)
from identity.jose.jws import sign_jwt

HOLDER = Ed25519PrivateKey.from_seed(bytes([1]) * 32)
STRANGER = Ed25519PrivateKey.from_seed(bytes([2]) * 32)
VERIFIER_SIGNING = Ed25519PrivateKey.from_seed(bytes([3]) * 32)
VERIFIER_BOX = X25519PrivateKey(bytes([4]) * 32)
OTHER_BOX = X25519PrivateKey(bytes([5]) * 32)
VERIFIER = "did:akashi:zQmVerifierSharingEconomyKK"
CONSENT = consent_digest("eyJ0eXAiOiJjb25zZW50K2p3dCJ9.e30.c2ln")
NOW = 1_800_000_000
NEW_ADDRESS = {
    "formatted": "大阪府大阪市北区梅田3-1-1",
    "country": "JP",
    "region": "大阪府",
    "locality": "大阪市北区",
    "street_address": "梅田3-1-1",
    "postal_code": "530-0001",
}
ATTESTATION = "eyJhbGciOiJFZERTQSJ9.eyJ4IjoxfQ.c2ln~WyJzYWx0IiwiYWRkcmVzcyIse31d~"


def _update(**overrides: Any) -> CustomerUpdate:
    update = new_customer_update(
        HOLDER.public_key,
        kind="address",
        value=NEW_ADDRESS,
        effective_date=date(2026, 12, 1),
        issued_at=NOW - 5,
        recipient=VERIFIER,
        consent_digest=CONSENT,
        attestation=ATTESTATION,
        random=lambda n: bytes(n),
    )
    return dataclasses.replace(update, **overrides)


def _open(ciphertext: bytes, **kwargs: Any) -> CustomerUpdate:
    args: dict[str, Any] = {"recipient": VERIFIER, "now": NOW, "consent_digest": CONSENT}
    args.update(kwargs)
    return open_update(ciphertext, VERIFIER_BOX, HOLDER.public_key, **args)


def test_address_update_round_trip() -> None:
    token = sign_update(_update(), HOLDER)
    sealed = seal_update(token, VERIFIER_BOX.public_key)
    assert sealed.digest == b64url_encode(hashlib.sha256(sealed.ciphertext).digest())
    assert "梅田".encode() not in sealed.ciphertext
    opened = _open(sealed.ciphertext, expected_digest=sealed.digest)
    assert opened == _update()
    assert opened.holder == did_key_from_public_key(HOLDER.public_key)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("erasure", {"claims": ["verified_claims.claims.address"]}),
        ("stop", {"claims": ["verified_claims.claims.address", "age_over_20"]}),
        ("name", {"family_name": "佐藤", "given_name": "花子"}),
    ],
)
def test_appi_requests_and_name_changes_use_the_same_channel(kind: str, value: Any) -> None:
    update = _update(kind=kind, value=value, attestation=None)
    sealed = seal_update(sign_update(update, HOLDER), VERIFIER_BOX.public_key)
    assert _open(sealed.ciphertext) == update


def _forged(key: Ed25519PrivateKey = HOLDER, typ: str = "update+jwt", **payload: Any) -> bytes:
    body = _update().to_json() | payload
    return seal_update(sign_jwt({"typ": typ}, body, key), VERIFIER_BOX.public_key).ciphertext


# One row per rule of identity.credentials.updates, with the error the verifier must see.
CASES: list[tuple[str, Any, dict[str, Any], type[AkashiError]]] = [
    ("1-too-large", lambda: bytes(MAX_SEALED_BYTES + 1), {}, MalformedInput),
    ("1-digest-mismatch", lambda: _forged(), {"expected_digest": "A" * 43}, ProofMismatch),
    ("2-sealed-to-another-verifier",
     lambda: seal_update(sign_update(_update(), HOLDER), OTHER_BOX.public_key).ciphertext,
     {}, InvalidSignature),
    ("2-not-a-sealed-box", lambda: b"\x00" * 80, {}, InvalidSignature),
    ("3-not-ascii", lambda: VERIFIER_BOX.public_key.seal("住所".encode()), {}, MalformedInput),
    ("3-signed-by-a-stranger", lambda: _forged(STRANGER), {}, InvalidSignature),
    ("3-wrong-typ", lambda: _forged(typ="JWT"), {}, MalformedInput),
    ("4-unknown-kind", lambda: _forged(kind="phone"), {}, SchemaViolation),
    ("4-address-with-a-stray-member", lambda: _forged(value={"city": "x"}), {}, SchemaViolation),
    ("4-erasure-of-nothing", lambda: _forged(kind="erasure", value={"claims": []}), {},
     SchemaViolation),
    ("5-holder-is-another-did",
     lambda: _forged(holder=did_key_from_public_key(STRANGER.public_key)), {}, BindingError),
    ("6-for-another-verifier", lambda: _forged(), {"recipient": "did:akashi:zOther"},
     BindingError),
    ("7-under-another-consent", lambda: _forged(), {"consent_digest": "B" * 43}, ConsentError),
    ("8-issued-in-the-future", lambda: _forged(issued_at=NOW + 3600), {}, TimeError),
]


@pytest.mark.parametrize(("name", "make", "ask", "error"), CASES, ids=[c[0] for c in CASES])
def test_open_rules(name: str, make: Any, ask: dict[str, Any], error: type[AkashiError]) -> None:
    with pytest.raises(error):
        _open(make(), **ask)


def test_signing_refuses_an_update_for_another_holder() -> None:
    with pytest.raises(ValueError):
        sign_update(_update(), STRANGER)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"recipient": "https://verifier.example"}, "/recipient"),
        ({"consent_digest": "short"}, "/consent_digest"),
        ({"attestation": "not an sd-jwt"}, "/attestation"),
        ({"value": {**NEW_ADDRESS, "postal_code": ""}}, "/value/postal_code"),
    ],
)
def test_schema_violations_name_the_field(change: dict[str, Any], path: str) -> None:
    with pytest.raises(SchemaViolation) as info:
        sign_update(_update(**change), HOLDER)
    assert info.value.path == path


@settings(max_examples=150, derandomize=True, deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 255))
def test_any_flipped_ciphertext_byte_is_rejected(position: int, mask: int) -> None:
    sealed = seal_update(sign_update(_update(), HOLDER), VERIFIER_BOX.public_key)
    data = bytearray(sealed.ciphertext)
    data[position % len(data)] ^= mask
    with pytest.raises(AkashiError):
        _open(bytes(data))


@settings(max_examples=150, derandomize=True, deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 255))
def test_any_flipped_token_byte_is_rejected(position: int, mask: int) -> None:
    token = bytearray(sign_update(_update(), HOLDER).encode("ascii"))
    token[position % len(token)] ^= mask
    with pytest.raises(AkashiError):
        verify_update(token.decode("latin-1"), HOLDER.public_key, recipient=VERIFIER, now=NOW)


# --- acknowledgements ---------------------------------------------------------------


def _ack(**overrides: Any) -> UpdateAck:
    ack = UpdateAck(
        update_id=_update().update_id,
        ciphertext_digest="C" * 43,
        status="applied",
        verifier=VERIFIER,
        holder=_update().holder,
        acked_at=NOW,
    )
    return dataclasses.replace(ack, **overrides)


def test_ack_round_trip() -> None:
    for ack in (_ack(), _ack(status="rejected", reason="verification-failed")):
        token = sign_update_ack(ack, VERIFIER_SIGNING)
        assert verify_update_ack(
            token, VERIFIER_SIGNING.public_key, now=NOW, verifier=VERIFIER,
            update_id=ack.update_id, ciphertext_digest="C" * 43,
        ) == ack


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"status": "rejected"}, "/"),  # a rejection must say why
        ({"status": "rejected", "reason": "山田さんは退会済み"}, "/reason"),  # codes only
        ({"status": "maybe"}, "/status"),
    ],
)
def test_ack_schema(change: dict[str, Any], path: str) -> None:
    with pytest.raises(SchemaViolation) as info:
        sign_update_ack(_ack(**change), VERIFIER_SIGNING)
    assert info.value.path == path


@pytest.mark.parametrize(
    ("ask", "error"),
    [
        ({"verifier": "did:akashi:zOther"}, BindingError),
        ({"update_id": "D" * 22}, BindingError),
        ({"ciphertext_digest": "D" * 43}, BindingError),
        ({"now": NOW - 3600}, TimeError),
    ],
)
def test_ack_checks(ask: dict[str, Any], error: type[AkashiError]) -> None:
    token = sign_update_ack(_ack(), VERIFIER_SIGNING)
    kwargs: dict[str, Any] = {"now": NOW} | ask
    with pytest.raises(error):
        verify_update_ack(token, VERIFIER_SIGNING.public_key, **kwargs)


def test_ack_signed_by_another_key_is_refused() -> None:
    with pytest.raises(InvalidSignature):
        verify_update_ack(sign_update_ack(_ack(), STRANGER), VERIFIER_SIGNING.public_key, now=NOW)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 255))
def test_any_flipped_ack_byte_is_rejected(position: int, mask: int) -> None:
    token = bytearray(sign_update_ack(_ack(), VERIFIER_SIGNING).encode("ascii"))
    token[position % len(token)] ^= mask
    with pytest.raises(AkashiError):
        verify_update_ack(token.decode("latin-1"), VERIFIER_SIGNING.public_key, now=NOW)
