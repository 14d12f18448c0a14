"""Challenges the issuer chooses for a card to sign: random, short-lived, single use.

A JPKI signature proves possession of the card only if it signs bytes the issuer chose just
now and accepts once. Rules of :meth:`ChallengeBook.consume`:

1. The id names a challenge this book issued and nobody consumed yet; otherwise (unknown id,
   or a replay of a consumed one — indistinguishable on purpose, the book forgets consumed ids)
   → BindingError.
2. The challenge is consumed by the first attempt, whatever that attempt's outcome: a
   signature that fails verification cannot be retried with the same challenge.
3. ``now`` is before the challenge's expiry (``issued_at + ttl``, default 5 minutes);
   otherwise → Expired.

Outstanding challenges are bounded (``max_outstanding``); expired ones are dropped when new ones
are issued. :class:`ChallengeStore` is the interface a persistent (e.g. SQLite) book would
implement; its ``consume`` must be atomic (delete-returning), so two concurrent attempts with
one challenge cannot both succeed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from identity.crypto.encoding import b64url_encode
from identity.errors import BindingError, Expired, PolicyError

__all__ = ["CHALLENGE_BYTES", "Challenge", "ChallengeBook", "ChallengeStore"]

#: Bytes of randomness in a challenge (and in its id).
CHALLENGE_BYTES = 32
_ID_BYTES = 16


@dataclass(frozen=True, slots=True)
class Challenge:
    """A challenge as handed to the client: sign ``value`` and send it back with ``id``."""

    id: str  # base64url, no padding
    value: bytes
    expires_at: datetime


class ChallengeStore(Protocol):
    """What the evidence endpoints need from a challenge book, in memory or persistent."""

    def issue(self, now: datetime) -> Challenge:
        """A new random challenge that expires after the store's time to live."""
        ...

    def consume(self, challenge_id: str, now: datetime) -> bytes:
        """The challenge's bytes, once; BindingError if unknown or used, Expired if stale."""
        ...


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    return now


class ChallengeBook:
    """An in-memory, thread-safe :class:`ChallengeStore`."""

    def __init__(
        self,
        *,
        ttl: timedelta = timedelta(minutes=5),
        max_outstanding: int = 100_000,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if ttl <= timedelta(0) or max_outstanding < 1:
            raise ValueError("ttl and max_outstanding must be positive")
        self._ttl = ttl
        self._max = max_outstanding
        self._random = random
        self._lock = threading.Lock()
        self._open: dict[str, tuple[bytes, datetime]] = {}

    def __len__(self) -> int:
        """Challenges issued and not yet consumed or dropped."""
        with self._lock:
            return len(self._open)

    def issue(self, now: datetime) -> Challenge:
        """A fresh challenge of :data:`CHALLENGE_BYTES` random bytes, valid for the book's ttl.

        → PolicyError when ``max_outstanding`` unexpired challenges are already open.
        """
        expires_at = _aware(now) + self._ttl
        value = self._random(CHALLENGE_BYTES)
        challenge_id = b64url_encode(self._random(_ID_BYTES))
        if len(value) != CHALLENGE_BYTES:
            raise ValueError("the random source returned the wrong number of bytes")
        with self._lock:
            if len(self._open) >= self._max:
                self._drop_expired(now)
            if len(self._open) >= self._max:
                raise PolicyError("too many open challenges; try again later")
            if challenge_id in self._open:  # only a broken random source repeats 128 bits
                raise ValueError("the random source repeated a challenge id")
            self._open[challenge_id] = (value, expires_at)
        return Challenge(id=challenge_id, value=value, expires_at=expires_at)

    def consume(self, challenge_id: str, now: datetime) -> bytes:
        """The challenge's bytes, removing it from the book (rules 1-3)."""
        _aware(now)
        with self._lock:
            found = self._open.pop(challenge_id, None)  # 2. gone whatever happens next
        if found is None:  # 1.
            raise BindingError("unknown or already used challenge")
        value, expires_at = found
        if now >= expires_at:  # 3.
            raise Expired("the challenge has expired; ask for a new one")
        return value

    def _drop_expired(self, now: datetime) -> None:
        stale = [key for key, (_, expires_at) in self._open.items() if now >= expires_at]
        for key in stale:
            del self._open[key]
