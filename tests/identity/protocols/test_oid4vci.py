"""OpenID4VCI 1.0 messages: what an issuer and a wallet written by someone else would notice.

The specification's own examples (tests/vectors/openid4vci/, see SOURCE) parse;
our output satisfies the schemas in specs/; every refusal carries the error
code the specification names for it.
"""

from __future__ import annotations

import importlib.util
import json
import random as pyrandom
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.credentials.sdjwt import SD, issue, parse_claims_unverified
from identity.crypto.encoding import b64url_encode
from identity.crypto.keys import Ed25519PrivateKey, X25519PrivateKey
from identity.errors import MalformedInput, ProofMismatch, SchemaViolation
from identity.jose.jwk import private_key_to_jwk, public_key_from_jwk, public_key_to_jwk
from identity.jose.jws import parse_compact_unverified, sign_compact, sign_jwt
from identity.protocols.oid4vci import (
    NO_STORE,
    OFFER_SCHEME,
    PRE_AUTHORIZED_CODE_GRANT,
    PROOF_TYP,
    WELL_KNOWN_CREDENTIAL_ISSUER,
    WELL_KNOWN_JWT_VC_ISSUER,
    WELL_KNOWN_OAUTH_AUTHORIZATION_SERVER,
    ClaimInfo,
    CredentialDisplay,
    CredentialType,
    OAuthError,
    TxCode,
    bearer_token,
    build_authorization_server_metadata,
    build_credential_issuer_metadata,
    build_credential_request,
    build_credential_response,
    build_jwt_vc_issuer_metadata,
    build_nonce_response,
    build_offer,
    build_proof_jwt,
    build_token_request,
    build_token_response,
    build_type_metadata,
    c_nonce_is_fresh,
    check_tx_code,
    integrity,
    issue_c_nonce,
    new_secret,
    offer_url_by_reference,
    offer_url_by_value,
    parse_authorization_server_metadata,
    parse_credential_issuer_metadata,
    parse_credential_request,
    parse_credential_response,
    parse_error_response,
    parse_jwt_vc_issuer_metadata,
    parse_nonce_response,
    parse_offer,
    parse_offer_url,
    parse_token_request,
    parse_token_response,
    parse_type_metadata,
    verify_integrity,
    verify_proof_jwt,
    verify_proofs,
    well_known_url,
)
from identity.schemas import validate

VECTORS = Path(__file__).parents[2] / "vectors" / "openid4vci"
SPEC: dict[str, Any] = json.loads((VECTORS / "spec_examples.json").read_text(encoding="utf-8"))
SD_JWT_VC: dict[str, Any] = json.loads((VECTORS / "sd_jwt_vc_examples.json").read_text(encoding="utf-8"))

ISSUER_ID = "https://issuer.akashi.example"
NOW = 1_800_000_000
NONCE = "n-0123456789"
ISSUER_KEY = Ed25519PrivateKey.from_seed(bytes([9]) * 32)
HOLDERS = [Ed25519PrivateKey.from_seed(bytes([20 + i]) * 32) for i in range(4)]


def _es256_verifier_class() -> Any:
    # The test-only ES256 verifier lives beside the SD-JWT vector tests.
    path = Path(__file__).parents[1] / "credentials" / "es256_testkey.py"
    spec = importlib.util.spec_from_file_location("oid4vci_es256_testkey", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module.Es256Verifier


def fixed_random(seed: int = 7) -> Callable[[int], bytes]:
    rng = pyrandom.Random(seed)
    return lambda n: bytes(rng.getrandbits(8) for _ in range(n))


KYC = CredentialType(
    configuration_id="akashi_kyc_jp_aml",
    vct="https://issuer.akashi.example/vct/kyc",
    name="akashi KYC attestation",
    description="Identity verified under the Act on Prevention of Transfer of Criminal Proceeds",
    display=[
        CredentialDisplay(
            "ja-JP", "本人確認済み証明", description="犯罪収益移転防止法に基づく本人確認の結果"
        ),
        CredentialDisplay(
            "en-US",
            "Verified identity",
            description="Identity verification under the Japanese AML act",
            background_color="#12107c",
            text_color="#FFFFFF",
        ),
    ],
    claims=[
        ClaimInfo(("family_name",), {"ja-JP": "姓", "en-US": "Family name"}, mandatory=True, sd="always"),
        ClaimInfo(("given_name",), {"ja-JP": "名", "en-US": "Given name"}, mandatory=True, sd="always"),
        ClaimInfo(("birthdate",), {"ja-JP": "生年月日", "en-US": "Date of birth"}, sd="always"),
        ClaimInfo(("address",), {"ja-JP": "住所", "en-US": "Address"}, sd="always"),
        ClaimInfo(("address", "formatted"), {"ja-JP": "住所(全体)", "en-US": "Full address"}, sd="always"),
        ClaimInfo(
            ("age_over_18",),
            {"ja-JP": "18歳以上", "en-US": "Over 18"},
            descriptions={"ja-JP": "発行時点で18歳以上", "en-US": "18 or older at issuance"},
            sd="always",
            svg_id="age_over_18",
        ),
        ClaimInfo(("vct",), {"en-US": "Credential type"}, mandatory=True, sd="never"),
    ],
)
LICENCE = CredentialType(
    configuration_id="akashi_driving_licence",
    vct="https://issuer.akashi.example/vct/driving-licence",
    display=[CredentialDisplay("ja-JP", "運転免許"), CredentialDisplay("en-US", "Driving licence")],
    claims=[ClaimInfo(("categories", None), {"ja-JP": "種類", "en-US": "Categories"})],
)


def issuer_metadata() -> dict[str, Any]:
    return build_credential_issuer_metadata(
        ISSUER_ID,
        [KYC, LICENCE],
        batch_size=3,
        display=[CredentialDisplay("ja-JP", "あかし本人確認"), CredentialDisplay("en-US", "akashi KYC")],
    )


def oauth_error(call: Callable[[], object]) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        call()
    return caught.value


def error_code(call: Callable[[], object]) -> str:
    return oauth_error(call).error


# --------------------------------------------------------------------------------------------
# Metadata


def test_issuer_metadata_announces_what_a_wallet_needs() -> None:
    metadata = issuer_metadata()
    assert metadata["credential_issuer"] == ISSUER_ID
    assert metadata["credential_endpoint"] == ISSUER_ID + "/credential"
    assert metadata["nonce_endpoint"] == ISSUER_ID + "/nonce"
    assert metadata["batch_credential_issuance"] == {"batch_size": 3}
    config = metadata["credential_configurations_supported"]["akashi_kyc_jp_aml"]
    assert config["format"] == "dc+sd-jwt"
    assert config["vct"] == KYC.vct
    assert config["cryptographic_binding_methods_supported"] == ["jwk"]
    assert config["credential_signing_alg_values_supported"] == ["EdDSA"]
    assert config["proof_types_supported"] == {"jwt": {"proof_signing_alg_values_supported": ["EdDSA"]}}
    display = config["credential_metadata"]["display"]
    assert {d["locale"]: d["name"] for d in display} == {
        "ja-JP": "本人確認済み証明",
        "en-US": "Verified identity",
    }
    claims = config["credential_metadata"]["claims"]
    assert claims[0] == {
        "path": ["family_name"],
        "mandatory": True,
        "display": [{"name": "姓", "locale": "ja-JP"}, {"name": "Family name", "locale": "en-US"}],
    }
    assert metadata["display"] == [
        {"name": "あかし本人確認", "locale": "ja-JP"},
        {"name": "akashi KYC", "locale": "en-US"},
    ]
    validate(metadata, "oid4vci-credential-issuer-metadata")


def test_issuer_metadata_round_trips_through_the_wallet_parser() -> None:
    metadata = issuer_metadata()
    body = json.dumps(metadata, ensure_ascii=False).encode("utf-8")
    assert parse_credential_issuer_metadata(body, expected_issuer=ISSUER_ID) == metadata


def test_wallet_refuses_metadata_of_another_issuer() -> None:
    body = json.dumps(issuer_metadata())
    with pytest.raises(MalformedInput, match="credential_issuer"):
        parse_credential_issuer_metadata(body, expected_issuer=ISSUER_ID + "/")


def test_spec_example_issuer_metadata_parses() -> None:
    body = (VECTORS / "credential_issuer_metadata_sd_jwt_long.json").read_bytes()
    metadata = parse_credential_issuer_metadata(body, expected_issuer="https://credential-issuer.example.com")
    config = metadata["credential_configurations_supported"]["SD_JWT_VC_example_in_OpenID4VCI"]
    assert config["vct"] == "SD_JWT_VC_example_in_OpenID4VCI"
    assert metadata["batch_credential_issuance"]["batch_size"] == 10


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (
            lambda m: m["batch_credential_issuance"].update(batch_size=1),
            "/batch_credential_issuance/batch_size",
        ),
        (lambda m: m.update(credential_issuer="http://issuer.akashi.example"), "/credential_issuer"),
        (lambda m: m.update(credential_issuer=ISSUER_ID + "?tenant=1"), "/credential_issuer"),
        (lambda m: m.update(credential_endpoint="https://x.example/c#frag"), "/credential_endpoint"),
        (
            lambda m: m["credential_configurations_supported"]["akashi_kyc_jp_aml"].pop("vct"),
            "/credential_configurations_supported/akashi_kyc_jp_aml",
        ),
        (
            lambda m: m["credential_configurations_supported"]["akashi_kyc_jp_aml"].pop(
                "proof_types_supported"
            ),
            "/credential_configurations_supported/akashi_kyc_jp_aml",
        ),
        (lambda m: m.pop("credential_endpoint"), "/"),
    ],
)
def test_bad_issuer_metadata_fails_naming_the_field(
    change: Callable[[dict[str, Any]], Any], pointer: str
) -> None:
    metadata = issuer_metadata()
    change(metadata)
    with pytest.raises(SchemaViolation) as caught:
        parse_credential_issuer_metadata(json.dumps(metadata), expected_issuer=metadata["credential_issuer"])
    assert caught.value.path == pointer


@pytest.mark.parametrize(
    "paths",
    [
        [("a",), ("a",)],  # the same claim twice
        [("degrees", None), ("degrees", 0)],  # all elements and one element of the same array
        [("address", "street"), ("address", 0)],  # object and array at once
        [("x", -1)],  # negative index
        [()],  # empty path
    ],
)
def test_contradictory_claim_descriptions_are_refused(paths: list[tuple[Any, ...]]) -> None:
    with pytest.raises(MalformedInput):
        CredentialType(
            "c", "urn:x", [CredentialDisplay("en", "X")], [ClaimInfo(p, {"en": "x"}) for p in paths]
        )
    metadata = issuer_metadata()
    config = metadata["credential_configurations_supported"]["akashi_kyc_jp_aml"]
    config["credential_metadata"]["claims"] = [{"path": list(p)} for p in paths]
    with pytest.raises(MalformedInput):  # the wallet aborts processing too (Appendix B.3)
        parse_credential_issuer_metadata(json.dumps(metadata), expected_issuer=ISSUER_ID)


def test_one_display_per_locale() -> None:
    with pytest.raises(MalformedInput, match="locale"):
        CredentialType("c", "urn:x", [CredentialDisplay("ja-JP", "A"), CredentialDisplay("ja-JP", "B")])
    metadata = issuer_metadata()
    metadata["display"].append({"name": "again", "locale": "ja-JP"})
    with pytest.raises(MalformedInput, match="locale"):
        parse_credential_issuer_metadata(json.dumps(metadata), expected_issuer=ISSUER_ID)


def test_authorization_server_metadata_for_anonymous_pre_authorized_codes() -> None:
    metadata = build_authorization_server_metadata(ISSUER_ID)
    assert metadata == {
        "issuer": ISSUER_ID,
        "token_endpoint": ISSUER_ID + "/token",
        "grant_types_supported": ["urn:ietf:params:oauth:grant-type:pre-authorized_code"],
        "pre-authorized_grant_anonymous_access_supported": True,
    }
    assert parse_authorization_server_metadata(json.dumps(metadata), expected_issuer=ISSUER_ID) == metadata
    with pytest.raises(MalformedInput, match="issuer"):
        parse_authorization_server_metadata(json.dumps(metadata), expected_issuer="https://evil.example")
    with pytest.raises(SchemaViolation) as caught:
        parse_authorization_server_metadata(
            json.dumps({**metadata, "issuer": "http://x"}), expected_issuer="http://x"
        )
    assert caught.value.path == "/issuer"


@pytest.mark.parametrize(
    ("identifier", "suffix", "url"),
    [
        # OpenID4VCI 1.0 section 12.2.2
        (
            "https://issuer.example.com/tenant",
            "openid-credential-issuer",
            "https://issuer.example.com/.well-known/openid-credential-issuer/tenant",
        ),
        (
            "https://tenant.issuer.example.com",
            "openid-credential-issuer",
            "https://tenant.issuer.example.com/.well-known/openid-credential-issuer",
        ),
        # SD-JWT VC section 5.1 (and RFC 8414: a terminating "/" is dropped)
        *[(r["iss"], "jwt-vc-issuer", r["url"]) for r in SD_JWT_VC["well_known_requests"]],
        (
            "https://example.com/tenant/1234/",
            "jwt-vc-issuer",
            "https://example.com/.well-known/jwt-vc-issuer/tenant/1234",
        ),
        (
            "https://example.com:8443",
            "oauth-authorization-server",
            "https://example.com:8443/.well-known/oauth-authorization-server",
        ),
    ],
)
def test_well_known_urls(identifier: str, suffix: str, url: str) -> None:
    assert well_known_url(identifier, suffix) == url
    assert WELL_KNOWN_CREDENTIAL_ISSUER == "/.well-known/openid-credential-issuer"
    assert WELL_KNOWN_OAUTH_AUTHORIZATION_SERVER == "/.well-known/oauth-authorization-server"
    assert WELL_KNOWN_JWT_VC_ISSUER == "/.well-known/jwt-vc-issuer"


@pytest.mark.parametrize(
    "identifier",
    [
        "http://example.com",
        "https://example.com?x=1",
        "https://example.com#f",
        "https://user@example.com",
        "https://",
        "https://exa mple.com",
        "ftp://example.com",
        "https://example.com/a b",
    ],
)
def test_identifiers_that_are_not_https_urls_are_refused(identifier: str) -> None:
    with pytest.raises(MalformedInput):
        well_known_url(identifier, "openid-credential-issuer")


# --------------------------------------------------------------------------------------------
# Credential Offer


def test_offer_by_value_round_trips() -> None:
    offer = build_offer(
        ISSUER_ID,
        ["akashi_kyc_jp_aml", "akashi_driving_licence"],
        "pre-auth code/with+odd&chars=",
        tx_code=TxCode("numeric", 6, "SMSで届いた6桁の番号を入力してください"),
    )
    validate(offer, "oid4vci-credential-offer")
    url = offer_url_by_value(offer)
    assert url.startswith("openid-credential-offer://?credential_offer=%7B")
    parsed = parse_offer_url(url)
    assert parsed.offer_uri is None and parsed.offer is not None
    assert parsed.offer.raw == offer
    assert parsed.offer.credential_issuer == ISSUER_ID
    assert parsed.offer.credential_configuration_ids == ("akashi_kyc_jp_aml", "akashi_driving_licence")
    assert parsed.offer.pre_authorized_code == "pre-auth code/with+odd&chars="
    assert parsed.offer.tx_code == TxCode("numeric", 6, "SMSで届いた6桁の番号を入力してください")


def test_offer_by_reference_round_trips() -> None:
    url = offer_url_by_reference(ISSUER_ID + "/offers/Gkur?x=1")
    assert (
        url
        == "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fissuer.akashi.example%2Foffers%2FGkur%3Fx%3D1"
    )
    assert parse_offer_url(url).offer_uri == ISSUER_ID + "/offers/Gkur?x=1"
    offer = build_offer(ISSUER_ID, ["akashi_kyc_jp_aml"], "code")
    fetched = parse_offer(json.dumps(offer).encode())
    assert fetched.tx_code is None and fetched.pre_authorized_code == "code"


def test_spec_example_offer_urls_parse() -> None:
    by_value = parse_offer_url(SPEC["offer_url_by_value"]).offer
    assert by_value is not None
    assert by_value.credential_configuration_ids == ("org.iso.18013.5.1.mDL",)
    assert by_value.pre_authorized_code == "oaKazRN8I0IbtZ0C7JuMn5"
    assert by_value.tx_code == TxCode(
        "text", None, "Please enter the serial number of your physical drivers license"
    )
    get = parse_offer_url(OFFER_SCHEME + "?" + SPEC["offer_query_by_value_get"]).offer
    assert get is not None and get.tx_code == TxCode()  # an empty tx_code object still asks for a code
    by_reference = parse_offer_url(SPEC["offer_url_by_reference"])
    assert (
        by_reference.offer_uri
        == "https://server.example.com/credential-offer/GkurKxf5T0Y-mnPFCHqWOMiZi4VS138cQO_V7PZHAdM"
    )


def test_spec_example_offer_objects_parse() -> None:
    referenced = parse_offer((VECTORS / "credential_offer_by_reference.json").read_bytes())
    assert referenced.tx_code == TxCode() and referenced.pre_authorized_code == "adhjhdjajkdkhjhdj"
    multiple = parse_offer((VECTORS / "credential_offer_multiple_credentials.json").read_bytes())
    assert multiple.tx_code == TxCode(
        "numeric", 4, "Please provide the one-time code that was sent via e-mail"
    )
    assert multiple.raw["issuer_redirect_uri"]  # unknown parameters are kept, and ignored


def _offer_query(obj: object) -> str:
    from identity.protocols.oid4vci.urls import percent_encode

    return OFFER_SCHEME + "?credential_offer=" + percent_encode(json.dumps(obj))


GOOD_OFFER = {
    "credential_issuer": ISSUER_ID,
    "credential_configuration_ids": ["a"],
    "grants": {PRE_AUTHORIZED_CODE_GRANT: {"pre-authorized_code": "c"}},
}


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(
            OFFER_SCHEME + "?credential_offer_uri=https%3A%2F%2Fa.example&credential_offer=%7B%7D", id="both"
        ),
        pytest.param(OFFER_SCHEME + "?", id="neither"),
        pytest.param(
            OFFER_SCHEME
            + "?credential_offer_uri=https%3A%2F%2Fa.example&credential_offer_uri=https%3A%2F%2Fb.example",
            id="repeated",
        ),
        pytest.param(
            OFFER_SCHEME + "?credential_offer_uri=https%3A%2F%2Fa.example&foo=bar", id="other parameter"
        ),
        pytest.param(OFFER_SCHEME + "?credential_offer_uri=https%3A%2F%2Fa.example#x", id="fragment"),
        pytest.param(
            "https://wallet.example/?credential_offer_uri=https%3A%2F%2Fa.example", id="other endpoint"
        ),
        pytest.param(OFFER_SCHEME + "?credential_offer_uri=http%3A%2F%2Fa.example", id="http reference"),
        pytest.param(OFFER_SCHEME + "?credential_offer=%7B%ZZ", id="bad escape"),
        pytest.param(OFFER_SCHEME + "?credential_offer=%FF%FE", id="not UTF-8"),
        pytest.param(OFFER_SCHEME + "?credential_offer=not-json", id="not JSON"),
        pytest.param(OFFER_SCHEME + '?credential_offer={"a":1}', id="raw braces"),
        pytest.param(OFFER_SCHEME + "?credential_offer=" + "A" * 9000, id="too long"),
        pytest.param(_offer_query({**GOOD_OFFER, "credential_configuration_ids": []}), id="no configuration"),
        pytest.param(
            _offer_query({**GOOD_OFFER, "credential_configuration_ids": ["a", "a"]}), id="repeated id"
        ),
        pytest.param(_offer_query({**GOOD_OFFER, "credential_issuer": "http://x.example"}), id="http issuer"),
        pytest.param(_offer_query({**GOOD_OFFER, "grants": {PRE_AUTHORIZED_CODE_GRANT: {}}}), id="no code"),
        pytest.param(
            _offer_query(
                {
                    **GOOD_OFFER,
                    "grants": {
                        PRE_AUTHORIZED_CODE_GRANT: {
                            "pre-authorized_code": "c",
                            "tx_code": {"input_mode": "alpha"},
                        }
                    },
                }
            ),
            id="bad input_mode",
        ),
        pytest.param(
            _offer_query(
                {
                    **GOOD_OFFER,
                    "grants": {
                        PRE_AUTHORIZED_CODE_GRANT: {
                            "pre-authorized_code": "c",
                            "tx_code": {"description": "x" * 301},
                        }
                    },
                }
            ),
            id="long description",
        ),
        pytest.param(
            OFFER_SCHEME + "?credential_offer=" + '%7B"a":1,"a":2%7D'.replace('"', "%22"),
            id="duplicate member",
        ),
    ],
)
def test_malformed_offer_urls_are_refused(url: str) -> None:
    with pytest.raises(MalformedInput):
        parse_offer_url(url)


@settings(max_examples=60, deadline=None)
@given(
    code=st.text(min_size=1, max_size=40),
    description=st.text(max_size=300),
    ids=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=4, unique=True),
)
def test_any_offer_survives_the_qr_code_url(code: str, description: str, ids: list[str]) -> None:
    offer = build_offer(ISSUER_ID, ids, code, tx_code=TxCode("text", None, description))
    parsed = parse_offer_url(offer_url_by_value(offer), max_length=100_000).offer
    assert parsed is not None and parsed.raw == offer


# --------------------------------------------------------------------------------------------
# Token Endpoint and Nonce Endpoint


def test_spec_example_token_request_parses() -> None:
    request = parse_token_request(SPEC["token_request_pre_authorized"].encode())
    assert request.pre_authorized_code == "SplxlOBeZQQYbYS6WxSbIA"
    assert request.tx_code == "493536"
    assert request.client_id is None
    assert request.authorization_details == ("UniversityDegreeCredential",)


def test_token_request_round_trips() -> None:
    body = build_token_request("code with spaces & symbols/+", tx_code="0042")
    request = parse_token_request(body)
    assert (request.pre_authorized_code, request.tx_code) == ("code with spaces & symbols/+", "0042")
    assert request.authorization_details is None


GRANT = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Apre-authorized_code"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("pre-authorized_code=abc", "invalid_request"),
        ("grant_type=&pre-authorized_code=abc", "invalid_request"),  # empty = omitted
        ("grant_type=authorization_code&code=abc", "unsupported_grant_type"),
        ("grant_type=client_credentials", "unsupported_grant_type"),
        (GRANT, "invalid_request"),
        (GRANT + "&pre-authorized_code=a&pre-authorized_code=b", "invalid_request"),
        (GRANT + "&" + GRANT + "&pre-authorized_code=a", "invalid_request"),
        (GRANT + "&pre-authorized_code=%G1", "invalid_request"),
        (GRANT + "&pre-authorized_code=a b", "invalid_request"),
        (GRANT + "&pre-authorized_code=" + "a" * 17000, "invalid_request"),
        (GRANT + "&pre-authorized_code=a&authorization_details=%5B", "invalid_request"),
        (GRANT + "&pre-authorized_code=a&authorization_details=%5B%5D", "invalid_authorization_details"),
        (
            GRANT + "&pre-authorized_code=a&authorization_details=%5B%7B%22type%22%3A%22x%22%7D%5D",
            "invalid_authorization_details",
        ),
    ],
)
def test_bad_token_requests_get_the_rfc6749_error(body: str, error: str) -> None:
    caught = oauth_error(lambda: parse_token_request(body.encode()))
    assert caught.error == error
    assert caught.status == 400
    validate(caught.response(), "oauth-error-response")


def test_non_ascii_token_request_is_invalid_request() -> None:
    assert (
        error_code(lambda: parse_token_request((GRANT + "&pre-authorized_code=é").encode()))
        == "invalid_request"
    )


def test_anonymous_access_can_be_switched_off() -> None:
    body = build_token_request("abc")
    caught = oauth_error(lambda: parse_token_request(body, anonymous_access=False))
    assert (caught.error, caught.status) == ("invalid_client", 401)
    assert (
        parse_token_request(
            build_token_request("abc", client_id="wallet-1"), anonymous_access=False
        ).client_id
        == "wallet-1"
    )


@pytest.mark.parametrize(
    ("sent", "expected", "error"),
    [
        ("1234", None, "invalid_request"),  # sent, but the offer had none
        (None, "1234", "invalid_request"),  # required, not sent
        ("4321", "1234", "invalid_grant"),  # wrong
        ("123", "1234", "invalid_grant"),
        ("1234", "1234", None),
        (None, None, None),
    ],
)
def test_transaction_code_checks(sent: str | None, expected: str | None, error: str | None) -> None:
    request = parse_token_request(build_token_request("abc", tx_code=sent))
    if error is None:
        check_tx_code(request, expected)
    else:
        assert error_code(lambda: check_tx_code(request, expected)) == error


def test_token_response_has_no_c_nonce_in_the_final_spec() -> None:
    response = build_token_response("at-123", 300)
    assert response == {"access_token": "at-123", "token_type": "Bearer", "expires_in": 300}
    parsed = parse_token_response(json.dumps(response))
    assert (parsed.access_token, parsed.token_type, parsed.expires_in) == ("at-123", "Bearer", 300)
    with_details = build_token_response(
        "at", 60, authorization_details={"akashi_kyc_jp_aml": ["kyc-1", "kyc-2"]}
    )
    assert with_details["authorization_details"][0]["credential_identifiers"] == ["kyc-1", "kyc-2"]
    assert NO_STORE == {"Cache-Control": "no-store"}


def test_spec_example_token_and_nonce_responses_parse() -> None:
    parsed = parse_token_response(json.dumps(SPEC["token_response"]))
    assert parsed.expires_in == 86400 and parsed.authorization_details is not None
    assert parse_nonce_response(json.dumps(SPEC["nonce_response"])) == "wKI4LT17ac15ES9bw8ac4"
    assert parse_nonce_response(json.dumps(build_nonce_response("abc"))) == "abc"
    with pytest.raises(MalformedInput, match="token_type"):
        parse_token_response(json.dumps({"access_token": "x", "token_type": "DPoP"}))
    with pytest.raises(SchemaViolation) as caught:
        parse_nonce_response(b'{"c_nonce": ""}')
    assert caught.value.path == "/c_nonce"


def test_spec_example_error_responses_parse() -> None:
    token_error = parse_error_response(json.dumps(SPEC["token_error_response"]), 400)
    assert (token_error.error, token_error.status) == ("invalid_request", 400)
    credential_error = parse_error_response(json.dumps(SPEC["credential_error_response"]), 400)
    assert credential_error.error == "unknown_credential_configuration"
    with pytest.raises(MalformedInput):
        parse_error_response(b'{"error": "bad\\"code"}', 400)


def test_error_answers_are_safe_ascii_with_the_right_headers() -> None:
    error = OAuthError("invalid_proof", 'proof "1" failed \\ 証明')
    body = error.response()
    assert body == {"error": "invalid_proof", "error_description": "proof '1' failed / ??"}
    validate(body, "oauth-error-response")
    assert error.status == 400 and error.headers() == {"Cache-Control": "no-store"}
    token = OAuthError("invalid_token", "expired")
    assert token.status == 401
    assert token.headers()["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_bearer_access_token() -> None:
    assert bearer_token("Bearer czZCaGRSa3F0MzpnWDFmQmF0M2JW") == "czZCaGRSa3F0MzpnWDFmQmF0M2JW"
    assert bearer_token("bearer abc.def-_~+/==") == "abc.def-_~+/=="
    for header in (None, "", "Basic YWxhZGRpbg==", "Bearer", "Bearer a b", "DPoP abc", "Bearer ab=c"):
        caught = oauth_error(lambda h=header: bearer_token(h))  # type: ignore[misc]
        assert (caught.error, caught.status) == ("invalid_token", 401)


def test_stateless_c_nonces() -> None:
    key = bytes(range(32))
    nonce = issue_c_nonce(key, NOW, fixed_random())
    assert c_nonce_is_fresh(nonce, key, NOW + 299)
    assert not c_nonce_is_fresh(nonce, key, NOW + 301)  # too old
    assert not c_nonce_is_fresh(nonce, key, NOW - 10)  # from the future
    assert not c_nonce_is_fresh(nonce, bytes(32), NOW)  # another key
    assert not c_nonce_is_fresh(nonce[:-2] + ("AA" if nonce[-2:] != "AA" else "BA"), key, NOW)
    assert not c_nonce_is_fresh("not base64!", key, NOW)
    assert issue_c_nonce(key, NOW, fixed_random(1)) != issue_c_nonce(key, NOW, fixed_random(2))
    assert len(new_secret(fixed_random())) == 43


# --------------------------------------------------------------------------------------------
# Key proofs


def proof(holder: Ed25519PrivateKey = HOLDERS[0], **changes: Any) -> str:
    claims: dict[str, Any] = {"aud": ISSUER_ID, "iat": NOW - 5, "nonce": NONCE}
    claims.update(changes.pop("claims", {}))
    for name in changes.pop("drop_claims", ()):
        claims.pop(name)
    header: dict[str, Any] = {"typ": PROOF_TYP, "jwk": public_key_to_jwk(holder.public_key)}
    header.update(changes.pop("header", {}))
    for name in changes.pop("drop_header", ()):
        header.pop(name)
    assert not changes
    return sign_jwt(header, claims, holder)


def verify_one(token: str, **options: Any) -> Any:
    settings_: dict[str, Any] = {"audience": ISSUER_ID, "now": NOW, "nonce": {NONCE}}
    settings_.update(options)
    return verify_proof_jwt(token, **settings_)


def test_wallet_proofs_verify_and_give_the_holder_keys_in_order() -> None:
    tokens = [build_proof_jwt(h, audience=ISSUER_ID, iat=NOW - 1, nonce=NONCE) for h in HOLDERS[:3]]
    header = parse_compact_unverified(tokens[0]).header
    validate(header, "oid4vci-proof-jwt-header")
    validate(json.loads(parse_compact_unverified(tokens[0]).payload), "oid4vci-proof-jwt-claims")
    keys = verify_proofs(tokens, audience=ISSUER_ID, now=NOW, nonce={NONCE}, batch_size=3)
    assert keys == tuple(h.public_key for h in HOLDERS[:3])
    verified = verify_one(tokens[0], nonce=lambda n: n == NONCE)
    assert (verified.key, verified.nonce, verified.iat) == (HOLDERS[0].public_key, NONCE, NOW - 1)


def test_proofs_with_stateless_nonces() -> None:
    key = bytes(range(32))
    c_nonce = issue_c_nonce(key, NOW - 100, fixed_random())
    token = build_proof_jwt(HOLDERS[0], audience=ISSUER_ID, iat=NOW, nonce=c_nonce)
    assert verify_one(token, nonce=lambda n: c_nonce_is_fresh(n, key, NOW)).nonce == c_nonce
    caught = oauth_error(lambda: verify_one(token, nonce=lambda n: c_nonce_is_fresh(n, key, NOW + 1000)))
    assert caught.error == "invalid_nonce"


def test_iss_is_the_client_id_when_the_client_authenticated() -> None:
    token = build_proof_jwt(HOLDERS[0], audience=ISSUER_ID, iat=NOW, nonce=NONCE, client_id="wallet-1")
    assert verify_one(token, client_id="wallet-1").key == HOLDERS[0].public_key
    assert error_code(lambda: verify_one(token, client_id="wallet-2")) == "invalid_proof"
    assert error_code(lambda: verify_one(token)) == "invalid_proof"  # anonymous access: iss MUST be absent


def test_spec_example_proof_runs_through_every_rule() -> None:
    es256 = _es256_verifier_class()
    example = SPEC["proof_jwt"]
    decoded = parse_compact_unverified(example)
    assert decoded.header == SPEC["proof_jwt_decoded"]["header"]
    options: dict[str, Any] = {
        "audience": "https://credential-issuer.example.com",
        "now": 1701960444 + 10,
        "nonce": {"LarRGSbmUPYtRYO6BQ4yn8"},
    }
    verified = verify_proof_jwt(example, key_importer=es256.from_jwk, **options)
    assert verified.nonce == "LarRGSbmUPYtRYO6BQ4yn8"
    # akashi itself accepts EdDSA only (its metadata says so): the same proof is refused.
    assert error_code(lambda: verify_proof_jwt(example, **options)) == "invalid_proof"
    caught = oauth_error(
        lambda: verify_proof_jwt(example, key_importer=es256.from_jwk, **{**options, "nonce": {"x"}})
    )
    assert caught.error == "invalid_nonce"


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(header).encode()) + "." + b64url_encode(json.dumps(claims).encode()) + "."


def _raw(header: dict[str, Any], claims: dict[str, Any], key: Ed25519PrivateKey = HOLDERS[0]) -> str:
    """Signed with Ed25519 whatever ``header`` says (sign_jwt would set alg EdDSA)."""
    signing_input = _unsigned(header, claims)[:-1]
    return signing_input + "." + b64url_encode(key.sign(signing_input.encode()))


OTHER = Ed25519PrivateKey.from_seed(bytes([99]) * 32)
JWK = public_key_to_jwk(HOLDERS[0].public_key)
CLAIMS = {"aud": ISSUER_ID, "iat": NOW, "nonce": NONCE}


def _raw_text(header: str) -> str:
    signing_input = b64url_encode(header.encode()) + "." + b64url_encode(json.dumps(CLAIMS).encode())
    return signing_input + "." + b64url_encode(HOLDERS[0].sign(signing_input.encode()))


PROOF_REFUSALS: list[tuple[str, Callable[[], str], str]] = [
    ("wrong typ", lambda: proof(header={"typ": "JWT"}), "invalid_proof"),
    ("no typ", lambda: proof(drop_header=["typ"]), "invalid_proof"),
    ("alg none", lambda: _unsigned({"typ": PROOF_TYP, "alg": "none", "jwk": JWK}, CLAIMS), "invalid_proof"),
    ("alg HS256", lambda: _raw({"typ": PROOF_TYP, "alg": "HS256", "jwk": JWK}, CLAIMS), "invalid_proof"),
    ("alg ES256", lambda: _raw({"typ": PROOF_TYP, "alg": "ES256", "jwk": JWK}, CLAIMS), "invalid_proof"),
    ("no alg", lambda: _raw({"typ": PROOF_TYP, "jwk": JWK}, CLAIMS), "invalid_proof"),
    (
        "duplicate header member",
        lambda: _raw_text(
            '{"typ":"x","typ":"' + PROOF_TYP + '","alg":"EdDSA","jwk":' + json.dumps(JWK) + "}"
        ),
        "invalid_proof",
    ),
    ("crit", lambda: proof(header={"crit": ["x"], "x": 1}), "invalid_proof"),
    ("wrong aud", lambda: proof(claims={"aud": "https://other.example"}), "invalid_proof"),
    ("aud array", lambda: proof(claims={"aud": [ISSUER_ID]}), "invalid_proof"),
    ("no aud", lambda: proof(drop_claims=["aud"]), "invalid_proof"),
    ("stale iat", lambda: proof(claims={"iat": NOW - 361}), "invalid_proof"),
    ("future iat", lambda: proof(claims={"iat": NOW + 61}), "invalid_proof"),
    ("no iat", lambda: proof(drop_claims=["iat"]), "invalid_proof"),
    ("iat string", lambda: proof(claims={"iat": str(NOW)}), "invalid_proof"),
    ("iat boolean", lambda: proof(claims={"iat": True}), "invalid_proof"),
    ("expired", lambda: proof(claims={"exp": NOW - 100}), "invalid_proof"),
    ("wrong nonce", lambda: proof(claims={"nonce": "n-other"}), "invalid_nonce"),
    ("no nonce", lambda: proof(drop_claims=["nonce"]), "invalid_proof"),
    ("nonce number", lambda: proof(claims={"nonce": 7}), "invalid_proof"),
    ("bad signature", lambda: sign_jwt({"typ": PROOF_TYP, "jwk": JWK}, CLAIMS, OTHER), "invalid_proof"),
    ("no jwk", lambda: proof(drop_header=["jwk"]), "invalid_proof"),
    ("private key in jwk", lambda: proof(header={"jwk": private_key_to_jwk(HOLDERS[0])}), "invalid_proof"),
    ("kid and jwk", lambda: proof(header={"kid": "did:key:z6Mk#1"}), "invalid_proof"),
    ("kid only", lambda: proof(header={"kid": "did:key:z6Mk#1"}, drop_header=["jwk"]), "invalid_proof"),
    ("x5c", lambda: proof(header={"x5c": ["MIIB"]}), "invalid_proof"),
    (
        "X25519 jwk",
        lambda: proof(header={"jwk": public_key_to_jwk(X25519PrivateKey(bytes([5]) * 32).public_key)}),
        "invalid_proof",
    ),
    ("EC jwk", lambda: proof(header={"jwk": SPEC["proof_jwt_decoded"]["header"]["jwk"]}), "invalid_proof"),
    ("jwk string", lambda: proof(header={"jwk": "abc"}), "invalid_proof"),
    ("iss after anonymous access", lambda: proof(claims={"iss": "wallet"}), "invalid_proof"),
    ("not a JWT", lambda: "abc.def", "invalid_proof"),
    ("too long", lambda: proof(claims={"pad": "x" * 9000}), "invalid_proof"),
    (
        "claims not an object",
        lambda: sign_compact({"typ": PROOF_TYP, "jwk": JWK}, b"[1]", HOLDERS[0]),
        "invalid_proof",
    ),
    (
        "duplicate claim",
        lambda: sign_compact(
            {"typ": PROOF_TYP, "jwk": JWK},
            b'{"aud":"x","aud":"'
            + ISSUER_ID.encode()
            + b'","iat":1800000000,"nonce":"'
            + NONCE.encode()
            + b'"}',
            HOLDERS[0],
        ),
        "invalid_proof",
    ),
]


#: What the description names, so that each case fails for its own reason.
PROOF_REASONS = {
    "wrong typ": "typ",
    "no typ": "typ",
    "alg none": "'none'",
    "alg HS256": "HS256",
    "alg ES256": "ES256",
    "no alg": "algorithm None",
    "duplicate header member": "more than once",
    "crit": "critical",
    "wrong aud": "aud",
    "aud array": "aud",
    "no aud": "aud",
    "stale iat": "too old",
    "future iat": "future",
    "no iat": "iat",
    "iat string": "iat",
    "iat boolean": "iat",
    "expired": "expired",
    "wrong nonce": "c_nonce",
    "no nonce": "no 'nonce'",
    "nonce number": "nonce",
    "bad signature": "signature",
    "no jwk": "no 'jwk'",
    "private key in jwk": "private key",
    "kid and jwk": "kid",
    "kid only": "kid",
    "x5c": "x5c",
    "X25519 jwk": "Ed25519",
    "EC jwk": "EC",
    "jwk string": "no 'jwk'",
    "iss after anonymous access": "iss",
    "not a JWT": "three",
    "too long": "at most",
    "claims not an object": "JSON object",
    "duplicate claim": "more than once",
}


@pytest.mark.parametrize(("case", "make", "error"), PROOF_REFUSALS, ids=[c[0] for c in PROOF_REFUSALS])
def test_every_bad_proof_gets_the_spec_error(case: str, make: Callable[[], str], error: str) -> None:
    token = make()
    caught = oauth_error(lambda: verify_proofs([token], audience=ISSUER_ID, now=NOW, nonce={NONCE}))
    assert caught.error == error, caught.description
    assert PROOF_REASONS[case] in caught.description
    assert caught.status == 400
    validate(caught.response(), "oauth-error-response")


def test_the_refusal_cases_differ_from_a_good_proof_only_in_what_they_name() -> None:
    assert verify_one(proof()).key == HOLDERS[0].public_key


def test_batch_limits_and_distinct_keys() -> None:
    good = [proof(h) for h in HOLDERS[:3]]

    def verify(proofs: list[str], size: int = 3) -> tuple[object, ...]:
        return verify_proofs(proofs, audience=ISSUER_ID, now=NOW, nonce={NONCE}, batch_size=size)

    assert len(verify(good)) == 3
    assert (
        error_code(lambda: verify([good[0], proof(HOLDERS[0], claims={"iat": NOW - 2})])) == "invalid_proof"
    )
    assert error_code(lambda: verify([*good, proof(HOLDERS[3])])) == "invalid_proof"  # more than batch_size
    assert error_code(lambda: verify(good[:2], 1)) == "invalid_proof"
    assert error_code(lambda: verify([])) == "invalid_proof"
    assert (
        error_code(lambda: verify([good[0], proof(HOLDERS[1], claims={"nonce": "old"})])) == "invalid_nonce"
    )


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_flipped_byte_of_a_proof_is_refused_as_invalid_proof(data: st.DataObject) -> None:
    token = build_proof_jwt(HOLDERS[0], audience=ISSUER_ID, iat=NOW, nonce=NONCE).encode("ascii")
    position = data.draw(st.integers(0, len(token) - 1))
    bit = data.draw(st.integers(0, 7))
    flipped = bytearray(token)
    flipped[position] ^= 1 << bit
    with pytest.raises(OAuthError) as caught:
        verify_proofs([flipped.decode("latin-1")], audience=ISSUER_ID, now=NOW, nonce={NONCE})
    assert caught.value.error == "invalid_proof"


# --------------------------------------------------------------------------------------------
# Credential Endpoint


def test_credential_request_round_trips() -> None:
    tokens = [proof(h) for h in HOLDERS[:2]]
    body = json.dumps(build_credential_request(tokens, credential_configuration_id="akashi_kyc_jp_aml"))
    request = parse_credential_request(body, batch_size=3, configuration_ids={"akashi_kyc_jp_aml"})
    assert (
        request.credential_configuration_id == "akashi_kyc_jp_aml" and request.credential_identifier is None
    )
    assert request.proofs == tuple(tokens)


def test_spec_example_credential_requests_parse_but_their_placeholder_proofs_do_not_verify() -> None:
    sd_jwt = parse_credential_request(
        json.dumps(SPEC["credential_request_sd_jwt_vc"]),
        batch_size=2,
        credential_identifiers={"CivilEngineeringDegree-2023"},
    )
    assert sd_jwt.credential_identifier == "CivilEngineeringDegree-2023" and len(sd_jwt.proofs) == 2
    mdoc = parse_credential_request(json.dumps(SPEC["credential_request_mdoc"]))
    assert mdoc.credential_configuration_id == "org.iso.18013.5.1.mDL"
    validate(SPEC["credential_request_sd_jwt_vc"], "oid4vci-credential-request")
    validate(SPEC["credential_request_mdoc"], "oid4vci-credential-request")
    for request in (sd_jwt, mdoc):
        caught = oauth_error(
            lambda r=request: verify_proofs(  # type: ignore[misc]
                r.proofs, audience="https://credential-issuer.example.com", now=NOW, nonce=set(), batch_size=2
            )
        )
        assert caught.error == "invalid_proof"


def _request(**members: Any) -> bytes:
    body: dict[str, Any] = {"credential_configuration_id": "akashi_kyc_jp_aml", "proofs": {"jwt": ["a.b.c"]}}
    body.update(members)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (_request(credential_identifier="x"), "invalid_credential_request"),
        (_request(credential_configuration_id=None), "invalid_credential_request"),
        (_request(credential_configuration_id=5), "invalid_credential_request"),
        (_request(credential_configuration_id=""), "invalid_credential_request"),
        (_request(credential_configuration_id="nope"), "unknown_credential_configuration"),
        (
            _request(credential_configuration_id=None, credential_identifier="kyc-9"),
            "unknown_credential_identifier",
        ),
        (
            _request(credential_response_encryption={"jwk": {"kty": "OKP"}, "enc": "A128GCM"}),
            "invalid_encryption_parameters",
        ),
        (_request(proofs=None), "invalid_proof"),
        (_request(proofs={"jwt": ["a.b.c"], "di_vp": [{}]}), "invalid_proof"),
        (_request(proofs={"di_vp": [{}]}), "invalid_proof"),
        (_request(proofs={"jwt": []}), "invalid_proof"),
        (_request(proofs={"jwt": "a.b.c"}), "invalid_proof"),
        (_request(proofs={"jwt": [7]}), "invalid_proof"),
        (_request(proofs={"jwt": ["a.b.c"] * 4}), "invalid_proof"),
        (
            b'{"credential_configuration_id":"a","credential_configuration_id":"b"}',
            "invalid_credential_request",
        ),
        (b"[]", "invalid_credential_request"),
        (b"not json", "invalid_credential_request"),
        (b'{"pad":"' + b"x" * 70000 + b'"}', "invalid_credential_request"),
    ],
)
def test_bad_credential_requests_get_the_spec_error(body: bytes, error: str) -> None:
    caught = oauth_error(
        lambda: parse_credential_request(
            body, batch_size=3, configuration_ids={"akashi_kyc_jp_aml"}, credential_identifiers={"kyc-1"}
        )
    )
    assert caught.error == error
    assert caught.status == 400


def test_credential_response_round_trips() -> None:
    response = build_credential_response(["cred-1~", "cred-2~"], notification_id="n-1")
    assert response == {
        "credentials": [{"credential": "cred-1~"}, {"credential": "cred-2~"}],
        "notification_id": "n-1",
    }
    parsed = parse_credential_response(json.dumps(response))
    assert parsed.credentials == ("cred-1~", "cred-2~") and parsed.notification_id == "n-1"
    assert parsed.transaction_id is None


def test_spec_example_credential_responses_parse() -> None:
    assert len(parse_credential_response(json.dumps(SPEC["credential_response_multiple"])).credentials) == 2
    assert parse_credential_response(json.dumps(SPEC["credential_response_single"])).notification_id is None
    deferred = parse_credential_response(json.dumps(SPEC["credential_response_deferred"]))
    assert (deferred.credentials, deferred.transaction_id, deferred.interval) == ((), "8xLOxBtZp8", 3600)
    sd_jwt = parse_credential_response(json.dumps(SPEC["credential_response_sd_jwt_vc"])).credentials[0]
    assert parse_claims_unverified(sd_jwt)["given_name"] == "John"


@pytest.mark.parametrize(
    "response",
    [
        {"credentials": [{"credential": "x"}], "transaction_id": "t", "interval": 5},
        {"transaction_id": "t"},
        {"transaction_id": "t", "interval": 5, "notification_id": "n"},
        {"credentials": []},
        {"credentials": [{"other": "x"}]},
        {},
    ],
)
def test_malformed_credential_responses_are_refused(response: dict[str, Any]) -> None:
    with pytest.raises(SchemaViolation):
        parse_credential_response(json.dumps(response))


# --------------------------------------------------------------------------------------------
# SD-JWT VC issuer metadata and type metadata


def test_jwt_vc_issuer_metadata_serves_the_issuer_keys() -> None:
    metadata = build_jwt_vc_issuer_metadata(
        ISSUER_ID, {"key-1": ISSUER_KEY.public_key, "key-2": OTHER.public_key}
    )
    assert metadata["issuer"] == ISSUER_ID
    keys = metadata["jwks"]["keys"]
    assert [k["kid"] for k in keys] == ["key-1", "key-2"]
    assert all(k["alg"] == "EdDSA" and k["use"] == "sig" and "d" not in k for k in keys)
    assert (
        public_key_from_jwk({k: v for k, v in keys[0].items() if k in ("kty", "crv", "x")})
        == ISSUER_KEY.public_key
    )
    assert parse_jwt_vc_issuer_metadata(json.dumps(metadata), expected_issuer=ISSUER_ID) == metadata
    with pytest.raises(MalformedInput, match="iss"):
        parse_jwt_vc_issuer_metadata(json.dumps(metadata), expected_issuer="https://other.example")
    both = {**metadata, "jwks_uri": ISSUER_ID + "/jwks"}
    with pytest.raises(MalformedInput, match="exactly one"):
        parse_jwt_vc_issuer_metadata(json.dumps(both), expected_issuer=ISSUER_ID)
    with pytest.raises(MalformedInput, match="exactly one"):
        parse_jwt_vc_issuer_metadata(json.dumps({"issuer": ISSUER_ID}), expected_issuer=ISSUER_ID)


def test_spec_example_jwt_vc_issuer_metadata_parses() -> None:
    for name in ("jwt_vc_issuer_metadata_jwks", "jwt_vc_issuer_metadata_jwks_uri"):
        parse_jwt_vc_issuer_metadata(json.dumps(SD_JWT_VC[name]), expected_issuer="https://example.com")


def test_type_metadata_of_the_kyc_credential() -> None:
    document = build_type_metadata(KYC)
    assert document["vct"] == KYC.vct and document["name"] == "akashi KYC attestation"
    assert document["display"][0] == {
        "locale": "ja-JP",
        "name": "本人確認済み証明",
        "description": "犯罪収益移転防止法に基づく本人確認の結果",
    }
    assert document["display"][1]["rendering"] == {
        "simple": {"background_color": "#12107c", "text_color": "#FFFFFF"}
    }
    over_18 = next(c for c in document["claims"] if c["path"] == ["age_over_18"])
    assert over_18 == {
        "path": ["age_over_18"],
        "display": [
            {"locale": "ja-JP", "label": "18歳以上", "description": "発行時点で18歳以上"},
            {"locale": "en-US", "label": "Over 18", "description": "18 or older at issuance"},
        ],
        "sd": "always",
        "svg_id": "age_over_18",
    }
    body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    assert parse_type_metadata(body, expected_vct=KYC.vct) == document
    with pytest.raises(MalformedInput, match="vct"):
        parse_type_metadata(body, expected_vct=LICENCE.vct)
    assert verify_integrity(body, integrity(body)) == body


def test_spec_example_type_metadata_parses() -> None:
    body = (VECTORS / "type_metadata_education_credential.json").read_bytes()
    document = parse_type_metadata(body, expected_vct="https://betelgeuse.example.com/education_credential")
    assert len(document["claims"]) == 7


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda d: d["claims"][0].update(sd="sometimes"), "/claims/0/sd"),
        (lambda d: d["claims"][0]["display"][0].pop("label"), "/claims/0/display/0"),
        (lambda d: d["display"][0].pop("locale"), "/display/0"),
        (lambda d: d["claims"][2].update(svg_id="1abc"), "/claims/2/svg_id"),
        (lambda d: d.update(vct=""), "/vct"),
    ],
)
def test_bad_type_metadata_fails_naming_the_field(
    change: Callable[[dict[str, Any]], Any], pointer: str
) -> None:
    document = json.loads((VECTORS / "type_metadata_education_credential.json").read_text(encoding="utf-8"))
    change(document)
    with pytest.raises(SchemaViolation) as caught:
        parse_type_metadata(json.dumps(document), expected_vct=document["vct"])
    assert caught.value.path == pointer


def test_svg_ids_are_unique() -> None:
    document = json.loads((VECTORS / "type_metadata_education_credential.json").read_text(encoding="utf-8"))
    document["claims"][0]["svg_id"] = "address_street_address"
    with pytest.raises(MalformedInput, match="svg_id"):
        parse_type_metadata(json.dumps(document), expected_vct=document["vct"])


def test_integrity_metadata() -> None:
    # SHA-256 of the empty string, as SRI writes it.
    assert integrity(b"") == "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    with pytest.raises(ProofMismatch):
        verify_integrity(b"x", integrity(b""))
    with pytest.raises(MalformedInput):
        verify_integrity(b"", "sha384-abc")


# --------------------------------------------------------------------------------------------
# The whole Pre-Authorized Code Flow, both sides


def test_pre_authorized_code_flow_issues_one_bound_credential_per_key() -> None:
    # Issuer: an offer with a transaction code, as a QR code would carry it.
    code, tx = new_secret(fixed_random(3)), "493536"
    url = offer_url_by_value(
        build_offer(ISSUER_ID, [KYC.configuration_id], code, tx_code=TxCode("numeric", 6))
    )
    # Wallet: reads the offer and the metadata, asks for a token.
    offer = parse_offer_url(url).offer
    assert offer is not None and offer.pre_authorized_code is not None and offer.tx_code is not None
    metadata = parse_credential_issuer_metadata(
        json.dumps(issuer_metadata()), expected_issuer=offer.credential_issuer
    )
    token_body = build_token_request(offer.pre_authorized_code, tx_code=tx)
    # Issuer: token endpoint.
    token_request = parse_token_request(token_body)
    assert token_request.pre_authorized_code == code
    check_tx_code(token_request, tx)
    token = parse_token_response(json.dumps(build_token_response(new_secret(fixed_random(4)), 300)))
    assert bearer_token(f"Bearer {token.access_token}") == token.access_token
    # Wallet: a nonce, then one proof per fresh holder key.
    c_nonce = parse_nonce_response(json.dumps(build_nonce_response(NONCE)))
    batch = metadata["batch_credential_issuance"]["batch_size"]
    holders = HOLDERS[:batch]
    proofs = [
        build_proof_jwt(h, audience=metadata["credential_issuer"], iat=NOW, nonce=c_nonce) for h in holders
    ]
    body = json.dumps(
        build_credential_request(proofs, credential_configuration_id=offer.credential_configuration_ids[0])
    )
    # Issuer: credential endpoint.
    request = parse_credential_request(
        body, batch_size=batch, configuration_ids=metadata["credential_configurations_supported"]
    )
    keys = verify_proofs(request.proofs, audience=ISSUER_ID, now=NOW, nonce={NONCE}, batch_size=batch)
    credentials = [
        issue(
            {"iss": ISSUER_ID, "vct": KYC.vct, "given_name": SD("花子")},
            ISSUER_KEY,
            holder_key=key,
            random=fixed_random(i),
        )
        for i, key in enumerate(keys)
    ]
    response = parse_credential_response(
        json.dumps(build_credential_response(credentials), ensure_ascii=False)
    )
    # Wallet: each credential is bound to its own key.
    bound = [parse_claims_unverified(c)["cnf"]["jwk"] for c in response.credentials]
    assert bound == [public_key_to_jwk(h.public_key) for h in holders]


# --------------------------------------------------------------------------------------------
# Every wire object: our output satisfies its schema, and a broken one fails naming the field


def _proof_parts() -> tuple[dict[str, Any], dict[str, Any]]:
    jws = parse_compact_unverified(build_proof_jwt(HOLDERS[0], audience=ISSUER_ID, iat=NOW, nonce=NONCE))
    return jws.header, json.loads(jws.payload)


WIRE_OBJECTS: list[tuple[str, Callable[[], dict[str, Any]], Callable[[dict[str, Any]], Any], str]] = [
    (
        "oid4vci-credential-offer",
        lambda: build_offer(ISSUER_ID, ["a"], "c", tx_code=TxCode("numeric", 6)),
        lambda o: o["grants"][PRE_AUTHORIZED_CODE_GRANT]["tx_code"].update(length=0),
        f"/grants/{PRE_AUTHORIZED_CODE_GRANT}/tx_code/length",
    ),
    (
        "oid4vci-token-request",
        lambda: {"grant_type": PRE_AUTHORIZED_CODE_GRANT, "pre-authorized_code": "c"},
        lambda o: o.update(grant_type="authorization_code"),
        "/grant_type",
    ),
    (
        "oid4vci-token-response",
        lambda: build_token_response("at", 300),
        lambda o: o.update(expires_in=0),
        "/expires_in",
    ),
    (
        "oid4vci-token-response",
        lambda: build_token_response("at", 300, authorization_details={"a": ["x"]}),
        lambda o: o["authorization_details"][0].update(credential_identifiers=[]),
        "/authorization_details/0/credential_identifiers",
    ),
    ("oid4vci-nonce-response", lambda: build_nonce_response("n"), lambda o: o.update(c_nonce=5), "/c_nonce"),
    (
        "oid4vci-credential-request",
        lambda: build_credential_request(["a.b.c"], credential_configuration_id="a"),
        lambda o: o["proofs"].update(jwt=[]),
        "/proofs/jwt",
    ),
    (
        "oid4vci-credential-response",
        lambda: build_credential_response(["x~"], notification_id="n"),
        lambda o: o.update(notification_id=""),
        "/notification_id",
    ),
    (
        "oauth-error-response",
        lambda: OAuthError("invalid_proof", "bad").response(),
        lambda o: o.update(error_description='say "hi"'),
        "/error_description",
    ),
    (
        "oid4vci-proof-jwt-header",
        lambda: _proof_parts()[0],
        lambda o: o["jwk"].update(crv="X25519"),
        "/jwk/crv",
    ),
    ("oid4vci-proof-jwt-claims", lambda: _proof_parts()[1], lambda o: o.update(aud=5), "/aud"),
    (
        "oauth-authorization-server-metadata",
        lambda: build_authorization_server_metadata(ISSUER_ID),
        lambda o: o.update(token_endpoint="https://x.example/token#f"),
        "/token_endpoint",
    ),
    (
        "oid4vci-credential-issuer-metadata",
        issuer_metadata,
        lambda o: o.update(nonce_endpoint="http://x.example/nonce"),
        "/nonce_endpoint",
    ),
    (
        "jwt-vc-issuer-metadata",
        lambda: build_jwt_vc_issuer_metadata(ISSUER_ID, {"k": ISSUER_KEY.public_key}),
        lambda o: o["jwks"].update(keys=[]),
        "/jwks/keys",
    ),
    (
        "sd-jwt-vc-type-metadata",
        lambda: build_type_metadata(KYC),
        lambda o: o["claims"][0].update(path=[]),
        "/claims/0/path",
    ),
]


@pytest.mark.parametrize(
    ("schema", "build", "brk", "pointer"), WIRE_OBJECTS, ids=[f"{w[0]}{w[3]}" for w in WIRE_OBJECTS]
)
def test_wire_objects_validate_and_broken_ones_name_the_field(
    schema: str, build: Callable[[], dict[str, Any]], brk: Callable[[dict[str, Any]], Any], pointer: str
) -> None:
    obj = build()
    validate(obj, schema)
    brk(obj)
    with pytest.raises(SchemaViolation) as caught:
        validate(obj, schema)
    assert caught.value.schema == schema
    assert caught.value.path == pointer


@settings(max_examples=80, deadline=None)
@given(code=st.text(min_size=1, max_size=60), tx_code=st.none() | st.text(min_size=1, max_size=12))
def test_any_token_request_survives_form_encoding(code: str, tx_code: str | None) -> None:
    request = parse_token_request(build_token_request(code, tx_code=tx_code).encode("ascii"))
    assert (request.pre_authorized_code, request.tx_code) == (code, tx_code)
