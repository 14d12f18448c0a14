"""The issuer's status lists: random allocation, transitions, tokens and publications, durably."""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from identity.credentials.status_list import (
    INVALID,
    SUSPENDED,
    VALID,
    StatusReference,
    check_status,
    verify_status_list_token,
)
from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import NotFound, Revoked, Suspended, TimeError
from identity.jose.jws import verify_jwt
from identity.schemas import validate
from issuer.status import IssuedCredential, StatusRegistry

BASE = "https://issuer.example/status"
KEY = Ed25519PrivateKey.from_seed(bytes(range(32)))
NOW = 1_760_000_000
VCT = "https://issuer.example/vct/kyc"


def seeded(seed: int) -> Callable[[int], bytes]:
    return random.Random(seed).randbytes


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "status.db"


@pytest.fixture
def registry(path: Path) -> Iterator[StatusRegistry]:
    reg = StatusRegistry(path, uri_base=BASE, random=seeded(1), clock=lambda: NOW, durable=False)
    yield reg
    reg.close()


def issue(reg: StatusRegistry, credential_id: str) -> StatusReference:
    ref = reg.allocate()
    reg.register(credential_id, ref, vct=VCT, issued_at=NOW, expires_at=NOW + 86400 * 365)
    return ref


# --- allocation --------------------------------------------------------------------------------


def test_indexes_are_unique_random_and_do_not_follow_issuance_order(registry: StatusRegistry) -> None:
    refs = registry.allocate_many(2000)
    indexes = [ref.idx for ref in refs]
    assert len(set(indexes)) == 2000
    assert len({ref.uri for ref in refs}) == 1 and refs[0].uri.startswith(BASE + "/")
    # Not sequential: consecutive issues land far apart, in no particular order.
    assert indexes != sorted(indexes)
    steps = [abs(b - a) for a, b in itertools.pairwise(indexes)]
    assert sum(step <= 2 for step in steps) < 5
    # Spread over the whole list of 2^17: each eighth gets roughly its share of 250.
    eighths = [sum(idx * 8 // 131072 == k for idx in indexes) for k in range(8)]
    assert all(180 < count < 320 for count in eighths), eighths


def test_allocation_survives_reopening_even_with_the_same_random_draws(path: Path) -> None:
    first = StatusRegistry(path, uri_base=BASE, size=64, fill_limit=1.0, random=seeded(5), durable=False)
    before = first.allocate_many(40)
    first.close()
    again = StatusRegistry(path, uri_base=BASE, size=64, fill_limit=1.0, random=seeded(5), durable=False)
    after = again.allocate_many(24)
    assert {r.uri for r in before + after} == {before[0].uri}
    assert sorted(r.idx for r in before + after) == list(range(64))  # every index once, none twice
    assert again.lists()[0].used == 64
    again.close()


def test_a_full_list_makes_way_for_a_new_one(path: Path) -> None:
    reg = StatusRegistry(path, uri_base=BASE + "/", size=16, fill_limit=0.5, random=seeded(2), durable=False)
    refs = reg.allocate_many(20)
    uris = list(dict.fromkeys(ref.uri for ref in refs))
    assert len(uris) == 3  # 8 + 8 + 4
    assert [info.used for info in reg.lists()] == [8, 8, 4]
    assert all(uri.startswith(BASE + "/") and "//status" not in uri for uri in uris)
    assert all(0 <= ref.idx < 16 for ref in refs)
    reg.close()


def test_allocating_changes_neither_the_list_nor_its_version(registry: StatusRegistry) -> None:
    ref = registry.allocate()
    token = registry.token(ref.uri, KEY, "k1", NOW)
    registry.allocate_many(10)
    assert registry.lists()[0].version == 0
    assert registry.token(ref.uri, KEY, "k1", NOW) == token
    assert registry.status_of(ref) == VALID


def test_register_binds_only_allocated_free_indexes_and_unique_ids(registry: StatusRegistry) -> None:
    ref = issue(registry, "cred-1")
    with pytest.raises(ValueError, match="already bound"):
        registry.register("cred-2", ref, vct=VCT, issued_at=NOW)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("cred-1", registry.allocate(), vct=VCT, issued_at=NOW)
    with pytest.raises(NotFound):
        nowhere = StatusReference(idx=ref.idx, uri=BASE + "/nowhere")
        registry.register("cred-3", nowhere, vct=VCT, issued_at=NOW)


def test_threads_allocating_at_once_never_share_an_index(path: Path) -> None:
    reg = StatusRegistry(path, uri_base=BASE, size=1024, random=seeded(3), durable=False)
    found: list[StatusReference] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [reg.allocate() for _ in range(40)]
        with lock:
            found.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({(r.uri, r.idx) for r in found}) == 160
    reg.close()


# --- transitions -------------------------------------------------------------------------------

# (name, statuses set one after another, expected final status or error, version bumps)
TRANSITIONS = [
    ("suspend", [SUSPENDED], SUSPENDED, 1),
    ("suspend then reinstate", [SUSPENDED, VALID], VALID, 2),
    ("revoke a valid one", [INVALID], INVALID, 1),
    ("revoke a suspended one", [SUSPENDED, INVALID], INVALID, 2),
    ("suspend twice is one change", [SUSPENDED, SUSPENDED], SUSPENDED, 1),
    ("reinstate a valid one changes nothing", [VALID], VALID, 0),
    ("revoke twice is one change", [INVALID, INVALID], INVALID, 1),
    ("reinstate a revoked one", [INVALID, VALID], Revoked, 1),
    ("suspend a revoked one", [INVALID, SUSPENDED], Revoked, 1),
    ("revoke, suspend, reinstate", [SUSPENDED, INVALID, VALID], Revoked, 2),
]


@pytest.mark.parametrize(("name", "steps", "expected", "bumps"), TRANSITIONS, ids=[t[0] for t in TRANSITIONS])
def test_transitions(
    registry: StatusRegistry, name: str, steps: list[int], expected: int | type[Exception], bumps: int
) -> None:
    ref = issue(registry, "cred")
    other = issue(registry, "bystander")
    if isinstance(expected, int):
        for status in steps:
            registry.set_status("cred", status)
        assert registry.status_of(ref) == registry.status_of("cred") == expected
    else:
        for status in steps[:-1]:
            registry.set_status(ref, status)
        with pytest.raises(expected, match="revocation is final"):
            registry.set_status(ref, steps[-1])
        assert registry.status_of(ref) == INVALID
    assert registry.lists()[0].version == bumps
    assert registry.status_of(other) == VALID


def test_named_transitions_report_what_changed(registry: StatusRegistry) -> None:
    ref = issue(registry, "cred")
    change = registry.suspend("cred")
    assert (change.reference, change.previous, change.status, change.version, change.changed) == (
        ref, VALID, SUSPENDED, 1, True
    )
    assert registry.reinstate(ref).status == VALID
    assert registry.revoke("cred").version == 3
    assert registry.revoke("cred").changed is False
    with pytest.raises(Revoked):
        registry.reinstate("cred")


def test_unknown_credentials_and_status_values(registry: StatusRegistry) -> None:
    issue(registry, "cred")
    with pytest.raises(NotFound):
        registry.revoke("no-such-credential")
    with pytest.raises(NotFound):
        registry.suspend(StatusReference(idx=0, uri=BASE + "/unknown"))
    with pytest.raises(ValueError):
        registry.set_status("cred", 3)


# --- tokens ------------------------------------------------------------------------------------


def test_token_verifies_and_shows_each_status(registry: StatusRegistry) -> None:
    valid, revoked, suspended = issue(registry, "a"), issue(registry, "b"), issue(registry, "c")
    registry.revoke("b")
    registry.suspend(suspended)
    token = registry.token(valid.uri, KEY, "key-1", NOW)
    header, _ = verify_jwt(token, KEY.public_key, typ="statuslist+jwt")
    assert header["kid"] == "key-1"
    verified = verify_status_list_token(token, KEY.public_key, uri=valid.uri, now=NOW + 60)
    assert (verified.iat, verified.exp, verified.ttl) == (NOW, NOW + 86400, 900)
    assert verified.status_list.bits == 2 and verified.status_list.size == 131072
    check_status(valid, verified)
    with pytest.raises(Revoked):
        check_status(revoked, verified)
    with pytest.raises(Suspended):
        check_status(suspended, verified)
    unused = next(i for i in range(131072) if i not in {valid.idx, revoked.idx, suspended.idx})
    assert verified.status_list.get(unused) == VALID
    with pytest.raises(TimeError):
        verify_status_list_token(token, KEY.public_key, uri=valid.uri, now=NOW + 86400 + 61)


def test_token_is_cached_per_version_and_resigned_after_a_change(registry: StatusRegistry) -> None:
    ref = issue(registry, "a")
    first = registry.token(ref.uri, KEY, None, NOW)
    assert registry.token(ref.uri, KEY, None, NOW + 100) == first  # same version: the cached token
    registry.suspend("a")
    second = registry.token(ref.uri, KEY, None, NOW)  # same second as the first token
    assert second != first
    verified = verify_status_list_token(second, KEY.public_key, uri=ref.uri, now=NOW)
    assert verified.iat == NOW + 1  # each list's iat strictly increases, as the ledger requires
    with pytest.raises(Suspended):
        check_status(ref, verified)


def test_token_is_resigned_at_half_its_lifetime_and_under_a_new_key(registry: StatusRegistry) -> None:
    ref = issue(registry, "a")
    first = registry.token(ref.uri, KEY, None, NOW)
    assert registry.token(ref.uri, KEY, None, NOW + 43199) == first
    refreshed = registry.token(ref.uri, KEY, None, NOW + 43200)
    verified = verify_status_list_token(refreshed, KEY.public_key, uri=ref.uri, now=NOW + 43200)
    assert verified.iat == NOW + 43200
    new_key = Ed25519PrivateKey.from_seed(bytes([9]) * 32)
    rotated = registry.token(ref.uri, new_key, "key-2", NOW + 43201)
    verify_status_list_token(rotated, new_key.public_key, uri=ref.uri, now=NOW + 43201)


def test_token_cache_survives_reopening(path: Path) -> None:
    reg = StatusRegistry(path, uri_base=BASE, random=seeded(4), durable=False)
    ref = issue(reg, "a")
    token = reg.token(ref.uri, KEY, None, NOW)
    reg.close()
    again = StatusRegistry(path, uri_base=BASE, random=seeded(4), durable=False)
    assert again.token(ref.uri, KEY, None, NOW + 5) == token
    assert len(again.pending_publications()) == 1
    again.close()


def test_unknown_list_has_no_token(registry: StatusRegistry) -> None:
    with pytest.raises(NotFound):
        registry.token(BASE + "/nope", KEY, None, NOW)


# --- publications ------------------------------------------------------------------------------


def test_every_signed_version_is_pending_until_marked_durably(path: Path) -> None:
    reg = StatusRegistry(path, uri_base=BASE, random=seeded(6), durable=False)
    ref = issue(reg, "a")
    token0 = reg.token(ref.uri, KEY, None, NOW)
    reg.revoke("a")
    token1 = reg.token(ref.uri, KEY, None, NOW + 10)
    pending = reg.pending_publications()
    assert [(p.uri, p.version, p.iat) for p in pending] == [(ref.uri, 0, NOW), (ref.uri, 1, NOW + 10)]
    assert [p.digest for p in pending] == [b64url_encode(sha256(t.encode())) for t in (token0, token1)]
    body = {"uri": ref.uri, "issuer": "did:akashi:Qm" + "a" * 44, "digest": pending[0].digest, "iat": NOW}
    validate(body, "entry-status.publish")  # what the service anchors fits the ledger entry
    reg.mark_published(ref.uri, 0, 17)
    assert [p.version for p in reg.pending_publications()] == [1]
    reg.close()

    again = StatusRegistry(path, uri_base=BASE, random=seeded(6), durable=False)
    assert [p.version for p in again.pending_publications()] == [1]
    again.mark_published(ref.uri, 1, 18, digest=pending[1].digest)
    again.mark_published(ref.uri, 1, 18)  # a retry after a crash is harmless
    assert again.pending_publications() == []
    with pytest.raises(NotFound):
        again.mark_published(ref.uri, 1, 99)
    with pytest.raises(NotFound):
        again.mark_published(ref.uri, 7, 99)
    again.close()


def test_anchoring_a_newer_version_drops_older_unanchored_ones(registry: StatusRegistry) -> None:
    ref = issue(registry, "a")
    registry.token(ref.uri, KEY, None, NOW)
    registry.suspend("a")
    registry.token(ref.uri, KEY, None, NOW + 1)
    registry.reinstate("a")
    registry.token(ref.uri, KEY, None, NOW + 2)
    assert [p.version for p in registry.pending_publications()] == [0, 1, 2]
    registry.mark_published(ref.uri, 2, 5)  # the ledger would refuse 0 and 1 now: not newer
    assert registry.pending_publications() == []


def test_refresh_signs_each_list_that_needs_it(path: Path) -> None:
    reg = StatusRegistry(path, uri_base=BASE, size=8, fill_limit=1.0, random=seeded(8), durable=False)
    refs = reg.allocate_many(12)  # two lists
    assert reg.refresh(KEY, None, NOW) == 2
    assert reg.refresh(KEY, None, NOW + 1) == 0
    reg.revoke(refs[-1])
    assert reg.refresh(KEY, None, NOW + 2) == 1
    assert [p.uri for p in reg.pending_publications()].count(refs[-1].uri) == 2
    reg.close()


# --- listing -----------------------------------------------------------------------------------


def test_listing_shows_ids_types_statuses_and_times(registry: StatusRegistry) -> None:
    a = issue(registry, "digest-a")
    registry.allocate()  # allocated, never issued: not listed
    registry.register("digest-b", registry.allocate(), vct=VCT + "/licence", issued_at=NOW + 5)
    registry.revoke("digest-a")
    listed = registry.credentials()
    assert [(c.credential_id, c.vct, c.status_name) for c in listed] == [
        ("digest-a", VCT, "invalid"),
        ("digest-b", VCT + "/licence", "valid"),
    ]
    assert listed[0] == IssuedCredential(
        "digest-a", VCT, INVALID, NOW, NOW + 86400 * 365, a, changed_at=NOW
    )
    assert [c.credential_id for c in registry.credentials(status=VALID)] == ["digest-b"]
    assert registry.credentials(limit=1, offset=1)[0].credential_id == "digest-b"
    assert registry.credential("digest-b").expires_at is None
    with pytest.raises(NotFound):
        registry.credential("digest-z")


def test_bad_configuration_is_refused(path: Path) -> None:
    with pytest.raises(ValueError):
        StatusRegistry(path, uri_base="ftp://issuer.example/status")
    with pytest.raises(ValueError):
        StatusRegistry(path, uri_base=BASE, bits=1)  # VALID, INVALID, SUSPENDED need 2 bits
    with pytest.raises(ValueError):
        StatusRegistry(path, uri_base=BASE, fill_limit=0)
