"""The verifier's HTTP API (Starlette).

Wallet-facing (OpenID4VP 1.0): ``GET /oid4vp/requests/{id}`` serves the signed request
object; ``POST /oid4vp/response`` takes the ``direct_post`` response. Operator-facing
(bearer token): open a request for a policy (URL and QR code), read a customer's KYC
status, recheck statuses, export the APPI records. Public, for the person being verified
(the request's random id is the capability): ``GET /requests/{id}``, the request's page
with its QR code, link and status (:mod:`verifier.request_page`), and
``GET /requests/{id}/status``. Errors are RFC 9457 problems (the wallet-facing response
endpoint answers OAuth-style errors; the page answers HTML pages).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from identity.crypto.hashing import sha256
from identity.crypto.strict_json import loads_object
from identity.errors import AkashiError, MalformedInput, NotFound, Unauthorized, problem_document
from identity.protocols.oid4vci.errors import NO_STORE, OAuthError
from verifier.request_page import (
    PAGE_HEADERS,
    render_error_page,
    render_not_found_page,
    render_request_page,
    request_view,
)
from verifier.requests import qr_png, qr_svg
from verifier.service import Verifier

__all__ = ["create_app"]

log = logging.getLogger("akashi.verifier")
PROBLEM_JSON = "application/problem+json"
Handler = Callable[[Request], Awaitable[Response]]


def _problem(error: AkashiError, request: Request) -> JSONResponse:
    document = problem_document(error, instance=request.url.path)
    headers = (
        {"WWW-Authenticate": 'Bearer realm="akashi-verifier"'} if isinstance(error, Unauthorized) else None
    )
    return JSONResponse(
        document, status_code=int(str(document["status"])), media_type=PROBLEM_JSON, headers=headers
    )


async def _body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise MalformedInput(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(verifier: Verifier, *, on_close: Callable[[], None] | None = None) -> Starlette:
    """The ASGI app serving ``verifier``; ``on_close`` runs when the server shuts down."""
    limit = verifier.config.max_body_bytes
    # Wallet answers run on threads of their own (verifying is CPU work, but a cold cache
    # reads the ledger and a commit waits for the disk; answers waiting together share one
    # commit): a plain executor hands work over for less than anyio's run_in_threadpool.
    answers = ThreadPoolExecutor(max_workers=40, thread_name_prefix="akashi-answer")

    def guarded(handler: Handler, *, admin: bool = False) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                if admin:
                    _check_admin(verifier, request.headers.get("authorization"))
                return await handler(request)
            except OAuthError as error:
                return JSONResponse(error.response(), status_code=error.status, headers=error.headers())
            except AkashiError as error:
                return _problem(error, request)
            except Exception:  # process boundary
                log.exception("unexpected failure on %s", request.url.path)
                return JSONResponse(
                    {
                        "type": "https://akashi.example/problems/internal",
                        "title": "Internal error",
                        "status": 500,
                    },
                    status_code=500,
                    media_type=PROBLEM_JSON,
                )

        return endpoint

    async def request_object(request: Request) -> Response:
        token = await run_in_threadpool(verifier.requests.request_object, request.path_params["tid"])
        return Response(token, media_type="application/oauth-authz-req+jwt", headers=NO_STORE)

    async def response(request: Request) -> Response:
        body = await _body(request, limit)
        answer, _ = await asyncio.get_running_loop().run_in_executor(answers, verifier.receive, body)
        return JSONResponse(answer, headers=NO_STORE)

    async def new_request(request: Request) -> Response:
        data = loads_object(await _body(request, limit), what="request")
        policy = data.get("policy")
        if not isinstance(policy, str):
            raise MalformedInput("'policy' must name one of the verifier's policies")
        transaction = await run_in_threadpool(verifier.new_request, policy)
        return JSONResponse(
            {
                "id": transaction.id,
                "url": transaction.url,
                "expires_at": transaction.expires_at,
                "qr_svg": f"/admin/requests/{transaction.id}/qr.svg",
                "page": verifier.request_page_url(transaction.id),
            },
            status_code=201,
        )

    async def qr(request: Request) -> Response:
        transaction = await run_in_threadpool(verifier.requests.get, request.path_params["tid"])
        if request.path_params["kind"] == "svg":
            return Response(qr_svg(transaction.url), media_type="image/svg+xml")
        return Response(qr_png(transaction.url), media_type="image/png")

    async def request_page(request: Request) -> Response:
        # A person's browser reads this: every answer is an HTML page, failures too.
        tid = request.path_params["tid"]
        try:
            page = await run_in_threadpool(lambda: render_request_page(request_view(verifier, tid)))
        except NotFound:
            return HTMLResponse(render_not_found_page(), status_code=404, headers=PAGE_HEADERS)
        except Exception:  # process boundary
            log.exception("unexpected failure on %s", request.url.path)
            return HTMLResponse(render_error_page(), status_code=500, headers=PAGE_HEADERS)
        return HTMLResponse(page, headers=PAGE_HEADERS)

    async def request_status(request: Request) -> Response:
        status = await run_in_threadpool(verifier.request_status, request.path_params["tid"])
        return JSONResponse({"status": status}, headers=NO_STORE)

    async def kyc(request: Request) -> Response:
        status = await run_in_threadpool(verifier.customers.kyc_status, request.path_params["customer"])
        return JSONResponse(status.to_json())

    async def customers(request: Request) -> Response:
        listed = await run_in_threadpool(verifier.customers.customers)
        return JSONResponse({"customers": [c.to_json() for c in listed]})

    async def recheck(request: Request) -> Response:
        changes = await run_in_threadpool(verifier.recheck)
        return JSONResponse(
            {
                "changes": [
                    {
                        "digest": c.digest,
                        "customers": list(c.customers),
                        "previous": c.previous,
                        "status": c.status,
                        "reason": c.reason,
                    }
                    for c in changes
                ]
            }
        )

    async def export(request: Request) -> Response:
        kind = request.query_params.get("format", "jsonl")
        if kind not in {"jsonl", "csv"}:
            raise MalformedInput("format must be jsonl or csv")

        def write() -> bytes:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / f"export.{kind}"
                (verifier.customers.export_jsonl if kind == "jsonl" else verifier.customers.export_csv)(path)
                return path.read_bytes()

        data = await run_in_threadpool(write)
        media = "application/jsonl" if kind == "jsonl" else "text/csv; charset=utf-8"
        return Response(data, media_type=media)

    routes = [
        Route("/oid4vp/requests/{tid}", guarded(request_object), methods=["GET"]),
        Route("/oid4vp/response", guarded(response), methods=["POST"]),
        Route("/admin/requests", guarded(new_request, admin=True), methods=["POST"]),
        Route("/admin/requests/{tid}/qr.{kind:str}", guarded(qr, admin=True), methods=["GET"]),
        Route("/requests/{tid}", request_page, methods=["GET"]),  # answers HTML itself, errors too
        Route("/requests/{tid}/status", guarded(request_status), methods=["GET"]),
        Route("/customers/{customer}/kyc", guarded(kyc, admin=True), methods=["GET"]),
        Route("/admin/customers", guarded(customers, admin=True), methods=["GET"]),
        Route("/admin/recheck", guarded(recheck, admin=True), methods=["POST"]),
        Route("/admin/export", guarded(export, admin=True), methods=["GET"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else None
        return JSONResponse(
            {
                "type": f"https://akashi.example/problems/http-{status}",
                "title": "HTTP error",
                "status": status,
                "detail": f"{request.method} {request.url.path}",
            },
            status_code=status,
            media_type=PROBLEM_JSON,
            headers=headers,
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        answers.shutdown(wait=True)
        if on_close is not None:
            on_close()

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan)


def _check_admin(verifier: Verifier, authorization: str | None) -> None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        sha256(token.encode()), verifier.identity.admin_token_hash
    ):
        raise Unauthorized("the operator API needs the operator's bearer token")
