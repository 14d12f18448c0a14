"""Credential Endpoint messages (OpenID4VCI 1.0 section 8).

:func:`parse_credential_request` checks a Credential Request body, in order,
failing with the error codes of section 8.3.1.2:

1. At most ``max_length`` bytes of JSON, an object, no repeated names (a
   repeated parameter is named as ``invalid_credential_request``).
2. Exactly one of ``credential_configuration_id`` and ``credential_identifier``,
   a non-empty string — else ``invalid_credential_request``.
3. The identifier is one the issuer knows (when the caller gives the known
   ones) — else ``unknown_credential_configuration`` /
   ``unknown_credential_identifier``.
4. No ``credential_response_encryption``: akashi announces no encryption, so it
   cannot honour the request — ``invalid_encryption_parameters``.
5. ``proofs`` is present (every akashi configuration has ``proof_types_supported``,
   so it MUST be) — else ``invalid_proof``; it is an object with exactly one
   member, ``jwt`` (the only proof type akashi supports), whose value is a
   non-empty array of at most ``batch_size`` strings — else ``invalid_proof``.
   Unknown parameters are ignored.

The proofs themselves are verified by :func:`.proof.verify_proofs`.

The Credential Response (section 8.3) is ``{"credentials": [{"credential":
<SD-JWT VC>}, …]}`` with an optional ``notification_id``; a deferred answer
(``transaction_id``, ``interval``) is read by the wallet but never built here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from identity.crypto.strict_json import loads_object
from identity.errors import MalformedInput
from identity.protocols.oid4vci.errors import (
    INVALID_CREDENTIAL_REQUEST,
    INVALID_ENCRYPTION_PARAMETERS,
    INVALID_PROOF,
    UNKNOWN_CREDENTIAL_CONFIGURATION,
    UNKNOWN_CREDENTIAL_IDENTIFIER,
    OAuthError,
)
from identity.protocols.oid4vci.metadata import PROOF_TYPE_JWT
from identity.schemas import validate

__all__ = [
    "CredentialRequest",
    "CredentialResponse",
    "build_credential_request",
    "build_credential_response",
    "parse_credential_request",
    "parse_credential_response",
]

_MAX_REQUEST = 64 * 1024
_MAX_RESPONSE = 4 * 1024 * 1024


@dataclass(frozen=True)
class CredentialRequest:
    """A checked Credential Request: which credential, and the ``jwt`` key proofs (unverified)."""

    credential_configuration_id: str | None
    credential_identifier: str | None
    proofs: tuple[str, ...]


@dataclass(frozen=True)
class CredentialResponse:
    """A Credential Response as the wallet reads it: issued credentials, or a deferral."""

    credentials: tuple[str, ...]
    notification_id: str | None
    transaction_id: str | None
    interval: int | float | None


def _identifier(request: dict[str, Any]) -> tuple[str | None, str | None]:
    config_id = request.get("credential_configuration_id")
    identifier = request.get("credential_identifier")
    if (config_id is None) == (identifier is None):  # rule 2
        raise OAuthError(
            INVALID_CREDENTIAL_REQUEST,
            "give exactly one of credential_configuration_id and credential_identifier",
        )
    for name, value in (("credential_configuration_id", config_id), ("credential_identifier", identifier)):
        if value is not None and (not isinstance(value, str) or not value):
            raise OAuthError(INVALID_CREDENTIAL_REQUEST, f"{name} must be a non-empty string")
    return config_id, identifier


def _proofs(request: dict[str, Any], batch_size: int) -> tuple[str, ...]:
    proofs = request.get("proofs")
    if proofs is None:  # rule 5
        raise OAuthError(INVALID_PROOF, "proofs is missing")
    if not isinstance(proofs, dict) or len(proofs) != 1:
        raise OAuthError(INVALID_PROOF, "proofs must be an object with exactly one proof type")
    if PROOF_TYPE_JWT not in proofs:
        raise OAuthError(INVALID_PROOF, f"proof type {next(iter(proofs))!r} is not supported (only jwt)")
    jwts = proofs[PROOF_TYPE_JWT]
    if not isinstance(jwts, list) or not jwts or not all(isinstance(j, str) for j in jwts):
        raise OAuthError(INVALID_PROOF, "proofs.jwt must be a non-empty array of JWTs")
    if len(jwts) > batch_size:
        raise OAuthError(INVALID_PROOF, f"at most {batch_size} proofs are accepted in one request")
    return tuple(jwts)


def parse_credential_request(
    body: bytes | str,
    *,
    batch_size: int = 1,
    configuration_ids: Collection[str] | None = None,
    credential_identifiers: Collection[str] | None = None,
    max_length: int = _MAX_REQUEST,
) -> CredentialRequest:
    """Issuer side: rules 1-5 on a Credential Request body; raise :class:`OAuthError`.

    ``configuration_ids`` / ``credential_identifiers``, when given, are the
    identifiers this access token may use (rule 3).
    """
    if len(body) > max_length:  # rule 1
        raise OAuthError(INVALID_CREDENTIAL_REQUEST, f"credential request is longer than {max_length} bytes")
    try:
        request = loads_object(body, what="credential request")
    except MalformedInput as exc:
        raise OAuthError(INVALID_CREDENTIAL_REQUEST, exc.message) from exc
    config_id, identifier = _identifier(request)  # rule 2
    if config_id is not None and configuration_ids is not None and config_id not in configuration_ids:
        raise OAuthError(UNKNOWN_CREDENTIAL_CONFIGURATION, "credential_configuration_id is unknown")  # rule 3
    known_identifiers = credential_identifiers or ()
    if identifier is not None and identifier not in known_identifiers:
        raise OAuthError(UNKNOWN_CREDENTIAL_IDENTIFIER, "credential_identifier is unknown")
    if "credential_response_encryption" in request:  # rule 4
        raise OAuthError(INVALID_ENCRYPTION_PARAMETERS, "this issuer does not encrypt credential responses")
    return CredentialRequest(config_id, identifier, _proofs(request, batch_size))  # rule 5


def build_credential_request(
    proofs: Sequence[str],
    *,
    credential_configuration_id: str | None = None,
    credential_identifier: str | None = None,
) -> dict[str, Any]:
    """Wallet side: a Credential Request with ``jwt`` key proofs (section 8.2)."""
    request: dict[str, Any] = {}
    if credential_configuration_id is not None:
        request["credential_configuration_id"] = credential_configuration_id
    if credential_identifier is not None:
        request["credential_identifier"] = credential_identifier
    request["proofs"] = {PROOF_TYPE_JWT: list(proofs)}
    validate(request, "oid4vci-credential-request")
    return request


def build_credential_response(
    credentials: Sequence[str], *, notification_id: str | None = None
) -> dict[str, Any]:
    """Issuer side: an immediate Credential Response (HTTP 200, section 8.3).

    Each credential is an SD-JWT VC string, sent as issued, never re-encoded
    (Appendix A.3.4). Serve it with :data:`.errors.NO_STORE`.
    """
    response: dict[str, Any] = {"credentials": [{"credential": c} for c in credentials]}
    if notification_id is not None:
        response["notification_id"] = notification_id
    validate(response, "oid4vci-credential-response")
    return response


def parse_credential_response(body: bytes | str, *, max_length: int = _MAX_RESPONSE) -> CredentialResponse:
    """Wallet side: a Credential Response whose credentials are strings (``dc+sd-jwt``)."""
    if len(body) > max_length:
        raise MalformedInput(f"credential response is longer than {max_length} bytes")
    obj = loads_object(body, what="credential response")
    validate(obj, "oid4vci-credential-response")
    credentials = []
    for item in obj.get("credentials", ()):
        if not isinstance(item["credential"], str):
            raise MalformedInput("a dc+sd-jwt credential must be a string")
        credentials.append(item["credential"])
    return CredentialResponse(
        tuple(credentials), obj.get("notification_id"), obj.get("transaction_id"), obj.get("interval")
    )
