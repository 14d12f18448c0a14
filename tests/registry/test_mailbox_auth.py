"""Fetching a mailbox needs an RFC 9421 signature by a current authentication key of the
recipient's did:akashi: every way to get it wrong is one named case, answered 401 with the
stable problem type, and serves nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mailbox_world import PATH, START, MailboxNode, sealed_update, signed_headers
from openapi_contract import OpenApiContract
from rules_world import Org, key, mk

CONTRACT = OpenApiContract("registry-openapi.json")
UNAUTHORIZED = "https://akashi.example/problems/unauthorized"

#: A case builds (headers, query) for the node; the request must be refused.
Case = Callable[[MailboxNode], tuple[dict[str, str], str]]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailboxNode]:
    box = MailboxNode(tmp_path_factory.mktemp("mailbox-auth") / "node")
    box.client.send_update(*sealed_update(box.world, box.world.hanako, box.consent, sent_at=START))
    yield box
    box.close()


def _own(node: MailboxNode, **options: object) -> dict[str, str]:
    return signed_headers(node.verifier.keys[0], node.keyid(node.verifier), START, **options)  # type: ignore[arg-type]


def _unsigned(node: MailboxNode) -> tuple[dict[str, str], str]:
    headers = _own(node)
    return {k: v for k, v in headers.items() if k not in ("Signature", "Signature-Input")}, "?wait=0"


def _stripped_signature(node: MailboxNode) -> tuple[dict[str, str], str]:
    headers = _own(node)
    headers["Signature"] = "sig1=::"
    return headers, "?wait=0"


CASES: dict[str, Case] = {
    "unsigned": _unsigned,
    "empty signature": _stripped_signature,
    "signed by another organisation's key": lambda n: (
        signed_headers(n.world.outsider.keys[0], n.keyid(n.verifier), START),
        "?wait=0",
    ),
    "the recipient's next key, not yet current": lambda n: (
        signed_headers(n.verifier.keys[1], f"{n.verifier.did}#{mk(n.verifier.keys[1])}", START),
        "?wait=0",
    ),
    "a DID that is not on the ledger": lambda n: (
        signed_headers(Org("ghost").keys[0], f"{Org('ghost').did}#{mk(Org('ghost').keys[0])}", START),
        "?wait=0",
    ),
    "a did:key": lambda n: (signed_headers(n.world.hanako.key, n.world.hanako.signer, START), "?wait=0"),
    "keyid not a DID URL": lambda n: (signed_headers(key("x"), "key-1", START), "?wait=0"),
    "stale (created 400 s ago)": lambda n: (
        signed_headers(n.verifier.keys[0], n.keyid(n.verifier), START - 400),
        "?wait=0",
    ),
    "from the future": lambda n: (
        signed_headers(n.verifier.keys[0], n.keyid(n.verifier), START + 120),
        "?wait=0",
    ),
    "stale Date header": lambda n: (_own(n, date_at=START - 1000), "?wait=0"),
    "no nonce": lambda n: (_own(n, nonce=None), "?wait=0"),
    "a short nonce": lambda n: (_own(n, nonce="abc"), "?wait=0"),
    "no tag": lambda n: (_own(n, tag=None), "?wait=0"),
    "another application's tag": lambda n: (_own(n, tag="other-app"), "?wait=0"),
    "query not covered": lambda n: (
        _own(n, components=("@method", "@path", "@authority", "date", "content-digest")),
        "?wait=0",
    ),
    "content-digest not covered": lambda n: (
        _own(n, components=("@method", "@path", "@query", "@authority", "date")),
        "?wait=0",
    ),
    "query changed after signing": lambda n: (_own(n), "?wait=0&after=0"),
    "signed for another authority": lambda n: (_own(n, authority="http://registry.elsewhere"), "?wait=0"),
    "content digest of another body": lambda n: (_own(n, digest_of=b"hello"), "?wait=0"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_bad_signature_is_refused_with_401(node: MailboxNode, case: str) -> None:
    headers, query = CASES[case](node)
    response = node.get(headers, query)
    problem = CONTRACT.conforms(response, PATH, "get")
    assert response.status_code == 401, (case, response.text)
    assert problem["type"] == UNAUTHORIZED and "messages" not in problem


def test_a_replayed_request_is_refused(node: MailboxNode) -> None:
    headers = _own(node)
    first = node.get(headers)
    assert first.status_code == 200 and len(first.json()["messages"]) == 1
    replay = node.get(headers)
    assert replay.status_code == 401 and replay.json()["type"] == UNAUTHORIZED
    # The same nonce under a new signature (one second later) is a replay too.
    nonce = headers["Signature-Input"].split('nonce="')[1].split('"')[0]
    node.clock.now = START + 1
    try:
        again = signed_headers(node.verifier.keys[0], node.keyid(node.verifier), START + 1, nonce=nonce)
        assert node.get(again).status_code == 401
    finally:
        node.clock.now = START


def test_replays_are_remembered_across_a_restart(tmp_path: Path) -> None:
    box = MailboxNode(tmp_path / "node")
    try:
        headers = _own(box)
        assert box.get(headers).status_code == 200
        box.restart()
        assert box.get(headers).status_code == 401
    finally:
        box.close()


def test_a_rotated_away_key_no_longer_fetches(tmp_path: Path) -> None:
    box = MailboxNode(tmp_path / "node")
    try:
        old = _own(box)
        box.client.submit(box.world.rotate(box.verifier))
        assert box.get(old).status_code == 401
        new_keyid = f"{box.verifier.did}#{mk(box.verifier.keys[1])}"
        assert box.client.fetch_messages(box.verifier.keys[1], new_keyid)[0] == []
    finally:
        box.close()


def test_a_body_on_a_fetch_must_match_its_digest(node: MailboxNode) -> None:
    headers = _own(node, digest_of=b"{}")
    response = node.http.request("GET", PATH + "?wait=0", headers=headers, content=b"{}")
    assert response.status_code == 200
    headers = _own(node, digest_of=b"{}")
    response = node.http.request("GET", PATH + "?wait=0", headers=headers, content=b"{!")
    assert response.status_code == 401
