"""The C2SP tlog-witness: add-checkpoint over HTTP (Starlette TestClient, no sockets).

Trees and proofs come from identity.ledger.tree.MemoryTree, checkpoints are
signed with identity.ledger.checkpoint, cosignatures checked with
identity.ledger.cosignature and identity.ledger.policy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from identity.crypto.encoding import b64encode_std
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import RemoteError, UnknownKey
from identity.ledger.checkpoint import Checkpoint, sign_checkpoint
from identity.ledger.cosignature import CosignatureVerifier, cosignature_timestamp
from identity.ledger.note import Ed25519NoteSigner, parse_note_unverified, sign_note, verify_note
from identity.ledger.policy import verify_cosigned_checkpoint
from identity.ledger.tree import MemoryTree
from registry.witness import SIZE_CONTENT_TYPE, Witness, format_add_checkpoint_request
from registry.witness_app import create_witness_app, request_cosignature
from registry.witness_store import (
    MemoryWitnessStore,
    SqliteWitnessStore,
    StoredCheckpoint,
    WitnessStore,
)

NOW = 1_750_000_000
ORIGIN = "akashi.example/log"
LOG = Ed25519NoteSigner(ORIGIN, Ed25519PrivateKey.from_seed(b"\x01" * 32))
WITNESS_KEY = Ed25519PrivateKey.from_seed(b"\x02" * 32)
WITNESS_NAME = "witness.example/w1"


class Log:
    """A log for the tests: a tree of ``b"entry <i>"`` leaves and its signer."""

    def __init__(self, signer: Ed25519NoteSigner = LOG, *, salt: bytes = b"") -> None:
        self.signer, self.salt, self.tree = signer, salt, MemoryTree()

    def grow_to(self, size: int) -> Log:
        while self.tree.size < size:
            self.tree.append(self.salt + b"entry %d" % self.tree.size)
        return self

    def note(self, size: int | None = None, origin: str | None = None) -> str:
        size = self.tree.size if size is None else size
        checkpoint = Checkpoint(origin or self.signer.name, size, self.tree.root(size))
        return sign_checkpoint(checkpoint, self.signer)

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        return [] if old == 0 else self.tree.consistency_proof(old, new)

    def body(self, old: int, size: int | None = None) -> bytes:
        size = self.tree.size if size is None else size
        return format_add_checkpoint_request(old, self.proof(old, size), self.note(size))


def make_witness(store: WitnessStore, clock: list[int] | None = None) -> Witness:
    now = clock if clock is not None else [NOW]
    return Witness(WITNESS_NAME, WITNESS_KEY, {ORIGIN: LOG.verifier()}, store, lambda: now[0])


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WitnessStore]:
    if request.param == "memory":
        yield MemoryWitnessStore()
    else:
        sqlite = SqliteWitnessStore(tmp_path / "witness.db")
        yield sqlite
        sqlite.close()


@pytest.fixture
def client(store: WitnessStore) -> TestClient:
    return TestClient(create_witness_app(make_witness(store)))


def post(client: TestClient, body: bytes) -> httpx.Response:
    response: httpx.Response = client.post("/add-checkpoint", content=body)
    return response


def test_first_checkpoint_is_cosigned_and_verifies(client: TestClient) -> None:
    log = Log().grow_to(5)
    response = post(client, log.body(0))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    line = response.content.decode()
    assert line.startswith(f"— {WITNESS_NAME} ") and line.count("\n") == 1
    cosigned = log.note() + line
    witness = CosignatureVerifier(WITNESS_NAME, WITNESS_KEY.public_key)
    [sig] = verify_note(cosigned, [witness]).verified
    assert cosignature_timestamp(sig.signature) == NOW  # the injected clock
    checkpoint = verify_cosigned_checkpoint(
        cosigned, LOG.verifier(), [witness], 1, now=NOW + 10, max_age=60
    )
    assert (checkpoint.origin, checkpoint.size) == (ORIGIN, 5)


def test_growth_with_consistency_proofs(store: WitnessStore, client: TestClient) -> None:
    log = Log()
    old = 0
    for size in (1, 2, 3, 4, 8, 13, 13, 256, 300):
        log.grow_to(size)
        response = post(client, log.body(old))
        assert response.status_code == 200, (old, size, response.text)
        old = size
    latest = store.latest(ORIGIN)
    assert latest is not None
    assert (latest.size, latest.root_hash, latest.note) == (300, log.tree.root(), log.note())


def test_stale_old_size_gets_409_with_the_witness_size(client: TestClient) -> None:
    log = Log().grow_to(8)
    assert post(client, log.body(0)).status_code == 200
    log.grow_to(12)
    for old in (0, 5, 9):  # "old 0" is how a client learns the witness's size
        response = post(client, log.body(old))
        assert response.status_code == 409
        assert response.headers["content-type"] == SIZE_CONTENT_TYPE  # exactly, no charset
        assert response.content == b"8\n"


def test_bad_consistency_proof_gets_422(client: TestClient) -> None:
    log = Log().grow_to(6)
    assert post(client, log.body(0)).status_code == 200
    log.grow_to(11)
    proof = log.proof(6)
    flipped = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    for bad in (flipped, proof[:-1], [*proof, proof[0]], list(reversed(proof))):
        response = post(client, format_add_checkpoint_request(6, bad, log.note()))
        assert response.status_code == 422
    other = Log(salt=b"x").grow_to(11)
    response = post(client, format_add_checkpoint_request(6, other.proof(6), log.note()))
    assert response.status_code == 422


def test_proof_from_size_zero_must_be_empty(client: TestClient) -> None:
    log = Log().grow_to(4)
    response = post(client, format_add_checkpoint_request(0, [log.tree.root(2)], log.note()))
    assert response.status_code == 422
    empty_with_root = sign_checkpoint(Checkpoint(ORIGIN, 0, log.tree.root()), LOG)
    assert post(client, format_add_checkpoint_request(0, [], empty_with_root)).status_code == 422
    assert post(client, Log().body(0)).status_code == 200  # the real empty tree is fine


def test_unknown_origin_gets_404(client: TestClient) -> None:
    stranger = Ed25519NoteSigner("other.example/log", Ed25519PrivateKey.from_seed(b"\x03" * 32))
    assert post(client, Log(stranger).grow_to(3).body(0)).status_code == 404


def test_checkpoint_not_signed_by_the_log_gets_403(client: TestClient) -> None:
    log = Log().grow_to(3)
    impostor = Ed25519NoteSigner(ORIGIN, Ed25519PrivateKey.from_seed(b"\x04" * 32))
    stranger = Ed25519NoteSigner("stranger.example", Ed25519PrivateKey.from_seed(b"\x05" * 32))
    text = parse_note_unverified(log.note()).text
    good = log.note()
    bad_sig = good[:-6] + ("A" if good[-6] != "A" else "B") + good[-5:]
    for note in (sign_note(text, [impostor]), sign_note(text, [stranger]), bad_sig):
        assert post(client, format_add_checkpoint_request(0, [], note)).status_code == 403
    # A stranger's extra signature is ignored, as the spec requires.
    both = sign_note(text, [stranger, LOG])
    assert post(client, format_add_checkpoint_request(0, [], both)).status_code == 200


def test_rollback_is_refused(store: WitnessStore, client: TestClient) -> None:
    log = Log().grow_to(8)
    assert post(client, log.body(0)).status_code == 200
    assert post(client, format_add_checkpoint_request(8, [], log.note(5))).status_code == 400
    response = post(client, log.body(0, 5))
    assert (response.status_code, response.content) == (409, b"8\n")
    assert post(client, log.body(5, 5)).status_code == 409
    assert store.latest(ORIGIN).size == 8  # type: ignore[union-attr]


def test_fork_is_refused(store: WitnessStore, client: TestClient) -> None:
    log, fork = Log().grow_to(8), Log(salt=b"fork").grow_to(10)
    assert post(client, log.body(0)).status_code == 200
    same_size = post(client, format_add_checkpoint_request(8, [], fork.note(8)))
    assert same_size.status_code == 409
    assert same_size.headers["content-type"] != SIZE_CONTENT_TYPE  # a fork, not a stale size
    assert post(client, fork.body(8)).status_code == 422  # the fork's own proof, wrong old root
    assert post(client, log.body(8)).status_code == 200  # the same checkpoint may be re-cosigned
    assert store.latest(ORIGIN).root_hash == log.tree.root()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 0",
        b"old 00\n\n",
        b"old -1\n\n",
        b"old 18446744073709551616\n\n",
        b"old 0\n" + Log().grow_to(2).note().encode(),  # no empty line after the proof
        b"old 1\nnot base64!\n\n" + Log().grow_to(2).note().encode(),
        b"old 1\n" + b64encode_std(b"\x00" * 31).encode() + b"\n\n" + Log().grow_to(2).note().encode(),
        b"old 1\n" + (b64encode_std(b"\x00" * 32).encode() + b"\n") * 64 + b"\n" + Log().note().encode(),
        b"old 0\n\nnot a note\n",
        b"old 0\n\n" + sign_note("just\ntext\n", [LOG]).encode(),
        b"old 0\n\n\xff" + Log().grow_to(1).note().encode(),
    ],
    ids=lambda body: repr(body[:24]),
)
def test_malformed_requests_get_400(client: TestClient, body: bytes) -> None:
    assert post(client, body).status_code == 400


def test_body_limit_and_method(client: TestClient) -> None:
    assert post(client, b"old 0\n\n" + b"x" * 70_000).status_code == 413
    chunked = (b"x" * 10_000 for _ in range(8))  # no Content-Length: counted while read
    assert client.post("/add-checkpoint", content=chunked).status_code == 413
    assert client.get("/add-checkpoint").status_code == 405


def test_concurrent_requests_with_the_same_old_size_one_wins(store: WitnessStore) -> None:
    log = Log().grow_to(4)
    witness = make_witness(_RacingStore(store, parties=2))
    assert store.compare_and_update(0, _stored(log, 4))
    bodies = [log.grow_to(12).body(4, 10), log.body(4, 12)]
    answers: list[tuple[int, bytes]] = []

    def submit(body: bytes) -> None:
        response = witness.add_checkpoint(body)
        answers.append((response.status, response.body))

    threads = [threading.Thread(target=submit, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200, 409]
    winner = store.latest(ORIGIN)
    assert winner is not None and winner.size in (10, 12)
    assert [body for status, body in answers if status == 409] == [b"%d\n" % winner.size]


def test_sqlite_compare_and_update_is_atomic_across_connections(tmp_path: Path) -> None:
    log = Log().grow_to(20)
    stores = [SqliteWitnessStore(tmp_path / "w.db") for _ in range(4)]  # four connections
    for round_ in range(5):
        old = round_ * 4
        results = _race(stores, old, [_stored(log, old + 1 + i) for i in range(len(stores))])
        assert sorted(results) == [False, False, False, True]
        winner = stores[0].latest(ORIGIN)
        assert winner is not None and old < winner.size <= old + 4
        # Move on from a known size for the next round.
        assert stores[0].compare_and_update(winner.size, _stored(log, (round_ + 1) * 4))
    for s in stores:
        s.close()


def _race(stores: list[SqliteWitnessStore], old: int, news: list[StoredCheckpoint]) -> list[bool]:
    barrier = threading.Barrier(len(stores), timeout=5)
    results: list[bool] = []

    def race(store: SqliteWitnessStore, new: StoredCheckpoint) -> None:
        barrier.wait()
        results.append(store.compare_and_update(old, new))

    threads = [threading.Thread(target=race, args=pair) for pair in zip(stores, news, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_state_survives_reopening_the_store(tmp_path: Path) -> None:
    log = Log().grow_to(7)
    first = SqliteWitnessStore(tmp_path / "w.db")
    assert make_witness(first).add_checkpoint(log.body(0)).status == 200
    first.close()
    reopened = SqliteWitnessStore(tmp_path / "w.db")
    witness = make_witness(reopened)
    stale = witness.add_checkpoint(log.grow_to(9).body(0))
    assert (stale.status, stale.body) == (409, b"7\n")
    assert witness.add_checkpoint(log.body(7)).status == 200
    reopened.close()


def test_store_failure_gets_503(tmp_path: Path) -> None:
    sqlite = SqliteWitnessStore(tmp_path / "w.db")
    client = TestClient(create_witness_app(make_witness(sqlite)))
    sqlite.close()
    assert post(client, Log().grow_to(1).body(0)).status_code == 503


_FLIP_LOG = Log().grow_to(9)
_FLIP_STORE = MemoryWitnessStore()
_FLIP_WITNESS = make_witness(_FLIP_STORE)
_FLIP_STORE.compare_and_update(0, StoredCheckpoint(ORIGIN, 5, _FLIP_LOG.tree.root(5), _FLIP_LOG.note(5)))
_FLIP_BODY = _FLIP_LOG.body(5)


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_flipped_byte_is_refused_without_error(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(_FLIP_BODY) - 1))
    bit = data.draw(st.integers(0, 7))
    body = bytearray(_FLIP_BODY)
    body[index] ^= 1 << bit
    answer = _FLIP_WITNESS.add_checkpoint(bytes(body))
    assert answer.status in (400, 403, 404, 409, 422)
    assert _FLIP_STORE.latest(ORIGIN).size == 5  # type: ignore[union-attr]


# --- the client helper -------------------------------------------------------------------------


def test_request_cosignature_retries_once_with_the_witness_size(client: TestClient) -> None:
    log = Log().grow_to(8)
    witness = CosignatureVerifier(WITNESS_NAME, WITNESS_KEY.public_key)
    assert post(client, log.body(0)).status_code == 200
    log.grow_to(20)
    asked: list[int] = []

    def proof_for(size: int) -> list[bytes]:
        asked.append(size)
        return log.proof(size)

    line = request_cosignature(
        client, "", 3, log.proof(3), log.note(), witness=witness, proof_for=proof_for
    )
    assert asked == [8]
    verify_cosigned_checkpoint(log.note() + line.decode(), LOG.verifier(), [witness], 1)
    with pytest.raises(RemoteError, match="409"):  # without a way to build a proof
        request_cosignature(client, "", 0, [], log.note(), witness=witness)
    with pytest.raises(RemoteError, match="larger tree"):  # the witness is ahead of this checkpoint
        request_cosignature(client, "", 0, [], log.note(5), witness=witness, proof_for=proof_for)


def test_request_cosignature_starts_over_when_the_witness_knows_nothing(client: TestClient) -> None:
    log = Log().grow_to(6)
    witness = CosignatureVerifier(WITNESS_NAME, WITNESS_KEY.public_key)
    line = request_cosignature(client, "", 4, log.proof(4), log.note(), witness=witness, proof_for=log.proof)
    verify_cosigned_checkpoint(log.note() + line.decode(), LOG.verifier(), [witness], 1)


def test_request_cosignature_checks_the_witness_key(client: TestClient) -> None:
    log = Log().grow_to(3)
    someone_else = CosignatureVerifier(WITNESS_NAME, Ed25519PrivateKey.from_seed(b"\x06" * 32).public_key)
    with pytest.raises(UnknownKey):
        request_cosignature(client, "", 0, [], log.note(), witness=someone_else)


def test_request_cosignature_translates_transport_and_answer_failures() -> None:
    log = Log().grow_to(3)
    witness = CosignatureVerifier(WITNESS_NAME, WITNESS_KEY.public_key)

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    size_type = {"content-type": SIZE_CONTENT_TYPE}
    answers = [
        httpx.MockTransport(unreachable),
        httpx.MockTransport(lambda r: httpx.Response(200, content=b"hello\n")),
        httpx.MockTransport(lambda r: httpx.Response(200, content="— w AAAA\n".encode())),
        httpx.MockTransport(lambda r: httpx.Response(200, content=b"\xe2\x80\x94 " + b"x" * 70_000)),
        httpx.MockTransport(lambda r: httpx.Response(409, content=b"08\n", headers=size_type)),
    ]
    for transport in answers:
        http = httpx.Client(transport=transport, base_url="http://w.example")
        with http, pytest.raises(RemoteError):
            request_cosignature(http, "/", 0, [], log.note(), witness=witness, proof_for=log.proof)


class _RacingStore:
    """A real store whose writers wait for each other: both requests are checked
    against the same stored size before either writes (the spec's race)."""

    def __init__(self, inner: WitnessStore, parties: int) -> None:
        self._inner, self._barrier = inner, threading.Barrier(parties, timeout=5)

    def latest(self, origin: str) -> StoredCheckpoint | None:
        return self._inner.latest(origin)

    def compare_and_update(self, old_size: int, new: StoredCheckpoint) -> bool:
        self._barrier.wait()
        return self._inner.compare_and_update(old_size, new)


def _stored(log: Log, size: int) -> StoredCheckpoint:
    return StoredCheckpoint(ORIGIN, size, log.tree.root(size), log.note(size))
