"""The issuer's HTTP contract, in process: every route is in specs/issuer-openapi.json and
every documented operation is served; each answer, accepted or refused, has a documented
status, media type, required headers and a body that validates against the document.
Holder-facing OpenID4VCI errors are the OAuth JSON shape with ``no-store``; admin errors
are problem documents; nothing undocumented, and no unexpected 500."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import pytest
from issuer_world import NOW, World, der, make_world
from openapi_contract import OpenApiContract, served_operations
from starlette.testclient import TestClient
from test_issuer_http import Setup, wallet_redeem

from identity.crypto.encoding import b64url_decode
from identity.crypto.keys import Ed25519PrivateKey
from identity.protocols.oid4vci.proof import build_proof_jwt
from identity.protocols.oid4vci.token import build_token_request
from identity.schemas import validate
from issuer.app import create_app
from issuer.evidence.testca import sign_challenge

CONTRACT = OpenApiContract("issuer-openapi.json")
OPENAPI_URI = CONTRACT.uri
OPENAPI = CONTRACT.document
REGISTRY = CONTRACT.registry
conforms = CONTRACT.conforms
request_conforms = CONTRACT.request_conforms
_check = CONTRACT.check
FORM = {"content-type": "application/x-www-form-urlencoded"}
PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = make_world(tmp_path_factory.mktemp("issuer-openapi"))
    yield w
    w.issuer.close()


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.issuer), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def admin(world: World) -> dict[str, str]:
    return {"authorization": "Bearer " + world.admin_token}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def http_jpki_offer(client: TestClient, world: World, admin: dict[str, str]) -> dict[str, Any]:
    challenge = conforms(client.post("/admin/challenges", headers=admin), "/admin/challenges", "post")
    signature = sign_challenge(world.card.key, base64.urlsafe_b64decode(challenge["challenge"]))
    body = {
        "challenge_id": challenge["id"],
        "certificate": b64(der(world.card.certificate)),
        "intermediates": [],
        "signature": b64(signature),
        "operator": "counter-1",
    }
    request_conforms(body, "/admin/checks/jpki", "post")
    response = client.post("/admin/checks/jpki", json=body, headers=admin)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = conforms(response, "/admin/checks/jpki", "post")
    return answer


def http_token(client: TestClient, offer: dict[str, Any], tx_code: str | None = None) -> str:
    code = offer["credential_offer"]["grants"][PRE_AUTH]["pre-authorized_code"]
    form = build_token_request(code, tx_code=tx_code)
    request_conforms(dict(parse_qsl(form)), "/token", "post", "application/x-www-form-urlencoded")
    response = client.post("/token", content=form, headers=FORM)
    assert response.status_code == 200, response.text
    token: str = conforms(response, "/token", "post")["access_token"]
    return token


def http_nonce(client: TestClient) -> str:
    nonce: str = conforms(client.post("/nonce"), "/nonce", "post")["c_nonce"]
    return nonce


def credential_body(world: World, client: TestClient, configuration: str = "akashi_kyc") -> dict[str, Any]:
    proof = build_proof_jwt(
        Ed25519PrivateKey.generate(),
        audience=world.issuer.url,
        iat=int(NOW.timestamp()),
        nonce=http_nonce(client),
    )
    return {"credential_configuration_id": configuration, "proofs": {"jwt": [proof]}}


# ---------------------------------------------------------------- the document itself


def test_every_route_is_documented_and_every_documented_operation_is_served(world: World) -> None:
    assert served_operations(create_app(world.issuer).routes) == CONTRACT.documented_operations()


def test_the_document_is_coherent() -> None:
    CONTRACT.check_coherent()
    schemes = set(OPENAPI["components"]["securitySchemes"])
    for path, item in OPENAPI["paths"].items():
        for operation in item.values():
            for requirement in operation.get("security", []):
                assert set(requirement) <= schemes
            # The admin API needs the operator token everywhere.
            assert path.startswith("/admin/") == (operation.get("security") == [{"operatorToken": []}])


# ---------------------------------------------------------------- metadata


def test_metadata_answers_as_documented(client: TestClient, world: World) -> None:
    metadata = conforms(
        client.get("/.well-known/openid-credential-issuer"), "/.well-known/openid-credential-issuer", "get"
    )
    assert metadata["credential_endpoint"] == world.issuer.url + "/credential"
    server = conforms(
        client.get("/.well-known/oauth-authorization-server"),
        "/.well-known/oauth-authorization-server",
        "get",
    )
    assert server["token_endpoint"] == world.issuer.url + "/token"
    keys = conforms(client.get("/.well-known/jwt-vc-issuer"), "/.well-known/jwt-vc-issuer", "get")
    assert keys["jwks"]["keys"][0]["kid"] == world.issuer.identity.kid
    for configuration in metadata["credential_configurations_supported"].values():
        vct = configuration["vct"]
        assert vct.startswith(world.issuer.url + "/vct/")
        answer = conforms(client.get(vct.removeprefix(world.issuer.url)), "/vct/{name}", "get")
        assert answer["vct"] == vct
    missing = conforms(client.get("/vct/akashi_kyc"), "/vct/{name}", "get")
    assert missing["status"] == 404


# ---------------------------------------------------------------- admin API


ADMIN_OPERATIONS = [
    (path, method) for path, item in OPENAPI["paths"].items() for method in item if path.startswith("/admin/")
]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic YWRtaW46YWRtaW4="])
@pytest.mark.parametrize(("path", "method"), ADMIN_OPERATIONS)
def test_the_admin_api_needs_the_operator_token(
    client: TestClient, path: str, method: str, authorization: str | None
) -> None:
    concrete = path.replace("{credential_id}", "x").replace("{action}", "revoke")
    headers = {"authorization": authorization} if authorization else {}
    response = client.request(method, concrete, headers=headers, json={})
    assert response.status_code == 401
    assert conforms(response, path, method)["type"].endswith("/unauthorized")


def test_a_jpki_check_makes_an_offer_served_by_reference(
    client: TestClient, world: World, admin: dict[str, str]
) -> None:
    offer = http_jpki_offer(client, world, admin)
    assert offer["tx_code"] is None
    uri = unquote(offer["offer_url_by_reference"].split("credential_offer_uri=", 1)[1])
    assert uri == f"{world.issuer.url}/offers/{offer['offer_id']}"
    by_reference = conforms(client.get(uri.removeprefix(world.issuer.url)), "/offers/{offer_id}", "get")
    assert by_reference == offer["credential_offer"]
    assert conforms(client.get("/offers/nope"), "/offers/{offer_id}", "get")["status"] == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[]", 400),
        (b"{not json", 400),
        (b'{"challenge_id": "x", "certificate": 5, "signature": "AA"}', 400),
        (b'{"challenge_id": "x", "certificate": "!!", "signature": "AA"}', 400),
        (b'{"challenge_id": "x", "signature": "AA"}', 400),
        (b'{"challenge_id": "unknown", "certificate": "AAAA", "signature": "AAAA"}', 422),
    ],
    ids=["not an object", "not json", "not a string", "not base64", "no certificate", "unknown challenge"],
)
def test_bad_jpki_checks_are_problems(
    client: TestClient, admin: dict[str, str], body: bytes, status: int
) -> None:
    response = client.post("/admin/checks/jpki", content=body, headers=admin)
    assert response.status_code == status, response.text
    conforms(response, "/admin/checks/jpki", "post")


def test_a_wrong_card_signature_is_a_422_problem(
    client: TestClient, world: World, admin: dict[str, str]
) -> None:
    challenge = conforms(client.post("/admin/challenges", headers=admin), "/admin/challenges", "post")
    body = {
        "challenge_id": challenge["id"],
        "certificate": b64(der(world.card.certificate)),
        "signature": b64(sign_challenge(world.card.key, b"another challenge")),
    }
    request_conforms(body, "/admin/checks/jpki", "post")
    response = client.post("/admin/checks/jpki", json=body, headers=admin)
    assert response.status_code == 422
    assert conforms(response, "/admin/checks/jpki", "post")["type"].endswith("/invalid-signature")


def test_a_licence_check_makes_an_offer_with_a_transaction_code(
    client: TestClient, world: World, admin: dict[str, str]
) -> None:
    data, signature = world.licence
    body = {"data": b64(data), "signature": b64(signature), "face_compared": True, "tx_code": True}
    request_conforms(body, "/admin/checks/licence", "post")
    response = client.post("/admin/checks/licence", json=body, headers=admin)
    assert response.status_code == 201, response.text
    offer = conforms(response, "/admin/checks/licence", "post")
    assert offer["credential_offer"]["credential_configuration_ids"] == ["akashi_kyc", "akashi_licence"]
    assert re.fullmatch(r"[0-9]{6}", offer["tx_code"])
    for bad, status in [
        ({"data": b64(data)}, 400),
        ({"data": b64(data), "signature": b64(signature), "authority_certificate": 5}, 400),
        ({"data": b64(b"{}"), "signature": b64(signature)}, 422),
        ({"data": b64(data), "signature": b64(bytes(64))}, 422),
    ]:
        refused = client.post("/admin/checks/licence", json=bad, headers=admin)
        assert refused.status_code == status, refused.text
        conforms(refused, "/admin/checks/licence", "post")


def test_an_oversized_admin_body_is_a_problem(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post("/admin/checks/licence", content=b" " * (1 << 20), headers=admin)
    assert 400 <= response.status_code < 500
    conforms(response, "/admin/checks/licence", "post")


# ---------------------------------------------------------------- OpenID4VCI


@pytest.mark.parametrize(
    ("body", "headers", "error"),
    [
        (b"grant_type=password", FORM, "unsupported_grant_type"),
        (b"", FORM, "invalid_request"),
        (b"{}", {"content-type": "application/json"}, "invalid_request"),
        (f"grant_type={PRE_AUTH}".encode(), FORM, "invalid_request"),
        (f"grant_type={PRE_AUTH}&pre-authorized_code=unknown".encode(), FORM, "invalid_grant"),
        (b"x" * 100_000, FORM, "invalid_request"),
    ],
    ids=["other grant", "empty", "json", "no code", "unknown code", "oversized"],
)
def test_token_errors_are_oauth_errors(
    client: TestClient, body: bytes, headers: dict[str, str], error: str
) -> None:
    response = client.post("/token", content=body, headers=headers)
    assert response.status_code == 400
    assert conforms(response, "/token", "post")["error"] == error


def test_a_wrong_transaction_code_is_invalid_grant(
    client: TestClient, world: World, admin: dict[str, str]
) -> None:
    data, signature = world.licence
    offer = client.post(
        "/admin/checks/licence",
        json={"data": b64(data), "signature": b64(signature), "tx_code": True},
        headers=admin,
    ).json()
    code = offer["credential_offer"]["grants"][PRE_AUTH]["pre-authorized_code"]
    wrong = "000000" if offer["tx_code"] != "000000" else "111111"
    response = client.post("/token", content=build_token_request(code, tx_code=wrong), headers=FORM)
    assert conforms(response, "/token", "post")["error"] == "invalid_grant"
    assert http_token(client, offer, offer["tx_code"])


def test_a_wallet_gets_a_credential_and_refusals_are_oauth_errors(
    client: TestClient, world: World, admin: dict[str, str]
) -> None:
    offer = http_jpki_offer(client, world, admin)
    bearer = {"authorization": "Bearer " + http_token(client, offer)}
    refusals: list[tuple[Any, dict[str, str], int, str]] = [
        ({"credential_configuration_id": "akashi_kyc"}, {}, 401, "invalid_token"),
        (credential_body(world, client), {"authorization": "Bearer unknown"}, 401, "invalid_token"),
        (credential_body(world, client), {"authorization": "Basic eDp5"}, 401, "invalid_token"),
        (b"not json", bearer, 400, "invalid_credential_request"),
        (b"[]", bearer, 400, "invalid_credential_request"),
        (credential_body(world, client, "akashi_licence"), bearer, 400, "unknown_credential_configuration"),
        (
            {"credential_identifier": "akashi_kyc", "proofs": {"jwt": ["a.b.c"]}},
            bearer,
            400,
            "unknown_credential_identifier",
        ),
        (
            {"credential_configuration_id": "akashi_kyc", "proofs": {"jwt": ["x"]}},
            bearer,
            400,
            "invalid_proof",
        ),
        (
            {"credential_configuration_id": "akashi_kyc", "proofs": {"jwt": ["x"] * 11}},
            bearer,
            400,
            "invalid_proof",
        ),
    ]
    for body, headers, status, error in refusals:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = client.post(
            "/credential", content=content, headers={**headers, "content-type": "application/json"}
        )
        assert response.status_code == status, (body, response.text)
        assert conforms(response, "/credential", "post")["error"] == error
    wrong_type = client.post("/credential", content=b"a=b", headers={**bearer, **FORM})
    assert conforms(wrong_type, "/credential", "post")["error"] == "invalid_credential_request"
    stale = credential_body(world, client)
    stale["proofs"]["jwt"] = [
        build_proof_jwt(
            Ed25519PrivateKey.generate(), audience=world.issuer.url, iat=int(NOW.timestamp()), nonce="made-up"
        )
    ]
    assert (
        conforms(client.post("/credential", json=stale, headers=bearer), "/credential", "post")["error"]
        == "invalid_nonce"
    )

    good = credential_body(world, client)
    request_conforms(good, "/credential", "post")
    issued = client.post("/credential", json=good, headers=bearer)
    assert issued.status_code == 200, issued.text
    answer = conforms(issued, "/credential", "post")
    assert len(answer["credentials"]) == 1
    assert "akashi_anchor" not in answer["credentials"][0]  # this issuer has no registry
    again = client.post("/credential", json=credential_body(world, client), headers=bearer)
    assert again.status_code == 401
    assert conforms(again, "/credential", "post")["error"] == "invalid_token"


def test_unexpected_failures_are_documented_500s(
    client: TestClient, world: World, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(world.issuer, "nonce", broken)
    monkeypatch.setattr(world.issuer.records, "purge", broken)
    nonce = client.post("/nonce")
    assert nonce.status_code == 500
    assert conforms(nonce, "/nonce", "post") == {"error": "server_error"}
    purge = client.post("/admin/purge", headers=admin)
    assert purge.status_code == 500
    assert "disk on fire" not in conforms(purge, "/admin/purge", "post").get("detail", "")


# ---------------------------------------------------------------- status


def test_status_changes_reach_the_served_status_list(
    client: TestClient, world: World, admin: dict[str, str]
) -> None:
    offer = http_jpki_offer(client, world, admin)
    bearer = {"authorization": "Bearer " + http_token(client, offer)}
    conforms(
        client.post("/credential", json=credential_body(world, client), headers=bearer), "/credential", "post"
    )
    listed = conforms(client.get("/admin/credentials", headers=admin), "/admin/credentials", "get")
    valid = [c for c in listed["credentials"] if c["status"] == "valid"]
    credential_id = valid[0]["credential_id"]
    path = "/admin/credentials/{credential_id}/{action}"
    for action in ("suspend", "reinstate", "revoke"):
        response = client.post(f"/admin/credentials/{credential_id}/{action}", headers=admin)
        assert response.status_code == 200, response.text
        change = conforms(response, path, "post")
        assert change["credential"] == credential_id and change["anchored"] == 0
    final = client.post(f"/admin/credentials/{credential_id}/reinstate", headers=admin)
    assert final.status_code == 422 and conforms(final, path, "post")["type"].endswith("/revoked")
    for concrete in (f"/admin/credentials/{credential_id}/destroy", "/admin/credentials/unknown/revoke"):
        response = client.post(concrete, headers=admin)
        assert response.status_code == 404
        conforms(response, path, "post")
    listed = conforms(client.get("/admin/credentials", headers=admin), "/admin/credentials", "get")
    assert {c["status"] for c in listed["credentials"] if c["credential_id"] == credential_id} == {"invalid"}

    uri = world.issuer.status.credential(credential_id).reference.uri
    token = conforms(client.get(uri.removeprefix(world.issuer.url)), "/status/{list_id}", "get")
    claims = json.loads(b64url_decode(token.split(".")[1]))
    validate(claims, "status-list-token")
    assert claims["sub"] == uri
    assert conforms(client.get("/status/unknown"), "/status/{list_id}", "get")["status"] == 404
    purged = conforms(client.post("/admin/purge", headers=admin), "/admin/purge", "post")
    assert purged["records_purged"] >= 0


def test_paths_and_methods_the_app_does_not_serve_are_problems(client: TestClient) -> None:
    problem = OPENAPI["components"]["schemas"]["Problem"]
    for method, path, status in [("get", "/nonce", 405), ("get", "/admin/purge", 405), ("get", "/nope", 404)]:
        response = client.request(method, path)
        assert response.status_code == status
        assert response.headers["content-type"].startswith("application/problem+json")
        _check(problem, response.json())


# ---------------------------------------------------------------- anchored on a registry


def test_anchored_credentials_carry_akashi_anchor(tmp_path: Path) -> None:
    anchored = Setup(tmp_path)
    try:
        offer = http_jpki_offer(anchored.http, anchored.world, anchored.admin)
        response = wallet_redeem(
            anchored, offer["offer_url"], [Ed25519PrivateKey.generate() for _ in range(2)]
        )
        assert response.status_code == 200, response.text
        answer = conforms(response, "/credential", "post")
        for item in answer["credentials"]:
            anchor = item["akashi_anchor"]
            assert anchor["leaf_index"] == anchor["inclusion_proof"]["leaf_index"]
        digest = answer["credentials"][0]["akashi_anchor"]["entry"]["body"]["digest"]
        revoked = anchored.http.post(f"/admin/credentials/{digest}/revoke", headers=anchored.admin)
        assert conforms(revoked, "/admin/credentials/{credential_id}/{action}", "post")["anchored"] >= 1
    finally:
        anchored.close()
