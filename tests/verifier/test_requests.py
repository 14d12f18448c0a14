"""OpenID4VP transactions: what a wallet receives verifies, a response's state closes its
request once, expired requests are refused, the QR codes are images."""

from __future__ import annotations

import os
import random as pyrandom
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from identity.crypto.keys import Ed25519PrivateKey
from identity.did.did_key import did_key_from_public_key
from identity.errors import BindingError, Expired, NotFound
from identity.protocols.dcql import parse_dcql_query
from identity.protocols.oid4vp import (
    client_id_for_did,
    parse_request_url,
    request_object_kid_unverified,
    verify_request_object,
)
from verifier.policies import default_policies, parse_policies
from verifier.requests import CONSENT_REQUEST_METADATA, RequestStore, Transaction, qr_png, qr_svg

NOW = 1_760_000_000
KEY = Ed25519PrivateKey.from_seed(bytes([5]) * 32)
DID = did_key_from_public_key(KEY.public_key)
KID = f"{DID}#{DID.split(':')[-1]}"
CLIENT_ID = client_id_for_did(DID)
RESPONSE_URI = "https://verifier.example.jp/oid4vp/response"
ISSUER_URL = "https://idp.example.jp"
POLICIES = parse_policies(default_policies())


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


def seeded(seed: int = 1) -> Callable[[int], bytes]:
    rng = pyrandom.Random(seed)
    return rng.randbytes


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[RequestStore]:
    s = RequestStore(tmp_path / "requests.db", clock, lifetime=600, durable=False)
    yield s
    s.close()


def create(store: RequestStore, policy_id: str = "car-sharing", seed: int = 1) -> Transaction:
    return store.create(POLICIES[policy_id], client_id=CLIENT_ID, response_uri=RESPONSE_URI, signing_key=KEY,
                        kid=KID, issuers=ISSUER_URL, random=seeded(seed))


def test_the_wallet_verifies_what_it_fetches(store: RequestStore) -> None:
    tx = store.create(POLICIES["car-sharing"], client_id=CLIENT_ID, response_uri=RESPONSE_URI,
                      signing_key=KEY, kid=KID, issuers=ISSUER_URL, random=seeded())
    reference = parse_request_url(tx.url)  # wallet: from the QR code
    assert reference.client_id == CLIENT_ID
    assert reference.request_uri == "https://verifier.example.jp" + tx.request_uri_path
    assert tx.request_uri_path == "/oid4vp/requests/" + tx.id
    served = store.request_object(tx.id)
    assert served == tx.request_object and request_object_kid_unverified(served) == KID
    request = verify_request_object(served, KEY.public_key, expected_client_id=CLIENT_ID, now=NOW + 5)
    assert (request.nonce, request.state, request.response_uri) == (tx.nonce, tx.state, RESPONSE_URI)
    query = parse_dcql_query(request.dcql_query)
    assert [q.id for q in query.credentials] == ["kyc", "licence"] and query == tx.query
    assert request.client_metadata[CONSENT_REQUEST_METADATA] == {
        "purpose_id": "car-sharing", "consent_days": 365, "updates_allowed": True, "receipt_required": True,
    }
    assert tx.expires_at == NOW + 600 and request.exp == NOW + 600


def test_each_request_has_fresh_nonce_and_state(store: RequestStore) -> None:
    made = [store.create(POLICIES["space-sharing"], client_id=CLIENT_ID, response_uri=RESPONSE_URI,
                         signing_key=KEY, kid=KID, issuers=ISSUER_URL, random=os.urandom) for _ in range(5)]
    assert len({t.nonce for t in made}) == len({t.state for t in made}) == len({t.id for t in made}) == 5
    assert all(len(t.nonce) == 43 and t.nonce != t.state for t in made)  # 256 bits, base64url


def test_consume_once(store: RequestStore, clock: Clock) -> None:
    tx = create(store)
    clock.now += 30
    done = store.consume(tx.state)
    assert done.nonce == tx.nonce and done.id == tx.id and done.consumed_at == NOW + 30
    assert store.get(tx.id).consumed_at == NOW + 30
    with pytest.raises(BindingError, match="already"):
        store.consume(done.state)
    with pytest.raises(BindingError):
        store.request_object(tx.id)  # answered: no longer served


def test_unknown_state_and_id(store: RequestStore) -> None:
    create(store)
    with pytest.raises(BindingError):
        store.consume("made-up-state")
    with pytest.raises(NotFound):
        store.request_object("made-up-id")


def test_expired_requests_are_refused(store: RequestStore, clock: Clock) -> None:
    tx = create(store)
    clock.now = NOW + 600
    assert store.request_object(tx.id)  # through expires_at
    clock.now = NOW + 601
    with pytest.raises(Expired):
        store.request_object(tx.id)
    with pytest.raises(Expired):
        store.consume(tx.state)
    with pytest.raises(Expired):  # still not consumable later, and not silently consumed
        store.consume(tx.state, now=NOW + 700)
    assert store.get(tx.id).consumed_at is None
    assert store.purge(now=NOW + 601 + 86401) == 1
    with pytest.raises(NotFound):
        store.get(tx.id)


def test_concurrent_consumers_only_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    first = RequestStore(path, lambda: float(NOW), durable=False)
    second = RequestStore(path, lambda: float(NOW), durable=False)
    try:
        tx = store_create(first)
        results: list[str] = []

        def use(s: RequestStore) -> None:
            try:
                s.consume(tx)
                results.append("ok")
            except BindingError:
                results.append("refused")

        threads = [threading.Thread(target=use, args=(s,)) for s in (first, second, first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == ["ok", "refused", "refused", "refused"]
    finally:
        first.close()
        second.close()


def store_create(store: RequestStore) -> str:
    tx = store.create(POLICIES["parcel-locker"], client_id=CLIENT_ID, response_uri=RESPONSE_URI,
                      signing_key=KEY, kid=KID, issuers=ISSUER_URL)
    return tx.state


def test_transactions_survive_a_restart(tmp_path: Path) -> None:
    first = RequestStore(tmp_path / "r.db", lambda: float(NOW))
    state = store_create(first)
    first.close()
    again = RequestStore(tmp_path / "r.db", lambda: float(NOW))
    try:
        assert again.consume(state).policy_id == "parcel-locker"
    finally:
        again.close()


def test_misconfiguration_is_a_value_error(store: RequestStore) -> None:
    other = did_key_from_public_key(Ed25519PrivateKey.from_seed(bytes([6]) * 32).public_key)
    with pytest.raises(ValueError, match="client_id"):
        store.create(POLICIES["car-sharing"], client_id=client_id_for_did(other), response_uri=RESPONSE_URI,
                     signing_key=KEY, kid=KID, issuers=ISSUER_URL)


def test_explicit_request_uri_base(store: RequestStore) -> None:
    tx = store.create(POLICIES["space-sharing"], client_id=CLIENT_ID, response_uri=RESPONSE_URI,
                      signing_key=KEY, kid=KID, issuers=ISSUER_URL, request_uri_base="https://qr.example.jp/v/")
    assert parse_request_url(tx.url).request_uri == "https://qr.example.jp/v" + tx.request_uri_path


def test_qr_codes(store: RequestStore) -> None:
    tx = create(store)
    svg = qr_svg(tx.url)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and svg.rstrip().endswith("</svg>")
    png = qr_png(tx.url)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 200


# --- an answer's one write: reading the open request, then closing it with the records ------------


def test_pending_reads_an_open_request_without_closing_it(store: RequestStore, clock: Clock) -> None:
    tx = create(store)
    assert store.pending(tx.state) == tx
    assert store.pending(tx.state) == tx and store.get(tx.id).consumed_at is None  # nothing written
    with pytest.raises(BindingError):
        store.pending("made-up-state")
    clock.now = NOW + 601
    with pytest.raises(Expired):
        store.pending(tx.state)
    clock.now = NOW
    store.consume(tx.state)
    with pytest.raises(BindingError, match="already"):
        store.pending(tx.state)


def _table(store: RequestStore) -> None:
    store._conn().execute("CREATE TABLE IF NOT EXISTS answers (state TEXT NOT NULL)")


def _answers(store: RequestStore) -> list[str]:
    return [r[0] for r in store._conn().execute("SELECT state FROM answers")]


def test_consume_writes_its_then_in_the_same_transaction(store: RequestStore) -> None:
    _table(store)
    tx = create(store)

    def refused(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO answers VALUES (?)", (tx.state,))
        raise ValueError("the records could not be written")

    with pytest.raises(ValueError):
        store.consume(tx.state, then=refused)
    # Neither the close nor the records: the request is still open.
    assert _answers(store) == [] and store.get(tx.id).consumed_at is None
    done = store.consume(tx.state, then=lambda c: c.execute("INSERT INTO answers VALUES (?)", (tx.state,)))
    assert done.consumed_at == NOW and _answers(store) == [tx.state]
    # A replay closes nothing and its records never run.
    with pytest.raises(BindingError):
        store.consume(tx.state, then=lambda conn: conn.execute("INSERT INTO answers VALUES ('replay')"))
    assert _answers(store) == [tx.state]


def test_concurrent_answers_with_one_state_store_one_record(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    stores = [RequestStore(path, lambda: float(NOW), durable=False) for _ in range(2)]
    try:
        _table(stores[0])
        state = store_create(stores[0])
        both_read = threading.Barrier(4)
        outcomes: list[str] = []

        def answer(s: RequestStore) -> None:
            s.pending(state)  # every answer finds the request open...
            both_read.wait(10)
            try:  # ...but only one closes it with its records
                s.consume(state, then=lambda conn: conn.execute("INSERT INTO answers VALUES (?)", (state,)))
                outcomes.append("stored")
            except BindingError:
                outcomes.append("refused")

        threads = [threading.Thread(target=answer, args=(s,)) for s in (*stores, *stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["refused", "refused", "refused", "stored"]
        assert _answers(stores[0]) == [state]
    finally:
        for s in stores:
            s.close()


def test_a_requests_db_from_before_is_adopted_once(tmp_path: Path) -> None:
    legacy = RequestStore(tmp_path / "requests.db", lambda: float(NOW))  # the old layout's own file
    state = store_create(legacy)
    used = store_create(legacy)
    legacy.consume(used)
    legacy.close()
    shared = RequestStore(tmp_path / "customers.db", lambda: float(NOW))
    other = RequestStore(tmp_path / "customers.db", lambda: float(NOW))  # a second worker
    try:
        assert shared.adopt_legacy(tmp_path / "requests.db") == 2
        assert other.adopt_legacy(tmp_path / "requests.db") == 0
        assert not (tmp_path / "requests.db").exists() and (tmp_path / "requests.db.migrated").exists()
        assert other.consume(state).policy_id == "parcel-locker"  # open before: answerable now
        with pytest.raises(BindingError, match="already"):
            shared.consume(used)  # answered before: still answered
    finally:
        shared.close()
        other.close()
