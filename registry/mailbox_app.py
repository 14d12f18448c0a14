"""The mailbox's HTTP routes (``POST`` and ``GET /mailbox/messages``), with long-polling.

A fetch with ``wait`` > 0 that finds nothing waits, without holding a thread, until a
post stores a message for that recipient (:class:`Doorbell`, rung by the post in this
process) or the wait is over; it looks again every :data:`POLL_SECONDS` in case another
process of the node stored one. At most ``mailbox_max_waiters`` fetches wait at once on
the node, and ``mailbox_max_waiters_per_recipient`` for one recipient; beyond that a
fetch is answered 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from identity.errors import AkashiError, MalformedInput, problem_document
from registry.mailbox import Mailbox, Page, Posted
from registry.queries import entry_with_proof, proofs_under_latest

__all__ = ["Doorbell", "TooManyWaiters", "mailbox_routes"]

#: A waiting fetch looks at the mailbox again this often even if not woken (seconds).
POLL_SECONDS = 5.0
#: Largest body of a fetch (a GET has none; its Content-Digest is of the empty body).
_FETCH_BODY_LIMIT = 1024
_CURSOR_DIGITS = 16

Handler = Callable[[Request], Awaitable[Response]]


class TooManyWaiters(Exception):
    """A fetch would wait beyond the node's limits."""


class Doorbell:
    """Wakes the fetches waiting on a recipient's mailbox. Used on the event loop only."""

    def __init__(self, max_waiters: int, max_per_recipient: int) -> None:
        self._max = max_waiters
        self._max_each = max_per_recipient
        self._events: dict[str, asyncio.Event] = {}
        self._waiting: dict[str, int] = {}
        self._total = 0

    def event(self, recipient: str) -> asyncio.Event:
        """The event the next :meth:`ring` for ``recipient`` sets (take it *before* looking
        at the mailbox, so a message stored meanwhile is not missed)."""
        return self._events.setdefault(recipient, asyncio.Event())

    def ring(self, recipient: str) -> None:
        """A message for ``recipient`` was stored: wake its waiting fetches."""
        event = self._events.pop(recipient, None)
        if event is not None:
            event.set()

    @contextmanager
    def waiting(self, recipient: str) -> Iterator[None]:
        """Count one waiting fetch for ``recipient``; :class:`TooManyWaiters` past the limits."""
        mine = self._waiting.get(recipient, 0)
        if self._total >= self._max or mine >= self._max_each:
            raise TooManyWaiters(recipient)
        self._total += 1
        self._waiting[recipient] = mine + 1
        try:
            yield
        finally:
            self._total -= 1
            self._waiting[recipient] -= 1
            if not self._waiting[recipient]:
                del self._waiting[recipient]
                self._events.pop(recipient, None)

    @property
    def waiters(self) -> int:
        """How many fetches wait now."""
        return self._total


def _query_int(request: Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > _CURSOR_DIGITS or (maximum is not None and int(raw) > maximum):
        bound = "" if maximum is None else f" at most {maximum}"
        raise MalformedInput(f"query parameter {name!r} must be a non-negative integer{bound}")
    return int(raw)


def _headers(request: Request) -> dict[str, str]:
    """Request headers by lower-case name, repeated fields joined as RFC 9110 section 5.3 says."""
    return {name: ", ".join(request.headers.getlist(name)) for name in request.headers}


def _prove_posted(mailbox: Mailbox, outcomes: list[Posted | AkashiError], answer: dict[str, Any]) -> None:
    """Add the latest checkpoint and an inclusion proof under it for every posted notice, so
    the sender needs no more round trips to hold its proofs."""
    indexes = [outcome.accepted.index for outcome in outcomes if isinstance(outcome, Posted)]
    answer["checkpoint"], proofs = proofs_under_latest(mailbox.node, indexes)
    for outcome, result in zip(outcomes, answer["results"], strict=True):
        if isinstance(outcome, Posted) and outcome.accepted.index in proofs:
            result["inclusion_proof"] = proofs[outcome.accepted.index]


def _prove_page(mailbox: Mailbox, answer: dict[str, Any]) -> None:
    """Add to a page the latest checkpoint and, for each message, its notice entry with an
    inclusion proof under it: the recipient checks each message against its notice without
    another round trip per message."""
    indexes = [message["notice_index"] for message in answer["messages"]]
    answer["checkpoint"], proofs = proofs_under_latest(mailbox.node, indexes)
    for message in answer["messages"]:
        index = message["notice_index"]
        if index in proofs:
            message["notice"] = entry_with_proof(mailbox.node, index, proofs[index])


def mailbox_routes(
    mailbox: Mailbox,
    *,
    guarded: Callable[[Handler], Handler],
    read_body: Callable[[Request, int], Awaitable[bytes]],
) -> list[Route]:
    """The mailbox routes, each wrapped by ``guarded`` (errors as problem documents)."""
    config = mailbox.config
    doorbell = Doorbell(config.mailbox_max_waiters, config.mailbox_max_waiters_per_recipient)

    async def post(request: Request) -> Response:
        body = await read_body(request, mailbox.batch_body_limit)
        received = await run_in_threadpool(mailbox.receive, body)
        if isinstance(received, Posted):
            if received.held:
                doorbell.ring(received.recipient)
            return JSONResponse(received.to_json(), status_code=200 if received.accepted.duplicate else 201)
        answer: dict[str, Any] = {"results": []}
        for outcome in received:
            if isinstance(outcome, Posted):
                if outcome.held:
                    doorbell.ring(outcome.recipient)
                answer["results"].append({"posted": outcome.to_json()})
            else:
                answer["results"].append({"problem": problem_document(outcome)})
        if request.query_params.get("prove") == "true":
            await run_in_threadpool(_prove_posted, mailbox, received, answer)
        return JSONResponse(answer)

    async def fetch(request: Request) -> Response:
        after = _query_int(request, "after", 0)
        wait = _query_int(request, "wait", 0, config.mailbox_max_wait)
        body = await read_body(request, _FETCH_BODY_LIMIT)
        authenticate = partial(
            mailbox.authenticate,
            method=request.method,
            target_uri=str(request.url),
            headers=_headers(request),
            body=body,
        )
        recipient = await run_in_threadpool(authenticate)
        try:
            page = await _long_poll(mailbox, doorbell, recipient, after, wait)
        except TooManyWaiters:
            return JSONResponse(
                {
                    "type": "https://akashi.example/problems/mailbox-busy",
                    "title": "Too many waiting fetches",
                    "status": 503,
                    "detail": "too many fetches are waiting on this node; try again shortly",
                },
                status_code=503,
                media_type="application/problem+json",
                headers={"Retry-After": "1"},
            )
        answer = page.to_json()
        if page.messages:
            await run_in_threadpool(_prove_page, mailbox, answer)
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    return [
        Route("/mailbox/messages", guarded(post), methods=["POST"]),
        Route("/mailbox/messages", guarded(fetch), methods=["GET"]),
    ]


async def _long_poll(mailbox: Mailbox, doorbell: Doorbell, recipient: str, after: int, wait: int) -> Page:
    """The recipient's page past ``after``; if empty, wait up to ``wait`` seconds for one."""
    if wait == 0:
        return await run_in_threadpool(mailbox.fetch, recipient, after)
    deadline = time.monotonic() + wait
    with doorbell.waiting(recipient):
        while True:
            rung = doorbell.event(recipient)
            page = await run_in_threadpool(mailbox.fetch, recipient, after)
            remaining = deadline - time.monotonic()
            if page.messages or remaining <= 0:
                return page
            with suppress(TimeoutError):
                await asyncio.wait_for(rung.wait(), timeout=min(remaining, POLL_SECONDS))
