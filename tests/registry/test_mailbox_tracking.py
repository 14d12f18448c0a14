"""A sender follows each update it sent through the mailbox (GET /notices/{digest} and
RegistryClient.notice): held and not yet delivered after the post, delivered at the node's
time of the recipient's first fetch, then applied or rejected (with the reason) once the
recipient acknowledges it on the ledger; the record is proven by its entry, the delivery is
the node's word; databases from before delivery tracking are upgraded in place."""

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
from identity.errors import MalformedInput, NotFound, ProofMismatch
from identity.ledger.envelope import entry_digest, split_signer
from registry.client import Notice, ProvenNotice, RegistryClient
from registry.mailbox_client import mailbox_ack_entry

CONTRACT = OpenApiContract("registry-openapi.json")
NOTICE_PATH = "/notices/{digest}"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[MailboxNode]:
    box = MailboxNode(tmp_path / "node")
    yield box
    box.close()


def send(node: MailboxNode, sent_at: int = START) -> str:
    """Hanako sends an address update to the verifier; the notice's digest (the message id)."""
    notice, ciphertext = sealed_update(node.world, node.world.hanako, node.consent, sent_at=sent_at)
    receipt = node.client.send_update(notice, ciphertext)
    assert receipt.held and receipt.id == b64url_encode(entry_digest(notice))
    return receipt.id


def fetch(node: MailboxNode, after: str | None = None) -> tuple[list[str], str]:
    """The verifier's signed fetch: the ids it was served, and the next cursor."""
    messages, cursor = node.client.fetch_messages(node.verifier.keys[0], node.keyid(node.verifier), after)
    return [m.id for m in messages], cursor


def ack(
    node: MailboxNode, digest: str, *, at: int, status: str = "applied", reason: str | None = None
) -> None:
    """The verifier acknowledges ``digest`` on the ledger."""
    entry = mailbox_ack_entry(
        notice=digest, status=status, acked_at=at, key=node.verifier.keys[0],
        keyid=node.keyid(node.verifier), reason=reason,
    )  # fmt: skip
    node.client.ack_message(entry)


def served(node: MailboxNode, digest: str) -> Any:
    """GET /notices/{digest}, checked against the OpenAPI document; the parsed answer."""
    response = node.http.get(f"/notices/{digest}")
    return CONTRACT.conforms(response, NOTICE_PATH, "get")


def test_a_posted_update_is_held_and_not_yet_delivered(node: MailboxNode) -> None:
    digest = send(node)
    tracked = node.client.notice(digest)
    assert isinstance(tracked, ProvenNotice) and isinstance(tracked.record, Notice)
    assert tracked.record.digest == digest and tracked.record.ack_status is None
    assert tracked.record.recipient == node.verifier.did and tracked.record.sent_at == START
    assert (tracked.held, tracked.delivered_at, tracked.reason) == (True, None, None)
    assert tracked.entry.envelope["type"] == "mailbox.notice"
    assert b64url_encode(entry_digest(tracked.entry.envelope)) == digest

    assert node.http.get(f"/notices/{digest}").headers["cache-control"] == "no-store"  # delivery changes
    answer = served(node, digest)
    assert answer["mailbox"] == {"held": True, "delivered_at": None}
    assert answer["entry"]["index"] == tracked.entry.index


def test_the_recipients_first_fetch_is_the_delivery_time(tmp_path: Path) -> None:
    node = MailboxNode(tmp_path / "node", mailbox_page=1)
    try:
        first, second = send(node, START), send(node, START + 1)
        node.clock.now = START + 7
        ids, cursor = fetch(node)
        assert ids == [first]  # one message a page: only the first is served
        assert node.client.notice(first).delivered_at == START + 7
        assert node.client.notice(second).delivered_at is None

        node.clock.now = START + 20
        assert fetch(node, cursor)[0] == [second]
        assert fetch(node)[0] == [first]  # served again from the start: still delivered at START + 7
        assert node.client.notice(first).delivered_at == START + 7
        assert node.client.notice(second).delivered_at == START + 20
        assert served(node, first)["mailbox"] == {"held": True, "delivered_at": START + 7}
    finally:
        node.close()


def test_an_applied_update_shows_the_recipients_ack(node: MailboxNode) -> None:
    digest = send(node)
    node.clock.now = START + 5
    assert fetch(node)[0] == [digest]
    ack(node, digest, at=START + 6)

    tracked = node.client.notice(digest)
    assert (tracked.record.ack_status, tracked.record.acked_at) == ("applied", START + 6)
    assert tracked.reason is None
    assert tracked.entry.envelope["type"] == "mailbox.ack"
    assert split_signer(tracked.entry.envelope["signer"])[0] == node.verifier.did
    # The ciphertext went with the ack, and the node's delivery time with it: the ack is the proof now.
    assert (tracked.held, tracked.delivered_at) == (False, None)
    assert served(node, digest)["entry"]["entry"]["type"] == "mailbox.ack"


def test_a_rejected_update_shows_the_reason(node: MailboxNode) -> None:
    digest = send(node)
    assert fetch(node)[0] == [digest]
    ack(node, digest, at=START + 3, status="rejected", reason="not-a-customer")

    tracked = node.client.notice(digest)
    assert (tracked.record.ack_status, tracked.record.acked_at) == ("rejected", START + 3)
    assert tracked.reason == "not-a-customer"
    assert tracked.entry.envelope["body"]["reason"] == "not-a-customer"
    assert split_signer(tracked.entry.envelope["signer"])[0] == node.verifier.did
    assert tracked.held is False


def test_an_unknown_notice_is_not_found(node: MailboxNode) -> None:
    unknown = b64url_encode(bytes(32))
    answer = CONTRACT.conforms(node.http.get(f"/notices/{unknown}"), NOTICE_PATH, "get")
    assert answer["status"] == 404 and answer["type"].endswith("/not-found")
    with pytest.raises(NotFound):
        node.client.notice(unknown)
    too_long = CONTRACT.conforms(node.http.get("/notices/" + "A" * 257), NOTICE_PATH, "get")
    assert too_long["status"] == 400


Edit = Callable[[dict[str, Any]], None]
OTHER_DID = "did:akashi:Qm" + "z" * 44


def setting(**values: Any) -> Edit:
    """An edit setting fields of the answer, named ``part__field`` (``notice__sent_at``)."""

    def edit(answer: dict[str, Any]) -> None:
        for name, value in values.items():
            part, field = name.split("__")
            answer[part][field] = value(answer[part][field]) if callable(value) else value

    return edit


#: lie -> (acknowledged first?, edit of the answer, what the client raises)
LIES: dict[str, tuple[bool, Edit, type[Exception]]] = {
    "another sent_at": (False, setting(notice__sent_at=lambda t: t + 1), ProofMismatch),
    "another recipient": (False, setting(notice__recipient=OTHER_DID), ProofMismatch),
    "applied before the ack": (
        False,
        setting(notice__ack_status="applied", notice__acked_at=START + 1),
        ProofMismatch,
    ),
    "rejected instead of applied": (True, setting(notice__ack_status="rejected"), ProofMismatch),
    "another acked_at": (True, setting(notice__acked_at=START + 99), ProofMismatch),
    "the ack hidden": (True, setting(notice__ack_status=None, notice__acked_at=None), ProofMismatch),
    "no entry": (False, lambda answer: answer.pop("entry"), ProofMismatch),
    "held is not a bool": (False, setting(mailbox__held="yes"), MalformedInput),
    "negative delivered_at": (False, setting(mailbox__delivered_at=-1), MalformedInput),
    "no delivered_at": (False, lambda answer: answer["mailbox"].pop("delivered_at"), MalformedInput),
}


def lying_client(node: MailboxNode, edit: Edit) -> RegistryClient:
    """A client whose /notices answers pass through ``edit``; every other answer is the node's."""

    def handler(request: httpx.Request) -> httpx.Response:
        real = node.http.send(request)
        if not request.url.path.startswith("/notices/"):
            return httpx.Response(real.status_code, headers=real.headers, content=real.content)
        answer = real.json()
        edit(answer)
        return httpx.Response(200, json=answer)

    http = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://testserver")
    return RegistryClient(client=http, trust=node.client.trust, clock=node.clock)


@pytest.mark.parametrize("lie", list(LIES), ids=list(LIES))
def test_the_client_catches_a_record_that_is_not_its_entrys(node: MailboxNode, lie: str) -> None:
    acked, edit, error = LIES[lie]
    digest = send(node)
    if acked:
        ack(node, digest, at=START + 1)
    assert node.client.notice(digest).record.ack_status == ("applied" if acked else None)
    with pytest.raises(error):
        lying_client(node, edit).notice(digest)


def test_the_client_catches_another_notices_answer(node: MailboxNode) -> None:
    mine, other = send(node, START), send(node, START + 1)
    answer_for_other = node.http.get(f"/notices/{other}").json()
    with pytest.raises(ProofMismatch):
        lying_client(node, lambda a: a.update(answer_for_other)).notice(mine)
    # The record relabelled as the one asked for, still proven by the other notice's entry.
    relabelled = {**answer_for_other, "notice": {**answer_for_other["notice"], "digest": mine}}
    with pytest.raises(ProofMismatch):
        lying_client(node, lambda a: a.update(relabelled)).notice(mine)


def _drop_delivered_at(database: Path) -> None:
    """Give the node's file the mailbox table of before delivery tracking, rows kept."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.executescript(
            """
            BEGIN;
            CREATE TABLE mailbox_old (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                notice TEXT NOT NULL UNIQUE,
                recipient TEXT NOT NULL,
                consent TEXT NOT NULL,
                notice_index INTEGER NOT NULL,
                sent_at INTEGER NOT NULL,
                ciphertext BLOB NOT NULL
            );
            INSERT INTO mailbox_old SELECT seq, notice, recipient, consent, notice_index, sent_at, ciphertext
                FROM mailbox;
            DROP TABLE mailbox;
            ALTER TABLE mailbox_old RENAME TO mailbox;
            CREATE INDEX mailbox_recipient ON mailbox (recipient, seq);
            CREATE INDEX mailbox_consent ON mailbox (consent);
            CREATE INDEX mailbox_sent_at ON mailbox (sent_at);
            COMMIT;
            """
        )
    finally:
        conn.close()


def _columns(database: Path) -> list[str]:
    conn = sqlite3.connect(database)
    try:
        return [row[1] for row in conn.execute("PRAGMA table_info(mailbox)")]
    finally:
        conn.close()


def test_a_database_from_before_delivery_tracking_is_upgraded_and_keeps_its_messages(
    node: MailboxNode,
) -> None:
    digest = send(node)
    node.close()
    databases = [p for p in node.folder.rglob("*") if p.is_file() and _is_node_database(p)]
    assert len(databases) == 1, databases
    (database,) = databases
    _drop_delivered_at(database)
    assert "delivered_at" not in _columns(database)

    node.open()
    assert "delivered_at" in _columns(database)
    assert node.held() == 1
    tracked = node.client.notice(digest)
    assert (tracked.held, tracked.delivered_at) == (True, None)
    node.clock.now = START + 9
    assert fetch(node)[0] == [digest]
    assert node.client.notice(digest).delivered_at == START + 9

    node.restart()  # an upgraded file opens as it is
    assert _columns(database).count("delivered_at") == 1
    assert node.client.notice(digest).delivered_at == START + 9


def _is_node_database(path: Path) -> bool:
    """A SQLite file with the node's mailbox table (the data folder also holds a witness's)."""
    if path.read_bytes()[:16] != b"SQLite format 3\x00":
        return False
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'mailbox'").fetchone() is not None
    finally:
        conn.close()
