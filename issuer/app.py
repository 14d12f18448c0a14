"""The issuer's HTTP API (Starlette); the contract is ``specs/issuer-openapi.json``.

Holder-facing endpoints speak OpenID4VCI 1.0: metadata at the well-known paths,
offers by reference, token, nonce and credential endpoints, whose errors are the
OAuth JSON shape the specification names (with ``Cache-Control: no-store``).
They never tell whether a person or an offer exists: every failed redemption
looks the same. ``POST /credentials/revoke`` lets a holder revoke its own
credential with a request signed by the key the credential is bound to
(:meth:`~issuer.service.Issuer.revoke_by_holder`). The admin API (``/admin/…``)
needs the operator's bearer token. Both answer errors as RFC 9457 problem
documents.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from identity.crypto.strict_json import loads_object
from identity.errors import AkashiError, MalformedInput, NotFound, RemoteError, problem_document
from identity.protocols.oid4vci.credential_types import CredentialDisplay, CredentialType
from identity.protocols.oid4vci.errors import (
    INVALID_CREDENTIAL_REQUEST,
    INVALID_REQUEST,
    NO_STORE,
    OAuthError,
)
from identity.protocols.oid4vci.metadata import (
    WELL_KNOWN_CREDENTIAL_ISSUER,
    WELL_KNOWN_JWT_VC_ISSUER,
    WELL_KNOWN_OAUTH_AUTHORIZATION_SERVER,
    build_authorization_server_metadata,
    build_credential_issuer_metadata,
)
from identity.protocols.oid4vci.offer import offer_url_by_reference
from identity.protocols.oid4vci.sd_jwt_vc import build_jwt_vc_issuer_metadata, build_type_metadata
from issuer.credentials import KYC, LICENCE
from issuer.credentials import CredentialType as IssuedType
from issuer.service import Issuer, OfferOut

__all__ = ["create_app"]

log = logging.getLogger("akashi.issuer")
PROBLEM_JSON = "application/problem+json"
Handler = Callable[[Request], Awaitable[Response]]


def _protocol_type(kind: IssuedType, url: str) -> CredentialType:
    return CredentialType(
        configuration_id=kind.configuration_id,
        vct=kind.vct(url),
        display=(
            CredentialDisplay(locale="ja", name=kind.name_ja),
            CredentialDisplay(locale="en", name=kind.name_en),
        ),
        name=kind.name_en,
    )


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise MalformedInput(f"the request body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise MalformedInput(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedInput(f"{what} must be a base64 string")
    try:
        return base64.b64decode(
            value + "=" * (-len(value) % 4),
            altchars=b"-_" if "-" in value or "_" in value else None,
            validate=True,
        )
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput(f"{what} is not base64") from exc


def _field(
    data: dict[str, Any], name: str, kind: type, default: Any = None, *, required: bool = False
) -> Any:
    """A member of an admin request body, of the type the API documents."""
    if name not in data:
        if required:
            raise MalformedInput(f"{name!r} is required")
        return default
    value = data[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedInput(f"{name!r} must be a {kind.__name__}")
    return value


def _offer_json(out: OfferOut, reference_url: str) -> dict[str, Any]:
    return {
        "offer_id": out.offer_id,
        "credential_offer": out.offer,
        "offer_url": out.url,
        "offer_url_by_reference": offer_url_by_reference(reference_url),
        "tx_code": out.tx_code,
        "record_id": out.record_id,
    }


def create_app(issuer: Issuer) -> Starlette:
    """The ASGI app serving ``issuer``."""
    url = issuer.url
    limit = issuer.config.max_body_bytes
    types = [_protocol_type(KYC, url), _protocol_type(LICENCE, url)]
    offers_by_reference: dict[str, tuple[dict[str, Any], float]] = {}

    def oauth(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except OAuthError as error:
                return JSONResponse(error.response(), status_code=error.status, headers=error.headers())
            except RemoteError:
                log.exception("the ledger failed during %s", request.url.path)
                return JSONResponse({"error": "server_error"}, status_code=500, headers=NO_STORE)
            except AkashiError as error:
                code = INVALID_CREDENTIAL_REQUEST if request.url.path == "/credential" else INVALID_REQUEST
                wrapped = OAuthError(code, error.message)
                return JSONResponse(wrapped.response(), status_code=wrapped.status, headers=wrapped.headers())
            except Exception:  # process boundary
                log.exception("unexpected failure on %s", request.url.path)
                return JSONResponse({"error": "server_error"}, status_code=500, headers=NO_STORE)

        return endpoint

    def admin(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                issuer.check_admin(request.headers.get("authorization"))
                return await handler(request)
            except AkashiError as error:
                document = problem_document(error, instance=request.url.path)
                return JSONResponse(
                    document, status_code=int(str(document["status"])), media_type=PROBLEM_JSON
                )
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

    def holder(handler: Handler) -> Handler:
        """Public and answered with problems; an unexpected failure is a 500 problem too."""

        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except AkashiError as error:
                if isinstance(error, RemoteError):
                    log.warning("the ledger failed during %s: %s", request.url.path, error.message)
                document = problem_document(error, instance=request.url.path)
                return JSONResponse(
                    document,
                    status_code=int(str(document["status"])),
                    media_type=PROBLEM_JSON,
                    headers=NO_STORE,
                )
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
                    headers=NO_STORE,
                )

        return endpoint

    def plain(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except AkashiError as error:
                document = problem_document(error, instance=request.url.path)
                return JSONResponse(
                    document, status_code=int(str(document["status"])), media_type=PROBLEM_JSON
                )

        return endpoint

    # ---------------------------------------------------------------- metadata

    async def issuer_metadata(request: Request) -> Response:
        return JSONResponse(build_credential_issuer_metadata(url, types, batch_size=issuer.config.batch_size))

    async def as_metadata(request: Request) -> Response:
        return JSONResponse(build_authorization_server_metadata(url))

    async def jwt_vc_issuer(request: Request) -> Response:
        keys = {issuer.identity.kid: issuer.identity.signing_key.public_key}
        return JSONResponse(build_jwt_vc_issuer_metadata(url, keys))

    async def type_metadata(request: Request) -> Response:
        name = request.path_params["name"]
        for kind in types:
            if kind.vct == f"{url}/vct/{name}":
                return JSONResponse(build_type_metadata(kind))
        raise NotFound(f"no credential type {name}")

    async def offer_by_reference(request: Request) -> Response:
        found = offers_by_reference.get(request.path_params["offer_id"])
        if found is None or found[1] < issuer.clock():
            raise NotFound("no such offer")
        return JSONResponse(found[0], headers=NO_STORE)

    # ---------------------------------------------------------------- OpenID4VCI

    async def token(request: Request) -> Response:
        if (
            request.headers.get("content-type", "").split(";")[0].strip()
            != "application/x-www-form-urlencoded"
        ):
            raise OAuthError(INVALID_REQUEST, "the token request must be application/x-www-form-urlencoded")
        body = await _body(request, limit)
        return JSONResponse(await run_in_threadpool(issuer.token, body), headers=NO_STORE)

    async def nonce(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(issuer.nonce), headers=NO_STORE)

    async def credential(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise OAuthError(INVALID_CREDENTIAL_REQUEST, "the credential request must be application/json")
        body = await _body(request, limit)
        answer = await run_in_threadpool(issuer.credential, request.headers.get("authorization"), body)
        return JSONResponse(answer, headers=NO_STORE)

    async def status_list(request: Request) -> Response:
        token_text = await run_in_threadpool(issuer.status_token, request.path_params["list_id"])
        return Response(
            token_text, media_type="application/statuslist+jwt", headers={"Cache-Control": "max-age=60"}
        )

    async def holder_revocation(request: Request) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/jwt":
            raise MalformedInput("a holder revocation request is application/jwt: a compact JWS")
        body = await _body(request, limit)
        answer = await run_in_threadpool(issuer.revoke_by_holder, body)
        return JSONResponse(answer, headers=NO_STORE)

    # ---------------------------------------------------------------- admin

    async def new_challenge(request: Request) -> Response:
        challenge = await run_in_threadpool(issuer.challenge)
        return JSONResponse(
            {
                "id": challenge.id,
                "challenge": base64.urlsafe_b64encode(challenge.value).decode(),
                "expires_at": challenge.expires_at.isoformat(),
            }
        )

    def _publish(out: OfferOut) -> dict[str, Any]:
        now = issuer.clock()
        for stale in [key for key, (_, until) in offers_by_reference.items() if until < now]:
            del offers_by_reference[stale]
        offers_by_reference[out.offer_id] = (out.offer, now + issuer.config.offer_ttl)
        return _offer_json(out, f"{url}/offers/{out.offer_id}")

    async def check_jpki(request: Request) -> Response:
        data = loads_object(await _body(request, limit), what="JPKI check")
        challenge_id = _field(data, "challenge_id", str, required=True)
        certificate = _b64(_field(data, "certificate", str, required=True), "certificate")
        intermediates = [_b64(c, "intermediate") for c in _field(data, "intermediates", list, [])]
        signature = _b64(_field(data, "signature", str, required=True), "signature")
        operator = _field(data, "operator", str, "admin")
        tx_code = _field(data, "tx_code", bool, False)
        out = await run_in_threadpool(
            lambda: issuer.check_jpki(
                challenge_id, certificate, intermediates, signature, operator=operator, tx_code=tx_code
            )
        )
        return JSONResponse(_publish(out), status_code=201)

    async def check_licence(request: Request) -> Response:
        data = loads_object(await _body(request, limit), what="licence check")
        licence = _b64(_field(data, "data", str, required=True), "data")
        signature = _b64(_field(data, "signature", str, required=True), "signature")
        authority = _field(data, "authority_certificate", str)
        authority_der = _b64(authority, "authority_certificate") if authority else None
        operator = _field(data, "operator", str, "admin")
        face_compared = _field(data, "face_compared", bool, False)
        tx_code = _field(data, "tx_code", bool, False)
        out = await run_in_threadpool(
            lambda: issuer.check_licence(
                licence,
                signature,
                authority_der,
                operator=operator,
                face_compared=face_compared,
                tx_code=tx_code,
            )
        )
        return JSONResponse(_publish(out), status_code=201)

    async def change_status(request: Request) -> Response:
        action = request.path_params["action"]
        if action not in {"revoke", "suspend", "reinstate"}:
            raise NotFound(f"no action {action}")
        answer = await run_in_threadpool(issuer.change_status, request.path_params["credential_id"], action)
        return JSONResponse(answer)

    async def list_credentials(request: Request) -> Response:
        issued = await run_in_threadpool(issuer.status.credentials)
        return JSONResponse(
            {
                "credentials": [
                    {
                        "credential_id": c.credential_id,
                        "vct": c.vct,
                        "status": c.status_name,
                        "issued_at": c.issued_at,
                        "expires_at": c.expires_at,
                    }
                    for c in issued
                ]
            }
        )

    async def purge(request: Request) -> Response:
        records = await run_in_threadpool(issuer.records.purge)
        offers = await run_in_threadpool(issuer.store.purge, int(issuer.clock()))
        return JSONResponse({"records_purged": records, "offers_purged": offers})

    routes = [
        Route(WELL_KNOWN_CREDENTIAL_ISSUER, plain(issuer_metadata), methods=["GET"]),
        Route(WELL_KNOWN_OAUTH_AUTHORIZATION_SERVER, plain(as_metadata), methods=["GET"]),
        Route(WELL_KNOWN_JWT_VC_ISSUER, plain(jwt_vc_issuer), methods=["GET"]),
        Route("/vct/{name}", plain(type_metadata), methods=["GET"]),
        Route("/offers/{offer_id}", plain(offer_by_reference), methods=["GET"]),
        Route("/token", oauth(token), methods=["POST"]),
        Route("/nonce", oauth(nonce), methods=["POST"]),
        Route("/credential", oauth(credential), methods=["POST"]),
        Route("/status/{list_id}", plain(status_list), methods=["GET"]),
        Route("/credentials/revoke", holder(holder_revocation), methods=["POST"]),
        Route("/admin/challenges", admin(new_challenge), methods=["POST"]),
        Route("/admin/checks/jpki", admin(check_jpki), methods=["POST"]),
        Route("/admin/checks/licence", admin(check_licence), methods=["POST"]),
        Route("/admin/credentials", admin(list_credentials), methods=["GET"]),
        Route("/admin/credentials/{credential_id}/{action}", admin(change_status), methods=["POST"]),
        Route("/admin/purge", admin(purge), methods=["POST"]),
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

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})
