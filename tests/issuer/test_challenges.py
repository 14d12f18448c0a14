"""Challenges for card signatures: random, single use, short-lived, safe across threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from identity.crypto.encoding import b64url_decode
from identity.errors import BindingError, Expired, PolicyError
from issuer.evidence.challenges import CHALLENGE_BYTES, ChallengeBook, ChallengeStore

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def counter_random() -> tuple[list[int], Callable[[int], bytes]]:
    calls: list[int] = []

    def random(n: int) -> bytes:
        calls.append(n)
        return bytes([len(calls)]) * n

    return calls, random


def test_a_challenge_is_32_random_bytes_with_an_id_and_an_expiry() -> None:
    calls, random = counter_random()
    book = ChallengeBook(random=random)
    challenge = book.issue(NOW)
    assert challenge.value == b"\x01" * CHALLENGE_BYTES == b"\x01" * 32
    assert b64url_decode(challenge.id) == b"\x02" * 16
    assert challenge.expires_at == NOW + timedelta(minutes=5)
    assert calls == [32, 16]


def test_a_challenge_is_given_back_once() -> None:
    book = ChallengeBook()
    challenge = book.issue(NOW)
    assert book.consume(challenge.id, NOW + timedelta(minutes=1)) == challenge.value
    with pytest.raises(BindingError):  # the replay
        book.consume(challenge.id, NOW + timedelta(minutes=1))
    assert len(book) == 0


def test_an_unknown_id_is_refused() -> None:
    book = ChallengeBook()
    book.issue(NOW)
    with pytest.raises(BindingError):
        book.consume("bm90LWlzc3VlZA", NOW)


def test_a_stale_challenge_is_refused_and_gone() -> None:
    book = ChallengeBook(ttl=timedelta(minutes=2))
    challenge = book.issue(NOW)
    with pytest.raises(Expired):
        book.consume(challenge.id, NOW + timedelta(minutes=2))  # the expiry instant is already too late
    with pytest.raises(BindingError):
        book.consume(challenge.id, NOW)


def test_a_challenge_just_before_expiry_is_accepted() -> None:
    book = ChallengeBook()
    challenge = book.issue(NOW)
    assert book.consume(challenge.id, challenge.expires_at - timedelta(microseconds=1)) == challenge.value


def test_open_challenges_are_bounded_and_stale_ones_make_room() -> None:
    book = ChallengeBook(max_outstanding=2, ttl=timedelta(minutes=1))
    book.issue(NOW)
    book.issue(NOW)
    with pytest.raises(PolicyError):
        book.issue(NOW)
    later = NOW + timedelta(minutes=1)
    book.issue(later)  # the two stale ones were dropped
    assert len(book) == 1


def test_only_one_of_many_concurrent_attempts_gets_the_challenge() -> None:
    book = ChallengeBook()
    challenge = book.issue(NOW)
    wins: list[bytes] = []
    losses: list[Exception] = []
    start = threading.Barrier(16)

    def attempt() -> None:
        start.wait()
        try:
            wins.append(book.consume(challenge.id, NOW))
        except BindingError as exc:
            losses.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins == [challenge.value]
    assert len(losses) == 15


def test_ids_and_values_differ_between_challenges() -> None:
    book = ChallengeBook()
    first, second = book.issue(NOW), book.issue(NOW)
    assert first.id != second.id
    assert first.value != second.value


def test_misuse_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        ChallengeBook().issue(NOW.replace(tzinfo=None))
    with pytest.raises(ValueError):
        ChallengeBook(ttl=timedelta(0))
    with pytest.raises(ValueError):
        ChallengeBook(random=lambda n: b"short").issue(NOW)


def test_the_book_is_a_challenge_store() -> None:
    store: ChallengeStore = ChallengeBook()
    challenge = store.issue(NOW)
    assert store.consume(challenge.id, NOW) == challenge.value
