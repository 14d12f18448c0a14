"""Attacks on the verifier (issue 5, "Reliability and security"), each refused with its own
error and nothing stored: consent receipts for another verifier, another purpose, another
request's nonce, fewer claims than were disclosed, signed by another key, or revoked on the
ledger; a ledger whose checkpoint lacks cosignatures or forks from the one seen before;
replayed states and nonces; and malformed everything over HTTP (hypothesis) without a 500.

The attacks on the credential itself (wrong issuer key, revoked, stale KB-JWT, ...) are in
test_pipeline.py; this file covers the rest of the issue's list."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from issuer_world import NOW
from starlette.testclient import TestClient
from test_pipeline import World as PipelineWorld
from test_verifier_service import FORM, T
from test_verifier_service import World as ServiceWorld

from identity.credentials.consent import (
    consent_digest,
    consent_grant_body,
    new_consent_receipt,
    sign_consent_receipt,
)
from identity.credentials.sdjwt import parse_claims_unverified, present
from identity.crypto.keys import Ed25519PrivateKey
from identity.did.did_key import did_key_from_public_key
from identity.errors import (
    AkashiError,
    BindingError,
    ConsentError,
    InvalidSignature,
    PolicyError,
    ProofMismatch,
)
from identity.jose.jws import sign_jwt
from identity.ledger.checkpoint import Checkpoint, sign_checkpoint
from identity.ledger.cosignature import CosignatureVerifier, cosign
from identity.ledger.envelope import sign_envelope
from identity.ledger.note import Ed25519NoteSigner
from identity.protocols.dcql import Candidate, select_credentials
from identity.protocols.oid4vp import build_authorization_response, build_error_response
from registry.client import ClientTrust, RegistryClient
from registry.service import read_private_key, witness_name
from verifier.requests import Transaction

POLICY = "space-sharing"
TABLES = ("verifications", "credentials", "disclosures", "appi_receipts")
Mutate = Callable[[str], str]


# --- helpers -----------------------------------------------------------------------------------


def stored(world: ServiceWorld) -> int:
    """Rows in every table of the verifier's customer records."""
    with sqlite3.connect(world.verifier.customers.path) as conn:
        return sum(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in TABLES)


def vp_token_for(world: ServiceWorld, transaction: Transaction) -> dict[str, list[str]]:
    """What a plain wallet presents for ``transaction``: the DCQL selection, bound to its nonce."""
    claims = parse_claims_unverified(world.credential)
    selection = select_credentials(transaction.query, [Candidate(claims["vct"], claims)])
    return {
        query_id: [
            present(
                world.credential,
                paths,
                holder_key=world.holder,
                nonce=transaction.nonce,
                aud=transaction.client_id,
                iat=T,
            )
            for _, paths in chosen
        ]
        for query_id, chosen in selection.items()
    }


def requested_claims(world: ServiceWorld, transaction: Transaction) -> list[str]:
    """What the akashi wallet writes in a receipt's ``claims``: the DCQL paths it was asked
    for (those of the claim set it answers), dotted, ``*`` for "every element"."""
    claims = parse_claims_unverified(world.credential)
    selection = select_credentials(transaction.query, [Candidate(claims["vct"], claims)])
    paths = {path for chosen in selection.values() for _, answer in chosen for path in answer}
    return sorted(".".join("*" if step is None else str(step) for step in path) for path in paths)


def receipt(
    world: ServiceWorld,
    transaction: Transaction,
    *,
    verifier: str | None = None,
    purpose: str = POLICY,
    key: Ed25519PrivateKey | None = None,
    nonce: str | None = None,
    claims: list[str] | None = None,
) -> str:
    """A consent receipt for ``transaction`` signed by ``key`` (the credential's holder key by
    default), with its nonce and the claims it asks for unless told otherwise."""
    holder = key or world.holder
    terms = new_consent_receipt(
        holder.public_key,
        verifier=verifier or world.verifier.identity.did,
        purpose_id=purpose,
        purpose="スペース利用者の本人・年齢確認",
        claims=requested_claims(world, transaction) if claims is None else claims,
        granted_at=T - 60,
        expires_at=T + 30 * 86400,
        updates_allowed=False,
        nonce=transaction.nonce if nonce is None else nonce,
    )
    return sign_consent_receipt(terms, holder)


def post(world: ServiceWorld, body: str | bytes) -> httpx.Response:
    answer: httpx.Response = world.http.post("/oid4vp/response", content=body, headers=FORM)
    return answer


def problem_type(response: httpx.Response) -> str:
    return str(response.json()["type"]).rsplit("/", 1)[-1]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ServiceWorld]:
    w = ServiceWorld(tmp_path)
    yield w
    w.verifier.close()
    w.setup.close()


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[PipelineWorld]:
    w = PipelineWorld(tmp_path)
    yield w
    w.setup.close()


# --- consent receipts ---------------------------------------------------------------------------


def test_an_honest_consent_receipt_is_recorded(world: ServiceWorld) -> None:
    transaction = world.verifier.new_request(POLICY)
    body = build_authorization_response(
        vp_token_for(world, transaction), transaction.state, akashi_consent=receipt(world, transaction)
    )
    answer = post(world, body)
    assert answer.status_code == 200, answer.text
    assert stored(world) > 0


def _other_verifier() -> str:
    return did_key_from_public_key(Ed25519PrivateKey.generate().public_key)


def _named_holder_signed_by_another_key(world: ServiceWorld, transaction: Transaction) -> str:
    """A receipt whose ``holder`` names the credential's holder, signed by a thief's key."""
    terms = new_consent_receipt(
        world.holder.public_key,
        verifier=world.verifier.identity.did,
        purpose_id=POLICY,
        purpose="スペース利用者の本人・年齢確認",
        claims=requested_claims(world, transaction),
        granted_at=T - 60,
        expires_at=T + 30 * 86400,
        updates_allowed=False,
        nonce=transaction.nonce,
    )
    kid = terms.holder + "#" + terms.holder.removeprefix("did:key:")
    return sign_jwt({"typ": "consent+jwt", "kid": kid}, terms.to_json(), Ed25519PrivateKey.generate())


def _one_claim_short(world: ServiceWorld, transaction: Transaction) -> str:
    """A receipt that leaves out one of the claims the presentation discloses (age_over_18)."""
    asked = requested_claims(world, transaction)
    assert "age_over_18" in asked
    return receipt(world, transaction, claims=[c for c in asked if c != "age_over_18"])


MakeReceipt = Callable[[ServiceWorld, Transaction], str]


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda w, t: receipt(w, t, verifier=_other_verifier()), BindingError),
        (lambda w, t: receipt(w, t, purpose="car-sharing"), ConsentError),
        (lambda w, t: receipt(w, t, key=Ed25519PrivateKey.generate()), InvalidSignature),
        (_named_holder_signed_by_another_key, InvalidSignature),
        (lambda w, t: receipt(w, t, nonce="bm9uY2Utb2YtYW5vdGhlci1yZXF1ZXN0"), BindingError),
        (_one_claim_short, ConsentError),
    ],
    ids=[
        "another verifier", "another purpose", "another key", "holder named, another key signs",
        "another request's nonce", "a disclosed claim not consented to",
    ],
)
def test_a_foreign_consent_receipt_is_refused_and_nothing_stored(
    world: ServiceWorld, make: MakeReceipt, error: type[AkashiError]
) -> None:
    transaction = world.verifier.new_request(POLICY)
    body = build_authorization_response(
        vp_token_for(world, transaction), transaction.state, akashi_consent=make(world, transaction)
    )
    with pytest.raises(error):  # the service itself
        world.verifier.receive(body.encode())
    assert stored(world) == 0
    # The refused answer closed its request: the same body again is a replay.
    with pytest.raises(BindingError, match="already answered"):
        world.verifier.receive(body.encode())
    # And over HTTP, with the error's own problem type.
    transaction = world.verifier.new_request(POLICY)
    body = build_authorization_response(
        vp_token_for(world, transaction), transaction.state, akashi_consent=make(world, transaction)
    )
    answer = post(world, body)
    assert answer.status_code in (403, 422), answer.text
    assert problem_type(answer) == error.code
    assert stored(world) == 0


def test_a_receipt_for_another_requests_nonce_cannot_be_reused(world: ServiceWorld) -> None:
    """An honest receipt, accepted with its own request, is refused with the next one."""
    first = world.verifier.new_request(POLICY)
    token = receipt(world, first)
    assert post(world, build_authorization_response(
        vp_token_for(world, first), first.state, akashi_consent=token)).status_code == 200
    rows = stored(world)
    second = world.verifier.new_request(POLICY)
    answer = post(world, build_authorization_response(
        vp_token_for(world, second), second.state, akashi_consent=token))
    assert answer.status_code == 422 and problem_type(answer) == "binding"
    assert "nonce" in answer.json()["detail"]
    assert stored(world) == rows


UPDATES = "parcel-locker"  # a policy that asks for updates: its receipt must be anchored


def _anchored_receipt(world: ServiceWorld, transaction: Transaction, *, revoke: bool) -> str:
    """An honest receipt for ``transaction`` under the updates policy, granted on the ledger
    (``consent.grant``) and, with ``revoke``, revoked there since (``consent.revoke``)."""
    terms = new_consent_receipt(
        world.holder.public_key,
        verifier=world.verifier.identity.did,
        purpose_id=UPDATES,
        purpose="宅配ロッカーの受取人確認",
        claims=requested_claims(world, transaction),
        granted_at=T - 60,
        expires_at=T + 365 * 86400,
        updates_allowed=True,
        nonce=transaction.nonce,
    )
    token = sign_consent_receipt(terms, world.holder)
    signer = f"{terms.holder}#{terms.holder.removeprefix('did:key:')}"
    ledger = world.setup.ledger
    ledger.submit(sign_envelope("consent.grant", consent_grant_body(token, terms), signer, world.holder))
    if revoke:
        body = {"receipt_digest": consent_digest(token), "revoked_at": T - 30}
        ledger.submit(sign_envelope("consent.revoke", body, signer, world.holder))
    return token


def test_a_consent_revoked_on_the_ledger_is_refused_and_nothing_stored(world: ServiceWorld) -> None:
    transaction = world.verifier.new_request(UPDATES)
    token = _anchored_receipt(world, transaction, revoke=True)
    vp_token = vp_token_for(world, transaction)
    body = build_authorization_response(vp_token, transaction.state, akashi_consent=token)
    answer = post(world, body)
    assert answer.status_code == 403 and problem_type(answer) == ConsentError.code, answer.text
    assert "revoked" in answer.json()["detail"]
    assert stored(world) == 0
    # The same, not revoked: accepted and recorded with its consent.
    honest = world.verifier.new_request(UPDATES)
    token = _anchored_receipt(world, honest, revoke=False)
    body = build_authorization_response(vp_token_for(world, honest), honest.state, akashi_consent=token)
    assert post(world, body).status_code == 200
    assert stored(world) > 0


# --- the ledger: cosignatures and forks ------------------------------------------------------------


def test_a_checkpoint_without_enough_cosignatures_is_a_policy_error(pipeline: PipelineWorld) -> None:
    registry = pipeline.setup.registry
    absent = CosignatureVerifier("akashi.test/absent-witness", Ed25519PrivateKey.generate().public_key)
    trust = ClientTrust.from_genesis(registry.genesis, [registry.witness_verifier.vkey, absent.vkey], 2)
    ledger = RegistryClient(
        client=pipeline.setup.registry_http, trust=trust, clock=lambda: NOW.timestamp(), cosign_wait=0
    )
    presentation = pipeline.present([("age_over_20",)])
    pipeline.verify(presentation)  # k=1 (the node's own witness): accepted
    with pytest.raises(PolicyError):
        pipeline.verify(presentation, ledger=ledger)


def _second_node(pipeline: PipelineWorld, forked: dict[str, bool]) -> httpx.Client:
    """The real node while ``forked["now"]`` is false; then a node with another history of the
    same size: the real node's answers with every checkpoint replaced by one with another root,
    signed by the log key and cosigned by its witness (a split view)."""
    registry = pipeline.setup.registry
    origin = registry.genesis.origin
    size = registry.node.latest_checkpoint().size
    note = sign_checkpoint(
        Checkpoint(origin, size, bytes(range(32))),
        Ed25519NoteSigner(origin, read_private_key(registry.config.log_key_file)),
    )
    witness = read_private_key(registry.config.witness_key_file)
    fork = cosign(note, witness_name(origin), witness, timestamp=int(NOW.timestamp()))
    real: TestClient = pipeline.setup.registry_http

    def handler(request: httpx.Request) -> httpx.Response:
        answer = real.send(request)
        body = answer.content
        if not forked["now"]:
            pass
        elif request.url.path == "/checkpoint":
            body = fork.encode()
        elif answer.headers.get("content-type", "").startswith("application/json"):
            obj = json.loads(body)
            if isinstance(obj, dict) and "checkpoint" in obj:
                obj["checkpoint"] = fork
                body = json.dumps(obj).encode()
        dropped = ("content-length", "content-encoding")
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in dropped}
        return httpx.Response(answer.status_code, headers=headers, content=body)

    return httpx.Client(transport=httpx.MockTransport(handler), base_url="http://testserver")


def test_a_forked_checkpoint_is_a_proof_mismatch(pipeline: PipelineWorld, tmp_path: Path) -> None:
    state = tmp_path / "ledger-state.json"
    trust, clock = pipeline.setup.ledger.trust, NOW.timestamp
    forked = {"now": False}
    http = _second_node(pipeline, forked)
    presentation = pipeline.present([("age_over_20",)])
    # The verifier's ledger client sees the node's checkpoint (and keeps it in its state file)...
    ledger = RegistryClient(client=http, trust=trust, clock=clock, cosign_wait=0, state_file=state)
    pipeline.verify(presentation, ledger=ledger)
    seen = ledger.last_checkpoint
    # ...then the node (or a second node it is sent to) shows a different history of that size.
    forked["now"] = True
    with pytest.raises(ProofMismatch, match="forked"):
        pipeline.verify(presentation, ledger=ledger)
    assert ledger.last_checkpoint == seen
    # After a restart, the state file still remembers what was seen.
    restarted = RegistryClient(client=http, trust=trust, clock=clock, cosign_wait=0, state_file=state)
    with pytest.raises(ProofMismatch, match="forked"):
        pipeline.verify(presentation, ledger=restarted)
    http.close()


# --- replays -------------------------------------------------------------------------------------


def test_states_and_nonces_are_single_use(world: ServiceWorld) -> None:
    first = world.verifier.new_request(POLICY)
    vp_token = vp_token_for(world, first)
    body = build_authorization_response(vp_token, first.state)
    assert post(world, body).status_code == 200
    rows = stored(world)
    # The exact same body again: the state was consumed.
    replayed = post(world, body)
    assert replayed.status_code == 422 and problem_type(replayed) == "binding"
    # The answered request's object is no longer served.
    assert world.http.get(first.request_uri_path).status_code == 422
    # The same presentations under a fresh request's state: bound to the old nonce.
    second = world.verifier.new_request(POLICY)
    moved = post(world, build_authorization_response(vp_token, second.state))
    assert moved.status_code == 422 and problem_type(moved) == "binding"
    assert "nonce" in moved.json().get("detail", "")
    # A failed answer consumes its state too: resubmitting it (or a corrected one) is refused.
    retried = post(world, build_authorization_response(vp_token_for(world, second), second.state))
    assert retried.status_code == 422 and problem_type(retried) == "binding"
    # A refusal closes the request: a later answer with its state is refused.
    third = world.verifier.new_request(POLICY)
    assert post(world, build_error_response("access_denied", state=third.state)).status_code == 200
    late = post(world, build_authorization_response(vp_token_for(world, third), third.state))
    assert late.status_code == 422 and problem_type(late) == "binding"
    assert stored(world) == rows


# --- malformed everything over HTTP ------------------------------------------------------------------

FUZZ = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PARAMETERS = st.sampled_from(["vp_token", "state", "akashi_consent", "error", "error_description", "x", ""])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
TOKENISH = st.text(alphabet="abcAZ09-_.~=+/%", max_size=80)


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceWorld]:
    w = ServiceWorld(tmp_path_factory.mktemp("fuzz"))
    yield w
    w.verifier.close()
    w.setup.close()


def _refused(world: ServiceWorld, answer: httpx.Response) -> None:
    assert answer.status_code < 500, answer.text
    assert stored(world) == 0


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.text(alphabet="%=&+;abc09_-~.", max_size=200).map(str.encode),
        st.lists(st.tuples(PARAMETERS, st.text(max_size=60)), max_size=6).map(urlencode),
    )
)
def test_fuzzed_form_bodies_never_fail_the_server(fuzz_world: ServiceWorld, body: bytes | str) -> None:
    answer = post(fuzz_world, body)
    _refused(fuzz_world, answer)


@FUZZ
@given(
    vp_token=st.one_of(
        JSON,
        st.dictionaries(
            st.sampled_from(["kyc", "licence", "other", ""]) | st.text(max_size=6),
            st.lists(TOKENISH, min_size=1, max_size=3) | st.lists(TOKENISH | JSON, max_size=3) | JSON,
            max_size=3,
        ),
    ),
    consent=st.none() | st.none() | st.none() | TOKENISH,
)
def test_random_vp_token_shapes_under_a_valid_state(
    fuzz_world: ServiceWorld, vp_token: Any, consent: str | None
) -> None:
    transaction = fuzz_world.verifier.new_request(POLICY)
    params = [("vp_token", json.dumps(vp_token)), ("state", transaction.state)]
    if consent is not None:
        params.append(("akashi_consent", consent))
    answer = post(fuzz_world, urlencode(params))
    assert answer.status_code != 200, answer.text
    _refused(fuzz_world, answer)


def _truncate(at: int) -> Mutate:
    return lambda text: text[: at % max(len(text), 1)]


def _flip(at: int, bit: int) -> Mutate:
    def mutate(text: str) -> str:
        i = at % len(text)
        return text[:i] + chr(ord(text[i]) ^ (1 << bit)) + text[i + 1 :]

    return mutate


def _drop(at: int) -> Mutate:
    """Remove one ``~``-separated part (a disclosure, the issuer JWT or the KB-JWT)."""

    def mutate(text: str) -> str:
        parts = text.split("~")
        del parts[at % len(parts)]
        return "~".join(parts)

    return mutate


def _repeat(at: int, to: int) -> Mutate:
    """Copy one ``~``- or ``.``-separated part over another."""

    def mutate(text: str) -> str:
        separator = "~" if at % 2 else "."
        parts = text.split(separator)
        parts[to % len(parts)] = parts[at % len(parts)]
        return separator.join(parts)

    return mutate


@FUZZ
@given(
    mutation=st.one_of(
        st.builds(_truncate, st.integers(0, 10_000)),
        st.builds(_flip, st.integers(0, 10_000), st.integers(0, 6)),
        st.builds(_drop, st.integers(0, 100)),
        st.builds(_repeat, st.integers(0, 100), st.integers(0, 100)),
    )
)
def test_truncated_or_flipped_presentations_are_refused(fuzz_world: ServiceWorld, mutation: Mutate) -> None:
    transaction = fuzz_world.verifier.new_request(POLICY)
    vp_token = vp_token_for(fuzz_world, transaction)
    query_id = next(iter(vp_token))
    honest = vp_token[query_id][0]
    damaged = mutation(honest)
    if damaged == honest:
        return
    body = urlencode([("vp_token", json.dumps({query_id: [damaged]})), ("state", transaction.state)])
    answer = post(fuzz_world, body)
    assert answer.status_code != 200, f"accepted a damaged presentation: {damaged!r}"
    _refused(fuzz_world, answer)


@FUZZ
@given(request_id=st.text(max_size=60) | st.binary(max_size=40).map(lambda b: b.hex()))
def test_random_request_ids_never_fail_the_server(fuzz_world: ServiceWorld, request_id: str) -> None:
    answer = fuzz_world.http.get("/oid4vp/requests/" + quote(request_id, safe=""))
    assert answer.status_code < 500, answer.text
