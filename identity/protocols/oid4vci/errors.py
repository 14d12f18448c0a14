"""OAuth 2.0 / OpenID4VCI error responses, as one typed exception.

Every check an issuer runs on a request from a wallet fails with
:class:`OAuthError`, whose ``error`` is the code the specification names for
that failure and whose ``status`` is the HTTP status to answer with:

* Token Endpoint: RFC 6749 section 5.2 (``invalid_request``, ``invalid_client``,
  ``invalid_grant``, ``unauthorized_client``, ``unsupported_grant_type``,
  ``invalid_scope``), clarified by OpenID4VCI 1.0 section 6.3; RFC 9396 adds
  ``invalid_authorization_details``.
* Credential Endpoint: RFC 6750 section 3.1 for the access token
  (``invalid_token`` 401, ``insufficient_scope`` 403), OpenID4VCI 1.0 section
  8.3.1.2 for the request (``invalid_credential_request``,
  ``unknown_credential_configuration``, ``unknown_credential_identifier``,
  ``invalid_proof``, ``invalid_nonce``, ``invalid_encryption_parameters``,
  ``credential_request_denied``).

:meth:`OAuthError.response` is the JSON error body; its
``error_description`` is reduced to the ASCII subset the specifications allow
(``%x20-21 / %x23-5B / %x5D-7E``). The underlying akashi error, when there is
one, is chained as ``__cause__`` for logs, never sent to the wallet.
"""

from __future__ import annotations

from typing import Any

from identity.crypto.strict_json import loads_object
from identity.errors import AkashiError, MalformedInput

__all__ = [
    "CREDENTIAL_ERRORS",
    "CREDENTIAL_REQUEST_DENIED",
    "INSUFFICIENT_SCOPE",
    "INVALID_AUTHORIZATION_DETAILS",
    "INVALID_CLIENT",
    "INVALID_CREDENTIAL_REQUEST",
    "INVALID_ENCRYPTION_PARAMETERS",
    "INVALID_GRANT",
    "INVALID_NONCE",
    "INVALID_PROOF",
    "INVALID_REQUEST",
    "INVALID_TOKEN",
    "NO_STORE",
    "TOKEN_ERRORS",
    "UNKNOWN_CREDENTIAL_CONFIGURATION",
    "UNKNOWN_CREDENTIAL_IDENTIFIER",
    "UNSUPPORTED_GRANT_TYPE",
    "OAuthError",
    "parse_error_response",
]

# RFC 6749 section 5.2 (Token Endpoint)
INVALID_REQUEST = "invalid_request"
INVALID_CLIENT = "invalid_client"
INVALID_GRANT = "invalid_grant"
UNAUTHORIZED_CLIENT = "unauthorized_client"
UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
INVALID_SCOPE = "invalid_scope"
# RFC 9396 section 5
INVALID_AUTHORIZATION_DETAILS = "invalid_authorization_details"
# RFC 6750 section 3.1 (protected resources: the Credential Endpoint)
INVALID_TOKEN = "invalid_token"
INSUFFICIENT_SCOPE = "insufficient_scope"
# OpenID4VCI 1.0 section 8.3.1.2 (Credential Request errors)
INVALID_CREDENTIAL_REQUEST = "invalid_credential_request"
UNKNOWN_CREDENTIAL_CONFIGURATION = "unknown_credential_configuration"
UNKNOWN_CREDENTIAL_IDENTIFIER = "unknown_credential_identifier"
INVALID_PROOF = "invalid_proof"
INVALID_NONCE = "invalid_nonce"
INVALID_ENCRYPTION_PARAMETERS = "invalid_encryption_parameters"
CREDENTIAL_REQUEST_DENIED = "credential_request_denied"

TOKEN_ERRORS = frozenset(
    {
        INVALID_REQUEST,
        INVALID_CLIENT,
        INVALID_GRANT,
        UNAUTHORIZED_CLIENT,
        UNSUPPORTED_GRANT_TYPE,
        INVALID_SCOPE,
        INVALID_AUTHORIZATION_DETAILS,
    }
)
CREDENTIAL_ERRORS = frozenset(
    {
        INVALID_TOKEN,
        INSUFFICIENT_SCOPE,
        INVALID_REQUEST,
        INVALID_CREDENTIAL_REQUEST,
        UNKNOWN_CREDENTIAL_CONFIGURATION,
        UNKNOWN_CREDENTIAL_IDENTIFIER,
        INVALID_PROOF,
        INVALID_NONCE,
        INVALID_ENCRYPTION_PARAMETERS,
        CREDENTIAL_REQUEST_DENIED,
    }
)

#: Headers every token, nonce, credential and error response carries
#: (RFC 6749 section 5.1; OpenID4VCI 1.0 sections 7.2 and 8.3).
NO_STORE = {"Cache-Control": "no-store"}

# RFC 6749 5.2: invalid_client MAY be 401; RFC 6750 3.1: invalid_token 401,
# insufficient_scope 403. Everything else is a 400 Bad Request.
_STATUS = {INVALID_CLIENT: 401, INVALID_TOKEN: 401, INSUFFICIENT_SCOPE: 403}
_BEARER_ERRORS = frozenset({INVALID_TOKEN, INSUFFICIENT_SCOPE, INVALID_REQUEST})
_ERROR_CODE_CHARS = frozenset(chr(c) for c in range(0x20, 0x7F) if c not in (0x22, 0x5C))


def _safe_description(text: str) -> str:
    # error_description: %x20-21 / %x23-5B / %x5D-7E only (RFC 6749 5.2,
    # OpenID4VCI 8.3.1.2): quotes and backslashes become harmless look-alikes.
    text = text.replace('"', "'").replace("\\", "/")
    return "".join(c if c in _ERROR_CODE_CHARS else "?" for c in text)


class OAuthError(AkashiError):
    """An OAuth 2.0 / OpenID4VCI error answer: ``error`` code, description, HTTP status."""

    code = "oauth-error"

    def __init__(self, error: str, description: str = "", status: int | None = None) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = _safe_description(description)
        self.status = status if status is not None else _STATUS.get(error, 400)

    def response(self) -> dict[str, str]:
        """The JSON error body (RFC 6749 section 5.2, OpenID4VCI 1.0 section 8.3.1.2)."""
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body

    def headers(self) -> dict[str, str]:
        """HTTP headers for the error answer: ``no-store``, and for 401/403 at a
        protected resource the ``WWW-Authenticate: Bearer`` challenge (RFC 6750 section 3)."""
        headers = dict(NO_STORE)
        if self.status in (401, 403) and self.error in _BEARER_ERRORS:
            headers["WWW-Authenticate"] = f'Bearer error="{self.error}"'
        return headers


def parse_error_response(body: bytes | str, status: int, *, max_length: int = 16 * 1024) -> OAuthError:
    """Wallet side: read an error answer from an issuer into an :class:`OAuthError`.

    Raises :class:`MalformedInput` if the body is not an OAuth error object.
    """
    if len(body) > max_length:
        raise MalformedInput(f"error response is longer than {max_length} bytes")
    obj: dict[str, Any] = loads_object(body, what="error response")
    error = obj.get("error")
    description = obj.get("error_description", "")
    if not isinstance(error, str) or not error or not set(error) <= _ERROR_CODE_CHARS:
        raise MalformedInput("error response has no valid 'error' code")
    if not isinstance(description, str):
        raise MalformedInput("error response 'error_description' must be a string")
    return OAuthError(error, description, status)
