"""Invoking the wallet with a Request Object by reference (OpenID4VP 1.0 sections 5 and 9; RFC 9101 5.2).

The verifier shows a link or QR code
``openid4vp://?client_id=<client id>&request_uri=<https URL>[&request_uri_method=post]``;
the wallet fetches the signed Request Object from ``request_uri`` and checks
it with :func:`identity.protocols.oid4vp.request.verify_request_object`.

:func:`parse_request_url` checks, in order (nothing in the URL is trusted:
the wallet uses only what the signed Request Object says, section 5.10.1):

1. The URL is a string of at most ``max_length`` characters that starts with
   one of the wallet's Authorization Endpoints (``openid4vp://`` by default)
   followed by ``?``; it has no fragment.
2. The query parses strictly (:mod:`identity.protocols.oid4vci.urls`: no
   repeated parameter, no invalid escape).
3. ``client_id`` and ``request_uri`` are present; a ``request`` (by value)
   is refused: akashi's profile passes requests by reference only.
4. ``client_id`` has the ``decentralized_identifier`` prefix and a valid DID
   — else ``invalid_request`` (section 8.5).
5. ``request_uri`` is an https URL (plain http only on loopback).
6. ``request_uri_method`` is absent (meaning ``get``), ``get`` or ``post``
   — else ``invalid_request_uri_method`` (section 8.5).
Other parameters are ignored (section 5).

For ``request_uri_method=post`` (section 5.10) the wallet posts
:func:`build_request_uri_post` and the verifier reads it with
:func:`parse_request_uri_post`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

from identity.crypto.strict_json import loads_object
from identity.errors import MalformedInput
from identity.protocols.oid4vci.errors import INVALID_REQUEST, OAuthError
from identity.protocols.oid4vci.urls import check_https_url, form_encode, parse_query
from identity.protocols.oid4vp.errors import INVALID_REQUEST_URI_METHOD
from identity.protocols.oid4vp.request import did_from_client_id

__all__ = [
    "OPENID4VP_SCHEME",
    "REQUEST_OBJECT_MEDIA_TYPE",
    "RequestReference",
    "RequestUriPost",
    "build_request_uri_post",
    "parse_request_uri_post",
    "parse_request_url",
    "request_url_by_reference",
]

#: The custom scheme of a wallet known only by static configuration (section 12.1.2).
OPENID4VP_SCHEME = "openid4vp://"
#: The media type of a Request Object served at request_uri (RFC 9101 section 10.2).
REQUEST_OBJECT_MEDIA_TYPE = "application/oauth-authz-req+jwt"

_MAX_URL = 4 * 1024
_MAX_POST = 16 * 1024


class RequestReference(NamedTuple):
    """What a request URL carries: who asks, where the Request Object is, and how to fetch it."""

    client_id: str
    request_uri: str
    request_uri_method: Literal["get", "post"]


class RequestUriPost(NamedTuple):
    """The body a wallet posts to ``request_uri`` (section 5.10)."""

    wallet_nonce: str | None
    wallet_metadata: Mapping[str, Any] | None


def request_url_by_reference(
    client_id: str,
    request_uri: str,
    *,
    endpoint: str = OPENID4VP_SCHEME,
    request_uri_method: Literal["get", "post"] | None = None,
) -> str:
    """Verifier side: ``<endpoint>?client_id=…&request_uri=…`` (RFC 9101 section 5.2).

    The URL goes in a link or a QR code."""
    did_from_client_id(client_id)
    check_https_url(request_uri, what="request_uri")
    params = [("client_id", client_id), ("request_uri", request_uri)]
    if request_uri_method is not None:
        if request_uri_method not in ("get", "post"):
            raise ValueError("request_uri_method is 'get' or 'post'")
        params.append(("request_uri_method", request_uri_method))
    return f"{endpoint}?{form_encode(params)}"


def parse_request_url(
    url: str,
    *,
    endpoints: Sequence[str] = (OPENID4VP_SCHEME,),
    max_length: int = _MAX_URL,
) -> RequestReference:
    """Wallet side: rules 1-6 on a request URL (from a QR code or link)."""
    if not isinstance(url, str):
        raise MalformedInput("a request URL must be a string")
    if len(url) > max_length:  # rule 1
        raise MalformedInput(f"request URL is longer than {max_length} characters")
    base, question, query = url.partition("?")
    if not question or base not in {e.rstrip("?") for e in endpoints}:
        raise MalformedInput("not an OpenID4VP request URL for this wallet")
    if "#" in query:
        raise MalformedInput("request URL must not have a fragment")
    params = parse_query(query, what="request URL")  # rule 2
    if "request" in params:  # rule 3
        raise MalformedInput("requests by value are not supported: use request_uri")
    if "client_id" not in params or "request_uri" not in params:
        raise MalformedInput("request URL needs client_id and request_uri")
    did_from_client_id(params["client_id"])  # rule 4
    request_uri = check_https_url(params["request_uri"], what="request_uri")  # rule 5
    method = params.get("request_uri_method", "get")  # rule 6
    if method == "get":
        return RequestReference(params["client_id"], request_uri, "get")
    if method == "post":
        return RequestReference(params["client_id"], request_uri, "post")
    raise OAuthError(INVALID_REQUEST_URI_METHOD, "request_uri_method must be get or post")


def build_request_uri_post(
    wallet_nonce: str | None = None, wallet_metadata: Mapping[str, Any] | None = None
) -> str:
    """Wallet side: the form body of a POST to ``request_uri`` (section 5.10)."""
    params: list[tuple[str, str]] = []
    if wallet_metadata is not None:
        text = json.dumps(dict(wallet_metadata), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        params.append(("wallet_metadata", text))
    if wallet_nonce is not None:
        params.append(("wallet_nonce", wallet_nonce))
    return form_encode(params)


def parse_request_uri_post(body: bytes | str, *, max_length: int = _MAX_POST) -> RequestUriPost:
    """Verifier side: read a POST to ``request_uri``; a bad body is ``invalid_request``."""
    try:
        if len(body) > max_length:
            raise MalformedInput(f"request body is longer than {max_length} bytes")
        text = body.decode("ascii") if isinstance(body, bytes) else body
        params = parse_query(text, what="request_uri POST body")
        metadata = params.get("wallet_metadata")
        parsed = None if metadata is None else loads_object(metadata, what="wallet_metadata")
    except UnicodeDecodeError as exc:
        raise OAuthError(INVALID_REQUEST, "request body must be ASCII form data") from exc
    except MalformedInput as exc:
        raise OAuthError(INVALID_REQUEST, exc.message) from exc
    return RequestUriPost(params.get("wallet_nonce"), parsed)
