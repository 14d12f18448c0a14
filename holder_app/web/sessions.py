"""Unlocked wallets of the web app, one per browser session, locked again when idle.

A session is created only by the right passphrase. Its token (256 random bits) travels in
an ``HttpOnly``, ``SameSite=Strict`` cookie; its CSRF token (another 256 bits) must come back
in every form that changes something. A session unused for ``idle_seconds`` is locked: its
wallet is closed, and the next request has to unlock again. Nothing here is written to disk:
stopping the app locks everything.
"""

from __future__ import annotations

import hmac
import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from holder_app.wallet import PresentationRequest, Wallet

__all__ = ["Session", "Sessions"]

Opener = Callable[[str], AbstractContextManager[Wallet]]


@dataclass
class Session:
    """One unlocked wallet and what the person is in the middle of."""

    token: str
    csrf: str
    wallet: Wallet
    closer: AbstractContextManager[Wallet]
    last_seen: float
    #: presentation requests opened and not yet approved or refused, by a random id
    requests: dict[str, PresentationRequest] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def csrf_ok(self, given: object) -> bool:
        """Whether ``given`` is this session's CSRF token (compared in constant time)."""
        return isinstance(given, str) and hmac.compare_digest(given, self.csrf)


class Sessions:
    """The unlocked sessions; ``open_wallet(passphrase)`` opens the folder's wallet."""

    def __init__(
        self, open_wallet: Opener, *, idle_seconds: float, clock: Callable[[], float], max_sessions: int = 8
    ) -> None:
        self._open = open_wallet
        self._idle = idle_seconds
        self._clock = clock
        self._max = max_sessions
        self._sessions: dict[str, Session] = {}
        self._guard = threading.Lock()

    def unlock(self, passphrase: str) -> Session:
        """A new session over the wallet ``passphrase`` opens (raises ``WrongPassphrase`` and
        the store's other errors otherwise). The oldest session goes when there are too many."""
        closer = self._open(passphrase)
        wallet = closer.__enter__()
        session = Session(os.urandom(32).hex(), os.urandom(32).hex(), wallet, closer, self._clock())
        with self._guard:
            self._sessions[session.token] = session
            while len(self._sessions) > self._max:
                oldest = min(self._sessions.values(), key=lambda s: s.last_seen)
                self._drop(oldest.token)
        return session

    def get(self, token: str | None) -> tuple[Session | None, bool]:
        """The live session of ``token`` (its idle clock restarted), and whether it was just
        locked for being idle."""
        if not token:
            return None, False
        with self._guard:
            session = self._sessions.get(token)
            if session is None:
                return None, False
            now = self._clock()
            if now - session.last_seen > self._idle:
                self._drop(token)
                return None, True
            session.last_seen = now
            return session, False

    def lock(self, token: str | None) -> None:
        """Close the session of ``token``, if any."""
        with self._guard:
            if token:
                self._drop(token)

    def lock_all(self) -> None:
        """Close every session (the app is stopping)."""
        with self._guard:
            for token in list(self._sessions):
                self._drop(token)

    def _drop(self, token: str) -> None:
        session = self._sessions.pop(token, None)
        if session is not None:
            with session.lock:
                exc: Any = None
                session.closer.__exit__(exc, exc, exc)
