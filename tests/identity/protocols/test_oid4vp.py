"""OpenID4VP 1.0 messages: what a verifier and a wallet written by someone else would notice.

The specification's examples (tests/vectors/openid4vp/, see SOURCE) validate where they fit
akashi's profile and are refused where they do not; our output satisfies the schemas in specs/;
every refusal is an akashi error, with the error code the specification names where it names one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.credentials.consent import new_consent_receipt, sign_consent_receipt, verify_consent_receipt
from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey
from identity.did.did_key import did_key_from_public_key
from identity.errors import (
    AkashiError,
    BindingError,
    Expired,
    InvalidSignature,
    MalformedInput,
    SchemaViolation,
    TimeError,
    UnsupportedAlgorithm,
)
from identity.jose.jws import sign_jwt
from identity.protocols.oid4vci.urls import form_encode
from identity.protocols.oid4vp import (
    ACCESS_DENIED,
    INVALID_REQUEST_OBJECT,
    INVALID_REQUEST_URI_METHOD,
    INVALID_TRANSACTION_DATA,
    OPENID4VP_SCHEME,
    REQUEST_OBJECT_TYP,
    SELF_ISSUED_V2,
    VP_FORMATS_NOT_SUPPORTED,
    AuthorizationError,
    AuthorizationResponse,
    OAuthError,
    RequestPolicy,
    ResponsePolicy,
    build_authorization_response,
    build_client_metadata,
    build_error_response,
    build_request_object,
    build_request_uri_post,
    build_response_uri_answer,
    client_id_for_did,
    parse_direct_post,
    parse_request_uri_post,
    parse_request_url,
    parse_response_uri_answer,
    request_object_kid_unverified,
    request_url_by_reference,
    verify_request_object,
    wallet_error_for,
)
from identity.schemas import validate

VECTORS = Path(__file__).parents[2] / "vectors" / "openid4vp"
NOW = 1_760_000_000
VERIFIER_KEY = Ed25519PrivateKey.from_seed(bytes(range(32)))
VERIFIER_DID = did_key_from_public_key(VERIFIER_KEY.public_key)
KID = f"{VERIFIER_DID}#{VERIFIER_DID.split(':')[-1]}"
CLIENT_ID = client_id_for_did(VERIFIER_DID)
HOLDER_KEY = Ed25519PrivateKey.from_seed(b"\x07" * 32)
RESPONSE_URI = "https://verifier.example.com/oid4vp/response"
REQUEST_URI = "https://verifier.example.com/oid4vp/request/abc123"
DCQL = {
    "credentials": [
        {
            "id": "kyc",
            "format": "dc+sd-jwt",
            "meta": {"vct_values": ["https://akashi.example/vct/kyc"]},
            "claims": [{"path": ["age_over_20"]}],
        }
    ]
}


def spec_examples() -> dict[str, Any]:
    examples: dict[str, Any] = json.loads((VECTORS / "spec_examples.json").read_text(encoding="utf-8"))
    for name in ("request_object_direct_post", "request_object_request_uri_post"):
        examples[name]["dcql_query"] = examples["dcql_query_by_value_example"]
    return examples


def request_object(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "response_uri": RESPONSE_URI,
        "nonce": "n-0S6_WzA2Mj",
        "state": "st-1",
        "dcql_query": DCQL,
        "now": NOW,
    }
    args.update(overrides)
    return build_request_object(VERIFIER_KEY, KID, **args)


def claims_of(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return payload


def signed(claims: dict[str, Any], *, header: dict[str, Any] | None = None) -> str:
    return sign_jwt(header or {"typ": REQUEST_OBJECT_TYP, "kid": KID}, claims, VERIFIER_KEY)


def verify(token: str, **kwargs: Any) -> Any:
    args: dict[str, Any] = {"expected_client_id": CLIENT_ID, "now": NOW + 5}
    args.update(kwargs)
    return verify_request_object(token, VERIFIER_KEY.public_key, **args)


# --- Authorization Request -----------------------------------------------------------------


def test_request_object_round_trip() -> None:
    token = request_object(wallet_nonce="wn-1")
    assert request_object_kid_unverified(token) == KID
    request = verify(token, wallet_nonce="wn-1")
    assert request.client_id == CLIENT_ID == f"decentralized_identifier:{VERIFIER_DID}"
    assert request.verifier_did == VERIFIER_DID and request.kid == KID
    assert request.response_uri == RESPONSE_URI and request.nonce == "n-0S6_WzA2Mj"
    assert request.state == "st-1" and request.dcql_query == DCQL
    assert request.client_metadata == build_client_metadata()
    assert (request.iat, request.exp) == (NOW, NOW + 300)


def test_request_object_header_and_claims_follow_the_spec() -> None:
    token = request_object()
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header == {"alg": "EdDSA", "typ": "oauth-authz-req+jwt", "kid": KID}
    claims = claims_of(token)
    assert claims["aud"] == SELF_ISSUED_V2 == "https://self-issued.me/v2"
    assert claims["response_type"] == "vp_token" and claims["response_mode"] == "direct_post"
    assert claims["client_metadata"]["vp_formats_supported"] == {
        "dc+sd-jwt": {"sd-jwt_alg_values": ["EdDSA"], "kb-jwt_alg_values": ["EdDSA"]}
    }
    validate(claims, "oid4vp-request-object")


def test_request_url_round_trip_and_qr_shape() -> None:
    url = request_url_by_reference(CLIENT_ID, REQUEST_URI, request_uri_method="post")
    assert url.startswith("openid4vp://?client_id=decentralized_identifier%3Adid%3Akey%3A")
    assert url.isascii() and " " not in url
    assert parse_request_url(url) == (CLIENT_ID, REQUEST_URI, "post")
    plain = request_url_by_reference(CLIENT_ID, REQUEST_URI, endpoint="https://wallet.example.com/")
    assert parse_request_url(plain, endpoints=["https://wallet.example.com/"]).request_uri_method == "get"


def test_request_uri_post_round_trip_and_spec_example() -> None:
    body = build_request_uri_post("wn-1", {"vp_formats_supported": {"dc+sd-jwt": {}}})
    assert parse_request_uri_post(body) == ("wn-1", {"vp_formats_supported": {"dc+sd-jwt": {}}})
    post = parse_request_uri_post(spec_examples()["request_uri_post_body"])
    assert post.wallet_nonce == "qPmxiNFCR3QTm19POc8u"
    es256 = {"sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["ES256"]}
    assert post.wallet_metadata == {"vp_formats_supported": {"dc+sd-jwt": es256}}
    with pytest.raises(OAuthError) as caught:
        parse_request_uri_post("wallet_metadata=%7B&wallet_nonce=x")
    assert caught.value.error == "invalid_request"


@pytest.mark.parametrize(
    "url",
    [
        "openid4vp://",
        "openid4vp://?request_uri=https%3A%2F%2Fv.example%2Fr",
        f"openid4vp://?client_id={CLIENT_ID}",
        f"openid4vp://?client_id={CLIENT_ID}&request_uri=http%3A%2F%2Fv.example%2Fr",
        f"openid4vp://?client_id={CLIENT_ID}&request_uri=https%3A%2F%2Fv.example%2Fr#frag",
        f"openid4vp://?client_id={CLIENT_ID}&client_id={CLIENT_ID}&request_uri=https%3A%2F%2Fv.example%2Fr",
        f"openid4vp://?client_id={CLIENT_ID}&request_uri=https%3A%2F%2Fv.example%2Fr%zz",
        f"openid4vp://?client_id={CLIENT_ID}&request_uri=https%3A%2F%2Fv.example%2Fr&request=eyJ",
        f"haip://?client_id={CLIENT_ID}&request_uri=https%3A%2F%2Fv.example%2Fr",
        "openid4vp://?client_id=decentralized_identifier%3Anot-a-did&request_uri=https%3A%2F%2Fv.example%2Fr",
        "openid4vp://?" + "a=b&" * 2000,
    ],
)
def test_malformed_request_urls_are_refused(url: str) -> None:
    with pytest.raises((MalformedInput, OAuthError)):
        parse_request_url(url)


def test_unknown_request_uri_method_is_the_spec_error() -> None:
    url = f"openid4vp://?client_id={CLIENT_ID}&request_uri=https%3A%2F%2Fv.example%2Fr&request_uri_method=PUT"
    with pytest.raises(OAuthError) as caught:
        parse_request_url(url)
    assert caught.value.error == INVALID_REQUEST_URI_METHOD


def test_spec_request_urls_use_prefixes_akashi_does_not_support() -> None:
    examples = spec_examples()
    for url in (
        examples["request_url_by_reference_https"],
        OPENID4VP_SCHEME + "?" + examples["request_query_by_reference_post"],
    ):
        endpoints = ["https://wallet.example.com", OPENID4VP_SCHEME]
        with pytest.raises(OAuthError) as caught:
            parse_request_url(url, endpoints=endpoints)
        assert caught.value.error == "invalid_request"


def test_spec_request_objects_validate_where_they_fit_the_profile() -> None:
    examples = spec_examples()
    validate(examples["request_object_direct_post"], "oid4vp-request-object")
    validate(examples["request_object_request_uri_post"], "oid4vp-request-object")
    validate(examples["client_metadata_sd_jwt_vc"], "oid4vp-client-metadata")
    validate(
        {"vp_formats_supported": examples["static_configuration_openid4vp"]["vp_formats_supported"]},
        "oid4vp-client-metadata",
    )
    did_example = json.loads((VECTORS / "request_object_client_id_did.json").read_text(encoding="utf-8"))
    validate(did_example["client_metadata"], "oid4vp-client-metadata")
    # Response Mode fragment with a redirect_uri: not akashi's direct_post profile.
    for obj in (did_example, examples["request_object_by_value_redirect_uri"]):
        with pytest.raises(SchemaViolation):
            validate(obj, "oid4vp-request-object")


def test_spec_did_example_signed_by_us_is_refused_for_its_redirect_uri() -> None:
    obj = json.loads((VECTORS / "request_object_client_id_did.json").read_text(encoding="utf-8"))
    obj.update(client_id=CLIENT_ID, aud=SELF_ISSUED_V2, iat=NOW, exp=NOW + 60)
    with pytest.raises(OAuthError) as caught:
        verify(signed(obj))
    assert caught.value.error == "invalid_request"


def test_es256_only_verifier_is_vp_formats_not_supported() -> None:
    metadata = spec_examples()["client_metadata_sd_jwt_vc"]
    with pytest.raises(OAuthError) as caught:
        verify(request_object(client_metadata=metadata))
    assert caught.value.error == VP_FORMATS_NOT_SUPPORTED
    with pytest.raises(OAuthError):
        verify(request_object(client_metadata={"vp_formats_supported": {"mso_mdoc": {}}}))


def _claims(**changes: Any) -> dict[str, Any]:
    claims = claims_of(request_object())
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


OTHER_KEY = Ed25519PrivateKey.from_seed(b"\x09" * 32)
OTHER_DID = did_key_from_public_key(OTHER_KEY.public_key)


def _unsigned_none() -> str:
    header = b64url_encode(canonicalize({"alg": "none", "typ": REQUEST_OBJECT_TYP, "kid": KID}))
    return header + "." + b64url_encode(canonicalize(_claims())) + "."


REFUSALS: list[tuple[str, Any, type[AkashiError]]] = [
    ("alg none, unsigned", lambda: _unsigned_none(), UnsupportedAlgorithm),
    ("signed by another key", lambda: sign_jwt({"typ": REQUEST_OBJECT_TYP, "kid": KID}, _claims(), OTHER_KEY),
     InvalidSignature),
    ("typ missing", lambda: signed(_claims(), header={"kid": KID}), MalformedInput),
    ("typ plain JWT", lambda: signed(_claims(), header={"typ": "JWT", "kid": KID}), MalformedInput),
    ("kid missing", lambda: signed(_claims(), header={"typ": REQUEST_OBJECT_TYP}), MalformedInput),
    ("kid of another DID",
     lambda: signed(_claims(), header={"typ": REQUEST_OBJECT_TYP, "kid": OTHER_DID + "#k"}), BindingError),
    ("client_id differs", lambda: signed(_claims(client_id=client_id_for_did(OTHER_DID))), BindingError),
    ("client_id without prefix", lambda: signed(_claims(client_id=VERIFIER_DID)), BindingError),
    ("wrong aud", lambda: signed(_claims(aud="https://wallet.example.com")), BindingError),
    ("no aud", lambda: signed(_claims(aud=None)), BindingError),
    ("iat in the future", lambda: signed(_claims(iat=NOW + 600, exp=NOW + 900)), TimeError),
    ("iat too old", lambda: signed(_claims(iat=NOW - 4000, exp=NOW + 100)), TimeError),
    ("expired", lambda: signed(_claims(exp=NOW - 100)), Expired),
    ("no exp", lambda: signed(_claims(exp=None)), MalformedInput),
    ("no iat", lambda: signed(_claims(iat=None)), MalformedInput),
    ("lives too long", lambda: signed(_claims(exp=NOW + 86400)), MalformedInput),
    ("no nonce", lambda: signed(_claims(nonce=None)), SchemaViolation),
    ("nonce not URL-safe", lambda: signed(_claims(nonce="a b")), SchemaViolation),
    ("no dcql_query", lambda: signed(_claims(dcql_query=None)), SchemaViolation),
    ("dcql_query not an object", lambda: signed(_claims(dcql_query=["x"])), SchemaViolation),
    ("dcql_query without credentials", lambda: signed(_claims(dcql_query={"credential_sets": []})),
     SchemaViolation),
    ("response_type code", lambda: signed(_claims(response_type="code")), SchemaViolation),
    ("response_mode fragment", lambda: signed(_claims(response_mode="fragment")), OAuthError),
    ("response_uri http",
     lambda: signed(_claims(response_uri="http://verifier.example.com/r")), MalformedInput),
    ("redirect_uri too", lambda: signed(_claims(redirect_uri="https://v.example/cb")), OAuthError),
    ("transaction_data", lambda: signed(_claims(transaction_data=["eyJ0eXBlIjoieCJ9"])), OAuthError),
    ("scope beside dcql_query", lambda: signed(_claims(scope="kyc")), OAuthError),
    ("no client_metadata", lambda: signed(_claims(client_metadata=None)), OAuthError),
    ("duplicate claim", lambda: _duplicate_claim(), MalformedInput),
    ("oversize", lambda: request_object(dcql_query={**DCQL, "x": "a" * 70_000}), MalformedInput),
]


def _duplicate_claim() -> str:
    header = b64url_encode(canonicalize({"alg": "EdDSA", "typ": REQUEST_OBJECT_TYP, "kid": KID}))
    body = canonicalize(_claims())[:-1] + b',"nonce":"other"}'
    signing_input = header + "." + b64url_encode(body)
    return signing_input + "." + b64url_encode(VERIFIER_KEY.sign(signing_input.encode("ascii")))


@pytest.mark.parametrize(("name", "make", "expected"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_request_object_refusals(name: str, make: Any, expected: type[AkashiError]) -> None:
    with pytest.raises(expected):
        verify(make())


def test_request_refusals_carry_the_spec_codes() -> None:
    cases = {
        INVALID_TRANSACTION_DATA: _claims(transaction_data=["eyJ0eXBlIjoieCJ9"]),
        "invalid_request": _claims(scope="kyc"),
        "invalid_scope": _claims(scope="kyc", dcql_query=None),
    }
    for code, claims in cases.items():
        with pytest.raises(OAuthError) as caught:
            verify(signed(claims))
        assert caught.value.error == code


def test_wallet_nonce_must_come_back() -> None:
    with pytest.raises(BindingError):
        verify(request_object(), wallet_nonce="wn-1")
    with pytest.raises(BindingError):
        verify(request_object(wallet_nonce="other"), wallet_nonce="wn-1")


def test_iss_is_ignored_and_aud_may_be_an_array() -> None:
    request = verify(signed(_claims(iss="whatever", aud=["x", SELF_ISSUED_V2])))
    assert request.client_id == CLIENT_ID


def test_audience_is_a_policy() -> None:
    token = request_object(audience="https://wallet.example.com")
    assert verify(token, policy=RequestPolicy(audience="https://wallet.example.com")).client_id == CLIENT_ID


def test_wallet_error_for_maps_failures() -> None:
    assert wallet_error_for(BindingError("x")).error == "invalid_request"
    assert wallet_error_for(InvalidSignature("x")).error == INVALID_REQUEST_OBJECT
    assert wallet_error_for(OAuthError(VP_FORMATS_NOT_SUPPORTED)).error == VP_FORMATS_NOT_SUPPORTED


@settings(max_examples=120, deadline=None, derandomize=True)
@given(st.data())
def test_any_flipped_byte_of_a_request_object_is_refused(data: st.DataObject) -> None:
    token = request_object()
    raw = bytearray(token.encode("ascii"))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    try:
        flipped = raw.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        return
    with pytest.raises(AkashiError):
        verify(flipped)


# --- Authorization Response ----------------------------------------------------------------


def _consent_jws() -> str:
    receipt = new_consent_receipt(
        HOLDER_KEY.public_key,
        verifier=VERIFIER_DID,
        purpose_id="kyc",
        purpose="Identity check",
        claims=["age_over_20"],
        granted_at=NOW,
        expires_at=NOW + 3600,
        updates_allowed=False,
        nonce="n-0S6_WzA2Mj",
        random=lambda n: b"\x01" * n,
    )
    return sign_consent_receipt(receipt, HOLDER_KEY)


def test_authorization_response_round_trip_with_consent() -> None:
    consent = _consent_jws()
    body = build_authorization_response({"kyc": ["eyJ.x.y~d1~kb"]}, "st-1", akashi_consent=consent)
    assert body.startswith("vp_token=%7B%22kyc%22%3A%5B%22eyJ.x.y~d1~kb%22%5D%7D&state=st-1&akashi_consent=")
    parsed = parse_direct_post(body.encode("ascii"))
    assert isinstance(parsed, AuthorizationResponse)
    assert parsed.vp_token == {"kyc": ("eyJ.x.y~d1~kb",)} and parsed.state == "st-1"
    assert parsed.akashi_consent == consent
    receipt = verify_consent_receipt(consent, HOLDER_KEY.public_key, now=NOW + 10, verifier=VERIFIER_DID)
    assert receipt.claims == ("age_over_20",)


def test_plain_wallet_response_without_consent() -> None:
    parsed = parse_direct_post(build_authorization_response({"a": ["p1", "p2"], "b": ["p3"]}, "s"))
    assert isinstance(parsed, AuthorizationResponse)
    assert parsed.akashi_consent is None and parsed.vp_token == {"a": ("p1", "p2"), "b": ("p3",)}


def test_unknown_response_parameters_are_ignored() -> None:
    body = form_encode([("vp_token", '{"a":["p"]}'), ("state", "s"), ("iss", "https://wallet.example")])
    assert isinstance(parse_direct_post(body), AuthorizationResponse)


def test_spec_vp_tokens_validate() -> None:
    examples = spec_examples()
    for name in ("vp_token_single", "vp_token_multiple"):
        body = form_encode([("vp_token", json.dumps(examples[name])), ("state", "eyJhb...6-sVA")])
        parsed = parse_direct_post(body)
        assert isinstance(parsed, AuthorizationResponse) and list(parsed.vp_token) == ["my_credential"]


def test_spec_error_post_is_a_typed_refusal() -> None:
    refusal = parse_direct_post(spec_examples()["direct_post_error_body"])
    assert refusal == AuthorizationError("invalid_request", "unsupported client_id_prefix", "eyJhb...6-sVA")
    built = build_error_response(ACCESS_DENIED, state="st-1", description="the user said no")
    assert parse_direct_post(built) == AuthorizationError(ACCESS_DENIED, "the user said no", "st-1")


def test_spec_elided_response_is_refused() -> None:
    with pytest.raises(OAuthError) as caught:
        parse_direct_post(spec_examples()["direct_post_response_body"])  # vp_token=... is not JSON
    assert caught.value.error == "invalid_request" and caught.value.status == 400
    assert isinstance(caught.value.__cause__, MalformedInput)


def _body(vp_token: str | None = '{"a":["p"]}', state: str | None = "s", **extra: str) -> str:
    params = [(k, v) for k, v in (("vp_token", vp_token), ("state", state)) if v is not None]
    return form_encode(params + list(extra.items()))


@pytest.mark.parametrize(
    "body",
    [
        _body(state=None),
        _body(vp_token=None),
        _body(vp_token="not json"),
        _body(vp_token='["p"]'),
        _body(vp_token="{}"),
        _body(vp_token='{"a":"p"}'),
        _body(vp_token='{"a":[]}'),
        _body(vp_token='{"a":[1]}'),
        _body(vp_token='{"a":[""]}'),
        _body(vp_token='{"a":[{"vp":1}]}'),
        _body(vp_token='{"a b":["p"]}'),
        _body(vp_token='{"a":["p"],"a":["q"]}'),
        _body(vp_token='{"a":["p","p","p","p","p","p","p","p","p"]}'),
        _body(state="a b"),
        _body(akashi_consent="not-a-jws"),
        _body(akashi_consent=sign_jwt({"typ": "JWT"}, {"x": 1}, HOLDER_KEY)),
        _body() + "&state=t",
        _body() + "&x=%ZZ",
        "vp_token=\u00e9",
        b"vp_token=\xff",
        "x" * 600_000,
    ],
)
def test_malformed_responses_are_invalid_request(body: str | bytes) -> None:
    with pytest.raises(OAuthError) as caught:
        parse_direct_post(body)
    assert caught.value.error == "invalid_request"


def test_response_limits_are_policy() -> None:
    body = _body(vp_token=json.dumps({f"c{i}": ["p"] for i in range(3)}))
    with pytest.raises(OAuthError):
        parse_direct_post(body, policy=ResponsePolicy(max_credentials=2))
    with pytest.raises(OAuthError):
        parse_direct_post(body, policy=ResponsePolicy(max_body=10))


def test_response_uri_answer_round_trip_and_spec_example() -> None:
    example = spec_examples()["response_uri_answer"]
    assert parse_response_uri_answer(json.dumps(example)) == example["redirect_uri"]
    assert build_response_uri_answer(example["redirect_uri"]) == example
    assert build_response_uri_answer() == {}
    assert parse_response_uri_answer(b'{"other": 1}') is None
    for bad in (b'{"redirect_uri": "javascript:alert(1)"}', b'{"redirect_uri": 5}', b"[]", b'{"a":1,"a":2}'):
        with pytest.raises(MalformedInput):
            parse_response_uri_answer(bad)


def test_schemas_name_the_bad_field() -> None:
    with pytest.raises(SchemaViolation) as caught:
        validate({"vp_token": {"a": [1]}, "state": "s"}, "oid4vp-authorization-response")
    assert "vp_token" in caught.value.path
    with pytest.raises(SchemaViolation) as caught:
        validate({"error": "bad\"code"}, "oid4vp-authorization-error")
    assert "error" in caught.value.path
    with pytest.raises(SchemaViolation) as caught:
        validate({"vp_formats_supported": {"dc+sd-jwt": {"kb-jwt_alg_values": []}}}, "oid4vp-client-metadata")
    assert "kb-jwt_alg_values" in caught.value.path
    with pytest.raises(SchemaViolation) as caught:
        validate({"redirect_uri": ""}, "oid4vp-response-uri-answer")
    assert "redirect_uri" in caught.value.path
