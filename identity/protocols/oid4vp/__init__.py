"""OpenID for Verifiable Presentations 1.0: messages and checks, pure.

akashi's profile: the verifier is named by a DID (``client_id``
``decentralized_identifier:did:...``) and signs a Request Object (EdDSA,
``typ`` ``oauth-authz-req+jwt``, ``kid`` its DID URL) that the wallet fetches
by reference; the query is DCQL (treated here as an opaque object validated by
``specs/dcql-query.schema.json``); the wallet answers with ``direct_post``:
``vp_token`` (Credential Query id -> SD-JWT VC presentations), ``state`` and,
as an akashi extension that plain wallets omit, ``akashi_consent`` — the
holder's signed consent receipt. This package holds both sides of every
message; the verifier service and the wallet do the HTTP.

::

    verifier                                          wallet
    build_request_object (build_client_metadata)
    request_url_by_reference                       -> parse_request_url
    parse_request_uri_post                         <- build_request_uri_post (request_uri_method=post)
    serve the JWT at request_uri                   -> request_object_kid_unverified,
                                                      verify_request_object -> AuthorizationRequest
    parse_direct_post -> AuthorizationResponse     <- build_authorization_response
                      |  AuthorizationError        <- build_error_response (wallet_error_for)
    build_response_uri_answer                      -> parse_response_uri_answer

Wallet-side checks raise akashi errors (:class:`MalformedInput`,
:class:`InvalidSignature`, :class:`BindingError`, :class:`TimeError`, ...) or,
where the specification names an error code, :class:`OAuthError`;
verifier-side parsing raises :class:`OAuthError` (``invalid_request``).
"""

from identity.protocols.oid4vp.errors import (
    ACCESS_DENIED,
    AUTHORIZATION_ERRORS,
    INVALID_REQUEST_OBJECT,
    INVALID_REQUEST_URI,
    INVALID_REQUEST_URI_METHOD,
    INVALID_TRANSACTION_DATA,
    VP_FORMATS_NOT_SUPPORTED,
    WALLET_UNAVAILABLE,
    OAuthError,
    wallet_error_for,
)
from identity.protocols.oid4vp.invocation import (
    OPENID4VP_SCHEME,
    REQUEST_OBJECT_MEDIA_TYPE,
    RequestReference,
    RequestUriPost,
    build_request_uri_post,
    parse_request_uri_post,
    parse_request_url,
    request_url_by_reference,
)
from identity.protocols.oid4vp.request import (
    DEFAULT_REQUEST_POLICY,
    DID_PREFIX,
    FORMAT_SD_JWT_VC,
    REQUEST_OBJECT_TYP,
    SELF_ISSUED_V2,
    AuthorizationRequest,
    RequestPolicy,
    build_client_metadata,
    build_request_object,
    check_vp_formats,
    client_id_for_did,
    did_from_client_id,
    request_object_kid_unverified,
    verify_request_object,
)
from identity.protocols.oid4vp.response import (
    CONSENT_PARAMETER,
    DEFAULT_RESPONSE_POLICY,
    AuthorizationError,
    AuthorizationResponse,
    ResponsePolicy,
    build_authorization_response,
    build_error_response,
    build_response_uri_answer,
    parse_direct_post,
    parse_response_uri_answer,
)

__all__ = [
    "ACCESS_DENIED",
    "AUTHORIZATION_ERRORS",
    "CONSENT_PARAMETER",
    "DEFAULT_REQUEST_POLICY",
    "DEFAULT_RESPONSE_POLICY",
    "DID_PREFIX",
    "FORMAT_SD_JWT_VC",
    "INVALID_REQUEST_OBJECT",
    "INVALID_REQUEST_URI",
    "INVALID_REQUEST_URI_METHOD",
    "INVALID_TRANSACTION_DATA",
    "OPENID4VP_SCHEME",
    "REQUEST_OBJECT_MEDIA_TYPE",
    "REQUEST_OBJECT_TYP",
    "SELF_ISSUED_V2",
    "VP_FORMATS_NOT_SUPPORTED",
    "WALLET_UNAVAILABLE",
    "AuthorizationError",
    "AuthorizationRequest",
    "AuthorizationResponse",
    "OAuthError",
    "RequestPolicy",
    "RequestReference",
    "RequestUriPost",
    "ResponsePolicy",
    "build_authorization_response",
    "build_client_metadata",
    "build_error_response",
    "build_request_object",
    "build_request_uri_post",
    "build_response_uri_answer",
    "check_vp_formats",
    "client_id_for_did",
    "did_from_client_id",
    "parse_direct_post",
    "parse_request_uri_post",
    "parse_request_url",
    "parse_response_uri_answer",
    "request_object_kid_unverified",
    "request_url_by_reference",
    "verify_request_object",
    "wallet_error_for",
]
