"""The verifier's HTTP contract, in process: every route is in specs/verifier-openapi.json and
every documented operation is served; each answer, accepted or refused, has a documented
status, media type, required headers and a body that validates against the document.
Operator errors (and wallet-facing failed checks) are problem documents; no unexpected 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from openapi_contract import OpenApiContract, served_operations
from test_verifier_service import FORM, World

from identity.protocols.oid4vp import build_error_response, parse_request_url
from verifier.app import create_app

CONTRACT = OpenApiContract("verifier-openapi.json")
OPENAPI_URI = CONTRACT.uri
OPENAPI = CONTRACT.document
REGISTRY = CONTRACT.registry
conforms = CONTRACT.conforms
request_conforms = CONTRACT.request_conforms
_check = CONTRACT.check


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("verifier-openapi"))
    yield w
    w.verifier.close()
    w.setup.close()


# ---------------------------------------------------------------- the document itself


def test_every_route_is_documented_and_every_documented_operation_is_served(world: World) -> None:
    assert served_operations(create_app(world.verifier).routes) == CONTRACT.documented_operations()


def _operator(path: str) -> bool:
    return path.startswith("/admin/") or path.startswith("/customers/")


def test_the_document_is_coherent() -> None:
    assert OPENAPI["openapi"].startswith("3.1")
    CONTRACT.check_coherent()
    for path, item in OPENAPI["paths"].items():
        for method, operation in item.items():
            # The operator API needs the operator token everywhere, and only there.
            assert _operator(path) == (operation.get("security") == [{"operatorToken": []}])
            assert "500" in operation["responses"], (path, method)
            assert _operator(path) == ("401" in operation["responses"]), (path, method)


# ---------------------------------------------------------------- operator API


OPERATOR_OPERATIONS = [
    (path, method) for path, item in OPENAPI["paths"].items() for method in item if _operator(path)
]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic YWRtaW46YWRtaW4="])
@pytest.mark.parametrize(("path", "method"), OPERATOR_OPERATIONS)
def test_the_operator_api_needs_the_token(
    world: World, path: str, method: str, authorization: str | None
) -> None:
    concrete = path.replace("{tid}", "x").replace("{kind}", "svg").replace("{customer}", "did:key:z6Mk")
    headers = {"authorization": authorization} if authorization else {}
    response = world.http.request(method, concrete, headers=headers, json={"policy": "space-sharing"})
    assert response.status_code == 401
    assert conforms(response, path, method)["type"].endswith("/unauthorized")


def open_request(world: World, policy: str = "space-sharing") -> dict[str, Any]:
    body = {"policy": policy}
    request_conforms(body, "/admin/requests", "post")
    response = world.http.post("/admin/requests", json=body, headers=world.admin)
    assert response.status_code == 201, response.text
    opened: dict[str, Any] = conforms(response, "/admin/requests", "post")
    return opened


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"[]", 400), (b"{not json", 400), (b'{"policy": 5}', 400), (b'{"policy": "boat-sharing"}', 404)],
    ids=["not an object", "not json", "not a string", "unknown policy"],
)
def test_bad_requests_to_open_are_problems(world: World, body: bytes, status: int) -> None:
    response = world.http.post(
        "/admin/requests", content=body, headers={**world.admin, "content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    conforms(response, "/admin/requests", "post")


def test_an_opened_request_has_qr_codes_and_a_signed_request_object(world: World) -> None:
    opened = open_request(world, "car-sharing")
    path = "/admin/requests/{tid}/qr.{kind}"
    svg = conforms(world.http.get(opened["qr_svg"], headers=world.admin), path, "get")
    assert "<svg" in svg
    png = world.http.get(f"/admin/requests/{opened['id']}/qr.png", headers=world.admin)
    assert png.headers["content-type"] == "image/png"
    conforms(png, path, "get")
    unknown = world.http.get("/admin/requests/nope/qr.svg", headers=world.admin)
    assert unknown.status_code == 404 and conforms(unknown, path, "get")["type"].endswith("/not-found")

    reference = parse_request_url(opened["url"])
    request_uri = reference.request_uri.removeprefix(world.verifier.url)
    assert request_uri == f"/oid4vp/requests/{opened['id']}"
    conforms(world.http.get(request_uri), "/oid4vp/requests/{tid}", "get")
    missing = world.http.get("/oid4vp/requests/nope")
    assert missing.status_code == 404
    conforms(missing, "/oid4vp/requests/{tid}", "get")


# ---------------------------------------------------------------- the wallet's side


def test_a_presentation_is_recorded_and_every_answer_conforms(world: World) -> None:
    opened = open_request(world)
    answer = world.wallet_answer(opened["url"])
    assert answer.status_code == 200, answer.text
    conforms(answer, "/oid4vp/response", "post")
    request_conforms(
        dict(parse_qsl(world.last_body_for_replay())), "/oid4vp/response", "post", FORM["content-type"]
    )
    # Answered: the request object is no longer served, the response is not taken twice.
    served = world.http.get(f"/oid4vp/requests/{opened['id']}")
    assert served.status_code == 422 and conforms(served, "/oid4vp/requests/{tid}", "get")
    replayed = world.http.post("/oid4vp/response", content=world.last_body_for_replay(), headers=FORM)
    assert replayed.status_code == 422
    assert conforms(replayed, "/oid4vp/response", "post")["type"].endswith("/binding")

    listed = conforms(world.http.get("/admin/customers", headers=world.admin), "/admin/customers", "get")
    customer = listed["customers"][0]["customer"]
    kyc = conforms(
        world.http.get(f"/customers/{customer}/kyc", headers=world.admin), "/customers/{customer}/kyc", "get"
    )
    assert kyc["status"] == "verified"
    nobody = world.http.get("/customers/did:key:z6MkNobody/kyc", headers=world.admin)
    assert conforms(nobody, "/customers/{customer}/kyc", "get")["status"] == "not_verified"

    for kind, media in (("jsonl", "application/jsonl"), ("csv", "text/csv")):
        exported = world.http.get("/admin/export", params={"format": kind}, headers=world.admin)
        assert exported.status_code == 200 and exported.headers["content-type"].startswith(media)
        assert conforms(exported, "/admin/export", "get")
    bad = world.http.get("/admin/export", params={"format": "xml"}, headers=world.admin)
    assert bad.status_code == 400 and conforms(bad, "/admin/export", "get")

    changes = conforms(world.http.post("/admin/recheck", headers=world.admin), "/admin/recheck", "post")
    assert changes == {"changes": []}


def test_a_refusal_closes_the_request(world: World) -> None:
    opened = open_request(world)
    answer = world.wallet_answer(opened["url"], refuse=True)
    assert answer.status_code == 200
    conforms(answer, "/oid4vp/response", "post")
    body = build_error_response("access_denied", state="unknown-state")
    request_conforms(dict(parse_qsl(body)), "/oid4vp/response", "post", FORM["content-type"])


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage",
        b"vp_token=%7B%7D",
        b"state=x",
        b"vp_token=not-json&state=x",
        b"vp_token=%7B%7D&state=x",
    ],
    ids=["empty", "garbage", "no state", "no token", "token not json", "unknown state"],
)
def test_malformed_responses_are_oauth_errors_never_500(world: World, body: bytes) -> None:
    response = world.http.post("/oid4vp/response", content=body, headers=FORM)
    assert response.status_code == 400, response.text
    assert response.headers["cache-control"] == "no-store"
    assert conforms(response, "/oid4vp/response", "post")["error"] == "invalid_request"


def test_an_oversized_response_is_a_problem(world: World) -> None:
    response = world.http.post("/oid4vp/response", content=b"x" * (1 << 20), headers=FORM)
    assert response.status_code == 400
    assert conforms(response, "/oid4vp/response", "post")["type"].endswith("/malformed-input")


# ---------------------------------------------------------------- failures


def test_unexpected_failures_are_documented_500s(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(world.verifier, "recheck", broken)
    response = world.http.post("/admin/recheck", headers=world.admin)
    assert response.status_code == 500
    assert "disk on fire" not in conforms(response, "/admin/recheck", "post").get("detail", "")


def test_paths_and_methods_the_app_does_not_serve_are_problems(world: World) -> None:
    problem = OPENAPI["components"]["schemas"]["Problem"]
    for method, path, status in [
        ("get", "/oid4vp/response", 405),
        ("get", "/admin/recheck", 405),
        ("get", "/nope", 404),
    ]:
        response = world.http.request(method, path)
        assert response.status_code == status
        assert response.headers["content-type"].startswith("application/problem+json")
        _check(problem, response.json())
