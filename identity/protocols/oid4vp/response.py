"""Authorization Responses in Response Mode ``direct_post`` (OpenID4VP 1.0 sections 8.1, 8.2, 8.5).

The wallet POSTs an ``application/x-www-form-urlencoded`` body to the
``response_uri``: ``vp_token`` (a JSON object: Credential Query ``id`` ->
array of presentations) and ``state``, or an error (``error``,
``error_description``, ``state``). The Response URI answers 200 with a JSON
object, optionally holding a ``redirect_uri`` for the wallet to open.

akashi extension — ``akashi_consent``: beside the standard parameters, an
akashi wallet adds the holder's signed consent receipt (a compact JWS,
``typ`` ``consent+jwt``, :mod:`identity.credentials.consent`) for the
disclosure. Plain wallets omit it, and plain verifiers ignore it as the
specification requires of unknown response parameters (section 8.1). Here it
is only read (its shape checked); the verifier verifies it with
:func:`identity.credentials.consent.verify_consent_receipt`.

:func:`parse_direct_post` (verifier side) checks, in order; any failure is
``invalid_request`` (status 400), the akashi error chained as ``__cause__``:

1. The body is at most ``policy.max_body`` bytes of ASCII form data, parsed
   strictly (no repeated parameter, no invalid escape).
2. With ``error``: an Authorization Error Response — ``error`` and
   ``error_description`` use only the characters RFC 6749 section 4.1.2.1
   allows; it is returned as a typed :class:`AuthorizationError` refusal.
3. Otherwise ``vp_token`` is present and a JSON object without repeated
   names, of at most ``policy.max_credentials`` entries, each a Credential
   Query ``id`` (section 6.1: letters, digits, ``_``, ``-``) mapped to a
   non-empty array of at most ``policy.max_presentations`` non-empty strings
   (akashi's profile: SD-JWT VC presentations are strings, Appendix B.3.6).
4. ``state`` is present (akashi's verifier always sends one) and URL-safe
   (section 5.2).
5. ``akashi_consent``, when present, is a compact JWS with ``alg`` ``EdDSA``
   and ``typ`` ``consent+jwt``.
6. The whole satisfies ``specs/oid4vp-authorization-response.schema.json``
   (or ``oid4vp-authorization-error.schema.json``). Unknown parameters are
   ignored (section 8.1).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from identity.credentials.consent import CONSENT_TYP
from identity.crypto.strict_json import loads_object
from identity.errors import MalformedInput, UnsupportedAlgorithm
from identity.jose.jws import check_header, parse_compact_unverified
from identity.protocols.oid4vci.errors import INVALID_REQUEST, OAuthError
from identity.protocols.oid4vci.urls import check_https_url, form_encode, parse_query
from identity.schemas import validate

__all__ = [
    "CONSENT_PARAMETER",
    "DEFAULT_RESPONSE_POLICY",
    "AuthorizationError",
    "AuthorizationResponse",
    "ResponsePolicy",
    "build_authorization_response",
    "build_error_response",
    "build_response_uri_answer",
    "parse_direct_post",
    "parse_response_uri_answer",
]

#: The form parameter of akashi's consent receipt extension.
CONSENT_PARAMETER = "akashi_consent"


@dataclass(frozen=True, slots=True)
class ResponsePolicy:
    """Limits the Response URI applies before any other work (rule 1, 3)."""

    max_body: int = 512 * 1024
    max_credentials: int = 16
    max_presentations: int = 8


DEFAULT_RESPONSE_POLICY = ResponsePolicy()


@dataclass(frozen=True)
class AuthorizationResponse:
    """A parsed successful response: presentations by Credential Query ``id``, ``state``, consent JWS."""

    vp_token: Mapping[str, tuple[str, ...]]
    state: str
    akashi_consent: str | None
    raw: Mapping[str, str]


@dataclass(frozen=True)
class AuthorizationError:
    """A wallet's refusal (section 8.5), e.g. ``access_denied``: not a malformed message."""

    error: str
    description: str | None
    state: str | None


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def build_authorization_response(
    vp_token: Mapping[str, Sequence[str]], state: str, *, akashi_consent: str | None = None
) -> str:
    """Wallet side: the form body to POST to ``response_uri``."""
    token = {query_id: list(presentations) for query_id, presentations in vp_token.items()}
    obj: dict[str, Any] = {"vp_token": token, "state": state}
    if akashi_consent is not None:
        obj[CONSENT_PARAMETER] = akashi_consent
    validate(obj, "oid4vp-authorization-response")
    params = [("vp_token", _json(token)), ("state", state)]
    if akashi_consent is not None:
        params.append((CONSENT_PARAMETER, akashi_consent))
    return form_encode(params)


def build_error_response(error: str, *, state: str | None, description: str | None = None) -> str:
    """Wallet side: the form body of an Authorization Error Response (section 8.2)."""
    obj: dict[str, Any] = {"error": error}
    if description:
        obj["error_description"] = OAuthError(error, description).description
    if state is not None:
        obj["state"] = state
    validate(obj, "oid4vp-authorization-error")
    return form_encode(list(obj.items()))


def _consent(token: str) -> str:
    jws = parse_compact_unverified(token, what=CONSENT_PARAMETER)  # rule 5
    check_header(jws.header, typ=CONSENT_TYP, what=CONSENT_PARAMETER)
    return token


def _vp_token(text: str, policy: ResponsePolicy) -> dict[str, tuple[str, ...]]:
    obj = loads_object(text, what="vp_token")  # rule 3
    if len(obj) > policy.max_credentials:
        raise MalformedInput(f"vp_token has more than {policy.max_credentials} entries")
    out: dict[str, tuple[str, ...]] = {}
    for query_id, presentations in obj.items():
        if not isinstance(presentations, list) or len(presentations) > policy.max_presentations:
            raise MalformedInput(
                f"vp_token entry {query_id!r} must be an array of at most "
                f"{policy.max_presentations} presentations"
            )
        out[query_id] = tuple(presentations)
    return out


def _parse(body: bytes | str, policy: ResponsePolicy) -> AuthorizationResponse | AuthorizationError:
    if len(body) > policy.max_body:  # rule 1
        raise MalformedInput(f"response body is longer than {policy.max_body} bytes")
    try:
        text = body.decode("ascii") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise MalformedInput("response body must be ASCII form data") from exc
    params = parse_query(text, what="response body")
    if "error" in params:  # rule 2
        obj = {k: params[k] for k in ("error", "error_description", "state") if k in params}
        validate(obj, "oid4vp-authorization-error")
        return AuthorizationError(obj["error"], obj.get("error_description"), obj.get("state"))
    if "vp_token" not in params:
        raise MalformedInput("response has neither vp_token nor error")
    if "state" not in params:  # rule 4
        raise MalformedInput("response has no state")
    vp_token = _vp_token(params["vp_token"], policy)
    consent = params.get(CONSENT_PARAMETER)
    response: dict[str, Any] = {
        "vp_token": {k: list(v) for k, v in vp_token.items()},
        "state": params["state"],
    }
    if consent is not None:
        response[CONSENT_PARAMETER] = _consent(consent)
    validate(response, "oid4vp-authorization-response")  # rules 3, 4, 6
    return AuthorizationResponse(vp_token, params["state"], consent, params)


def parse_direct_post(
    body: bytes | str, *, policy: ResponsePolicy = DEFAULT_RESPONSE_POLICY
) -> AuthorizationResponse | AuthorizationError:
    """Verifier side: rules 1-6 on the body POSTed to ``response_uri``; bad input is ``invalid_request``."""
    try:
        return _parse(body, policy)
    except (MalformedInput, UnsupportedAlgorithm) as exc:
        raise OAuthError(INVALID_REQUEST, exc.message) from exc


def _check_redirect(uri: object) -> str:
    # Section 8.2: an absolute URI with a fresh secret, which may be a fragment;
    # akashi's wallet opens https only (plain http on loopback).
    if not isinstance(uri, str):
        raise MalformedInput("redirect_uri must be a string")
    base, _, fragment = uri.partition("#")
    check_https_url(base, what="redirect_uri")
    parse_query(fragment, what="redirect_uri fragment")  # same character set as a query
    return uri


def build_response_uri_answer(redirect_uri: str | None = None) -> dict[str, Any]:
    """Verifier side: the JSON object the Response URI answers with (200, ``no-store``)."""
    answer: dict[str, Any] = {}
    if redirect_uri is not None:
        answer["redirect_uri"] = _check_redirect(redirect_uri)
    validate(answer, "oid4vp-response-uri-answer")
    return answer


def parse_response_uri_answer(body: bytes | str, *, max_length: int = 16 * 1024) -> str | None:
    """Wallet side: the ``redirect_uri`` to open, or ``None``; unknown members are ignored."""
    if len(body) > max_length:
        raise MalformedInput(f"response URI answer is longer than {max_length} bytes")
    obj = loads_object(body, what="response URI answer")
    validate(obj, "oid4vp-response-uri-answer")
    redirect = obj.get("redirect_uri")
    return None if redirect is None else _check_redirect(redirect)
