"""Derived-state records: round trips, their schemas, MemoryState, corporate numbers."""

from __future__ import annotations

from typing import Any

import pytest
from rules_world import ISSUER_CN, T0, Org, base, key, mk

from identity.credentials.status_list import StatusReference
from identity.did.akashi import apply_event
from identity.did.key_events import deactivate, sign_event
from identity.errors import RejectedByRules, SchemaViolation
from identity.schemas import validate
from registry.genesis import genesis_changes
from registry.rules import check
from registry.state import (
    KINDS,
    RECORD_SCHEMAS,
    Attestation,
    Consent,
    DidRecord,
    Member,
    MemoryState,
    Notice,
    Purpose,
    StateChange,
    StatusListRecord,
    check_member,
    corporate_number_valid,
    get_attestation,
    get_did,
    key_state_from_json,
    key_state_to_json,
)

# --- 法人番号 ---------------------------------------------------------------------------------------

#: Published corporate numbers: 国税庁 (National Tax Agency, itc.jipdec.or.jp/event/1_ono.html),
#: 株式会社FoundingBase (qiita.com/mziyut/items/bab37dbce1c23771c817), the worked example of
#: zeirishi-blog.info/2018/01/23/check-digit, and the ordinance example 7123456789012 (expydoc).
PUBLISHED = ["7000012050002", "4011001098993", "2120901007402", "7123456789012"]


@pytest.mark.parametrize("number", PUBLISHED)
def test_published_corporate_numbers_have_valid_check_digits(number: str) -> None:
    assert corporate_number_valid(number)


@pytest.mark.parametrize(
    "number",
    [
        "6000012050002",  # wrong check digit
        "7000012050003",  # a changed base digit
        "7000012500002",  # two base digits swapped
        "700001205000",  # 12 digits
        "70000120500021",  # 14 digits
        "７000012050002",  # a full-width digit
        "",
    ],
)
def test_other_numbers_are_refused(number: str) -> None:
    assert not corporate_number_valid(number)


def test_every_base_number_has_exactly_one_valid_check_digit() -> None:
    for base_number in ("000012050002", "011001098993", "999999999999", "000000000000"):
        valid = [d for d in "0123456789" if corporate_number_valid(d + base_number)]
        assert len(valid) == 1 and valid[0] != "0"


# --- records -------------------------------------------------------------------------------------------

_B = base()
_W = _B.world

ISSUER = Member(_W.issuer.did, "issuer", "株式会社あかし", ISSUER_CN, 3, evidence_methods=("jpki",))
VERIFIER = Member(_W.verifier.did, "verifier", "株式会社カーシェア", "2120901007402", 1,
                  purposes=(Purpose("account-opening", "本人確認"),))
WITNESS = Member(_W.outsider.did, "witness", "証人株式会社", "7000012050002", 2, active=False,
                 note_key="witness.test+0a1b2c3d+" + "A" * 44)
Record = DidRecord | Member | Attestation | StatusListRecord | Consent | Notice
RECORDS: dict[str, Record] = {
    "did": DidRecord(_W.issuer.did, _W.key_state(_W.issuer), 1),
    "member-issuer": ISSUER,
    "member-verifier": VERIFIER,
    "member-witness": WITNESS,
    "attestation": Attestation(_B.attestation, _W.issuer.did, "https://a.test/vct/kyc", "jpki", T0,
                               StatusReference(3, "https://a.test/status/1"), T0 + 10),
    "attestation-plain": Attestation(_B.attestation, _W.issuer.did, "https://a.test/vct/kyc", "jpki", T0),
    "status_list": StatusListRecord("https://a.test/status/1", _W.issuer.did, _B.attestation, T0),
    "consent": Consent(_B.consent, _W.hanako.did, _W.verifier.did, "account-opening", T0, T0 + 9, True),
    "consent-revoked": Consent(_B.consent, _W.hanako.did, _W.verifier.did, "p", T0, T0 + 9, False, T0 + 1),
    "notice": Notice(_B.notice, _W.verifier.did, _B.consent, _B.consent, T0),
    "notice-acked": Notice(_B.notice, _W.verifier.did, _B.consent, _B.consent, T0, "rejected", T0 + 1),
}


@pytest.mark.parametrize("name", list(RECORDS))
def test_records_round_trip_and_satisfy_their_schema(name: str) -> None:
    record = RECORDS[name]
    kind = name.split("-")[0]
    obj = record.to_json()
    validate(obj, RECORD_SCHEMAS[kind])
    assert type(record).from_json(obj) == record


def test_a_record_with_personal_text_fails_its_schema_naming_the_field() -> None:
    obj = {**RECORDS["consent"].to_json(), "purpose_id": "山田花子"}
    with pytest.raises(SchemaViolation) as caught:
        validate(obj, RECORD_SCHEMAS["consent"])
    assert caught.value.path == "/purpose_id"
    with pytest.raises(SchemaViolation) as caught:
        validate({**RECORDS["notice"].to_json(), "name": "山田"}, RECORD_SCHEMAS["notice"])


def test_member_body_holds_only_its_role_fields() -> None:
    assert set(ISSUER.to_body()) == {"did", "role", "legal_name", "corporate_number", "version",
                                     "evidence_methods"}
    assert set(VERIFIER.to_body()) == {"did", "role", "legal_name", "corporate_number", "version", "purposes"}
    assert Member.from_body(VERIFIER.to_body()) == VERIFIER
    assert VERIFIER.purpose("account-opening") == Purpose("account-opening", "本人確認")
    assert VERIFIER.purpose("marketing") is None


def test_check_member_names_the_rule_it_breaks() -> None:
    bad_number = {**ISSUER.to_body(), "corporate_number": "1000012050002"}
    with pytest.raises(RejectedByRules) as caught:
        check_member(bad_number)
    assert caught.value.rule == "member.corporate-number"
    assert check_member(ISSUER.to_body()) == ISSUER


def test_consent_is_active_from_grant_until_expiry_unless_revoked() -> None:
    consent = RECORDS["consent"]
    assert isinstance(consent, Consent)
    assert [consent.active_at(t) for t in (T0 - 1, T0, T0 + 8, T0 + 9)] == [False, True, True, False]
    revoked = RECORDS["consent-revoked"]
    assert isinstance(revoked, Consent) and not revoked.active_at(T0)


# --- key state ---------------------------------------------------------------------------------------------


def test_key_state_round_trips_through_json() -> None:
    state = _W.key_state(_W.verifier)
    assert key_state_from_json(key_state_to_json(state)) == state


def test_a_deactivated_key_state_round_trips_and_has_no_current_key() -> None:
    org = _W.issuer
    state = _W.key_state(org)
    event = sign_event(deactivate(state, [org.keys[1].public_key]), [org.keys[1]])
    dead = apply_event(state, event)
    record = DidRecord(org.did, dead, 2)
    obj = record.to_json()
    validate(obj, RECORD_SCHEMAS["did"])
    assert DidRecord.from_json(obj) == record
    assert record.current_key(mk(org.keys[0])) is None


def test_did_record_finds_only_current_keys() -> None:
    record = get_did(_W.state, _W.issuer.did)
    assert record is not None
    assert record.current_key(mk(_W.issuer.keys[0])) == _W.issuer.keys[0].public_key
    assert record.current_key(mk(key("stranger"))) is None
    assert get_did(_W.state, Org("nobody").did) is None


# --- MemoryState ----------------------------------------------------------------------------------------


def test_memory_state_upserts_deletes_and_copies() -> None:
    state = MemoryState()
    value: dict[str, Any] = {"digest": "d", "n": [1]}
    state.apply([StateChange("attestation", "k", value)])
    value["n"].append(2)  # the caller's later edit does not reach the state
    assert state.get("attestation", "k") == {"digest": "d", "n": [1]}
    state.apply([StateChange("attestation", "k", None), StateChange("attestation", "k2", {"x": 1})])
    assert state.get("attestation", "k") is None
    assert list(state.items("attestation")) == [("k2", {"x": 1})]
    assert set(state.to_json()) == set(KINDS)


def test_a_state_change_of_an_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        StateChange("balance", "k", {})


def test_every_change_of_a_history_satisfies_its_record_schema() -> None:
    state = MemoryState()
    changes = genesis_changes(_W.genesis)
    for entry in _W.history:
        state.apply(changes)
        changes = check(state, entry, genesis=_W.genesis)
        for change in changes:
            assert change.value is not None
            validate(change.value, RECORD_SCHEMAS[change.kind])
    assert get_attestation(_W.state, _B.attestation) is not None
