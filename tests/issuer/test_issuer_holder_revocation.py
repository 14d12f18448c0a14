"""A holder revokes its own credential at the issuer (``POST /credentials/revoke``), through the
issuer's HTTP contract in process: the request signed by the key the credential is bound to
revokes it (the served status list says so; asking again answers the state); every other
request — another key, stale, for another issuer, an unknown digest, malformed bytes — is an
RFC 9457 problem with a stable type, changes nothing, and is never a 500."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from issuer_world import World, jpki_offer, make_world, redeem
from openapi_contract import OpenApiContract
from starlette.testclient import TestClient
from test_issuer_http import Setup, wallet_redeem
from test_issuer_http import jpki_offer as http_jpki_offer

from identity.credentials.holder_revocation import (
    HOLDER_REVOCATION_TYP,
    credential_digest,
    new_holder_revocation,
    sign_holder_revocation,
)
from identity.credentials.status_list import (
    INVALID,
    SUSPENDED,
    VALID,
    StatusReference,
    verify_status_list_token,
)
from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey
from identity.jose.jws import sign_compact, sign_jwt
from issuer.app import create_app
from issuer.status import StatusRegistry

CONTRACT = OpenApiContract("issuer-openapi.json")
PATH = "/credentials/revoke"
JWT = {"content-type": "application/jwt"}
PROBLEMS = "https://akashi.example/problems/"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = make_world(tmp_path_factory.mktemp("holder-revocation"))
    yield w
    w.issuer.close()


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.issuer), raise_server_exceptions=False) as test_client:
        yield test_client


@dataclass(frozen=True)
class Issued:
    """One credential issued to ``holder``: its digest (the issuer's id) and status entry."""

    digest: str
    holder: Ed25519PrivateKey
    reference: StatusReference


def issue(world: World) -> Issued:
    holder = Ed25519PrivateKey.generate()
    answer = redeem(world, jpki_offer(world), "akashi_kyc", [holder])
    digest = credential_digest(answer["credentials"][0]["credential"])
    return Issued(digest, holder, world.issuer.status.credential(digest).reference)


def revocation(world: World, issued: Issued, **changes: Any) -> str:
    """The holder's request for ``issued``, with any claim (or the signing ``key``) changed."""
    key = changes.pop("key", issued.holder)
    request = new_holder_revocation(issued.digest, audience=world.issuer.url, iat=int(world.clock[0]))
    return sign_holder_revocation(replace(request, **changes), key)


def post(client: TestClient, body: str | bytes, headers: dict[str, str] = JWT) -> tuple[int, Any]:
    """POST the body; the status and the answer, checked against the OpenAPI document."""
    response = client.post(PATH, content=body, headers=headers)
    assert response.status_code != 500, response.text
    return response.status_code, CONTRACT.conforms(response, PATH, "post")


def served_status(client: TestClient, world: World, reference: StatusReference) -> int:
    """The credential's status in the list the issuer serves, verified under its key."""
    token = client.get(reference.uri.removeprefix(world.issuer.url)).text
    verified = verify_status_list_token(
        token, world.issuer.identity.signing_key.public_key, uri=reference.uri, now=world.clock[0]
    )
    return verified.status_list.get(reference.idx)


def list_version(world: World, reference: StatusReference) -> int:
    return next(info.version for info in world.issuer.status.lists() if info.uri == reference.uri)


# --- the holder revokes its own copy ----------------------------------------------------------


def test_the_holder_revokes_its_copy_and_the_served_status_list_says_so(
    client: TestClient, world: World
) -> None:
    issued, other = issue(world), issue(world)
    assert served_status(client, world, issued.reference) == VALID
    body = revocation(world, issued)
    CONTRACT.request_conforms(body, PATH, "post", "application/jwt")

    status, answer = post(client, body)
    assert status == 200
    assert answer["credential"] == issued.digest and answer["status"] == "invalid"
    assert answer["changed"] is True and answer["revoked_at"] == int(world.clock[0])
    assert answer["version"] == list_version(world, issued.reference) and answer["anchored"] == 0
    assert served_status(client, world, issued.reference) == INVALID
    assert served_status(client, world, other.reference) == VALID  # only this copy

    # Asking again (a new request, or the same one replayed) answers the state; nothing changes.
    for again in (revocation(world, issued), body):
        status, answer = post(client, again)
        assert (status, answer["status"], answer["changed"]) == (200, "invalid", False)
        assert answer["version"] == list_version(world, issued.reference)


def test_a_suspended_copy_is_revoked_too(client: TestClient, world: World) -> None:
    issued = issue(world)
    world.issuer.change_status(issued.digest, "suspend")
    assert served_status(client, world, issued.reference) == SUSPENDED
    status, answer = post(client, revocation(world, issued))
    assert (status, answer["changed"]) == (200, True)
    assert served_status(client, world, issued.reference) == INVALID


def test_the_new_list_version_is_anchored_as_an_operators_revocation_is(tmp_path: Path) -> None:
    anchored = Setup(tmp_path)
    try:
        holder = Ed25519PrivateKey.generate()
        issued = wallet_redeem(anchored, http_jpki_offer(anchored)["offer_url"], [holder])
        digest = credential_digest(issued.json()["credentials"][0]["credential"])
        world = anchored.world
        reference = world.issuer.status.credential(digest).reference
        body = revocation(world, Issued(digest, holder, reference))
        response = anchored.http.post(PATH, content=body, headers=JWT)
        assert response.status_code == 200, response.text
        answer = CONTRACT.conforms(response, PATH, "post")
        assert answer["anchored"] >= 1 and world.issuer.status.pending_publications() == []
        last = anchored.ledger.entry(anchored.ledger.checkpoint().size - 1).envelope
        served = anchored.http.get(reference.uri.removeprefix(world.issuer.url)).text
        assert last["type"] == "status.publish" and last["body"]["uri"] == reference.uri
        assert last["body"]["digest"] == b64url_encode(sha256(served.encode("ascii")))
    finally:
        anchored.close()


# --- refusals: a stable problem type, and nothing changes -------------------------------------


@dataclass(frozen=True)
class Refusal:
    """One way a request goes wrong: how it is made from the issued credential, the HTTP status
    and problem type (the last segment of its URI) the issuer answers with."""

    body: Callable[[World, Issued], str | bytes]
    status: int
    problem: str
    headers: dict[str, str] | None = None


def _other_claims(world: World, issued: Issued, **claims: Any) -> str:
    """A request with the holder's key but claims of our own choosing (not schema-checked)."""
    request = new_holder_revocation(issued.digest, audience=world.issuer.url, iat=int(world.clock[0]))
    return sign_jwt({"typ": HOLDER_REVOCATION_TYP}, {**request.to_json(), **claims}, issued.holder)


def _without(world: World, issued: Issued, name: str) -> str:
    request = new_holder_revocation(issued.digest, audience=world.issuer.url, iat=int(world.clock[0]))
    claims = {k: v for k, v in request.to_json().items() if k != name}
    return sign_jwt({"typ": HOLDER_REVOCATION_TYP}, claims, issued.holder)


def _with_header(world: World, issued: Issued, header: dict[str, Any]) -> str:
    request = new_holder_revocation(issued.digest, audience=world.issuer.url, iat=int(world.clock[0]))
    return sign_compact(header, canonicalize(request.to_json()), issued.holder)


def _unsigned(world: World, issued: Issued) -> str:
    request = new_holder_revocation(issued.digest, audience=world.issuer.url, iat=int(world.clock[0]))
    header = b64url_encode(canonicalize({"alg": "none", "typ": HOLDER_REVOCATION_TYP}))
    return f"{header}.{b64url_encode(canonicalize(request.to_json()))}."


UNKNOWN = b64url_encode(sha256(b"a credential this issuer never issued"))

REFUSALS = {
    "signed by another key": Refusal(
        lambda w, i: revocation(w, i, key=Ed25519PrivateKey.generate()), 422, "invalid-signature"
    ),
    "signed by another copy's key": Refusal(
        lambda w, i: revocation(w, i, key=issue(w).holder), 422, "invalid-signature"
    ),
    "stale": Refusal(lambda w, i: revocation(w, i, iat=int(w.clock[0]) - 3600), 422, "time"),
    "from the future": Refusal(lambda w, i: revocation(w, i, iat=int(w.clock[0]) + 3600), 422, "time"),
    "for another issuer": Refusal(
        lambda w, i: revocation(w, i, aud="https://another-issuer.example"), 422, "binding"
    ),
    "for an unknown credential": Refusal(lambda w, i: revocation(w, i, credential=UNKNOWN), 404, "not-found"),
    "another typ": Refusal(lambda w, i: _with_header(w, i, {"typ": "consent+jwt"}), 400, "malformed-input"),
    "alg none": Refusal(_unsigned, 422, "unsupported-algorithm"),
    "a crit header": Refusal(
        lambda w, i: _with_header(w, i, {"typ": HOLDER_REVOCATION_TYP, "crit": ["x"]}),
        422,
        "unsupported-algorithm",
    ),
    "no jti": Refusal(lambda w, i: _without(w, i, "jti"), 422, "schema-violation"),
    "no iat": Refusal(lambda w, i: _without(w, i, "iat"), 422, "schema-violation"),
    "an extra claim": Refusal(lambda w, i: _other_claims(w, i, exp=0), 422, "schema-violation"),
    "iat as text": Refusal(lambda w, i: _other_claims(w, i, iat="now"), 422, "schema-violation"),
    "not a digest": Refusal(lambda w, i: _other_claims(w, i, credential="x"), 422, "schema-violation"),
    "not a JWS": Refusal(lambda w, i: "revoke my credential please", 400, "malformed-input"),
    "not ASCII": Refusal(lambda w, i: "取り消し".encode(), 400, "malformed-input"),
    "empty": Refusal(lambda w, i: b"", 400, "malformed-input"),
    "too large": Refusal(lambda w, i: revocation(w, i) + "A" * 5000, 400, "malformed-input"),
    "larger than any body": Refusal(lambda w, i: b"A" * (1 << 20), 400, "malformed-input"),
    "as JSON": Refusal(
        lambda w, i: json.dumps({"revocation": revocation(w, i)}),
        400,
        "malformed-input",
        {"content-type": "application/json"},
    ),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_a_request_that_cannot_be_trusted_is_a_problem_and_changes_nothing(
    case: Refusal, client: TestClient, world: World
) -> None:
    issued = issue(world)
    version = list_version(world, issued.reference)
    status, problem = post(client, case.body(world, issued), case.headers or JWT)
    assert (status, problem["type"]) == (case.status, PROBLEMS + case.problem), problem
    assert problem["status"] == status and problem["instance"] == PATH
    assert world.issuer.status.status_of(issued.digest) == VALID
    assert list_version(world, issued.reference) == version
    assert served_status(client, world, issued.reference) == VALID


def test_a_signature_failure_says_no_more_than_invalid(client: TestClient, world: World) -> None:
    issued = issue(world)
    _, problem = post(client, revocation(world, issued, key=Ed25519PrivateKey.generate()))
    assert problem["detail"] == "holder revocation request signature is invalid"


def test_other_methods_are_problems(client: TestClient) -> None:
    response = client.get(PATH)
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_credential_issued_before_holder_keys_were_kept_is_refused(
    client: TestClient, world: World
) -> None:
    issued = issue(world)
    with sqlite3.connect(world.issuer.status.path) as conn:  # as an older issuer left it
        conn.execute("UPDATE entries SET holder_key = NULL WHERE credential_id = ?", (issued.digest,))
    status, problem = post(client, revocation(world, issued))
    assert (status, problem["type"]) == (422, PROBLEMS + "unknown-key")
    assert world.issuer.status.status_of(issued.digest) == VALID


def test_a_status_file_from_before_holder_keys_opens_and_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "status.db"
    with sqlite3.connect(path) as conn:  # the entries table as it was before holder keys
        conn.executescript(
            """
            CREATE TABLE lists (uri TEXT PRIMARY KEY, bits INTEGER NOT NULL, size INTEGER NOT NULL,
                capacity INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0,
                version INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
            CREATE TABLE entries (uri TEXT NOT NULL, idx INTEGER NOT NULL,
                status INTEGER NOT NULL DEFAULT 0, credential_id TEXT UNIQUE, vct TEXT,
                issued_at INTEGER, expires_at INTEGER, changed_at INTEGER,
                PRIMARY KEY (uri, idx)) WITHOUT ROWID;
            INSERT INTO lists VALUES ('https://issuer.example/status/old', 2, 1024, 900, 1, 0, 1);
            INSERT INTO entries VALUES ('https://issuer.example/status/old', 7, 0, 'old-digest',
                'https://issuer.example/vct/kyc', 1, NULL, NULL);
            """
        )
    conn.close()
    key = Ed25519PrivateKey.generate().public_key
    registry = StatusRegistry(path, uri_base="https://issuer.example/status", size=1024)
    try:
        old = registry.credential("old-digest")
        assert old.holder_key is None and old.status == VALID
        registry.register("new-digest", registry.allocate(), vct=old.vct, issued_at=2, holder_key=key)
        registry.revoke("old-digest")
    finally:
        registry.close()
    reopened = StatusRegistry(path, uri_base="https://issuer.example/status", size=1024)
    try:
        assert reopened.credential("old-digest").holder_key is None
        assert reopened.status_of("old-digest") == INVALID
        assert reopened.credential("new-digest").holder_key == key
    finally:
        reopened.close()


# --- fuzz: whatever the body, a documented answer, never a 500 ---------------------------------


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _claim_values(world: World) -> st.SearchStrategy[Any]:
    """Claim values of every shape, and plausible wrong ones (digest, issuer, times)."""
    now = int(world.clock[0])
    return st.one_of(
        st.sampled_from([UNKNOWN, "https://another-issuer.example", world.issuer.url + "/"]),
        st.integers(now - 10**6, now + 10**6),
        st.integers(),
        st.text(alphabet="AQgw-_", max_size=50),
        _JSON,
    )


@st.composite
def _bodies(draw: st.DrawFn, world: World, issued: Issued) -> bytes:
    """Random bytes, near-JWS text, or a JWS signed by the credential's holder key (or another)
    over the right claims, each kept, changed to a value of any shape or left out."""
    kind = draw(st.sampled_from(["bytes", "text", "signed", "signed", "signed", "signed"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "text":
        parts = draw(st.lists(st.text(alphabet="AZaz09-_.=~ ", max_size=40), min_size=1, max_size=4))
        return ".".join(parts).encode()
    header: dict[str, Any] = {"typ": HOLDER_REVOCATION_TYP}
    if draw(st.integers(0, 3)) == 0:  # now and then a header of another kind
        header = draw(
            st.fixed_dictionaries(
                {"typ": st.sampled_from([HOLDER_REVOCATION_TYP, "JWT", "consent+jwt"])},
                optional={"kid": st.text(max_size=10), "crit": _JSON},
            )
        )
    right = {
        "credential": issued.digest,
        "aud": world.issuer.url,
        "iat": int(world.clock[0]),
        "jti": "B" * 22,
    }
    claims: dict[str, Any] = {}
    for name, value in right.items():  # each claim kept, changed or left out
        fate = draw(st.sampled_from(["keep", "keep", "keep", "change", "drop"]))
        if fate != "drop":
            claims[name] = value if fate == "keep" else draw(_claim_values(world))
    if draw(st.integers(0, 3)) == 0:  # now and then a claim the schema does not allow
        claims[draw(st.sampled_from(["exp", "x"]))] = draw(_JSON)
    payload = json.dumps(claims).encode()  # not JCS: integers beyond 2**53 are allowed here
    key = draw(st.sampled_from([issued.holder, Ed25519PrivateKey.from_seed(bytes(32))]))
    return sign_compact(header, payload, key).encode()


@pytest.fixture(scope="module")
def fuzzed(world: World) -> Issued:
    return issue(world)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_body_makes_a_500_or_an_undocumented_answer(
    client: TestClient, world: World, fuzzed: Issued, data: st.DataObject
) -> None:
    status, answer = post(client, data.draw(_bodies(world, fuzzed)))
    assert status in (200, 400, 404, 422), answer
    event(str(answer.get("type", status)).rsplit("/", 1)[-1])
    if status == 200:  # a right request drawn by chance: it did revoke
        assert answer["credential"] == fuzzed.digest
        assert world.issuer.status.status_of(fuzzed.digest) == INVALID
