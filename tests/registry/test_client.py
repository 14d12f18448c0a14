"""The registry client against a real node in process: it returns what the log proves, and a
node that lies — wrong proofs, foreign or uncosigned checkpoints, rolled-back or forked
history, documents and records its entries do not give — gets a specific error."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from node_harness import Harness
from rules_world import LOG_KEY, OTHER_CN, T0, Base, base, key, make_genesis, mk
from starlette.testclient import TestClient
from test_crash import did_create

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.errors import (
    InvalidSignature,
    MalformedInput,
    NotFound,
    PolicyError,
    ProofMismatch,
    RejectedByRules,
    RemoteError,
    UnknownKey,
)
from identity.ledger.checkpoint import Checkpoint, sign_checkpoint
from identity.ledger.cosignature import cosign
from identity.ledger.note import Ed25519NoteSigner
from registry.app import create_app
from registry.client import ClientTrust, Receipt, RegistryClient
from registry.config import RegistryConfig
from registry.service import init_data_dir, open_service
from registry.state import Member
from registry.storage import StoredCheckpoint
from registry.witness import Witness, format_add_checkpoint_request
from registry.witness_store import MemoryWitnessStore

SCENARIO: Base = base()
HISTORY = SCENARIO.world.history
WITNESS_KEY = key("client-test-witness")
WITNESS = "akashi.test/witness"
NOW = T0 + 600
Mutate = Callable[[bytes], bytes]
BASE = "http://registry.test"
PROBLEM = {"content-type": "application/problem+json"}


def attach_witness(harness: Harness) -> str:
    """Have a witness cosign every checkpoint before the submitter hears back; its vkey."""
    origin = harness.genesis.origin
    witness = Witness(
        WITNESS, WITNESS_KEY, {origin: harness.genesis.log_verifier()}, MemoryWitnessStore(), lambda: T0 + 500
    )

    def cosign_new(checkpoint: StoredCheckpoint) -> None:
        seen = witness.latest(origin)
        old = 0 if seen is None else seen.size
        proof = [] if old in (0, checkpoint.size) else harness.node.consistency_proof(old, checkpoint.size)[1]
        answer = witness.add_checkpoint(format_add_checkpoint_request(old, proof, checkpoint.note))
        assert answer.status == 200, answer.body
        harness.storage.add_cosignature(checkpoint.size, WITNESS, answer.body.decode())

    harness.node.on_checkpoint(cosign_new)
    return witness.verifier.vkey


class Node:
    """A cosigned node, and clients that talk to it straight or through a tampering proxy."""

    def __init__(self, folder: Path, **harness: Any) -> None:
        self.harness = Harness(folder, **harness)
        self.witness_vkey = attach_witness(self.harness)
        self.http = TestClient(create_app(self.harness.node), raise_server_exceptions=False)
        self.tampering: dict[str, Mutate] = {}

    def trust(self, **changes: Any) -> ClientTrust:
        return replace(ClientTrust.from_genesis(self.harness.genesis, [self.witness_vkey], 1), **changes)

    def client(self, trust: ClientTrust | None = None, **options: Any) -> RegistryClient:
        return RegistryClient(client=self.http, trust=trust or self.trust(), clock=lambda: NOW, **options)

    def tampered(self, **options: Any) -> RegistryClient:
        """A client whose answers pass through ``self.tampering`` (path -> body rewrite)."""

        def handler(request: httpx.Request) -> httpx.Response:
            real = self.http.send(request)
            mutate = self.tampering.get(request.url.path, lambda body: body)
            body = mutate(real.content)
            return httpx.Response(real.status_code, headers=_without_length(real), content=body)

        http = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://testserver")
        return RegistryClient(client=http, trust=self.trust(), clock=lambda: NOW, cosign_wait=0, **options)


def _without_length(response: httpx.Response) -> dict[str, str]:
    return {
        k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-encoding")
    }


def json_edit(edit: Callable[[dict[str, Any]], None]) -> Mutate:
    def mutate(body: bytes) -> bytes:
        obj = json.loads(body)
        edit(obj)
        return json.dumps(obj).encode()

    return mutate


def signed_checkpoint(size: int, root: bytes, *, log_key: Any = LOG_KEY, cosigned: bool = True) -> bytes:
    note = sign_checkpoint(
        Checkpoint("akashi.test/registry", size, root), Ed25519NoteSigner("akashi.test/registry", log_key)
    )
    return (cosign(note, WITNESS, WITNESS_KEY, timestamp=T0 + 500) if cosigned else note).encode()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path)
    yield n
    n.harness.storage.close()


# --- what an honest node proves --------------------------------------------------------------------


def test_submit_returns_a_receipt_proven_against_a_cosigned_checkpoint(node: Node) -> None:
    client = node.client()
    receipt = client.submit(HISTORY[0])
    assert (receipt.index, receipt.duplicate) == (0, False)
    assert receipt.proof is not None and receipt.checkpoint is not None
    assert receipt.checkpoint.cosigners == (WITNESS,)
    again = client.submit(HISTORY[0])
    assert (again.index, again.duplicate) == (0, True)


def test_a_batch_answers_each_entry_with_a_receipt_or_its_refusal(node: Node) -> None:
    outcomes = node.client().submit_batch([HISTORY[0], HISTORY[-1], HISTORY[1]])
    first, refused, third = outcomes
    assert isinstance(first, Receipt) and isinstance(third, Receipt) and third.index == 1
    assert third.proof is not None and third.checkpoint is not None and third.checkpoint.size == 2
    assert isinstance(refused, RejectedByRules) and refused.rule == "mailbox.consent-unknown"


def test_checkpoint_and_entries_read_back_with_proofs(node: Node) -> None:
    client = node.client()
    client.submit_batch(HISTORY, prove=False)
    checkpoint = client.checkpoint()
    assert checkpoint.size == len(HISTORY) and client.last_checkpoint == checkpoint
    entry = client.entry(3)
    assert entry.envelope == HISTORY[3] and entry.proof.tree_size == len(HISTORY)


def test_a_did_resolves_by_replaying_its_proven_key_events(node: Node) -> None:
    world = SCENARIO.world.copy()
    rotation = world.submit(world.rotate(world.issuer))
    client = node.client()
    client.submit_batch([*HISTORY, rotation], prove=False)
    resolved = client.resolve_did(world.issuer.did)
    assert [e.envelope["type"] for e in resolved.events] == ["did.create", "did.rotate"]
    assert resolved.state.keys == (world.issuer.keys[1].public_key,)
    assert resolved.document is not None
    assert resolved.document["verificationMethod"][0]["publicKeyMultibase"] == mk(world.issuer.keys[1])


def test_state_records_agree_with_the_entries_that_set_them(node: Node) -> None:
    world = SCENARIO.world.copy()
    client = node.client()
    client.submit_batch(HISTORY, prove=False)
    attestation = client.attestation(SCENARIO.attestation)
    assert attestation.record.issuer == world.issuer.did and attestation.entry is not None
    consent = client.consent(SCENARIO.consent)
    assert consent.record.updates_allowed and consent.record.revoked_at is None
    client.submit(world.revoke(world.hanako, SCENARIO.consent))
    revoked = client.consent(SCENARIO.consent)
    assert revoked.record.revoked_at == T0 + 1000 and revoked.entry is not None
    assert revoked.entry.envelope["type"] == "consent.revoke"
    assert client.member(world.verifier.did).record.legal_name == "株式会社カーシェア"
    assert sorted(m.record.role for m in client.members()) == ["issuer", "issuer", "verifier"]


def test_a_genesis_member_is_proven_by_the_genesis_alone(tmp_path: Path) -> None:
    witness = Member(SCENARIO.world.outsider.did, "witness", "国税庁", OTHER_CN, 1)
    node = Node(tmp_path, genesis=make_genesis(members=(witness,)))
    node.client().submit(HISTORY[0])  # a checkpoint to answer at
    assert node.client().member(witness.did).entry is None
    with pytest.raises(ProofMismatch):
        node.client(node.trust(genesis_members=())).member(witness.did)
    node.harness.storage.close()


def test_the_last_checkpoint_survives_a_restart(node: Node, tmp_path: Path) -> None:
    state = tmp_path / "client-state.json"
    node.client(state_file=state).submit(HISTORY[0])
    restarted = node.client(state_file=state)
    assert restarted.last_checkpoint is not None and restarted.last_checkpoint.size == 1
    forged = json.loads(state.read_text())
    forged["note"] = signed_checkpoint(1, bytes(32), log_key=key("impostor"), cosigned=False).decode()
    state.write_text(json.dumps(forged))
    with pytest.raises(UnknownKey):  # the file is checked too: it must not become a forged anchor
        node.client(state_file=state)


def test_against_a_running_service_the_client_waits_for_its_witness(tmp_path: Path) -> None:
    config = RegistryConfig(data_dir=tmp_path / "node")
    init_data_dir(config, origin="akashi.test/service", governance_keys=1, threshold=1)
    service = open_service(config)  # cosigns in a background thread, after the submitter hears back
    try:
        trust = ClientTrust.from_genesis(service.genesis, [service.witness_verifier.vkey], 1)
        client = RegistryClient(client=TestClient(create_app(service.node)), trust=trust)
        for seed in range(3):
            receipt = client.submit(did_create(random.Random(seed)))
            assert receipt.checkpoint is not None and receipt.checkpoint.size == seed + 1
            assert receipt.checkpoint.cosigners == ("akashi.test/service/witness",)
    finally:
        service.close()


# --- trust configuration ------------------------------------------------------------------------------


def test_k_zero_needs_the_unsafe_constructor(node: Node) -> None:
    genesis = node.harness.genesis
    with pytest.raises(ValueError, match="unsafe"):
        ClientTrust(genesis.origin, genesis.log_key, (), 0)
    trust = ClientTrust.unsafe_log_signature_only(genesis.origin, genesis.log_key)
    node.client().submit(HISTORY[0])
    assert node.client(trust).checkpoint().size == 1


def test_uncosigned_or_stale_checkpoints_fail_the_policy(tmp_path: Path) -> None:
    harness = Harness(tmp_path)  # no witness: checkpoints carry the log's signature only
    harness.accepted(HISTORY[:2])
    witness = Witness(WITNESS, WITNESS_KEY, {}, MemoryWitnessStore()).verifier.vkey
    trust = ClientTrust.from_genesis(harness.genesis, [witness], 1)
    http = TestClient(create_app(harness.node))
    with pytest.raises(PolicyError):
        RegistryClient(client=http, trust=trust, cosign_wait=0).checkpoint()
    harness.storage.close()


def test_old_cosignatures_fail_a_max_age(node: Node) -> None:
    node.client().submit(HISTORY[0])
    with pytest.raises(PolicyError):
        node.client(node.trust(max_age=60), cosign_wait=0).checkpoint()


# --- a node that lies ------------------------------------------------------------------------------------


def flip_first_hash(field: str) -> Mutate:
    def edit(obj: dict[str, Any]) -> None:
        raw = bytearray(b64url_decode(obj[field][0]))
        raw[0] ^= 1
        obj[field][0] = b64url_encode(bytes(raw))

    return json_edit(edit)


def test_a_wrong_inclusion_proof_is_refused(node: Node) -> None:
    node.client().submit_batch(HISTORY[:4], prove=False)
    node.tampering["/proofs/inclusion"] = flip_first_hash("inclusion_path")
    client = node.tampered()
    with pytest.raises(ProofMismatch):
        client.entry(2)
    with pytest.raises(ProofMismatch):
        client.submit(HISTORY[4])


def test_a_checkpoint_signed_by_another_key_is_refused(node: Node) -> None:
    node.client().submit(HISTORY[0])
    root = node.harness.node.root()
    node.tampering["/checkpoint"] = lambda _: signed_checkpoint(
        1, root, log_key=key("impostor"), cosigned=False
    )
    with pytest.raises(UnknownKey):
        node.tampered().checkpoint()
    node.tampering["/checkpoint"] = lambda _: signed_checkpoint(1, root, log_key=key("impostor"))
    with pytest.raises(PolicyError, match="log's key"):  # a witness's cosignature does not stand in for it
        node.tampered().checkpoint()


def test_a_checkpoint_with_too_few_cosignatures_is_refused(node: Node) -> None:
    node.client().submit(HISTORY[0])
    bare = node.harness.node.latest_checkpoint().note.encode()  # the log's signature, no cosignature
    node.tampering["/checkpoint"] = lambda _: bare
    with pytest.raises(PolicyError):
        node.tampered().checkpoint()


def test_a_rolled_back_log_is_refused_and_the_last_checkpoint_kept(node: Node, tmp_path: Path) -> None:
    state = tmp_path / "client-state.json"
    node.client().submit_batch(HISTORY[:3], prove=False)
    old = node.http.get("/checkpoint").content
    node.client().submit_batch(HISTORY[3:6], prove=False)
    client = node.tampered(state_file=state)
    assert client.checkpoint().size == 6
    saved = state.read_bytes()
    node.tampering["/checkpoint"] = lambda _: old
    with pytest.raises(ProofMismatch, match="rolled back"):
        client.checkpoint()
    assert client.last_checkpoint is not None and client.last_checkpoint.size == 6
    assert state.read_bytes() == saved


def test_a_forked_log_is_refused_even_after_a_restart(node: Node, tmp_path: Path) -> None:
    state = tmp_path / "client-state.json"
    node.client().submit_batch(HISTORY[:3], prove=False)
    node.client(state_file=state).checkpoint()
    node.tampering["/checkpoint"] = lambda _: signed_checkpoint(3, bytes(32))  # log-signed and cosigned
    with pytest.raises(ProofMismatch, match="forked"):
        node.tampered(state_file=state).checkpoint()


def test_an_answer_computed_at_a_forked_checkpoint_is_refused(node: Node) -> None:
    node.client().submit_batch(HISTORY, prove=False)
    client = node.tampered()
    client.checkpoint()
    fork = signed_checkpoint(len(HISTORY), bytes(32), cosigned=False).decode()
    node.tampering[f"/attestations/{SCENARIO.attestation}"] = json_edit(lambda o: o.update(checkpoint=fork))
    with pytest.raises(ProofMismatch):
        client.attestation(SCENARIO.attestation)


def test_a_did_document_the_log_does_not_give_is_refused(node: Node) -> None:
    node.client().submit_batch(HISTORY, prove=False)
    did = SCENARIO.world.issuer.did

    def other_key(obj: dict[str, Any]) -> None:
        obj["did_document"]["verificationMethod"][0]["publicKeyMultibase"] = mk(key("thief"))

    node.tampering[f"/dids/{did}"] = json_edit(other_key)
    with pytest.raises(ProofMismatch, match="DID document"):
        node.tampered().resolve_did(did)
    resigned = json_edit(lambda o: o["key_event_log"][0]["entry"].update(sig=HISTORY[1]["sig"]))
    node.tampering[f"/dids/{did}"] = resigned
    with pytest.raises(ProofMismatch, match="leaf hash"):
        node.tampered().resolve_did(did)


@pytest.mark.parametrize(
    ("path", "edit"),
    [
        (
            f"/attestations/{SCENARIO.attestation}",
            lambda o: o["attestation"].update(method="drivers_licence_ic"),
        ),
        (f"/consents/{SCENARIO.consent}", lambda o: o["consent"].update(updates_allowed=False)),
        (
            f"/members/{SCENARIO.world.verifier.did}",
            lambda o: o["member"].update(legal_name="株式会社ニセモノ"),
        ),
        (f"/consents/{SCENARIO.consent}", lambda o: o.pop("entry")),
    ],
    ids=["attestation method", "consent terms", "member name", "record without its entry"],
)
def test_a_record_its_entry_does_not_give_is_refused(node: Node, path: str, edit: Any) -> None:
    node.client().submit_batch(HISTORY, prove=False)
    node.tampering[path] = json_edit(edit)
    client = node.tampered()
    with pytest.raises(ProofMismatch):
        if path.startswith("/attestations/"):
            client.attestation(SCENARIO.attestation)
        elif path.startswith("/consents/"):
            client.consent(SCENARIO.consent)
        else:
            client.member(SCENARIO.world.verifier.did)


def test_a_revoked_consent_served_as_active_is_refused(node: Node) -> None:
    world = SCENARIO.world.copy()
    node.client().submit_batch([*HISTORY, world.revoke(world.hanako, SCENARIO.consent)], prove=False)
    node.tampering[f"/consents/{SCENARIO.consent}"] = json_edit(
        lambda o: o["consent"].update(revoked_at=None)
    )
    with pytest.raises(ProofMismatch):
        node.tampered().consent(SCENARIO.consent)


# --- errors ------------------------------------------------------------------------------------------------


def test_problem_documents_become_the_matching_error(node: Node) -> None:
    client = node.client()
    with pytest.raises(RejectedByRules) as rejected:
        client.submit(HISTORY[-1])
    assert rejected.value.rule == "mailbox.consent-unknown"
    with pytest.raises(InvalidSignature):
        client.submit({**HISTORY[1], "sig": HISTORY[0]["sig"]})
    with pytest.raises(NotFound):
        client.checkpoint()  # an empty log has none
    client.submit(HISTORY[0])
    with pytest.raises(NotFound):
        client.attestation("unknown")


def test_unknown_problems_and_transport_failures_are_remote_errors(node: Node) -> None:
    node.client().submit(HISTORY[0])
    node.tampering["/checkpoint"] = lambda _: b"<html>bad gateway</html>"
    client = node.tampered()
    with pytest.raises(MalformedInput):
        client.checkpoint()
    unknown = {"type": "https://akashi.example/problems/http-404", "title": "Not found", "status": 404}
    lost = httpx.MockTransport(lambda r: httpx.Response(404, json=unknown, headers=PROBLEM))
    with pytest.raises(RemoteError, match="Not found"):
        RegistryClient(client=httpx.Client(transport=lost, base_url=BASE), trust=node.trust()).checkpoint()

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    offline = httpx.Client(transport=httpx.MockTransport(unreachable), base_url=BASE)
    with pytest.raises(RemoteError, match="could not be reached"):
        RegistryClient(client=offline, trust=node.trust()).checkpoint()
    failing = httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(502, text="down")), base_url=BASE
    )
    with pytest.raises(RemoteError, match="502"):
        RegistryClient(client=failing, trust=node.trust()).checkpoint()
