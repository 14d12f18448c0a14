"""Verification policies: the file, the registry purpose check, DCQL from a policy and what a
wallet would answer with it, and the licence validity check."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.credentials.kyc import (
    Address,
    DrivingLicence,
    FaceComparison,
    JpkiEvidence,
    LicenceCategory,
    LicenceChipEvidence,
    PersonClaims,
    Verification,
    kyc_claims,
    licence_claims,
)
from identity.errors import Expired, MalformedInput, NotFound, PolicyError, SchemaViolation
from identity.protocols.dcql import Candidate, parse_dcql_query, select_credentials
from registry.state import Member, Purpose
from verifier.policies import (
    DEFAULT_POLICIES_FILE,
    VctValues,
    check_purposes,
    default_policies,
    find_policy,
    licence_valid_today,
    load_policies,
    parse_policies,
    registered_purposes,
    to_dcql,
    write_default_policies,
)

ISSUER_URL = "https://idp.example.jp"
KYC_VCT = ISSUER_URL + "/vct/kyc"
LICENCE_VCT = ISSUER_URL + "/vct/licence"
CNF = {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}
TODAY = date(2025, 10, 1)
WHEN = datetime(2025, 9, 30, 10, 0, tzinfo=UTC)
ADDRESS = Address(region="東京都", locality="千代田区", country="JP")
PERSON = PersonClaims("山田", "花子", date(1990, 4, 2), ADDRESS)
LICENCE = DrivingLicence("123456789012", (LicenceCategory.ORDINARY,), date(2022, 5, 1), date(2027, 6, 2),
                         "東京都公安委員会")
FIELDS = ["id", "purpose_id", "purpose", "claims", "updates_allowed", "kyc", "age_over", "licence",
          "consent_days", "ja", "required", "evidence", "category", "valid_today"]
EVIDENCE_METHOD = ("verified_claims", "verification", "evidence", None, "jp_aml_method")


def policies() -> dict[str, Any]:
    return parse_policies(default_policies())


def kyc(*evidence: JpkiEvidence | LicenceChipEvidence, person: PersonClaims = PERSON) -> Candidate:
    claims = kyc_claims(person, Verification(WHEN, "proc-1", evidence), TODAY)
    return Candidate(KYC_VCT, {"vct": KYC_VCT, "cnf": CNF, **claims})


def jpki() -> JpkiEvidence:
    return JpkiEvidence("CN=JPKI CA", "0A1B", WHEN)


def licence_chip(*, face: bool) -> LicenceChipEvidence:
    comparison = FaceComparison(WHEN, "idp") if face else None
    return LicenceChipEvidence("123456789012", "東京都公安委員会", date(2022, 5, 1), date(2027, 6, 2), WHEN,
                               "idp", comparison)


def licence(item: DrivingLicence = LICENCE) -> Candidate:
    return Candidate(LICENCE_VCT, {"vct": LICENCE_VCT, "cnf": CNF, **licence_claims(PERSON, item)})


# -- the file ----------------------------------------------------------------------------


def test_the_default_file_round_trips(tmp_path: Path) -> None:
    path = write_default_policies(tmp_path / DEFAULT_POLICIES_FILE)
    loaded = load_policies(path)
    assert list(loaded) == ["car-sharing", "space-sharing", "parcel-locker"]
    car = loaded["car-sharing"]
    assert car.kyc.evidence == ("jpki", "drivers_licence_ic") and car.age_over == 20
    assert car.licence is not None and car.licence.category == "普通" and car.updates_allowed
    assert not loaded["space-sharing"].updates_allowed and loaded["space-sharing"].claims == ()
    assert loaded["parcel-locker"].claims == ("family_name", "given_name", "address")
    assert {"version": 1, "policies": [p.to_json() for p in loaded.values()]} == default_policies()
    assert "本人確認" in path.read_text(encoding="utf-8")  # written as UTF-8 text, not escapes


def test_writing_the_defaults_does_not_replace_a_file(tmp_path: Path) -> None:
    path = write_default_policies(tmp_path / DEFAULT_POLICIES_FILE)
    with pytest.raises(FileExistsError):
        write_default_policies(path)
    write_default_policies(path, overwrite=True)


def bad(**changes: Any) -> dict[str, Any]:
    document = default_policies()
    document["policies"][0].update(changes)
    return document


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (bad(age_over=19), "age_over"),
        (bad(kyc={"required": True, "evidence": []}), "evidence"),
        (bad(kyc={"required": True, "evidence": ["passport"]}), "evidence"),
        (bad(kyc={"required": False, "evidence": ["jpki"]}), "evidence"),
        (bad(claims=["my_number"]), "claims"),
        (bad(licence={"category": "自転車", "valid_today": True}), "licence"),
        (bad(consent_days=0), "consent_days"),
        (bad(purpose={"ja": "目的"}), "purpose"),
        (bad(purpose_id="has space"), "purpose_id"),
        (bad(surprise=True), "surprise"),
        ({"policies": []}, "version"),
    ],
)
def test_bad_files_are_refused_naming_the_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(SchemaViolation) as caught:
        parse_policies(document)
    assert field in str(caught.value)


def test_duplicate_ids_and_empty_policies_are_refused() -> None:
    document = default_policies()
    document["policies"].append(document["policies"][0])
    with pytest.raises(MalformedInput, match="more than once"):
        parse_policies(document)
    empty = bad(claims=[], kyc={"required": False, "evidence": []}, age_over=None, licence=None)
    with pytest.raises(MalformedInput, match="asks for nothing"):
        parse_policies(empty)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_policies(tmp_path / "missing.json")
    (tmp_path / "p.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(MalformedInput):
        load_policies(tmp_path / "p.json")
    with pytest.raises(NotFound, match="car-sharing"):
        find_policy(policies(), "boat-sharing")


# -- the trust registry --------------------------------------------------------------------


def verifier_member(*purposes: str, role: str = "verifier", active: bool = True) -> Member:
    return Member("did:akashi:zOperator", role, "株式会社あかし", "1234567890123", 1, active,
                  purposes=tuple(Purpose(p, f"登録された目的 {p}") for p in purposes))


def test_registered_purposes_pass_and_give_the_registered_text() -> None:
    member = verifier_member("car-sharing", "space-sharing", "parcel-locker")
    texts = check_purposes(policies().values(), member)
    assert texts["car-sharing"] == "登録された目的 car-sharing"


@pytest.mark.parametrize(
    "member",
    [
        verifier_member("car-sharing", "space-sharing"),  # parcel-locker not registered
        verifier_member("car-sharing", "space-sharing", "parcel-locker", role="issuer"),
        verifier_member("car-sharing", "space-sharing", "parcel-locker", active=False),
    ],
)
def test_unregistered_purposes_or_members_are_refused(member: Member) -> None:
    with pytest.raises(PolicyError):
        check_purposes(policies().values(), member)


def test_registered_claims_must_cover_what_each_policy_asks() -> None:
    registered = {p["id"]: p for p in registered_purposes(policies())}
    assert ["age_over_18"] in registered["space-sharing"]["claims"]
    assert ["verified_claims", "claims", "address"] in registered["car-sharing"]["claims"]
    member = Member("did:akashi:zOperator", "verifier", "株式会社あかし", "1234567890123", 1,
                    purposes=tuple(Purpose.from_json(p) for p in registered.values()))  # fmt: skip
    assert set(check_purposes(policies().values(), member)) == set(policies())
    narrowed = {**registered, "space-sharing": {**registered["space-sharing"], "claims": [["age_over_18"]]}}
    member = Member("did:akashi:zOperator", "verifier", "株式会社あかし", "1234567890123", 1,
                    purposes=tuple(Purpose.from_json(p) for p in narrowed.values()))  # fmt: skip
    with pytest.raises(PolicyError, match=r"verified_claims\.verification\.trust_framework"):
        check_purposes(policies().values(), member)


# -- DCQL and what a wallet answers ------------------------------------------------------------


@pytest.mark.parametrize("policy_id", ["car-sharing", "space-sharing", "parcel-locker"])
def test_every_default_policy_gives_a_valid_query(policy_id: str) -> None:
    query = to_dcql(policies()[policy_id], ISSUER_URL)
    assert parse_dcql_query(json.loads(json.dumps(query.to_json()))) == query


def test_car_sharing_with_jpki_kyc_and_a_licence() -> None:
    query = to_dcql(policies()["car-sharing"], [ISSUER_URL])
    selection = select_credentials(query, [licence(), kyc(jpki())])
    assert selection["kyc"] == [(1, [
        ("verified_claims", "verification", "trust_framework"),
        EVIDENCE_METHOD,
        ("age_over_20",),
        ("verified_claims", "claims", "family_name"),
        ("verified_claims", "claims", "given_name"),
        ("verified_claims", "claims", "address"),
    ])]
    assert selection["licence"] == [(0, [("categories", None), ("date_of_expiry",)])]


def test_licence_ic_with_face_comparison_satisfies_the_alternative() -> None:
    query = to_dcql(policies()["space-sharing"], ISSUER_URL)
    assert select_credentials(query, [kyc(licence_chip(face=True))])["kyc"][0][0] == 0


def test_licence_chip_without_face_comparison_is_no_kyc() -> None:
    query = to_dcql(policies()["space-sharing"], ISSUER_URL)
    with pytest.raises(PolicyError):
        select_credentials(query, [kyc(licence_chip(face=False))])
    # ... but the same credential with a JPKI evidence beside it is
    assert select_credentials(query, [kyc(licence_chip(face=False), jpki())])


def test_a_jpki_only_policy_refuses_licence_kyc() -> None:
    document = default_policies()
    document["policies"][1]["kyc"]["evidence"] = ["jpki"]
    query = to_dcql(parse_policies(document)["space-sharing"], ISSUER_URL)
    with pytest.raises(PolicyError):
        select_credentials(query, [kyc(licence_chip(face=True))])


def test_age_and_licence_requirements_select_nothing_when_unmet() -> None:
    minor = PersonClaims("山田", "太郎", date(2006, 1, 1))  # 19 on TODAY
    car = to_dcql(policies()["car-sharing"], ISSUER_URL)
    with pytest.raises(PolicyError):
        select_credentials(car, [kyc(jpki(), person=minor), licence()])
    assert select_credentials(to_dcql(policies()["space-sharing"], ISSUER_URL), [kyc(jpki(), person=minor)])
    motorbike = DrivingLicence("123456789012", (LicenceCategory.ORDINARY_MOTORCYCLE,), date(2022, 5, 1),
                               date(2027, 6, 2), "東京都公安委員会")
    with pytest.raises(PolicyError, match="credential_sets"):
        select_credentials(car, [kyc(jpki()), licence(motorbike)])
    with pytest.raises(PolicyError):
        select_credentials(car, [kyc(jpki())])  # no licence at all


def test_parcel_locker_needs_no_kyc_method_and_no_licence() -> None:
    query = to_dcql(policies()["parcel-locker"], VctValues((KYC_VCT,), (LICENCE_VCT,)))
    assert [q.id for q in query.credentials] == ["kyc"]
    paths = select_credentials(query, [kyc(licence_chip(face=False))])["kyc"][0][1]
    assert EVIDENCE_METHOD not in paths and ("verified_claims", "claims", "address") in paths


def test_a_credential_from_an_issuer_not_asked_for_is_not_selected() -> None:
    query = to_dcql(policies()["space-sharing"], "https://other-idp.example")
    with pytest.raises(PolicyError):
        select_credentials(query, [kyc(jpki())])


# -- licence validity --------------------------------------------------------------------------


def test_licence_valid_today() -> None:
    claims = licence_claims(PERSON, LICENCE)
    assert licence_valid_today(claims, "普通", date(2027, 6, 2)) == date(2027, 6, 2)  # through the day
    with pytest.raises(Expired):
        licence_valid_today(claims, "普通", date(2027, 6, 3))
    with pytest.raises(PolicyError):
        licence_valid_today(claims, "大型", TODAY)
    with pytest.raises(PolicyError, match="not valid yet"):
        licence_valid_today(claims, "普通", date(2022, 4, 30))
    with pytest.raises(MalformedInput):
        licence_valid_today({"categories": ["普通"], "date_of_expiry": "2027-13-01"}, "普通", TODAY)
    with pytest.raises(MalformedInput):
        licence_valid_today({"categories": ["普通"]}, "普通", TODAY)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 40) | st.sampled_from(["", "jpki", "普通", "car-sharing"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=6),
    max_leaves=20,
)


@settings(max_examples=150, derandomize=True, deadline=None)
@given(field=st.sampled_from(FIELDS), value=JSON)
def test_a_mangled_policy_is_refused_or_reads_back_exactly(field: str, value: Any) -> None:
    document = default_policies()
    document["policies"][0][field] = value
    try:
        parsed = parse_policies(document)
    except MalformedInput:
        return  # refused with our error, never another exception type
    # accepted only if it is a valid policy: it reads back exactly as written
    assert [p.to_json() for p in parsed.values()] == document["policies"]
