"""The registry node's HTTP API (Starlette). The contract is ``specs/registry-openapi.json``.

Every error is an RFC 9457 problem document with a stable ``type``; nothing a
client sends produces a 500 (an unexpected failure is logged and answered with
a generic problem, never with a traceback).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.strict_json import loads, loads_object
from identity.errors import AkashiError, MalformedInput, NotFound, problem_document
from identity.ledger.proofs import ConsistencyProof, InclusionProof
from registry import queries, tiles
from registry.mailbox import Mailbox
from registry.mailbox_app import mailbox_routes
from registry.node import Accepted, Node, Outcome

__all__ = ["create_app"]

log = logging.getLogger("akashi.registry")

PROBLEM_JSON = "application/problem+json"
_INTERNAL = {
    "type": "https://akashi.example/problems/internal",
    "title": "Internal error",
    "status": 500,
    "detail": "the registry could not answer; the request changed nothing",
}
_TILE_CACHE = "public, max-age=31536000, immutable"


def problem(error: AkashiError, request: Request | None = None) -> JSONResponse:
    """The problem-details response for ``error``."""
    document = problem_document(error, instance=request.url.path if request else None)
    return JSONResponse(document, status_code=int(str(document["status"])), media_type=PROBLEM_JSON)


def _http_problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {
            "type": f"https://akashi.example/problems/http-{status}",
            "title": title,
            "status": status,
            "detail": detail,
        },
        status_code=status,
        media_type=PROBLEM_JSON,
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise MalformedInput(f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise MalformedInput(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _optional_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 16:
        raise MalformedInput(f"query parameter {name!r} must be a non-negative integer")
    return int(raw)


def _required_int(request: Request, name: str) -> int:
    value = _optional_int(request, name)
    if value is None:
        raise MalformedInput(f"query parameter {name!r} is required")
    return value


def _path_int(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not raw.isdigit() or len(raw) > 16:
        raise MalformedInput(f"{name} must be a non-negative integer")
    return int(raw)


def _accepted_json(outcome: Accepted) -> dict[str, Any]:
    return {
        "index": outcome.index,
        "digest": b64url_encode(outcome.digest),
        "leaf_hash": b64url_encode(outcome.leaf_hash),
        "tree_size": outcome.size,
        "duplicate": outcome.duplicate,
    }


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, Accepted):
        return {"accepted": _accepted_json(outcome)}
    return {"problem": problem_document(outcome)}


Handler = Callable[[Request], Awaitable[Response]]


def _prove_batch(node: Node, outcomes: list[Outcome], answer: dict[str, Any]) -> None:
    """Add the latest checkpoint (with its cosignatures) and an inclusion proof under it for
    every accepted entry: a submitter needs no further round trip to hold its proofs."""
    indexes = [outcome.index for outcome in outcomes if isinstance(outcome, Accepted)]
    answer["checkpoint"], proofs = queries.proofs_under_latest(node, indexes)
    for outcome, result in zip(outcomes, answer["results"], strict=True):
        if isinstance(outcome, Accepted) and outcome.index in proofs:
            result["accepted"]["inclusion_proof"] = proofs[outcome.index]


def create_app(
    node: Node, *, mailbox: Mailbox | None = None, extra_routes: list[BaseRoute] | None = None
) -> Starlette:
    """The ASGI app serving ``node`` and its mailbox (by default on the node's store and clock)."""
    config = node.config

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except AkashiError as error:
                return problem(error, request)
            except Exception:  # process boundary: log it, answer without details
                log.exception("unexpected failure on %s %s", request.method, request.url.path)
                return JSONResponse(_INTERNAL, status_code=500, media_type=PROBLEM_JSON)

        return endpoint

    async def submit(request: Request) -> Response:
        body = await read_body(request, config.max_body_bytes)
        document = loads(body, what="request body")
        if isinstance(document, dict) and set(document) == {"entries"}:
            entries = document["entries"]
            if not isinstance(entries, list) or not entries:
                raise MalformedInput("'entries' must be a non-empty array of ledger entries")
            outcomes = await run_in_threadpool(node.submit, entries)
            answer: dict[str, Any] = {"results": [_outcome_json(o) for o in outcomes]}
            if request.query_params.get("prove") == "true":
                await run_in_threadpool(_prove_batch, node, outcomes, answer)
            return JSONResponse(answer)
        if not isinstance(document, dict):
            raise MalformedInput('the body must be a ledger entry or {"entries": [...]}')
        (outcome,) = await run_in_threadpool(node.submit, [document])
        if isinstance(outcome, AkashiError):
            return problem(outcome, request)
        return JSONResponse(_accepted_json(outcome), status_code=200 if outcome.duplicate else 201)

    async def get_entry(request: Request) -> Response:
        index = _path_int(request, "index")
        entry = await run_in_threadpool(node.entry, index)
        return JSONResponse(
            {
                "index": entry.index,
                "type": entry.type,
                "digest": b64url_encode(entry.digest),
                "leaf_hash": b64url_encode(entry.leaf_hash),
                "entry": loads_object(entry.data, what="stored entry"),
            }
        )

    async def inclusion(request: Request) -> Response:
        size = _optional_int(request, "tree_size")
        raw_hash = request.query_params.get("leaf_hash")
        if raw_hash is not None:
            wanted = b64url_decode(raw_hash, what="leaf_hash")
            index = await run_in_threadpool(node.storage.find_leaf_hash, wanted)
            if index is None:
                raise NotFound("no entry has that leaf hash")
        else:
            index = _required_int(request, "index")
        tree_size, path = await run_in_threadpool(node.inclusion_proof, index, size)
        return JSONResponse(InclusionProof(index, tree_size, tuple(path)).to_json())

    async def consistency(request: Request) -> Response:
        first = _required_int(request, "from")
        second = _optional_int(request, "to")
        size2, path = await run_in_threadpool(node.consistency_proof, first, second)
        return JSONResponse(ConsistencyProof(first, size2, tuple(path)).to_json())

    async def checkpoint(request: Request) -> Response:
        stored = await run_in_threadpool(node.latest_checkpoint)
        headers = {"Cache-Control": "no-store"}
        return Response(stored.text, media_type="text/plain; charset=utf-8", headers=headers)

    async def tile(request: Request) -> Response:
        tile_id = tiles.parse_path("tile/" + request.path_params["rest"])
        if isinstance(tile_id, tiles.BundleId):
            data = await run_in_threadpool(queries.read_entry_bundle, node, tile_id)
        else:
            data = await run_in_threadpool(queries.read_tile, node, tile_id)
        return _tile_response(data, tile_id.is_partial)

    async def did(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(queries.resolve_did, node, request.path_params["did"]))

    async def attestation(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(queries.attestation, node, request.path_params["digest"]))

    async def consent(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(queries.consent, node, request.path_params["digest"]))

    async def notice(request: Request) -> Response:
        # no-store: the mailbox part changes without a new entry (a fetch marks a delivery)
        answer = await run_in_threadpool(queries.notice, node, request.path_params["digest"])
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    async def members(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(queries.members, node))

    async def member(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(queries.member, node, request.path_params["did"]))

    routes = [
        Route("/entries", guarded(submit), methods=["POST"]),
        Route("/entries/{index}", guarded(get_entry), methods=["GET"]),
        Route("/proofs/inclusion", guarded(inclusion), methods=["GET"]),
        Route("/proofs/consistency", guarded(consistency), methods=["GET"]),
        Route("/checkpoint", guarded(checkpoint), methods=["GET"]),
        Route("/tile/{rest:path}", guarded(tile), methods=["GET"]),
        Route("/dids/{did}", guarded(did), methods=["GET"]),
        Route("/attestations/{digest}", guarded(attestation), methods=["GET"]),
        Route("/consents/{digest}", guarded(consent), methods=["GET"]),
        Route("/notices/{digest}", guarded(notice), methods=["GET"]),
        Route("/members", guarded(members), methods=["GET"]),
        Route("/members/{did}", guarded(member), methods=["GET"]),
        *mailbox_routes(mailbox or Mailbox(node), guarded=guarded, read_body=read_body),
        *(extra_routes or []),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        titles = {404: "Not found", 405: "Method not allowed"}
        return _http_problem(status, titles.get(status, "HTTP error"), f"{request.method} {request.url.path}")

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


def _tile_response(data: bytes, partial: bool) -> Response:
    # A full tile never changes: caches and CDNs may keep it forever (tlog-tiles).
    headers = {"Cache-Control": "no-cache" if partial else _TILE_CACHE}
    return Response(data, media_type="application/octet-stream", headers=headers)


def dump_json(value: Any) -> str:
    """Compact UTF-8 JSON for CLI and export output."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
