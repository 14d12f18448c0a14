"""A fan-out posts many messages at once (POST /mailbox/messages with {"messages": [...]}):
each judged by the rules alone, all appended in one commit, proofs in the answer; and a
fetch carries each message's notice with its proof, which the client checks itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mailbox_world import START, MailboxNode, sealed_update
from openapi_contract import OpenApiContract

from identity.crypto.encoding import b64url_encode
from identity.errors import ProofMismatch, RejectedByRules
from identity.ledger.envelope import entry_bytes, entry_digest
from registry.audit import verify_store
from registry.client import RegistryClient

CONTRACT = OpenApiContract("registry-openapi.json")
PATH = "/mailbox/messages"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[MailboxNode]:
    box = MailboxNode(tmp_path / "node")
    yield box
    box.close()


def updates(node: MailboxNode, count: int, first: int = START) -> list[tuple[Any, bytes]]:
    return [
        sealed_update(node.world, node.world.hanako, node.consent, sent_at=first + n, value=f"住所{n}")
        for n in range(count)
    ]


def test_a_batch_is_appended_in_one_commit_each_message_proven_and_held(node: MailboxNode) -> None:
    items = updates(node, 5)
    size = node.client.checkpoint().size
    receipts = node.client.send_updates(items)
    assert [r.id for r in receipts] == [b64url_encode(entry_digest(n)) for n, _ in items]  # type: ignore[union-attr]
    indexes = [r.receipt.index for r in receipts]  # type: ignore[union-attr]
    assert indexes == list(range(size, size + 5))
    assert all(r.held and r.receipt.proof is not None for r in receipts)  # type: ignore[union-attr]
    assert node.client.checkpoint().size == size + 5
    assert node.held(node.verifier.did) == 5


def test_a_refused_message_does_not_stop_the_others(node: MailboxNode) -> None:
    good, also_good = updates(node, 2)
    wrong_recipient = sealed_update(
        node.world, node.world.hanako, node.consent, sent_at=START + 7, recipient=node.world.issuer.did
    )
    notice, ciphertext = updates(node, 1, START + 9)[0]
    bad_ciphertext = (notice, ciphertext[:-1] + bytes([ciphertext[-1] ^ 1]))  # not its digest
    outcomes = node.client.send_updates([good, wrong_recipient, bad_ciphertext, also_good])
    assert isinstance(outcomes[1], RejectedByRules)
    assert outcomes[1].rule == "mailbox.recipient-not-verifier"
    assert isinstance(outcomes[2], ProofMismatch)
    assert [o.held for o in (outcomes[0], outcomes[3])] == [True, True]  # type: ignore[union-attr]
    assert node.held(node.verifier.did) == 2
    received, _ = node.client.fetch_messages(node.verifier.keys[0], node.keyid(node.verifier))
    assert [m.id for m in received] == [b64url_encode(entry_digest(n)) for n, _ in (good, also_good)]


def test_a_batch_of_more_than_a_hundred_is_refused_whole(node: MailboxNode) -> None:
    notice, ciphertext = updates(node, 1)[0]
    message = (
        b'{"notice":' + entry_bytes(notice) + b',"ciphertext":"' + b64url_encode(ciphertext).encode() + b'"}'
    )
    answer = node.http.post(
        "/mailbox/messages", content=b'{"messages":[' + b",".join([message] * 101) + b"]}"
    )
    assert answer.status_code == 422  # a schema violation
    assert answer.headers["content-type"] == "application/problem+json"
    assert node.held() == 0


def test_a_fetch_carries_each_notice_proven_so_the_client_needs_no_more_requests(node: MailboxNode) -> None:
    node.client.send_updates(updates(node, 3))
    paths: list[str] = []
    client = _client(node, lambda request, answer: answer, paths)
    messages, _ = client.fetch_messages(node.verifier.keys[0], node.keyid(node.verifier))
    assert len(messages) == 3 and all(m.notice is not None for m in messages)
    assert paths.count("/mailbox/messages") == 1
    assert not any(path.startswith(("/entries/", "/proofs/")) for path in paths)


def test_a_fetch_whose_notice_is_another_messages_is_caught(node: MailboxNode) -> None:
    node.client.send_updates(updates(node, 2))

    def swap_notices(request: httpx.Request, answer: dict[str, Any]) -> dict[str, Any]:
        if request.url.path == "/mailbox/messages" and request.method == "GET" and answer.get("messages"):
            first, second = answer["messages"]
            first["notice"], second["notice"] = second["notice"], first["notice"]
        return answer

    with pytest.raises(ProofMismatch):
        _client(node, swap_notices, []).fetch_messages(node.verifier.keys[0], node.keyid(node.verifier))


def _client(
    node: MailboxNode, edit: Callable[[httpx.Request, dict[str, Any]], dict[str, Any]], paths: list[str]
) -> RegistryClient:
    """A client whose JSON answers pass through ``edit``, noting every path it asks for."""

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        real = node.http.send(request)
        if not real.headers.get("content-type", "").startswith("application/json"):
            return httpx.Response(real.status_code, headers=real.headers, content=real.content)
        return httpx.Response(real.status_code, json=edit(request, real.json()))

    http = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://testserver")
    return RegistryClient(client=http, trust=node.client.trust, clock=node.clock)


def test_the_batch_post_and_the_proven_fetch_are_as_documented(node: MailboxNode) -> None:
    messages = [
        {"notice": notice, "ciphertext": b64url_encode(ciphertext)} for notice, ciphertext in updates(node, 2)
    ]
    CONTRACT.request_conforms({"messages": messages}, PATH, "post")
    answer = CONTRACT.conforms(
        node.http.post(PATH + "?prove=true", json={"messages": messages}), PATH, "post"
    )
    assert [set(r) for r in answer["results"]] == [{"posted", "inclusion_proof"}] * 2
    assert isinstance(answer["checkpoint"], str)
    paths: list[str] = []
    fetched: list[dict[str, Any]] = []

    def keep(request: httpx.Request, answer: dict[str, Any]) -> dict[str, Any]:
        if request.url.path == PATH:
            fetched.append(answer)
        return answer

    _client(node, keep, paths).fetch_messages(node.verifier.keys[0], node.keyid(node.verifier))
    [page] = fetched
    assert all({"notice", "id", "ciphertext"} <= set(m) for m in page["messages"])


@pytest.mark.parametrize(
    ("change", "found"),
    [
        ("UPDATE mailbox SET recipient = 'did:akashi:Qmsomeoneelse'", "recipient, consent or time"),
        ("UPDATE mailbox SET ciphertext = zeroblob(64)", "does not hash"),
        ("UPDATE mailbox SET notice_index = notice_index - 1", "no notice on the ledger at its leaf"),
    ],
)
def test_verify_checks_every_held_ciphertext_against_its_notice(
    node: MailboxNode, change: str, found: str
) -> None:
    node.client.send_updates(updates(node, 2))
    storage = node.service.storage
    genesis = node.service.genesis
    assert verify_store(storage, genesis) is None
    with sqlite3.connect(node.config.database) as conn:
        conn.execute(change + " WHERE seq = (SELECT max(seq) FROM mailbox)")
    mismatch = verify_store(storage, genesis)
    assert mismatch is not None and mismatch.table == "mailbox" and found in mismatch.problem
