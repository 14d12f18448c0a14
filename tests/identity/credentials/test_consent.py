"""Consent receipts: signing, the verification rules as a scenario table, ledger digest."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.credentials.consent import (
    ConsentReceipt,
    consent_digest,
    consent_grant_body,
    new_consent_receipt,
    sign_consent_receipt,
    verify_consent_receipt,
)
from identity.crypto.encoding import b64url_encode
from identity.crypto.keys import Ed25519PrivateKey
from identity.did.did_key import did_key_from_public_key
from identity.errors import (
    AkashiError,
    BindingError,
    ConsentError,
    Expired,
    InvalidSignature,
    MalformedInput,
    SchemaViolation,
    TimeError,
)
from identity.jose.jws import parse_compact_unverified, sign_jwt

HOLDER = Ed25519PrivateKey.from_seed(bytes([1]) * 32)
STRANGER = Ed25519PrivateKey.from_seed(bytes([2]) * 32)
VERIFIER = "did:akashi:zQmVerifierSharingEconomyKK"
NOW = 1_800_000_000
DAY = 86_400


def _counter() -> Any:
    counter = itertools.count()
    return lambda n: bytes([next(counter) % 256]) * n


def _receipt(**overrides: Any) -> ConsentReceipt:
    receipt = new_consent_receipt(
        HOLDER.public_key,
        verifier=VERIFIER,
        purpose_id="kyc/account-opening",
        purpose="カーシェア会員登録の本人確認",
        claims=["verified_claims.claims.family_name", "verified_claims.claims.address", "age_over_20"],
        granted_at=NOW - 10,
        expires_at=NOW + 365 * DAY,
        updates_allowed=True,
        nonce="n-0S6_WzA2Mj",
        random=_counter(),
    )
    return dataclasses.replace(receipt, **overrides)


def _token(**overrides: Any) -> str:
    return sign_consent_receipt(_receipt(**overrides), HOLDER)


def test_round_trip() -> None:
    token = _token()
    receipt = verify_consent_receipt(
        token, HOLDER.public_key, now=NOW, verifier=VERIFIER, purpose="kyc/account-opening",
        nonce="n-0S6_WzA2Mj", claims=["age_over_20"],
    )
    assert receipt == _receipt()
    assert receipt.holder == did_key_from_public_key(HOLDER.public_key)
    assert receipt.receipt_id == b64url_encode(bytes(16))
    header = parse_compact_unverified(token).header
    assert header == {"alg": "EdDSA", "typ": "consent+jwt", "kid": receipt.holder + "#"
                      + receipt.holder.removeprefix("did:key:")}
    assert receipt.active_at(NOW) and not receipt.active_at(NOW + 366 * DAY)
    assert receipt.covers(["age_over_20"]) and not receipt.covers(["birthdate"])


def test_receipt_ids_come_from_the_random_source() -> None:
    assert _receipt().receipt_id != new_consent_receipt(
        HOLDER.public_key, verifier=VERIFIER, purpose_id="p", purpose="p", claims=["a"],
        granted_at=NOW, expires_at=NOW + 1, updates_allowed=False,
    ).receipt_id


# One row per rule of identity.credentials.consent, with the error a verifier must see.
CASES: list[tuple[str, dict[str, Any], dict[str, Any], type[AkashiError]]] = [
    ("1-signed-by-a-stranger", {"key": STRANGER}, {}, InvalidSignature),
    ("1-wrong-typ", {"typ": "JWT"}, {}, MalformedInput),
    ("2-unknown-member", {"extra": {"name": "山田"}}, {}, SchemaViolation),
    ("3-holder-is-another-did", {"holder_of": STRANGER}, {}, BindingError),
    ("4-expired", {}, {"now": NOW + 366 * DAY}, Expired),
    ("4-granted-in-the-future", {"receipt": {"granted_at": NOW + 3600}}, {}, TimeError),
    ("4-expires-before-granted", {"receipt": {"expires_at": NOW - 20}}, {}, MalformedInput),
    ("5-another-verifier", {}, {"verifier": "did:akashi:zOther"}, BindingError),
    ("6-another-nonce", {}, {"nonce": "replayed"}, BindingError),
    ("7-another-purpose", {}, {"purpose": "marketing"}, ConsentError),
    ("8-claim-not-consented", {}, {"claims": ["age_over_20", "birthdate"]}, ConsentError),
]


def _forge(key: Ed25519PrivateKey, typ: str, extra: dict[str, Any],
           holder_of: Ed25519PrivateKey | None, receipt: dict[str, Any]) -> str:
    payload = dataclasses.replace(_receipt(), **receipt).to_json() | extra
    if holder_of is not None:
        payload["holder"] = did_key_from_public_key(holder_of.public_key)
    return sign_jwt({"typ": typ}, payload, key)


@pytest.mark.parametrize(("name", "forge", "ask", "error"), CASES, ids=[c[0] for c in CASES])
def test_verification_rules(
    name: str, forge: dict[str, Any], ask: dict[str, Any], error: type[AkashiError]
) -> None:
    token = _forge(
        forge.get("key", HOLDER), forge.get("typ", "consent+jwt"), forge.get("extra", {}),
        forge.get("holder_of"), forge.get("receipt", {}),
    )
    kwargs: dict[str, Any] = {"now": NOW} | ask
    with pytest.raises(error):
        verify_consent_receipt(token, HOLDER.public_key, **kwargs)


def test_signing_refuses_a_receipt_for_another_holder() -> None:
    with pytest.raises(ValueError):
        sign_consent_receipt(_receipt(), STRANGER)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"verifier": "not a did"}, "/verifier"),
        ({"claims": ()}, "/claims"),
        ({"purpose_id": "has spaces"}, "/purpose/id"),
        ({"receipt_id": "short"}, "/receipt_id"),
    ],
)
def test_schema_violations_name_the_field(change: dict[str, Any], path: str) -> None:
    with pytest.raises(SchemaViolation) as info:
        _token(**change)
    assert info.value.path == path


def test_digest_is_sha256_of_the_token_ascii() -> None:
    token = _token()
    expected = b64url_encode(hashlib.sha256(token.encode("ascii")).digest())
    assert consent_digest(token) == expected
    with pytest.raises(MalformedInput):
        consent_digest("é")


def test_ledger_body_carries_no_personal_data() -> None:
    token = _token()
    receipt = verify_consent_receipt(token, HOLDER.public_key, now=NOW)
    body = consent_grant_body(token, receipt)
    assert body == {
        "receipt_digest": consent_digest(token),
        "holder": receipt.holder,
        "verifier": VERIFIER,
        "purpose_id": receipt.purpose_id,
        "granted_at": receipt.granted_at,
        "expires_at": receipt.expires_at,
        "updates_allowed": True,
    }
    text = repr(body)
    for personal in ("カーシェア", "family_name", "age_over_20", receipt.purpose, receipt.nonce or "?"):
        assert personal not in text


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 255))
def test_any_flipped_byte_is_rejected(position: int, mask: int) -> None:
    token = bytearray(_token().encode("ascii"))
    token[position % len(token)] ^= mask
    with pytest.raises(AkashiError):
        verify_consent_receipt(token.decode("latin-1"), HOLDER.public_key, now=NOW)
