"""DCQL (OpenID4VP 1.0 section 6): the spec's examples parse, the wallet picks the right
credentials and claims, the verifier holds what it received to the query it sent.

Rule numbers refer to the docstrings of identity.protocols.dcql.{query,matching,checking}.
"""

from __future__ import annotations

import json
import random as pyrandom
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity.credentials.sdjwt import SD, issue, parse_claims_unverified, present, verify
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import AkashiError, BindingError, MalformedInput, PolicyError, SchemaViolation
from identity.protocols.dcql import (
    Candidate,
    DcqlLimits,
    DcqlQuery,
    check_presentation,
    claim,
    credential_set,
    dcql_query,
    match_credential,
    parse_dcql_query,
    parse_dcql_query_json,
    path_within,
    sd_jwt_credential,
    select_credentials,
)
from identity.protocols.dcql.pointer import PointerError, select
from identity.schemas import validate

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "openid4vp" / "dcql"
QUERY_FILES = sorted(p for p in VECTORS.glob("*.json") if p.name != "claims_path_pointer_example.json")

ISSUER = Ed25519PrivateKey.from_seed(bytes([11]) * 32)
HOLDER = Ed25519PrivateKey.from_seed(bytes([12]) * 32)
NOW = 1_800_000_000
VERIFIER = "did:key:z6MkverifierCarSharing"
KYC_VCT = "https://akashi.example/vct/kyc"
PID_VCT = "https://credentials.example.com/identity_credential"
CNF = {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}}


def load(name: str) -> DcqlQuery:
    return parse_dcql_query_json((VECTORS / name).read_bytes())


def fixed_random(seed: int = 3) -> Callable[[int], bytes]:
    rng = pyrandom.Random(seed)
    return lambda n: bytes(rng.getrandbits(8) for _ in range(n))


# -- the specification's examples ---------------------------------------------------------


@pytest.mark.parametrize("path", QUERY_FILES, ids=[p.stem for p in QUERY_FILES])
def test_every_spec_example_parses_and_round_trips(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    query = parse_dcql_query(raw)
    assert [q.id for q in query.credentials] == [c["id"] for c in raw["credentials"]]
    validate(query.to_json(), "dcql-query")
    assert parse_dcql_query(query.to_json()) == query


def test_spec_example_fields_are_typed() -> None:
    query = load("credentials_alternatives.json")
    assert query.credentials[0].vct_values == (PID_VCT,)
    assert query.credentials[0].claims is not None
    assert query.credentials[0].claims[2].path == ("address", "street_address")
    assert query.credential_sets is not None
    assert query.credential_sets[1].required is False
    assert query.credential_sets[0].options[2] == ("pid_reduced_cred_1", "pid_reduced_cred_2")
    mdoc = load("simple_mdoc.json").credentials[0]
    assert mdoc.format == "mso_mdoc" and mdoc.meta["doctype_value"] == "org.iso.7367.1.mVRC"


def test_claims_path_pointer_example_selects_what_the_spec_says() -> None:
    example = json.loads((VECTORS / "claims_path_pointer_example.json").read_text(encoding="utf-8"))
    for case in example["pointers"]:
        assert select(example["credential"], tuple(case["path"])) == case["selects"]


@pytest.mark.parametrize(
    "path",
    [("name", "first"), ("address", None), ("degrees", "type"), ("missing",), ("nationalities", 5)],
    ids=["key of a string", "null on an object", "key on an array", "missing key", "index past end"],
)
def test_pointer_processing_errors(path: tuple[Any, ...]) -> None:
    example = json.loads((VECTORS / "claims_path_pointer_example.json").read_text(encoding="utf-8"))
    with pytest.raises(PointerError):
        select(example["credential"], path)


# -- the wallet: matching -----------------------------------------------------------------


def pid(**claims: Any) -> Candidate:
    return Candidate(PID_VCT, {"vct": PID_VCT, "cnf": CNF, **claims})


def test_simple_query_discloses_the_requested_paths() -> None:
    held = pid(family_name="Doe", given_name="John", address={"street_address": "1 Road", "locality": "X"})
    selection = select_credentials(load("simple.json"), [Candidate("urn:other", {"cnf": CNF}), held])
    assert selection == {
        "my_credential": [(1, [("family_name",), ("given_name",), ("address", "street_address")])]
    }


def test_claim_sets_first_satisfiable_option_wins() -> None:
    query = load("claims_alternatives.json")
    both = pid(last_name="D", postal_code="1", locality="L", region="R", date_of_birth="2000-01-01")
    postal_only = pid(last_name="D", postal_code="1", date_of_birth="2000-01-01")
    assert select_credentials(query, [both])["pid"][0][1] == [
        ("last_name",), ("locality",), ("region",), ("date_of_birth",)
    ]
    assert select_credentials(query, [postal_only])["pid"][0][1] == [
        ("last_name",), ("postal_code",), ("date_of_birth",)
    ]
    with pytest.raises(PolicyError, match="cannot be satisfied"):
        select_credentials(query, [pid(last_name="D", date_of_birth="2000-01-01")])


def test_credential_sets_options_and_optional_sets() -> None:
    query = load("credentials_alternatives.json")
    reduced_1 = Candidate(
        "https://credentials.example.com/reduced_identity_credential",
        {"cnf": CNF, "family_name": "D", "given_name": "J"},
    )
    reduced_2 = Candidate(
        "https://cred.example/residence_credential",
        {"cnf": CNF, "postal_code": "1", "locality": "L", "region": "R"},
    )
    rewards = Candidate("https://company.example/company_rewards", {"cnf": CNF, "rewards_number": 7})
    selection = select_credentials(query, [reduced_1, reduced_2])
    assert set(selection) == {"pid_reduced_cred_1", "pid_reduced_cred_2"}  # optional set left out
    selection = select_credentials(query, [rewards, reduced_2, reduced_1])
    assert set(selection) == {"pid_reduced_cred_1", "pid_reduced_cred_2", "nice_to_have"}
    assert selection["nice_to_have"] == [(0, [("rewards_number",)])]
    with pytest.raises(PolicyError, match=r"credential_sets\[0\]"):
        select_credentials(query, [reduced_1, rewards])  # the required set is not met


def test_without_credential_sets_every_query_must_match() -> None:
    query = load("multi_credentials.json")  # its mso_mdoc query can never match an SD-JWT VC
    with pytest.raises(PolicyError, match="mdl"):
        select_credentials(query, [pid(given_name="J", family_name="D", address={"street_address": "s"})])


@pytest.mark.parametrize(
    ("values", "claim_value", "matches"),
    [
        (["Doe"], "Doe", True),
        (["Doe"], "doe", False),
        ([20], 20, True),
        ([20], "20", False),
        ([1], True, False),
        ([True], 1, False),
        ([True], True, True),
        ([False, True], False, True),
        ([1], 1.0, False),
    ],
)
def test_values_match_type_and_value_exactly(values: list[Any], claim_value: Any, matches: bool) -> None:
    query = sd_jwt_credential("q", [PID_VCT], claims=[claim("x", values=values)])
    assert (match_credential(query, pid(x=claim_value)) is not None) is matches


def test_null_path_over_arrays_and_nested_paths() -> None:
    query = dcql_query([
        sd_jwt_credential(
            "kyc",
            [KYC_VCT],
            claims=[
                claim("verified_claims", "verification", "evidence", None, "jp_aml_method", values=["ワ"]),
                claim("verified_claims", "claims", "address", "region"),
            ],
        )
    ])
    evidence = [{"jp_aml_method": "ヘ"}, {"jp_aml_method": "ワ"}]
    held: dict[str, Any] = {
        "cnf": CNF,
        "verified_claims": {
            "verification": {"evidence": evidence},
            "claims": {"address": {"region": "東京都"}},
        },
    }
    paths = match_credential(query.credentials[0], Candidate(KYC_VCT, held))
    assert paths == [
        ("verified_claims", "verification", "evidence", None, "jp_aml_method"),
        ("verified_claims", "claims", "address", "region"),
    ]
    held["verified_claims"]["verification"]["evidence"] = [{"jp_aml_method": "ヘ"}]
    assert match_credential(query.credentials[0], Candidate(KYC_VCT, held)) is None


def test_multiple_returns_every_match_and_single_the_first() -> None:
    many = dcql_query([sd_jwt_credential("p", [PID_VCT], claims=[claim("a")], multiple=True)])
    one = dcql_query([sd_jwt_credential("p", [PID_VCT], claims=[claim("a")])])
    held = [pid(a=1), pid(b=2), pid(a=3)]
    assert select_credentials(many, held) == {"p": [(0, [("a",)]), (2, [("a",)])]}
    assert select_credentials(one, held) == {"p": [(0, [("a",)])]}


def test_holder_binding_required_by_default() -> None:
    bound = sd_jwt_credential("p", [PID_VCT])
    unbound = sd_jwt_credential("p", [PID_VCT], require_cryptographic_holder_binding=False)
    bare = Candidate(PID_VCT, {"a": 1})
    assert match_credential(bound, bare) is None
    assert match_credential(unbound, bare) == []  # no claims asked: nothing disclosable sent


# -- parsing refusals ---------------------------------------------------------------------


def one(**fields: Any) -> dict[str, Any]:
    query = {"id": "q", "format": "dc+sd-jwt", "meta": {"vct_values": [PID_VCT]}}
    query.update(fields)
    return {"credentials": [query]}


@pytest.mark.parametrize(
    ("obj", "error", "message"),
    [
        (one(claims=[{"id": "a", "path": ["x"]}], claim_sets=[["a", "b"]]), MalformedInput, "'b'"),
        ({"credentials": [one()["credentials"][0]] * 2}, MalformedInput, "'q' is used more than once"),
        (one(claims=[{"id": "a", "path": ["x"]}, {"id": "a", "path": ["y"]}]), MalformedInput, "claim id"),
        (one(claims=[{"path": ["x"]}, {"path": ["x"]}]), MalformedInput, "same claim"),
        (one(claims=[{"id": "a", "path": ["x"]}, {"path": ["y"]}], claim_sets=[["a"]]), MalformedInput,
         "needs an id"),
        (one(claims=[{"path": [True]}]), SchemaViolation, "path/0"),
        (one(claims=[{"path": [1.0]}]), MalformedInput, "1.0"),
        (one(claims=[{"path": [-1]}]), SchemaViolation, "path/0"),
        (one(claims=[{"path": [{"k": 1}]}]), SchemaViolation, "path/0"),
        (one(claims=[{"path": []}]), SchemaViolation, "path"),
        (one(claims=[{"path": ["x"], "values": [1.5]}]), SchemaViolation, "values/0"),
        (one(claims=[{"path": ["x"], "values": [2.0]}]), MalformedInput, "2.0"),
        (one(claim_sets=[["a"]]), SchemaViolation, "claims"),
        (one(id="bad id!"), SchemaViolation, "/credentials/0/id"),
        (one(id=""), SchemaViolation, "/credentials/0/id"),
        (one(meta={}), SchemaViolation, "vct_values"),
        (one(meta={"vct_values": []}), SchemaViolation, "vct_values"),
        ({"credentials": []}, SchemaViolation, "credentials"),
        ({**one(), "credential_sets": [{"options": [["q", "nope"]]}]}, MalformedInput, "'nope'"),
        ({**one(), "credential_sets": [{"options": []}]}, SchemaViolation, "options"),
        ([], MalformedInput, "JSON object"),
    ],
    ids=[
        "unknown claim set id", "duplicate credential ids", "duplicate claim ids", "duplicate paths",
        "claim without id beside claim_sets", "boolean path element", "float path element",
        "negative index", "object path element", "empty path", "float value", "integral float value",
        "claim_sets without claims", "id with a bad character", "empty id", "sd-jwt meta without vct",
        "empty vct_values", "no credentials", "unknown credential set id", "empty options", "not an object",
    ],
)
def test_bad_queries_are_refused_naming_the_problem(obj: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_dcql_query(obj)


def test_limits_are_checked_first() -> None:
    limits = DcqlLimits(max_credentials=2, max_claims=2, max_path_length=3, max_values=2)
    many = {"credentials": [{"id": f"q{i}"} for i in range(3)]}  # not even valid: limits come first
    with pytest.raises(MalformedInput, match="more than 2 credentials"):
        parse_dcql_query(many, limits=limits)
    with pytest.raises(MalformedInput, match="more than 2 claims"):
        parse_dcql_query(one(claims=[{"path": [c]} for c in "abc"]), limits=limits)
    with pytest.raises(MalformedInput, match="longer than 3"):
        parse_dcql_query(one(claims=[{"path": list("abcd")}]), limits=limits)
    with pytest.raises(MalformedInput, match="more than 2 values"):
        parse_dcql_query(one(claims=[{"path": ["a"], "values": [1, 2, 3]}]), limits=limits)
    with pytest.raises(MalformedInput, match="larger than"):
        parse_dcql_query_json(b" " * 70_000)


def test_duplicate_json_members_and_unknown_members() -> None:
    with pytest.raises(MalformedInput):
        parse_dcql_query_json('{"credentials": [], "credentials": []}')
    extended = one(future_member=1)  # section 6: unknown members are ignored
    extended["also_new"] = {"x": 1}
    assert parse_dcql_query(extended).credentials[0].id == "q"


def test_builder_output_validates_and_bad_builds_are_refused() -> None:
    with pytest.raises(MalformedInput, match="unknown claim id 'z'"):
        dcql_query([sd_jwt_credential("k", [KYC_VCT], claims=[claim("a", id="a")], claim_sets=[["z"]])])
    with pytest.raises(SchemaViolation, match="vct_values"):
        dcql_query([sd_jwt_credential("k", [])])
    validate(kyc_query().to_json(), "dcql-query")


@given(st.binary(min_size=1, max_size=4), st.integers(min_value=0, max_value=10_000))
@settings(max_examples=200, derandomize=True)
def test_any_flipped_byte_is_refused_or_still_a_valid_query(noise: bytes, where: int) -> None:
    data = bytearray((VECTORS / "credentials_alternatives.json").read_bytes())
    position = where % len(data)
    data[position] ^= noise[0] or 1
    try:
        query = parse_dcql_query_json(bytes(data))
    except AkashiError:
        return  # refused with one of ours, never another exception type
    assert parse_dcql_query(query.to_json()) == query


# -- the KYC scenario, end to end with SD-JWT ---------------------------------------------

EVIDENCE_METHOD = ("verified_claims", "verification", "evidence", None, "jp_aml_method")
TRUST_FRAMEWORK = ("verified_claims", "verification", "trust_framework")


def kyc_query() -> DcqlQuery:
    """KYC by JPKI (ワ) or by licence chip + face (ヘ), as two Credential Queries with values on
    the evidence method; address region or, failing that, the full address; age_over_20."""

    def kyc(query_id: str, method: str) -> Any:
        return sd_jwt_credential(
            query_id,
            [KYC_VCT],
            claims=[
                claim(*TRUST_FRAMEWORK, id="tf", values=["jp_aml"]),
                claim(*EVIDENCE_METHOD, id="method", values=[method]),
                claim("verified_claims", "claims", "address", "region", id="region"),
                claim("verified_claims", "claims", "address", id="address"),
                claim("age_over_20", id="age", values=[True]),
            ],
            claim_sets=[["tf", "method", "region", "age"], ["tf", "method", "address", "age"]],
        )

    rewards = sd_jwt_credential("rewards", ["urn:rewards"], claims=[claim("number")])
    return dcql_query(
        [kyc("kyc_jpki", "ワ"), kyc("kyc_licence", "ヘ"), rewards],
        [credential_set(["kyc_jpki"], ["kyc_licence"]), credential_set(["rewards"], required=False)],
    )


def kyc_credential(method: str, *, region: bool = True) -> str:
    address: dict[str, Any] = {"locality": SD("千代田区"), "country": "JP"}
    if region:
        address["region"] = SD("東京都")
    claims = {
        "iss": "did:akashi:zIssuer",
        "vct": KYC_VCT,
        "iat": NOW - 3600,
        "verified_claims": {
            "verification": {
                "trust_framework": "jp_aml",
                "evidence": [SD({"type": "electronic_signature", "jp_aml_method": method})],
            },
            "claims": {"given_name": SD("花子"), "family_name": SD("山田"), "address": SD(address)},
        },
        "age_over_18": SD(True),
        "age_over_20": SD(True),
    }
    return issue(claims, ISSUER, holder_key=HOLDER.public_key, decoys=1, random=fixed_random())


def wallet_answers(query: DcqlQuery, held: list[str], extra: tuple[Any, ...] = ()) -> dict[str, list[str]]:
    candidates = [Candidate.from_claims(parse_claims_unverified(sd_jwt)) for sd_jwt in held]
    selection = select_credentials(query, candidates)
    return {
        qid: [
            present(held[i], [*paths, *extra], holder_key=HOLDER, nonce="n-1", aud=VERIFIER, iat=NOW)
            for i, paths in answers
        ]
        for qid, answers in selection.items()
    }


def verifier_checks(query: DcqlQuery, vp_token: dict[str, list[str]]) -> Any:
    received = {
        qid: [verify(p, ISSUER.public_key, now=NOW, nonce="n-1", aud=VERIFIER) for p in items]
        for qid, items in vp_token.items()
    }
    return check_presentation(query, received)


def test_kyc_by_licence_when_the_wallet_holds_no_jpki_credential() -> None:
    query = kyc_query()
    vp_token = wallet_answers(query, [kyc_credential("ヘ")])
    assert set(vp_token) == {"kyc_licence"}
    report = verifier_checks(query, vp_token)
    (checked,) = report.presentations
    assert checked.claim_set == ("tf", "method", "region", "age")
    assert ("verified_claims", "claims", "address", "region") in checked.requested
    assert checked.not_requested == ()
    claims = verify(vp_token["kyc_licence"][0], ISSUER.public_key, now=NOW, nonce="n-1", aud=VERIFIER).claims
    assert "given_name" not in claims["verified_claims"]["claims"] and "age_over_18" not in claims


def test_kyc_falls_back_to_the_second_claim_set_and_prefers_jpki() -> None:
    query = kyc_query()
    vp_token = wallet_answers(query, [kyc_credential("ヘ"), kyc_credential("ワ", region=False)])
    assert set(vp_token) == {"kyc_jpki"}
    (checked,) = verifier_checks(query, vp_token).presentations
    assert checked.claim_set == ("tf", "method", "address", "age")


def test_extra_disclosures_are_reported_as_not_requested() -> None:
    query = kyc_query()
    extra = (("age_over_18",), ("verified_claims", "claims", "given_name"))
    vp_token = wallet_answers(query, [kyc_credential("ワ")], extra=extra)
    report = verifier_checks(query, vp_token)
    assert sorted(p for _, p in report.not_requested["kyc_jpki"]) == [
        ("age_over_18",), ("verified_claims", "claims", "given_name")
    ]


def test_unsatisfiable_kyc_query_is_refused_by_the_wallet() -> None:
    with pytest.raises(PolicyError, match="kyc_jpki or kyc_licence"):
        wallet_answers(kyc_query(), [])


@pytest.mark.parametrize(
    ("tamper", "error", "message"),
    [
        (lambda t: {"kyc_jpki": t["kyc_licence"]}, PolicyError, "accepted value"),
        (lambda t: {**t, "other": t["kyc_licence"]}, PolicyError, "unknown credential query 'other'"),
        (lambda t: {"kyc_licence": t["kyc_licence"] * 2}, PolicyError, "several presentations"),
        (lambda t: {"kyc_licence": []}, PolicyError, "empty"),
        (lambda t: {}, PolicyError, r"credential_sets\[0\] is not met"),
        (lambda t: {"rewards": t["kyc_licence"]}, PolicyError, "vct"),
    ],
    ids=["wrong method", "unknown id", "two where one", "empty entry", "required set unmet", "wrong vct"],
)
def test_verifier_refuses_what_does_not_answer_the_query(
    tamper: Callable[[dict[str, list[str]]], dict[str, list[str]]], error: type[Exception], message: str
) -> None:
    query = kyc_query()
    vp_token = tamper(wallet_answers(query, [kyc_credential("ヘ")]))
    with pytest.raises(error, match=message):
        verifier_checks(query, vp_token)


def test_verifier_refuses_missing_claims_and_missing_key_binding() -> None:
    query = kyc_query()
    held = kyc_credential("ヘ")
    thin = present(held, [EVIDENCE_METHOD], holder_key=HOLDER, nonce="n-1", aud=VERIFIER, iat=NOW)
    with pytest.raises(PolicyError, match="none of the claim_sets"):
        verifier_checks(query, {"kyc_licence": [thin]})
    full = wallet_answers(query, [held])["kyc_licence"][0]
    unbound = full[: full.rindex("~") + 1]
    received = verify(unbound, ISSUER.public_key, now=NOW, nonce=None, aud=None, require_key_binding=False)
    with pytest.raises(BindingError, match="no key binding"):
        check_presentation(query, {"kyc_licence": [received]})


# -- property: match → present → verify → check -------------------------------------------

LEAVES: list[tuple[str | int | None, ...]] = [
    ("given_name",),
    ("family_name",),
    ("age_over_20",),
    ("score",),
    ("address", "region"),
    ("address", "locality"),
    ("nationalities", None),
    ("nationalities", 0),
]


def property_credential() -> str:
    claims = {
        "iss": "did:akashi:zIssuer",
        "vct": PID_VCT,
        "iat": NOW - 10,
        "given_name": SD("花子"),
        "family_name": SD("山田"),
        "age_over_20": SD(True),
        "score": SD(42),
        "address": SD({"region": SD("東京都"), "locality": SD("千代田区")}),
        "nationalities": SD([SD("JP"), SD("US")]),
    }
    return issue(claims, ISSUER, holder_key=HOLDER.public_key, decoys=1, random=fixed_random(9))


PROPERTY_CREDENTIAL = property_credential()
PROPERTY_CLAIMS = parse_claims_unverified(PROPERTY_CREDENTIAL)


@given(st.lists(st.sampled_from(LEAVES), unique=True, max_size=len(LEAVES)), st.booleans())
@settings(max_examples=30, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_for_random_claim_subsets(chosen: list[tuple[Any, ...]], with_values: bool) -> None:
    claims = []
    for path in chosen:
        value = select(PROPERTY_CLAIMS, path)[0]
        exact = with_values and None not in path and not isinstance(value, (dict, list))
        claims.append(claim(*path, values=[value] if exact else None))
    query = dcql_query([sd_jwt_credential("pid", [PID_VCT], claims=claims or None)])
    report = verifier_checks(query, wallet_answers(query, [PROPERTY_CREDENTIAL]))
    (checked,) = report.presentations
    assert checked.not_requested == ()  # the wallet disclosed nothing beyond the query
    if not chosen:
        assert checked.requested == ()


def test_path_within_a_scope_means_the_scope_or_inside_it() -> None:
    scopes = [("verified_claims", "claims", "address"), ("categories", None), ("age_over_20",)]
    assert path_within(("age_over_20",), scopes)
    assert path_within(("verified_claims", "claims", "address", "locality"), scopes)
    assert path_within(("categories", 0), scopes) and path_within(("categories", None), scopes)
    assert not path_within(("verified_claims", "claims"), scopes)  # the way to a scope reveals more
    assert not path_within(("verified_claims",), scopes)
    assert not path_within(("age_over_18",), scopes)
    assert not path_within(("categories",), scopes)
    assert not path_within(("x", None), [("x", 0)])  # an index scope does not cover every element
