"""OpenID4VP 1.0 error codes (section 8.5), on the one OAuth error type of akashi.

The codes OpenID4VP shares with OAuth 2.0 and OpenID4VCI are imported from
:mod:`identity.protocols.oid4vci.errors` (``invalid_request``,
``invalid_client``, ``invalid_scope``); errors are raised as its
:class:`OAuthError`. Added here:

* RFC 6749 section 4.1.2.1: ``access_denied`` (no matching credentials, no
  consent, End-User not authenticated — OpenID4VP 1.0 section 8.5).
* OpenID4VP 1.0 section 8.5: ``vp_formats_not_supported``,
  ``invalid_request_uri_method``, ``invalid_transaction_data``,
  ``wallet_unavailable``.
* RFC 9101 section 7 / OpenID Connect Core 1.0 section 3.1.2.6:
  ``invalid_request_uri``, ``invalid_request_object``.

:func:`wallet_error_for` turns the failure of a wallet-side check into the
error a wallet may post back to the Response URI.
"""

from __future__ import annotations

from identity.errors import AkashiError, BindingError
from identity.protocols.oid4vci.errors import (
    INVALID_CLIENT,
    INVALID_REQUEST,
    INVALID_SCOPE,
    OAuthError,
)

__all__ = [
    "ACCESS_DENIED",
    "AUTHORIZATION_ERRORS",
    "INVALID_CLIENT",
    "INVALID_REQUEST",
    "INVALID_REQUEST_OBJECT",
    "INVALID_REQUEST_URI",
    "INVALID_REQUEST_URI_METHOD",
    "INVALID_SCOPE",
    "INVALID_TRANSACTION_DATA",
    "VP_FORMATS_NOT_SUPPORTED",
    "WALLET_UNAVAILABLE",
    "OAuthError",
    "wallet_error_for",
]

# RFC 6749 section 4.1.2.1
ACCESS_DENIED = "access_denied"
# OpenID4VP 1.0 section 8.5
VP_FORMATS_NOT_SUPPORTED = "vp_formats_not_supported"
INVALID_REQUEST_URI_METHOD = "invalid_request_uri_method"
INVALID_TRANSACTION_DATA = "invalid_transaction_data"
WALLET_UNAVAILABLE = "wallet_unavailable"
# RFC 9101 section 7 (OpenID Connect Core 1.0 section 3.1.2.6)
INVALID_REQUEST_URI = "invalid_request_uri"
INVALID_REQUEST_OBJECT = "invalid_request_object"

#: The codes an Authorization Error Response of OpenID4VP 1.0 names.
AUTHORIZATION_ERRORS = frozenset(
    {
        INVALID_REQUEST,
        INVALID_CLIENT,
        INVALID_SCOPE,
        ACCESS_DENIED,
        VP_FORMATS_NOT_SUPPORTED,
        INVALID_REQUEST_URI_METHOD,
        INVALID_TRANSACTION_DATA,
        WALLET_UNAVAILABLE,
        INVALID_REQUEST_URI,
        INVALID_REQUEST_OBJECT,
    }
)


def wallet_error_for(error: AkashiError) -> OAuthError:
    """The error a wallet reports for a request it refused.

    An :class:`OAuthError` is already one. A Client Identifier that does not
    match its request (a :class:`BindingError`) is ``invalid_request``
    (section 8.5: "requirements of a certain prefix were violated"); any other
    failure of the Request Object (signature, time, audience, shape) is
    ``invalid_request_object`` (RFC 9101 section 6.2). Descriptions stay short:
    they reach a party the wallet did not trust.
    """
    if isinstance(error, OAuthError):
        return error
    if isinstance(error, BindingError):
        return OAuthError(INVALID_REQUEST, "client_id does not match the request")
    return OAuthError(INVALID_REQUEST_OBJECT, "request object is invalid")
