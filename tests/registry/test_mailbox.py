"""The registry's mailbox through its HTTP contract: sealed updates are kept for the verifier
their notice names and nobody else, only under a consent the ledger rules accept, delivered
once per cursor, kept across a restart, deleted on ack, revocation or retention."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mailbox_world import PATH, START, MailboxNode, sealed_update, signed_headers
from openapi_contract import OpenApiContract
from rules_world import NEW_ADDRESS, PERSONAL, T0, base, mk
from starlette.testclient import TestClient

from identity.credentials.updates import open_update
from identity.crypto.encoding import b64url_encode
from identity.errors import ProofMismatch, RejectedByRules
from identity.ledger.envelope import entry_bytes, sign_envelope
from registry.app import create_app
from registry.client import ClientTrust, RegistryClient
from registry.genesis import sign_member_entry
from registry.mailbox_client import mailbox_ack_entry
from registry.rules import notice_id

CONTRACT = OpenApiContract("registry-openapi.json")
conforms = CONTRACT.conforms


@pytest.fixture
def node(tmp_path: Path) -> Iterator[MailboxNode]:
    box = MailboxNode(tmp_path / "node")
    yield box
    box.close()


def fetch_all(node: MailboxNode, after: str | None = None) -> tuple[list[Any], str]:
    """Every message for the verifier past ``after``, page by page."""
    got: list[Any] = []
    while True:
        page, cursor = node.client.fetch_messages(node.verifier.keys[0], node.keyid(node.verifier), after)
        got += page
        if not page:
            return got, cursor
        after = cursor


def test_post_fetch_open_and_ack(node: MailboxNode) -> None:
    notice, ciphertext = sealed_update(node.world, node.world.hanako, node.consent, sent_at=START)
    body = {"notice": notice, "ciphertext": b64url_encode(ciphertext)}
    CONTRACT.request_conforms(body, PATH, "post")
    response = node.http.post(PATH, json=body)
    posted = conforms(response, PATH, "post")
    assert response.status_code == 201 and posted["held"] and not posted["duplicate"]
    assert posted["id"] == notice_id(notice) and node.held() == 1

    headers = signed_headers(node.verifier.keys[0], node.keyid(node.verifier), START)
    answer = conforms(node.get(headers), PATH, "get")
    assert [m["id"] for m in answer["messages"]] == [posted["id"]]
    assert answer["messages"][0]["notice_index"] == posted["index"]

    messages, cursor = node.client.fetch_messages(node.verifier.keys[0], node.keyid(node.verifier))
    (message,) = messages
    assert message.ciphertext == ciphertext and message.consent == node.consent
    assert message.notice is not None and message.notice.index == posted["index"]
    x25519 = node.verifier.x25519
    assert x25519 is not None
    update = open_update(
        message.ciphertext, x25519, node.world.hanako.key.public_key, recipient=node.verifier.did,
        now=START, expected_digest=notice["body"]["ciphertext_digest"], consent_digest=message.consent,
    )  # fmt: skip
    assert update.value == {"formatted": NEW_ADDRESS}
    assert node.client.fetch_messages(node.verifier.keys[0], node.keyid(node.verifier), cursor)[0] == []

    ack = mailbox_ack_entry(
        notice=message.id, status="applied", acked_at=START + 1, key=node.verifier.keys[0],
        keyid=node.keyid(node.verifier),
    )  # fmt: skip
    receipt = node.client.ack_message(ack)
    assert receipt.proof is not None and node.held() == 0
    assert node.client.fetch_messages(node.verifier.keys[0], node.keyid(node.verifier))[0] == []
    again = node.post(notice, ciphertext)  # idempotent, and an acknowledged message is not kept again
    assert conforms(again, PATH, "post")["held"] is False and again.status_code == 200
    assert node.held() == 0


def test_a_duplicate_post_is_idempotent(node: MailboxNode) -> None:
    notice, ciphertext = sealed_update(node.world, node.world.hanako, node.consent, sent_at=START)
    first = node.client.send_update(notice, ciphertext)
    second = node.client.send_update(notice, ciphertext)
    assert first.held and second.held and first.id == second.id
    assert not first.receipt.duplicate and second.receipt.duplicate
    assert first.receipt.index == second.receipt.index and node.held() == 1
    assert len(fetch_all(node)[0]) == 1


def test_a_notice_appended_through_entries_takes_its_ciphertext_later(node: MailboxNode) -> None:
    notice, ciphertext = sealed_update(node.world, node.world.hanako, node.consent, sent_at=START)
    node.client.submit(notice)
    assert node.held() == 0
    assert node.client.send_update(notice, ciphertext).held
    assert [m.ciphertext for m in fetch_all(node)[0]] == [ciphertext]


def test_a_ciphertext_that_is_not_the_notices_is_refused(node: MailboxNode) -> None:
    notice, _ = sealed_update(node.world, node.world.hanako, node.consent, sent_at=START)
    size = node.service.node.size()
    response = node.post(notice, b"another ciphertext")
    assert conforms(response, PATH, "post")["type"].endswith("/proof-mismatch")
    assert node.service.node.size() == size and node.held() == 0
    with pytest.raises(ProofMismatch):
        node.client.send_update(notice, b"another ciphertext")


def _refused_cases() -> list[tuple[str, str]]:
    return [
        ("no consent on the ledger", "mailbox.consent-unknown"),
        ("after the consent was revoked", "mailbox.consent-revoked"),
        ("after the consent expired", "mailbox.consent-expired"),
        ("a consent that does not allow updates", "mailbox.updates-not-allowed"),
        ("to a recipient other than the consent's verifier", "mailbox.recipient-not-verifier"),
        ("by someone other than the consent's holder", "mailbox.signer-not-holder"),
    ]


@pytest.mark.parametrize(("case", "rule"), _refused_cases(), ids=[c for c, _ in _refused_cases()])
def test_a_notice_the_rules_refuse_leaves_no_ciphertext(node: MailboxNode, case: str, rule: str) -> None:
    w, hanako, consent = node.world, node.world.hanako, node.consent
    recipient = None
    sender = hanako
    if case.startswith("no consent"):
        consent = b64url_encode(bytes(32))
    elif case.startswith("after the consent was revoked"):
        node.client.submit(w.revoke(hanako, consent, revoked_at=START - 10))
    elif case.startswith("after the consent expired"):
        grant = w.grant(w.taro, granted_at=T0, expires_at=START - 100)
        node.client.submit(grant)
        consent, sender = grant["body"]["receipt_digest"], w.taro
    elif case.startswith("a consent that does not"):
        grant = w.grant(w.taro, updates_allowed=False)
        node.client.submit(grant)
        consent, sender = grant["body"]["receipt_digest"], w.taro
    elif case.startswith("to a recipient"):
        recipient = w.outsider.did
    else:
        sender = w.taro
    notice, ciphertext = sealed_update(w, sender, consent, sent_at=START, recipient=recipient)
    size = node.service.node.size()
    response = node.post(notice, ciphertext)
    problem = conforms(response, PATH, "post")
    assert response.status_code == 409 and problem["rule"] == rule
    with pytest.raises(RejectedByRules) as refused:
        node.client.send_update(notice, ciphertext)
    assert refused.value.rule == rule
    assert node.service.node.size() == size and node.held() == 0
    assert ciphertext not in node.database_bytes()


def test_revoking_the_consent_stops_delivery_at_once(node: MailboxNode) -> None:
    w = node.world
    for n in range(2):
        node.client.send_update(*sealed_update(w, w.hanako, node.consent, sent_at=START + n))
    assert node.held() == 2
    node.client.submit(w.revoke(w.hanako, node.consent, revoked_at=START + 5))
    assert node.held() == 0 and fetch_all(node)[0] == []


def test_an_appi_request_after_a_revoke_is_kept_and_served_until_acked(node: MailboxNode) -> None:
    w = node.world
    node.client.send_update(*sealed_update(w, w.hanako, node.consent, sent_at=START))
    node.client.submit(w.revoke(w.hanako, node.consent, revoked_at=START + 5))
    assert node.held() == 0  # what was pending at the revoke is gone
    notice, ciphertext = sealed_update(w, w.hanako, node.consent, sent_at=START + 10, purpose="appi-request")
    posted = node.client.send_update(notice, ciphertext)
    assert posted.held and node.client.send_update(notice, ciphertext).held and node.held() == 1
    # one appended through /entries first takes its ciphertext later, the consent revoked or not
    later, later_ciphertext = sealed_update(
        w, w.hanako, node.consent, sent_at=START + 11, purpose="appi-request"
    )  # fmt: skip
    node.client.submit(later)
    assert node.client.send_update(later, later_ciphertext).held and node.held() == 2
    # a plain update under the revoked consent is still refused, and leaves nothing behind
    update, update_ciphertext = sealed_update(w, w.hanako, node.consent, sent_at=START + 12)
    with pytest.raises(RejectedByRules) as refused:
        node.client.send_update(update, update_ciphertext)
    assert refused.value.rule == "mailbox.consent-revoked" and node.held() == 2
    messages, _ = fetch_all(node)
    assert [m.ciphertext for m in messages] == [ciphertext, later_ciphertext]
    assert _opened_kind(node, messages[0].ciphertext) == "erasure"
    for message in messages:
        ack = mailbox_ack_entry(
            notice=message.id, status="applied", acked_at=START + 20, key=node.verifier.keys[0],
            keyid=node.keyid(node.verifier),
        )  # fmt: skip
        node.client.ack_message(ack)
    assert node.held() == 0


def _opened_kind(node: MailboxNode, ciphertext: bytes) -> str:
    """The kind of the update sealed in ``ciphertext``, opened with the verifier's key."""
    w = node.world
    assert w.verifier.x25519 is not None
    update = open_update(
        ciphertext, w.verifier.x25519, w.hanako.key.public_key, recipient=w.verifier.did, now=START + 15,
    )  # fmt: skip
    return update.kind


def test_only_the_addressed_recipient_gets_its_messages(node: MailboxNode) -> None:
    w = node.world
    notice, ciphertext = sealed_update(w, w.hanako, node.consent, sent_at=START)
    node.client.send_update(notice, ciphertext)
    # Another organisation with a DID on the ledger signs correctly: it is served its own (none).
    outsider, _ = node.client.fetch_messages(w.outsider.keys[0], node.keyid(w.outsider))
    assert outsider == []
    # It cannot pass as the recipient: its key is not one of the recipient's.
    response = node.get(signed_headers(w.outsider.keys[0], node.keyid(w.verifier), START))
    assert response.status_code == 401
    assert conforms(response, PATH, "get")["type"] == "https://akashi.example/problems/unauthorized"
    assert [m.id for m in fetch_all(node)[0]] == [notice_id(notice)]


def test_the_registry_never_holds_the_update_in_clear(node: MailboxNode) -> None:
    w = node.world
    notice, ciphertext = sealed_update(w, w.hanako, node.consent, sent_at=START)
    node.client.send_update(notice, ciphertext)
    fetch_all(node)
    stored = node.database_bytes()
    assert ciphertext in stored  # it is there, sealed (until acknowledged)
    for value in [NEW_ADDRESS, *PERSONAL]:
        assert value.encode("utf-8") not in stored, value
    ack = mailbox_ack_entry(
        notice=notice_id(notice), status="applied", acked_at=START + 1, key=w.verifier.keys[0],
        keyid=node.keyid(w.verifier),
    )  # fmt: skip
    node.client.ack_message(ack)
    node.close()  # the WAL is checkpointed into the file: deleted pages were overwritten (secure_delete)
    assert ciphertext not in node.database_bytes()
    node.open()


def test_an_offline_recipient_receives_everything_exactly_once(tmp_path: Path) -> None:
    node = MailboxNode(tmp_path / "node", mailbox_page=2)
    try:
        w = node.world
        sent = [
            node.client.send_update(*sealed_update(w, w.hanako, node.consent, sent_at=START + n))
            for n in range(3)
        ]
        first, cursor = fetch_all(node)
        node.clock.now += 3600  # away for an hour; more arrive meanwhile
        sent += [
            node.client.send_update(
                *sealed_update(w, w.hanako, node.consent, sent_at=int(node.clock.now) + n)
            )
            for n in range(4)
        ]
        later, cursor = fetch_all(node, cursor)
        received = [m.id for m in first + later]
        assert received == [s.id for s in sent] and len(set(received)) == 7
        assert node.client.fetch_messages(node.verifier.keys[0], node.keyid(node.verifier), cursor)[0] == []
    finally:
        node.close()


def test_a_restart_between_send_and_fetch_loses_nothing(node: MailboxNode) -> None:
    w = node.world
    sent = [
        node.client.send_update(*sealed_update(w, w.hanako, node.consent, sent_at=START + n))
        for n in range(3)
    ]
    first, cursor = node.client.fetch_messages(node.verifier.keys[0], node.keyid(node.verifier))
    node.restart()
    again, _ = node.client.fetch_messages(node.verifier.keys[0], node.keyid(node.verifier), cursor)
    assert again == []  # the cursor survives the restart
    everything, _ = fetch_all(node)
    assert [m.id for m in everything] == [s.id for s in sent] == [m.id for m in first]
    assert [m.ciphertext for m in everything] == [m.ciphertext for m in first]


def test_retention_deletes_unacknowledged_ciphertexts(tmp_path: Path) -> None:
    node = MailboxNode(tmp_path / "node", mailbox_retention=1000)
    try:
        w = node.world
        old, old_ct = sealed_update(w, w.hanako, node.consent, sent_at=START)
        node.client.send_update(old, old_ct)
        node.clock.now = START + 600
        node.client.send_update(*sealed_update(w, w.hanako, node.consent, sent_at=START + 600))
        node.clock.now = START + 1000  # the first is due; not served even before the purge
        messages, _ = fetch_all(node)
        assert [m.sent_at for m in messages] == [START + 600]
        node.clock.now = START + 1700
        assert fetch_all(node)[0] == [] and node.held() == 0
        assert node.client.send_update(old, old_ct).held is False  # not taken back once purged
        assert node.held() == 0
    finally:
        node.close()


def test_a_long_poll_returns_when_a_message_arrives(node: MailboxNode) -> None:
    w = node.world
    result: dict[str, Any] = {}

    def wait_for_mail() -> None:
        started = time.monotonic()
        result["messages"] = node.client.fetch_messages(w.verifier.keys[0], node.keyid(w.verifier), wait=20)[
            0
        ]
        result["elapsed"] = time.monotonic() - started

    waiter = threading.Thread(target=wait_for_mail)
    waiter.start()
    time.sleep(0.3)
    assert "messages" not in result
    notice, ciphertext = sealed_update(w, w.hanako, node.consent, sent_at=START)
    node.client.send_update(notice, ciphertext)
    waiter.join(10)
    assert [m.ciphertext for m in result["messages"]] == [ciphertext]
    assert result["elapsed"] < 5
    started = time.monotonic()  # nothing more: answered empty once the wait is over
    assert node.client.fetch_messages(w.verifier.keys[0], node.keyid(w.verifier), "1", wait=1)[0] == []
    assert 0.9 < time.monotonic() - started < 4


def test_too_many_waiting_fetches_are_told_to_retry(tmp_path: Path) -> None:
    node = MailboxNode(tmp_path / "node", mailbox_max_waiters_per_recipient=1)
    w = node.world
    waiter = threading.Thread(
        target=lambda: node.client.fetch_messages(w.verifier.keys[0], node.keyid(w.verifier), wait=2)
    )
    waiter.start()
    try:
        time.sleep(0.3)
        headers = signed_headers(w.verifier.keys[0], node.keyid(w.verifier), START, query="?wait=2")
        response = node.get(headers, "?wait=2")
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        conforms(response, PATH, "get")
    finally:
        waiter.join(10)
        node.close()


def test_bad_posts_get_a_problem_and_change_nothing(node: MailboxNode) -> None:
    w = node.world
    notice, ciphertext = sealed_update(w, w.hanako, node.consent, sent_at=START)
    other = sign_envelope(
        "consent.revoke", {"receipt_digest": node.consent, "revoked_at": START}, w.hanako.signer, w.hanako.key
    )
    size = node.service.node.size()
    bodies = [
        b"{",
        b'{"notice": {}, "ciphertext": "AA"}',
        b'{"notice": ' + entry_bytes(other) + b', "ciphertext": "AA"}',
        b'{"notice": ' + entry_bytes(notice) + b', "ciphertext": "A"}',
        b'{"notice": ' + entry_bytes(notice) + b', "ciphertext": "' + b"A" * 400_000 + b'"}',
        b'{"notice": ' + entry_bytes(notice) + b', "ciphertext": "AA", "extra": 1}',
    ]
    for body in bodies:
        response = node.http.post(PATH, content=body, headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500, (body[:60], response.status_code)
        conforms(response, PATH, "post")
    assert node.service.node.size() == size and node.held() == 0
    assert node.post(notice, ciphertext).status_code == 201


def test_mailbox_routes_on_a_bare_app_share_the_nodes_store(node: MailboxNode) -> None:
    """A second app on the same node (as `serve` builds one) sees the same mailbox."""
    w = node.world
    node.client.send_update(*sealed_update(w, w.hanako, node.consent, sent_at=START))
    with TestClient(create_app(node.service.node)) as other:
        headers = signed_headers(w.verifier.keys[0], node.keyid(w.verifier), START)
        assert len(other.get(PATH + "?wait=0", headers=headers).json()["messages"]) == 1


def test_on_loopback_a_waiting_verifier_is_woken_and_the_files_hold_no_personal_data(tmp_path: Path) -> None:
    """The real server (uvicorn on a loopback port): a long-poll does not hold up the event
    loop, a post wakes it, and no file of the node holds the update in clear."""

    from akashi_demo.loopback import LoopbackRegistry
    from registry.client import RegistryClient

    now = T0 + 200
    registry = LoopbackRegistry(tmp_path / "node", origin="akashi.test/loopback", clock=lambda: now)
    scenario = base()
    w = scenario.world
    history = [
        sign_member_entry("member.add", e["body"]["member"], registry.governance[:2])
        if e["type"] == "member.add"
        else e
        for e in w.history[:-1]
    ]
    trust = ClientTrust.from_genesis(registry.genesis, [registry.service.witness_verifier.vkey], 1)
    holder = RegistryClient(registry.url, trust=trust, clock=lambda: now)
    verifier = RegistryClient(registry.url, trust=trust, clock=lambda: now)
    try:
        assert all(not isinstance(o, Exception) for o in holder.submit_batch(history))
        keyid = f"{w.verifier.did}#{mk(w.verifier.keys[0])}"
        result: dict[str, Any] = {}

        def wait_for_mail() -> None:
            started = time.monotonic()
            result["messages"] = verifier.fetch_messages(w.verifier.keys[0], keyid, wait=20)[0]
            result["elapsed"] = time.monotonic() - started

        waiter = threading.Thread(target=wait_for_mail)
        waiter.start()
        time.sleep(0.3)
        assert holder.checkpoint().size == len(history)  # the loop answers while a fetch waits
        notice, ciphertext = sealed_update(w, w.hanako, scenario.consent, sent_at=now)
        holder.send_update(notice, ciphertext)
        waiter.join(10)
        assert [m.ciphertext for m in result["messages"]] == [ciphertext] and result["elapsed"] < 5
        stored = b"".join(path.read_bytes() for path in registry.database_files)
        assert ciphertext in stored
        for value in [NEW_ADDRESS, *PERSONAL]:
            assert value.encode("utf-8") not in stored, value
    finally:
        holder.close()
        verifier.close()
        registry.stop()


Edit = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
LIES: dict[str, Edit] = {
    "ciphertexts swapped": lambda ms: [{**ms[0], "ciphertext": ms[1]["ciphertext"]}, ms[1]],
    "ciphertext forged": lambda ms: [{**ms[0], "ciphertext": b64url_encode(b"forged")}],
    "points at another notice": lambda ms: [{**ms[0], "notice_index": ms[1]["notice_index"]}],
    "another id": lambda ms: [{**ms[0], "id": ms[1]["id"]}],
    "another sent_at": lambda ms: [{**ms[0], "sent_at": ms[0]["sent_at"] + 1}],
    "not a notice": lambda ms: [{**ms[0], "notice_index": 0}],
}


@pytest.mark.parametrize("lie", list(LIES), ids=list(LIES))
def test_the_client_catches_a_node_that_swaps_or_forges_messages(node: MailboxNode, lie: str) -> None:
    w = node.world
    for n in range(2):
        node.client.send_update(*sealed_update(w, w.hanako, node.consent, sent_at=START + n))

    def handler(request: httpx.Request) -> httpx.Response:
        real = node.http.send(request)
        if request.url.path != PATH:
            return httpx.Response(real.status_code, headers=real.headers, content=real.content)
        answer = real.json()
        answer["messages"] = LIES[lie](answer["messages"])
        return httpx.Response(200, json=answer)

    http = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://testserver")
    lying = RegistryClient(client=http, trust=node.client.trust, clock=node.clock)
    with pytest.raises(ProofMismatch):
        lying.fetch_messages(w.verifier.keys[0], node.keyid(w.verifier))
