"""Token Endpoint and Nonce Endpoint messages (OpenID4VCI 1.0 sections 6 and 7).

The Token Request of the Pre-Authorized Code Flow is a form body (RFC 6749
section 4.1.3 with the OpenID4VCI 6.1 extension parameters).
:func:`parse_token_request` checks, in order, failing with the error code
RFC 6749 section 5.2 and OpenID4VCI 6.3 name:

1. The body is at most ``max_length`` bytes of ASCII ``application/x-www-form-urlencoded``
   with no parameter repeated (:mod:`.urls`) — else ``invalid_request``.
2. ``grant_type`` is present — else ``invalid_request`` — and is
   ``urn:ietf:params:oauth:grant-type:pre-authorized_code`` — else ``unsupported_grant_type``.
3. ``pre-authorized_code`` is present — else ``invalid_request``.
4. Without ``client_id``, anonymous access must be allowed — else ``invalid_client``.
5. ``authorization_details``, if sent, is a JSON array of RFC 9396 objects of
   type ``openid_credential`` naming a ``credential_configuration_id`` — else
   ``invalid_request`` (not JSON) or ``invalid_authorization_details``.
   Unknown parameters are ignored.

:func:`check_tx_code` then compares the Transaction Code with the one the
issuer expects (6.3: missing or unexpected → ``invalid_request``; wrong →
``invalid_grant``), in constant time.

The Token Response (6.2) carries ``access_token``, ``token_type`` ``Bearer``
and ``expires_in``; the final specification has no ``c_nonce`` there: a fresh
``c_nonce`` comes only from the Nonce Endpoint (section 7), answered by
:func:`build_nonce_response`. :func:`issue_c_nonce` and
:func:`c_nonce_is_fresh` implement the stateless nonces section 13.8 suggests
("nonce values containing the time at the server").
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.strict_json import loads, loads_object
from identity.errors import MalformedInput
from identity.protocols.oid4vci.errors import (
    INVALID_AUTHORIZATION_DETAILS,
    INVALID_CLIENT,
    INVALID_GRANT,
    INVALID_REQUEST,
    INVALID_TOKEN,
    UNSUPPORTED_GRANT_TYPE,
    OAuthError,
)
from identity.protocols.oid4vci.metadata import PRE_AUTHORIZED_CODE_GRANT
from identity.protocols.oid4vci.urls import form_encode, parse_query
from identity.schemas import validate

__all__ = [
    "AUTHORIZATION_DETAILS_TYPE",
    "TokenRequest",
    "TokenResponse",
    "bearer_token",
    "build_nonce_response",
    "build_token_request",
    "build_token_response",
    "c_nonce_is_fresh",
    "check_tx_code",
    "issue_c_nonce",
    "new_secret",
    "parse_nonce_response",
    "parse_token_request",
    "parse_token_response",
]

AUTHORIZATION_DETAILS_TYPE = "openid_credential"
_MAX_FORM = 16 * 1024
_MAX_JSON = 64 * 1024
# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass(frozen=True)
class TokenRequest:
    """A checked Pre-Authorized Code Token Request.

    ``authorization_details`` lists the requested ``credential_configuration_id``
    values when the wallet sent RFC 9396 authorization details, else ``None``.
    """

    pre_authorized_code: str
    tx_code: str | None
    client_id: str | None
    authorization_details: tuple[str, ...] | None


@dataclass(frozen=True)
class TokenResponse:
    """A Token Response as the wallet reads it."""

    access_token: str
    token_type: str
    expires_in: int | None
    authorization_details: tuple[dict[str, Any], ...] | None


def new_secret(random: Callable[[int], bytes] = os.urandom, nbytes: int = 32) -> str:
    """An unguessable token (pre-authorized code, access token, nonce): base64url of ``nbytes``."""
    return b64url_encode(random(nbytes))


def _authorization_details(text: str) -> tuple[str, ...]:
    try:
        value = loads(text, what="authorization_details")
    except MalformedInput as exc:
        raise OAuthError(INVALID_REQUEST, "authorization_details is not JSON") from exc
    if not isinstance(value, list) or not value:
        raise OAuthError(INVALID_AUTHORIZATION_DETAILS, "authorization_details must be a non-empty array")
    ids = []
    for item in value:
        if not isinstance(item, dict) or item.get("type") != AUTHORIZATION_DETAILS_TYPE:
            raise OAuthError(INVALID_AUTHORIZATION_DETAILS, "only type openid_credential is supported")
        config_id = item.get("credential_configuration_id")
        if not isinstance(config_id, str) or not config_id:
            raise OAuthError(INVALID_AUTHORIZATION_DETAILS, "credential_configuration_id is missing")
        ids.append(config_id)
    return tuple(ids)


def parse_token_request(
    body: bytes | str, *, anonymous_access: bool = True, max_length: int = _MAX_FORM
) -> TokenRequest:
    """Issuer side: rules 1-5 on a Token Request body; raise :class:`OAuthError`."""
    if len(body) > max_length:  # rule 1
        raise OAuthError(INVALID_REQUEST, f"token request is longer than {max_length} bytes")
    try:
        text = body.decode("ascii") if isinstance(body, bytes) else body
        params = parse_query(text, what="token request")
    except (UnicodeDecodeError, MalformedInput) as exc:
        raise OAuthError(INVALID_REQUEST, "token request is not a valid form body") from exc
    grant_type = params.get("grant_type")
    if grant_type is None:  # rule 2
        raise OAuthError(INVALID_REQUEST, "grant_type is missing")
    if grant_type != PRE_AUTHORIZED_CODE_GRANT:
        raise OAuthError(UNSUPPORTED_GRANT_TYPE, "only the pre-authorized_code grant is supported")
    code = params.get("pre-authorized_code")
    if code is None:  # rule 3
        raise OAuthError(INVALID_REQUEST, "pre-authorized_code is missing")
    client_id = params.get("client_id")
    if client_id is None and not anonymous_access:  # rule 4
        raise OAuthError(INVALID_CLIENT, "anonymous access is not supported; authenticate the client")
    details = params.get("authorization_details")  # rule 5
    return TokenRequest(
        pre_authorized_code=code,
        tx_code=params.get("tx_code"),
        client_id=client_id,
        authorization_details=None if details is None else _authorization_details(details),
    )


def check_tx_code(request: TokenRequest, expected: str | None) -> None:
    """Issuer side: the Transaction Code against the one set up with the offer (``None``: none).

    OpenID4VCI 6.3: a code sent when none was expected, or missing when one was,
    is ``invalid_request``; a wrong code is ``invalid_grant``.
    """
    if expected is None:
        if request.tx_code is not None:
            raise OAuthError(INVALID_REQUEST, "tx_code was sent but this offer has none")
        return
    if request.tx_code is None:
        raise OAuthError(INVALID_REQUEST, "tx_code is required for this offer")
    if not hmac.compare_digest(request.tx_code.encode("utf-8"), expected.encode("utf-8")):
        raise OAuthError(INVALID_GRANT, "the pre-authorized code or tx_code is not valid")


def build_token_request(
    pre_authorized_code: str, *, tx_code: str | None = None, client_id: str | None = None
) -> str:
    """Wallet side: the form body of a Pre-Authorized Code Token Request (section 6.1)."""
    params = [("grant_type", PRE_AUTHORIZED_CODE_GRANT), ("pre-authorized_code", pre_authorized_code)]
    if tx_code is not None:
        params.append(("tx_code", tx_code))
    if client_id is not None:
        params.append(("client_id", client_id))
    validate(dict(params), "oid4vci-token-request")
    return form_encode(params)


def build_token_response(
    access_token: str,
    expires_in: int,
    *,
    authorization_details: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Issuer side: a successful Token Response (RFC 6749 5.1, OpenID4VCI 6.2).

    ``authorization_details`` maps each granted ``credential_configuration_id``
    to its ``credential_identifiers``; it is REQUIRED when the wallet sent
    authorization details. Serve it with :data:`.errors.NO_STORE`.
    """
    response: dict[str, Any] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
    }
    if authorization_details is not None:
        response["authorization_details"] = [
            {
                "type": AUTHORIZATION_DETAILS_TYPE,
                "credential_configuration_id": config_id,
                "credential_identifiers": list(identifiers),
            }
            for config_id, identifiers in authorization_details.items()
        ]
    validate(response, "oid4vci-token-response")
    return response


def parse_token_response(body: bytes | str, *, max_length: int = _MAX_JSON) -> TokenResponse:
    """Wallet side: a Token Response; ``token_type`` must be Bearer (case-insensitive, RFC 6749 7.1)."""
    if len(body) > max_length:
        raise MalformedInput(f"token response is longer than {max_length} bytes")
    obj = loads_object(body, what="token response")
    validate(obj, "oid4vci-token-response")
    if obj["token_type"].lower() != "bearer":
        raise MalformedInput(f"token_type {obj['token_type']!r} is not supported (only Bearer)")
    details = obj.get("authorization_details")
    return TokenResponse(
        access_token=obj["access_token"],
        token_type=obj["token_type"],
        expires_in=obj.get("expires_in"),
        authorization_details=None if details is None else tuple(details),
    )


def bearer_token(authorization: str | None) -> str:
    """Issuer side: the access token of an ``Authorization: Bearer`` header (RFC 6750 2.1).

    A missing header, another scheme or a malformed token is ``invalid_token``
    (401, with a ``WWW-Authenticate: Bearer`` challenge from :meth:`OAuthError.headers`).
    """
    if not authorization:
        raise OAuthError(INVALID_TOKEN, "an access token is required")
    scheme, _, token = authorization.partition(" ")
    token = token.lstrip(" ")
    if scheme.lower() != "bearer" or _B64TOKEN.fullmatch(token) is None:
        raise OAuthError(INVALID_TOKEN, "the Authorization header must be 'Bearer <access token>'")
    return token


def build_nonce_response(c_nonce: str) -> dict[str, str]:
    """Issuer side: the Nonce Response (section 7.2); serve it with :data:`.errors.NO_STORE`."""
    response = {"c_nonce": c_nonce}
    validate(response, "oid4vci-nonce-response")
    return response


def parse_nonce_response(body: bytes | str, *, max_length: int = 4096) -> str:
    """Wallet side: the ``c_nonce`` of a Nonce Response."""
    if len(body) > max_length:
        raise MalformedInput(f"nonce response is longer than {max_length} bytes")
    obj = loads_object(body, what="nonce response")
    validate(obj, "oid4vci-nonce-response")
    c_nonce: str = obj["c_nonce"]
    return c_nonce


_NONCE_TAG = 16


def _nonce_tag(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, b"akashi oid4vci c_nonce\x00" + body, hashlib.sha256).digest()[:_NONCE_TAG]


def issue_c_nonce(key: bytes, now: int, random: Callable[[int], bytes] = os.urandom) -> str:
    """A stateless ``c_nonce``: the server time and 16 random bytes, MACed with ``key``.

    Unpredictable (section 7.2) and checkable without storage by :func:`c_nonce_is_fresh`.
    """
    if len(key) < 32:
        raise ValueError("the c_nonce key must be at least 32 bytes")
    body = int(now).to_bytes(8, "big") + random(16)
    return b64url_encode(body + _nonce_tag(key, body))


def c_nonce_is_fresh(nonce: str, key: bytes, now: int | float, *, max_age: int = 300) -> bool:
    """Whether ``nonce`` came from :func:`issue_c_nonce` with ``key`` at most ``max_age`` s ago.

    A predicate by design: :func:`.proof.verify_proofs` takes it to decide
    ``invalid_nonce``.
    """
    try:
        raw = b64url_decode(nonce, what="c_nonce")
    except MalformedInput:
        return False
    if len(raw) != 8 + 16 + _NONCE_TAG:
        return False
    body, tag = raw[:-_NONCE_TAG], raw[-_NONCE_TAG:]
    if not hmac.compare_digest(tag, _nonce_tag(key, body)):
        return False
    issued = int.from_bytes(body[:8], "big")
    return issued <= now + 1 and now - issued <= max_age
