"""KYC claims: verified_claims for jp_aml, AML method mapping, ages, licence claims."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.credentials.kyc import (
    Address,
    AmlMethod,
    DrivingLicence,
    FaceComparison,
    JpkiEvidence,
    LicenceCategory,
    LicenceChipEvidence,
    PersonClaims,
    Verification,
    age_attained_on,
    age_claims,
    age_on,
    build_verified_claims,
    kyc_claims,
    licence_claims,
    parse_licence_claims,
    parse_verified_claims,
)
from identity.credentials.status_list import StatusReference
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import MalformedInput, SchemaViolation
from identity.jose.jwk import public_key_to_jwk
from identity.schemas import validate

JST = timezone(timedelta(hours=9))
WHEN = datetime(2026, 11, 29, 10, 30, tzinfo=JST)
PERSON = PersonClaims(
    family_name="山田",
    given_name="花子",
    birthdate=date(2004, 2, 29),
    address=Address(
        formatted="東京都千代田区千代田1-1",
        country="JP",
        region="東京都",
        locality="千代田区",
        street_address="千代田1-1",
        postal_code="100-0001",
    ),
    gender="female",
)
JPKI = JpkiEvidence(
    issuer="OU=Japan Agency for Local Authority Information Systems, OU=JPKI, O=JPKI, C=JP",
    serial_number="1234567",
    created_at=WHEN,
)
FACE = FaceComparison(time=WHEN, organization="Akashi Identity K.K.")
CHIP = LicenceChipEvidence(
    document_number="123456789012",
    issuer="東京都公安委員会",
    date_of_issuance=date(2024, 3, 1),
    date_of_expiry=date(2029, 3, 31),
    checked_at=WHEN,
    organization="Akashi Identity K.K.",
    face_comparison=FACE,
)
LICENCE = DrivingLicence(
    number="123456789012",
    categories=(LicenceCategory.ORDINARY, LicenceCategory.ORDINARY_MOTORCYCLE),
    date_of_issuance=date(2024, 3, 1),
    date_of_expiry=date(2029, 3, 31),
    issuing_authority="東京都公安委員会",
)


def _verification(*evidence: JpkiEvidence | LicenceChipEvidence) -> Verification:
    return Verification(time=WHEN, verification_process="f24c6f-6d3f-4ec5", evidence=evidence)


def _envelope() -> dict[str, Any]:
    key = Ed25519PrivateKey.from_seed(bytes(range(32)))
    return {
        "iss": "https://issuer.akashi.example",
        "vct": "https://akashi.example/vct/kyc",
        "iat": 1_800_000_000,
        "exp": 1_900_000_000,
        "cnf": {"jwk": public_key_to_jwk(key.public_key)},
        "status": StatusReference(7, "https://issuer.akashi.example/statuslists/1").to_claim(),
    }


# --- verified_claims -----------------------------------------------------------------


def test_jpki_evidence_is_electronic_signature_with_method_wa() -> None:
    vc = build_verified_claims(PERSON, _verification(JPKI))
    evidence = vc["verification"]["evidence"][0]
    assert evidence == {
        "type": "electronic_signature",
        "signature_type": "jp_jpki",
        "issuer": JPKI.issuer,
        "serial_number": "1234567",
        "created_at": "2026-11-29T10:30:00+09:00",
        "jp_aml_method": "ワ",
    }
    assert vc["verification"]["trust_framework"] == "jp_aml"
    assert parse_verified_claims(vc).aml_methods == (AmlMethod.WA,)


def test_licence_chip_with_face_comparison_is_method_he() -> None:
    vc = build_verified_claims(PERSON, _verification(CHIP))
    evidence = vc["verification"]["evidence"][0]
    assert evidence["type"] == "document"
    assert evidence["document_details"]["type"] == "jp_drivers_license"
    assert evidence["document_details"]["date_of_expiry"] == "2029-03-31"
    assert [c["check_method"] for c in evidence["check_details"]] == ["vcrypt", "bvr"]
    assert parse_verified_claims(vc).aml_methods == (AmlMethod.HE,)


def test_licence_chip_alone_satisfies_no_method() -> None:
    chip_only = LicenceChipEvidence(
        document_number="123456789012", issuer="東京都公安委員会",
        date_of_issuance=date(2024, 3, 1), date_of_expiry=date(2029, 3, 31),
        checked_at=WHEN, organization="Akashi Identity K.K.",
    )
    vc = build_verified_claims(PERSON, _verification(chip_only, JPKI))
    assert "jp_aml_method" not in vc["verification"]["evidence"][0]
    assert parse_verified_claims(vc).aml_methods == (AmlMethod.WA,)


def test_claims_are_the_person() -> None:
    vc = build_verified_claims(PERSON, _verification(JPKI))
    assert vc["claims"] == {
        "given_name": "花子",
        "family_name": "山田",
        "birthdate": "2004-02-29",
        "address": PERSON.address.to_json() if PERSON.address else None,
        "gender": "female",
    }


def test_naive_times_are_refused() -> None:
    naive = JpkiEvidence(issuer="CN=x", serial_number="1", created_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        build_verified_claims(PERSON, _verification(naive))


def _claimed_method(evidence_index: int, letter: str, vc: dict[str, Any]) -> dict[str, Any]:
    bad = copy.deepcopy(vc)
    bad["verification"]["evidence"][evidence_index]["jp_aml_method"] = letter
    return bad


@pytest.mark.parametrize(
    ("mutate", "error", "path"),
    [
        (lambda vc: _claimed_method(0, "ヘ", vc), MalformedInput, None),
        (lambda vc: _claimed_method(1, "ワ", vc), MalformedInput, None),
        (lambda vc: _claimed_method(0, "ホ", vc), SchemaViolation, "/verification/evidence/0"),
        (lambda vc: {**vc, "verification": {**vc["verification"], "trust_framework": "de_aml"}},
         SchemaViolation, "/verification/trust_framework"),
        (lambda vc: {**vc, "claims": {**vc["claims"], "birthdate": "2003-02-29"}},
         SchemaViolation, "/claims/birthdate"),
        (lambda vc: {**vc, "claims": {**vc["claims"], "nickname": "hana"}},
         SchemaViolation, "/claims"),
        (lambda vc: {**vc, "verification": {**vc["verification"], "time": "2026-11-29"}},
         SchemaViolation, "/verification/time"),
        (lambda vc: {**vc, "verification": {**vc["verification"], "evidence": []}},
         SchemaViolation, "/verification/evidence"),
    ],
    ids=["he-on-signature", "wa-on-document", "unknown-letter", "other-framework",
         "impossible-birthdate", "unknown-claim", "time-without-clock", "no-evidence"],
)
def test_bad_verified_claims_are_refused(
    mutate: Any, error: type[MalformedInput], path: str | None
) -> None:
    vc = build_verified_claims(PERSON, _verification(JPKI, CHIP))
    with pytest.raises(error) as info:
        parse_verified_claims(mutate(vc))
    if path is not None:
        assert isinstance(info.value, SchemaViolation) and info.value.path == path


def test_face_check_without_chip_check_is_not_he() -> None:
    vc = build_verified_claims(PERSON, _verification(CHIP))
    vc["verification"]["evidence"][0]["check_details"].pop(0)  # drop vcrypt
    with pytest.raises(MalformedInput, match="ヘ"):
        parse_verified_claims(vc)


# --- ages ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birthdate", "today", "age"),
    [
        (date(2008, 6, 15), date(2026, 6, 13), 17),
        (date(2008, 6, 15), date(2026, 6, 14), 18),  # the day before the birthday
        (date(2008, 6, 15), date(2026, 6, 15), 18),
        (date(2008, 2, 29), date(2026, 2, 27), 17),
        (date(2008, 2, 29), date(2026, 2, 28), 18),  # no 29 Feb in 2026: end of February
        (date(2008, 2, 29), date(2028, 2, 27), 19),
        (date(2008, 2, 29), date(2028, 2, 28), 20),  # leap year: still the day before
        (date(2008, 3, 1), date(2028, 2, 28), 19),
        (date(2008, 3, 1), date(2028, 2, 29), 20),
        (date(2008, 1, 1), date(2025, 12, 31), 18),  # the eve falls in the previous year
        (date(2008, 1, 1), date(2025, 12, 30), 17),
        (date(2026, 11, 29), date(2026, 11, 29), 0),
    ],
)
def test_age_counts_the_day_before_the_birthday(birthdate: date, today: date, age: int) -> None:
    assert age_on(birthdate, today) == age


def test_age_claims_and_the_leap_day() -> None:
    leap = date(2004, 2, 29)
    assert age_attained_on(leap, 20) == date(2024, 2, 28)
    assert age_claims(leap, date(2024, 2, 27)) == {"age_over_18": True, "age_over_20": False}
    assert age_claims(leap, date(2024, 2, 28)) == {"age_over_18": True, "age_over_20": True}


def test_birthdate_in_the_future_is_refused() -> None:
    with pytest.raises(MalformedInput):
        age_on(date(2030, 1, 1), date(2026, 1, 1))


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.dates(date(1900, 1, 1), date(2100, 12, 31)), st.integers(0, 120 * 366))
def test_age_matches_a_naive_reference(birthdate: date, days: int) -> None:
    """Naive reference: the usual birthday count taken on the next day. (The tuple comparison
    makes a 29 February birthday fall on 1 March in common years, i.e. 28 February's morrow.)"""
    today = date.fromordinal(birthdate.toordinal() + days)
    tomorrow = today + timedelta(days=1)
    naive = tomorrow.year - birthdate.year - (
        (tomorrow.month, tomorrow.day) < (birthdate.month, birthdate.day)
    )
    assert age_on(birthdate, today) == naive


# --- credential payloads -----------------------------------------------------------------


def test_kyc_credential_payload_validates() -> None:
    payload = {**_envelope(), **kyc_claims(PERSON, _verification(JPKI, CHIP), date(2026, 11, 29))}
    validate(payload, "kyc-credential-claims")
    assert payload["age_over_18"] is True and payload["age_over_20"] is True


def test_kyc_payload_after_partial_disclosure_validates() -> None:
    validate({**_envelope(), "age_over_20": True}, "kyc-credential-claims")


def test_kyc_payload_refuses_a_private_key_in_cnf() -> None:
    payload = _envelope()
    payload["cnf"]["jwk"]["d"] = "A" * 43
    with pytest.raises(SchemaViolation) as info:
        validate(payload, "kyc-credential-claims")
    assert info.value.path == "/cnf/jwk"


def test_licence_credential_round_trip_and_validity() -> None:
    payload = {**_envelope(), **licence_claims(PERSON, LICENCE)}
    assert parse_licence_claims(payload) == LICENCE
    assert payload["categories"] == ["普通", "普自二"]
    assert LICENCE.valid_on(date(2029, 3, 31)) and not LICENCE.valid_on(date(2029, 4, 1))
    assert not LICENCE.valid_on(date(2024, 2, 29))
    assert LICENCE.permits(LicenceCategory.ORDINARY, date(2026, 1, 1))
    assert not LICENCE.permits(LicenceCategory.LARGE, date(2026, 1, 1))


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"document_number": "12345"}, "/document_number"),
        ({"categories": ["普通", "truck"]}, "/categories/1"),
        ({"date_of_expiry": "2029-02-30"}, "/date_of_expiry"),
        ({"name": "山田花子"}, "/"),
    ],
)
def test_bad_licence_payloads_name_the_field(change: dict[str, Any], path: str) -> None:
    payload = {**_envelope(), **licence_claims(PERSON, LICENCE), **change}
    with pytest.raises(SchemaViolation) as info:
        parse_licence_claims(payload)
    assert info.value.path == path


def test_licence_payload_without_its_dates_is_refused() -> None:
    payload = {**_envelope(), **licence_claims(PERSON, LICENCE)}
    del payload["date_of_expiry"]
    with pytest.raises(MalformedInput, match="date_of_expiry"):
        parse_licence_claims(payload)


def test_bad_licence_numbers_are_refused() -> None:
    with pytest.raises(MalformedInput):
        DrivingLicence("１２３４５６７８９０１２", (LicenceCategory.ORDINARY,), date(2024, 1, 1),
                       date(2029, 1, 1), "東京都公安委員会")
