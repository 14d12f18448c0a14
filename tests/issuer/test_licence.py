"""The driver's licence IC chip check against a local licence authority."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.credentials.kyc import (
    AmlMethod,
    FaceComparison,
    LicenceCategory,
    Verification,
    build_verified_claims,
)
from identity.errors import (
    AkashiError,
    Expired,
    InvalidSignature,
    KeyStateError,
    MalformedInput,
    SchemaViolation,
    TimeError,
    UnknownKey,
    UnsupportedAlgorithm,
)
from identity.schemas import validate
from issuer.evidence.licence import LicenceData, LicenceResult, LicenceTrust, verify_licence
from issuer.evidence.testca import IssuedKey, create_jpki_ca, create_licence_authority, sign_licence

JST = timezone(timedelta(hours=9))
NOW = datetime(2026, 3, 1, 10, 0, tzinfo=JST)
ORG = "Example KYC K.K."
FACE = FaceComparison(time=NOW - timedelta(minutes=1), organization=ORG)
HANAKO = LicenceData(
    licence_number="301234567890", name="山田　花子", birthdate=date(1998, 7, 15),
    address="東京都千代田区霞が関2-1-2", date_of_issuance=date(2024, 6, 1), date_of_expiry=date(2029, 8, 15),
    categories=(LicenceCategory.ORDINARY, LicenceCategory.ORDINARY_MOTORCYCLE),
    issuing_authority="東京都公安委員会")


@dataclass
class Authorities:
    tokyo: IssuedKey
    osaka: IssuedKey
    impostor: IssuedKey  # calls itself 東京都公安委員会, not configured
    trust: LicenceTrust


@pytest.fixture(scope="module")
def auth() -> Authorities:
    tokyo = create_licence_authority(NOW)
    osaka = create_licence_authority(NOW, name="大阪府公安委員会")
    impostor = create_licence_authority(NOW)
    return Authorities(tokyo, osaka, impostor, LicenceTrust((tokyo.certificate, osaka.certificate)))


def check(auth: Authorities, data: bytes, signature: bytes, *, presented: IssuedKey | None = None,
          now: datetime = NOW, face: FaceComparison | None = FACE) -> LicenceResult:
    return verify_licence(data, signature, None if presented is None else presented.der, auth.trust,
                          now=now, face_comparison=face, organization=ORG)


def sign_bytes(authority: IssuedKey, body: bytes) -> bytes:
    assert isinstance(authority.key, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(authority.key.sign(body, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


# --- accepted ------------------------------------------------------------------------------------


def test_a_signed_licence_gives_the_person_and_the_licence(auth: Authorities) -> None:
    result = check(auth, *sign_licence(auth.tokyo, HANAKO))
    assert (result.person.family_name, result.person.given_name) == ("山田", "花子")
    assert result.person.birthdate == date(1998, 7, 15)
    assert result.person.address is not None
    assert result.person.address.formatted == "東京都千代田区霞が関2-1-2"
    assert result.person.gender is None  # a licence does not state it
    assert result.name == "山田　花子"
    assert result.licence.number == "301234567890"
    assert result.licence.categories == (LicenceCategory.ORDINARY, LicenceCategory.ORDINARY_MOTORCYCLE)
    assert result.licence.issuing_authority == "東京都公安委員会"
    assert result.licence.date_of_expiry == date(2029, 8, 15)


def test_with_a_face_comparison_the_evidence_is_method_he(auth: Authorities) -> None:
    result = check(auth, *sign_licence(auth.tokyo, HANAKO))
    assert result.evidence.aml_method is AmlMethod.HE
    assert result.evidence.checked_at == NOW
    assert result.evidence.organization == ORG
    claims = build_verified_claims(result.person, Verification(
        time=NOW, verification_process="kyc-0002", evidence=(result.evidence,)))
    evidence = claims["verification"]["evidence"][0]
    assert evidence["document_details"]["document_number"] == "301234567890"
    assert {c["check_method"] for c in evidence["check_details"]} == {"vcrypt", "bvr"}


def test_without_a_face_comparison_the_chip_alone_satisfies_no_method(auth: Authorities) -> None:
    result = check(auth, *sign_licence(auth.tokyo, HANAKO), face=None)
    assert result.evidence.aml_method is None


def test_the_chip_may_present_its_authority_certificate(auth: Authorities) -> None:
    check(auth, *sign_licence(auth.tokyo, HANAKO), presented=auth.tokyo)


def test_the_licence_is_valid_through_its_day_of_expiry_in_japan(auth: Authorities) -> None:
    data, signature = sign_licence(auth.tokyo, HANAKO)
    check(auth, data, signature, now=datetime(2029, 8, 15, 23, 59, tzinfo=JST))
    check(auth, data, signature, now=datetime(2029, 8, 15, 14, 59, tzinfo=UTC))  # 23:59 JST
    with pytest.raises(Expired):
        check(auth, data, signature, now=datetime(2029, 8, 15, 15, 0, tzinfo=UTC))  # 0:00 JST


def test_the_licence_data_matches_its_schema() -> None:
    validate(HANAKO.to_json(), "licence-chip-data")
    assert LicenceData.from_json(HANAKO.to_json()) == HANAKO


def test_a_bad_licence_object_fails_naming_the_field() -> None:
    bad = {**HANAKO.to_json(), "licence_number": "12345"}
    with pytest.raises(SchemaViolation) as caught:
        LicenceData.from_json(bad)
    assert caught.value.path == "/licence_number"


# --- refused ---------------------------------------------------------------------------------------


def test_tampered_licence_data_is_refused(auth: Authorities) -> None:
    data, signature = sign_licence(auth.tokyo, HANAKO)
    tampered = data.replace(b"2-1-2", b"2-1-3")
    assert tampered != data
    with pytest.raises(InvalidSignature):
        check(auth, tampered, signature)
    with pytest.raises(InvalidSignature):
        check(auth, tampered, signature, presented=auth.tokyo)


def test_a_broken_signature_is_refused(auth: Authorities) -> None:
    data, signature = sign_licence(auth.tokyo, HANAKO)
    with pytest.raises(InvalidSignature):
        check(auth, data, signature[:-1] + bytes([signature[-1] ^ 1]))
    with pytest.raises(InvalidSignature):
        check(auth, data, signature[:-1])


def test_an_unknown_authority_certificate_is_refused(auth: Authorities) -> None:
    with pytest.raises(UnknownKey):
        check(auth, *sign_licence(auth.impostor, HANAKO), presented=auth.impostor)


def test_a_licence_of_an_unconfigured_authority_is_refused(auth: Authorities) -> None:
    kyoto = create_licence_authority(NOW, name="京都府公安委員会")
    with pytest.raises(UnknownKey):
        check(auth, *sign_licence(kyoto, replace(HANAKO, issuing_authority="京都府公安委員会")))


def test_an_impostor_of_a_configured_authority_is_refused(auth: Authorities) -> None:
    with pytest.raises(InvalidSignature):
        check(auth, *sign_licence(auth.impostor, HANAKO))


def test_an_authority_cannot_vouch_for_another_authoritys_licence(auth: Authorities) -> None:
    with pytest.raises(KeyStateError, match="東京都公安委員会"):
        check(auth, *sign_licence(auth.osaka, HANAKO), presented=auth.osaka)


def test_the_authority_certificate_must_cover_the_day_of_issuance(auth: Authorities) -> None:
    young = create_licence_authority(NOW, not_before=datetime(2025, 1, 1, tzinfo=JST))
    trust = LicenceTrust((young.certificate,))
    data, signature = sign_licence(young, HANAKO)  # issued 2024-06-01, before the key existed
    with pytest.raises(KeyStateError):
        verify_licence(data, signature, None, trust, now=NOW, face_comparison=None, organization=ORG)


def test_an_expired_licence_is_refused(auth: Authorities) -> None:
    old = replace(HANAKO, date_of_issuance=date(2021, 6, 1), date_of_expiry=date(2026, 2, 28))
    with pytest.raises(Expired):
        check(auth, *sign_licence(auth.tokyo, old))


def test_a_licence_not_yet_valid_is_refused_but_not_as_expired(auth: Authorities) -> None:
    future = replace(HANAKO, date_of_issuance=date(2026, 3, 2), date_of_expiry=date(2031, 8, 15))
    with pytest.raises(TimeError) as caught:
        check(auth, *sign_licence(auth.tokyo, future))
    assert type(caught.value) is TimeError


@pytest.mark.parametrize("body", [
    pytest.param(b"not json", id="not JSON"),
    pytest.param(b'{"issuing_authority":"\\u6771\\u4eac\\u90fd\\u516c\\u5b89\\u59d4\\u54e1\\u4f1a"}',
                 id="not canonical"),
    pytest.param('{"issuing_authority":"東京都公安委員会","issuing_authority":"東京都公安委員会"}'.encode(),
                 id="duplicate member"),
    pytest.param('{"issuing_authority":"東京都公安委員会"}'.encode(), id="schema"),
])
def test_malformed_data_under_a_good_signature_is_refused(auth: Authorities, body: bytes) -> None:
    with pytest.raises(MalformedInput):
        check(auth, body, sign_bytes(auth.tokyo, body), presented=auth.tokyo)


def test_an_impossible_date_is_malformed(auth: Authorities) -> None:
    body = (HANAKO.encode().replace(b'"birthdate":"1998-07-15"', b'"birthdate":"1998-02-30"'))
    with pytest.raises(MalformedInput):
        check(auth, body, sign_bytes(auth.tokyo, body))


def test_oversized_data_is_refused_before_any_work(auth: Authorities) -> None:
    with pytest.raises(MalformedInput, match="larger"):
        check(auth, b" " * 10_000, b"\x00" * 64, presented=auth.tokyo)


def test_a_non_p256_authority_cannot_be_configured() -> None:
    rsa_root = create_jpki_ca(NOW).root
    with pytest.raises(UnsupportedAlgorithm):
        LicenceTrust((rsa_root.certificate,))


def test_a_naive_time_is_a_programming_error(auth: Authorities) -> None:
    with pytest.raises(ValueError, match="aware"):
        check(auth, *sign_licence(auth.tokyo, HANAKO), now=NOW.replace(tzinfo=None))


@pytest.mark.filterwarnings("ignore:Parsed a serial number")  # a flip can make it negative
@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=st.data())
def test_any_flipped_byte_is_refused_with_an_akashi_error(auth: Authorities, data: st.DataObject) -> None:
    body, signature = sign_licence(auth.tokyo, HANAKO)
    parts = {"data": body, "signature": signature, "certificate": auth.tokyo.der}
    target = data.draw(st.sampled_from(sorted(parts)))
    blob = bytearray(parts[target])
    blob[data.draw(st.integers(0, len(blob) - 1))] ^= data.draw(st.integers(1, 255))
    parts[target] = bytes(blob)
    presented = data.draw(st.booleans()) or target == "certificate"
    with pytest.raises(AkashiError):
        verify_licence(parts["data"], parts["signature"], parts["certificate"] if presented else None,
                       auth.trust, now=NOW, face_comparison=FACE, organization=ORG)
