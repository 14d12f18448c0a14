"""OpenID for Verifiable Credential Issuance 1.0: messages and checks, pure.

akashi issues SD-JWT VCs (``dc+sd-jwt``, EdDSA) in the Pre-Authorized Code
Flow, with ``jwt`` key proofs, a Nonce Endpoint and batch issuance. This
package holds both sides of every message; the issuer service and the wallet
do the HTTP.

::

    issuer                                        wallet
    build_offer / offer_url_by_value|reference -> parse_offer_url / parse_offer
    build_credential_issuer_metadata           -> parse_credential_issuer_metadata
    build_authorization_server_metadata        -> parse_authorization_server_metadata
    parse_token_request, check_tx_code         <- build_token_request
    build_token_response                       -> parse_token_response
    build_nonce_response (issue_c_nonce)       -> parse_nonce_response
    parse_credential_request, verify_proofs    <- build_credential_request, build_proof_jwt
    build_credential_response                  -> parse_credential_response
    OAuthError.response()/.headers()/.status   -> parse_error_response
    build_jwt_vc_issuer_metadata               -> parse_jwt_vc_issuer_metadata
    build_type_metadata, integrity             -> parse_type_metadata, verify_integrity

Issuer-side checks raise :class:`OAuthError` carrying the error code the
specifications name; wallet-side parsers raise :class:`MalformedInput` /
:class:`SchemaViolation`. Every wire object has a schema in ``specs/``.
"""

from identity.protocols.oid4vci.credential import (
    CredentialRequest,
    CredentialResponse,
    build_credential_request,
    build_credential_response,
    parse_credential_request,
    parse_credential_response,
)
from identity.protocols.oid4vci.credential_types import (
    ClaimInfo,
    CredentialDisplay,
    CredentialType,
    check_claim_paths,
    check_locales,
)
from identity.protocols.oid4vci.errors import NO_STORE, OAuthError, parse_error_response
from identity.protocols.oid4vci.metadata import (
    FORMAT_SD_JWT_VC,
    PRE_AUTHORIZED_CODE_GRANT,
    PROOF_TYPE_JWT,
    WELL_KNOWN_CREDENTIAL_ISSUER,
    WELL_KNOWN_JWT_VC_ISSUER,
    WELL_KNOWN_OAUTH_AUTHORIZATION_SERVER,
    build_authorization_server_metadata,
    build_credential_configuration,
    build_credential_issuer_metadata,
    parse_authorization_server_metadata,
    parse_credential_issuer_metadata,
)
from identity.protocols.oid4vci.offer import (
    OFFER_SCHEME,
    CredentialOffer,
    OfferReference,
    TxCode,
    build_offer,
    offer_url_by_reference,
    offer_url_by_value,
    parse_offer,
    parse_offer_url,
)
from identity.protocols.oid4vci.proof import (
    DEFAULT_PROOF_POLICY,
    PROOF_TYP,
    NonceCheck,
    ProofPolicy,
    VerifiedProof,
    build_proof_jwt,
    verify_proof_jwt,
    verify_proofs,
)
from identity.protocols.oid4vci.sd_jwt_vc import (
    build_jwt_vc_issuer_metadata,
    build_type_metadata,
    integrity,
    parse_jwt_vc_issuer_metadata,
    parse_type_metadata,
    verify_integrity,
)
from identity.protocols.oid4vci.token import (
    TokenRequest,
    TokenResponse,
    bearer_token,
    build_nonce_response,
    build_token_request,
    build_token_response,
    c_nonce_is_fresh,
    check_tx_code,
    issue_c_nonce,
    new_secret,
    parse_nonce_response,
    parse_token_request,
    parse_token_response,
)
from identity.protocols.oid4vci.urls import well_known_url

__all__ = [
    "DEFAULT_PROOF_POLICY",
    "FORMAT_SD_JWT_VC",
    "NO_STORE",
    "OFFER_SCHEME",
    "PRE_AUTHORIZED_CODE_GRANT",
    "PROOF_TYP",
    "PROOF_TYPE_JWT",
    "WELL_KNOWN_CREDENTIAL_ISSUER",
    "WELL_KNOWN_JWT_VC_ISSUER",
    "WELL_KNOWN_OAUTH_AUTHORIZATION_SERVER",
    "ClaimInfo",
    "CredentialDisplay",
    "CredentialOffer",
    "CredentialRequest",
    "CredentialResponse",
    "CredentialType",
    "NonceCheck",
    "OAuthError",
    "OfferReference",
    "ProofPolicy",
    "TokenRequest",
    "TokenResponse",
    "TxCode",
    "VerifiedProof",
    "bearer_token",
    "build_authorization_server_metadata",
    "build_credential_configuration",
    "build_credential_issuer_metadata",
    "build_credential_request",
    "build_credential_response",
    "build_jwt_vc_issuer_metadata",
    "build_nonce_response",
    "build_offer",
    "build_proof_jwt",
    "build_token_request",
    "build_token_response",
    "build_type_metadata",
    "c_nonce_is_fresh",
    "check_claim_paths",
    "check_locales",
    "check_tx_code",
    "integrity",
    "issue_c_nonce",
    "new_secret",
    "offer_url_by_reference",
    "offer_url_by_value",
    "parse_authorization_server_metadata",
    "parse_credential_issuer_metadata",
    "parse_credential_request",
    "parse_credential_response",
    "parse_error_response",
    "parse_jwt_vc_issuer_metadata",
    "parse_nonce_response",
    "parse_offer",
    "parse_offer_url",
    "parse_token_request",
    "parse_token_response",
    "parse_type_metadata",
    "verify_integrity",
    "verify_proof_jwt",
    "verify_proofs",
    "well_known_url",
]
