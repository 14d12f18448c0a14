"""The registry's HTTP contract, in process (Starlette's TestClient is an httpx client):
every route is in the OpenAPI document and answers as it says; bad input gets a
4xx problem document and changes nothing; nothing produces a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from node_harness import Harness
from openapi_contract import OpenApiContract
from rules_world import Base, base
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey
from identity.ledger.checkpoint import verify_checkpoint
from identity.ledger.merkle import leaf_hash, verify_consistency
from identity.ledger.proofs import parse_consistency_proof, parse_inclusion_proof
from registry import tiles
from registry.app import create_app
from registry.witness import Witness
from registry.witness_app import create_witness_app
from registry.witness_store import MemoryWitnessStore

SCENARIO: Base = base()
HISTORY = SCENARIO.world.history
CONTRACT = OpenApiContract("registry-openapi.json")
OPENAPI = CONTRACT.document
conforms = CONTRACT.conforms


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.storage.close()


@pytest.fixture
def client(harness: Harness) -> Iterator[TestClient]:
    witness = Witness(
        "akashi.test/witness",
        Ed25519PrivateKey.from_seed(bytes(32)),
        {harness.genesis.origin: harness.genesis.log_verifier()},
        MemoryWitnessStore(),
        lambda: 1,
    )
    app = create_app(harness.node, extra_routes=[Mount("/witness", app=create_witness_app(witness))])
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def submit_all(client: TestClient) -> None:
    response = client.post("/entries", json={"entries": HISTORY})
    conforms(response, "/entries", "post")
    assert all("accepted" in result for result in response.json()["results"])


def test_every_route_is_documented_and_every_documented_path_exists(harness: Harness) -> None:
    app = create_app(
        harness.node,
        extra_routes=[
            Mount(
                "/witness",
                app=create_witness_app(
                    Witness("w", Ed25519PrivateKey.from_seed(bytes(32)), {}, MemoryWitnessStore())
                ),
            )
        ],
    )
    served: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Route):
            path = route.path.replace("{rest:path}", "{path}")
            for method in route.methods or ():
                if method != "HEAD":
                    served.add((path, method.lower()))
        elif isinstance(route, Mount):
            for inner in route.routes:
                if isinstance(inner, Route):
                    for method in inner.methods or ():
                        if method != "HEAD":
                            served.add((route.path + inner.path, method.lower()))
    documented = {(path, method) for path, item in OPENAPI["paths"].items() for method in item}
    assert served == documented


def test_submit_one_entry_then_read_it_back(client: TestClient) -> None:
    response = client.post("/entries", content=json.dumps(HISTORY[0]))
    conforms(response, "/entries", "post")
    assert response.status_code == 201
    accepted = response.json()
    assert accepted["index"] == 0 and accepted["tree_size"] == 1
    again = client.post("/entries", json=HISTORY[0])
    assert again.status_code == 200 and again.json()["duplicate"] is True
    entry = client.get("/entries/0")
    conforms(entry, "/entries/{index}", "get")
    assert canonicalize(entry.json()["entry"]) == canonicalize(HISTORY[0])


def test_checkpoint_and_proofs_verify(client: TestClient, harness: Harness) -> None:
    submit_all(client)
    note = client.get("/checkpoint")
    conforms(note, "/checkpoint", "get")
    checkpoint = verify_checkpoint(note.content, harness.genesis.log_verifier())
    for index in (0, 3, len(HISTORY) - 1):
        response = client.get("/proofs/inclusion", params={"index": index})
        conforms(response, "/proofs/inclusion", "get")
        proof = parse_inclusion_proof(response.content)
        proof.verify(leaf_hash(canonicalize(HISTORY[index])), checkpoint.root_hash)
    by_hash = client.get(
        "/proofs/inclusion", params={"leaf_hash": b64url_encode(leaf_hash(canonicalize(HISTORY[2])))}
    )
    assert by_hash.json()["leaf_index"] == 2
    first_root = harness.node.root(3)
    response = client.get("/proofs/consistency", params={"from": 3})
    conforms(response, "/proofs/consistency", "get")
    consistency = parse_consistency_proof(response.content)
    verify_consistency(3, checkpoint.size, consistency.path, first_root, checkpoint.root_hash)


def test_tiles_follow_tlog_tiles(client: TestClient, harness: Harness) -> None:
    submit_all(client)
    size = harness.node.size()
    partial = client.get(f"/tile/0/000.p/{size}")
    conforms(partial, "/tile/{path}", "get")
    hashes = tiles.split_tile(partial.content, size)
    assert hashes == [leaf_hash(canonicalize(e)) for e in HISTORY]
    assert partial.headers["cache-control"] == "no-cache"
    bundle = client.get(f"/tile/entries/000.p/{size}")
    assert tiles.decode_bundle(bundle.content, size) == [canonicalize(e) for e in HISTORY]
    assert client.get("/tile/0/000").status_code == 404  # not full yet
    assert client.get("/tile/0/x000/000").status_code == 400  # not the shortest form


def test_did_resolution_carries_the_key_event_log_with_proofs(client: TestClient, harness: Harness) -> None:
    submit_all(client)
    did = SCENARIO.world.issuer.did
    response = client.get(f"/dids/{did}")
    conforms(response, "/dids/{did}", "get")
    answer = response.json()
    assert answer["did_document"]["id"] == did
    checkpoint = verify_checkpoint(answer["checkpoint"].encode(), harness.genesis.log_verifier())
    assert answer["key_event_log"]
    for event in answer["key_event_log"]:
        proof = parse_inclusion_proof(json.dumps(event["inclusion_proof"]))
        proof.verify(b64url_decode(event["leaf_hash"]), checkpoint.root_hash)
        assert leaf_hash(canonicalize(event["entry"])) == b64url_decode(event["leaf_hash"])


def test_state_lookups(client: TestClient) -> None:
    submit_all(client)
    attestation = client.get(f"/attestations/{SCENARIO.attestation}")
    conforms(attestation, "/attestations/{digest}", "get")
    assert attestation.json()["attestation"]["issuer"] == SCENARIO.world.issuer.did
    consent = client.get(f"/consents/{SCENARIO.consent}")
    conforms(consent, "/consents/{digest}", "get")
    assert consent.json()["consent"]["updates_allowed"] is True
    members = client.get("/members")
    conforms(members, "/members", "get")
    assert {m["role"] for m in members.json()["members"]} == {"issuer", "verifier"}
    member = client.get(f"/members/{SCENARIO.world.verifier.did}")
    conforms(member, "/members/{did}", "get")
    assert client.get("/attestations/unknown").status_code == 404


BAD_REQUESTS = [
    ("malformed JSON", "post", "/entries", b'{"v": 1,'),
    ("not an object", "post", "/entries", b"[1, 2]"),
    ("empty batch", "post", "/entries", b'{"entries": []}'),
    ("unknown type", "post", "/entries", json.dumps({**HISTORY[0], "type": "did.destroy"}).encode()),
    ("wrong signature", "post", "/entries", json.dumps({**HISTORY[1], "sig": HISTORY[0]["sig"]}).encode()),
    ("rule broken", "post", "/entries", json.dumps(HISTORY[-1]).encode()),
    ("duplicate member names", "post", "/entries", b'{"v":1,"v":1}'),
    ("oversize body", "post", "/entries", b" " * (5 * 1024 * 1024)),
    ("negative index", "get", "/entries/-1", b""),
    ("huge index", "get", "/entries/99999999999999999999", b""),
    ("no such entry", "get", "/entries/12345", b""),
    ("inclusion without index", "get", "/proofs/inclusion", b""),
    ("inclusion bad hash", "get", "/proofs/inclusion?leaf_hash=!!", b""),
    ("inclusion beyond size", "get", "/proofs/inclusion?index=3&tree_size=99", b""),
    ("consistency from zero", "get", "/proofs/consistency?from=0", b""),
    ("tile garbage", "get", "/tile/abc", b""),
    ("did:key not on ledger", "get", "/dids/did:key:z6Mkxyz", b""),
    ("not a DID", "get", "/dids/hello", b""),
    ("unknown member", "get", "/members/did:akashi:Qmunknown", b""),
    ("unknown route", "get", "/nothing-here", b""),
    ("wrong method", "delete", "/entries", b""),
    ("witness garbage", "post", "/witness/add-checkpoint", b"hello"),
]


@pytest.mark.parametrize(("label", "method", "url", "body"), BAD_REQUESTS, ids=[r[0] for r in BAD_REQUESTS])
def test_bad_requests_get_a_problem_and_change_nothing(
    client: TestClient, harness: Harness, label: str, method: str, url: str, body: bytes
) -> None:
    client.post("/entries", json={"entries": HISTORY[:4]})
    before = harness.snapshot()
    response = client.request(method, url, content=body or None)
    assert 400 <= response.status_code < 500, (label, response.status_code, response.text[:300])
    if not url.startswith("/witness"):
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"].startswith("https://akashi.example/problems/")
        assert problem["status"] == response.status_code
    assert harness.snapshot() == before


def test_a_broken_rule_is_named_in_the_problem(client: TestClient) -> None:
    client.post("/entries", json={"entries": HISTORY[:4]})
    response = client.post("/entries", json=HISTORY[-1])
    conforms(response, "/entries", "post")
    problem = response.json()
    assert problem["type"].endswith("/rejected-by-rules") and problem["rule"]


def test_the_witness_is_served_beside_the_log(client: TestClient, harness: Harness) -> None:
    from registry.witness import format_add_checkpoint_request

    submit_all(client)
    note = client.get("/checkpoint").content
    response = client.post("/witness/add-checkpoint", content=format_add_checkpoint_request(0, [], note))
    conforms(response, "/witness/add-checkpoint", "post")
    assert response.status_code == 200 and response.text.startswith("— akashi.test/witness ")
