"""Credential Issuer Metadata (OpenID4VCI 1.0 section 12.2) and OAuth 2.0
Authorization Server Metadata (RFC 8414, OpenID4VCI 1.0 section 12.3).

The issuer builds both documents here; the wallet reads them with the
``parse_*`` functions, which check, in order:

1. The body is at most ``max_length`` bytes of JSON without repeated names.
2. It satisfies its schema (``specs/oid4vci-credential-issuer-metadata`` or
   ``specs/oauth-authorization-server-metadata``): unknown parameters are
   ignored, as both specifications require.
3. ``credential_issuer`` (resp. ``issuer``) is identical, by simple string
   comparison, to the identifier the wallet built the well-known URL from
   (OpenID4VCI 12.2.4, RFC 8414 section 3.3): otherwise the data MUST NOT be used.
4. Display and claims descriptions follow the processing rules of
   :mod:`.credential_types` (one object per locale; no repeated or
   contradictory claim paths, OpenID4VCI Appendix B.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from identity.crypto.strict_json import loads_object
from identity.errors import MalformedInput
from identity.jose.jws import ALG
from identity.protocols.oid4vci.credential_types import (
    CredentialDisplay,
    CredentialType,
    check_claim_paths,
    check_locales,
)
from identity.protocols.oid4vci.urls import check_https_identifier, check_https_url
from identity.schemas import validate

__all__ = [
    "FORMAT_SD_JWT_VC",
    "PRE_AUTHORIZED_CODE_GRANT",
    "PROOF_TYPE_JWT",
    "WELL_KNOWN_CREDENTIAL_ISSUER",
    "WELL_KNOWN_JWT_VC_ISSUER",
    "WELL_KNOWN_OAUTH_AUTHORIZATION_SERVER",
    "build_authorization_server_metadata",
    "build_credential_configuration",
    "build_credential_issuer_metadata",
    "parse_authorization_server_metadata",
    "parse_credential_issuer_metadata",
]

#: Paths inserted between host and path of an identifier (OpenID4VCI 12.2.2,
#: RFC 8414 section 3, SD-JWT VC section 5); see :func:`.urls.well_known_url`.
WELL_KNOWN_CREDENTIAL_ISSUER = "/.well-known/openid-credential-issuer"
WELL_KNOWN_OAUTH_AUTHORIZATION_SERVER = "/.well-known/oauth-authorization-server"
WELL_KNOWN_JWT_VC_ISSUER = "/.well-known/jwt-vc-issuer"

#: Credential Format Identifier of SD-JWT VC (OpenID4VCI Appendix A.3.1).
FORMAT_SD_JWT_VC = "dc+sd-jwt"
#: Grant type of the Pre-Authorized Code Flow (OpenID4VCI section 4.1.1).
PRE_AUTHORIZED_CODE_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
PROOF_TYPE_JWT = "jwt"

_MAX_METADATA = 256 * 1024


def build_credential_configuration(credential: CredentialType) -> dict[str, Any]:
    """One ``credential_configurations_supported`` entry for an SD-JWT VC that akashi
    issues: EdDSA-signed, bound to a holder JWK proven by an EdDSA ``jwt`` proof."""
    config: dict[str, Any] = {
        "format": FORMAT_SD_JWT_VC,
        "vct": credential.vct,
        "cryptographic_binding_methods_supported": ["jwk"],
        "credential_signing_alg_values_supported": [ALG],
        "proof_types_supported": {PROOF_TYPE_JWT: {"proof_signing_alg_values_supported": [ALG]}},
    }
    if credential.scope is not None:
        config["scope"] = credential.scope
    credential_metadata: dict[str, Any] = {}
    if credential.display:
        credential_metadata["display"] = credential.issuer_metadata_display()
    if credential.claims:
        credential_metadata["claims"] = credential.issuer_metadata_claims()
    if credential_metadata:
        config["credential_metadata"] = credential_metadata
    return config


def build_credential_issuer_metadata(
    credential_issuer: str,
    credentials: Sequence[CredentialType],
    *,
    credential_endpoint: str | None = None,
    nonce_endpoint: str | None = None,
    batch_size: int | None = None,
    display: Sequence[CredentialDisplay] = (),
    authorization_servers: Sequence[str] | None = None,
    notification_endpoint: str | None = None,
) -> dict[str, Any]:
    """The Credential Issuer Metadata document (OpenID4VCI 1.0 section 12.2.4).

    Endpoints default to ``<credential_issuer>/credential`` and ``/nonce``;
    ``batch_size`` (>= 2) announces batch issuance; ``display`` gives the
    issuer's name (and logo) per locale. The result satisfies
    ``specs/oid4vci-credential-issuer-metadata.schema.json``.
    """
    check_https_identifier(credential_issuer, what="credential_issuer")
    base = credential_issuer.rstrip("/")
    metadata: dict[str, Any] = {
        "credential_issuer": credential_issuer,
        "credential_endpoint": check_https_url(
            credential_endpoint or base + "/credential", what="credential_endpoint"
        ),
        "nonce_endpoint": check_https_url(nonce_endpoint or base + "/nonce", what="nonce_endpoint"),
    }
    if authorization_servers is not None:
        metadata["authorization_servers"] = [
            check_https_identifier(a, what="authorization server") for a in authorization_servers
        ]
    if notification_endpoint is not None:
        metadata["notification_endpoint"] = check_https_url(notification_endpoint, what="notification")
    if batch_size is not None:
        if type(batch_size) is not int or batch_size < 2:
            raise MalformedInput("batch_size must be an integer of 2 or more (OpenID4VCI 12.2.4)")
        metadata["batch_credential_issuance"] = {"batch_size": batch_size}
    if display:
        check_locales((d.locale for d in display), what="issuer display")
        metadata["display"] = [_issuer_display(d) for d in display]
    ids = [c.configuration_id for c in credentials]
    if not ids or len(set(ids)) != len(ids):
        raise MalformedInput("credential configuration ids must be present and unique")
    metadata["credential_configurations_supported"] = {
        c.configuration_id: build_credential_configuration(c) for c in credentials
    }
    validate(metadata, "oid4vci-credential-issuer-metadata")
    return metadata


def _issuer_display(display: CredentialDisplay) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": display.name, "locale": display.locale}
    if display.logo_uri is not None:
        entry["logo"] = {"uri": display.logo_uri}
        if display.logo_alt_text is not None:
            entry["logo"]["alt_text"] = display.logo_alt_text
    return entry


def build_authorization_server_metadata(
    issuer: str,
    *,
    token_endpoint: str | None = None,
    anonymous_access: bool = True,
) -> dict[str, Any]:
    """RFC 8414 metadata of an Authorization Server for the Pre-Authorized Code Flow only.

    ``response_types_supported`` is omitted, as OpenID4VCI 12.2.4 allows for a
    server that supports only the Pre-Authorized Code grant.
    """
    check_https_identifier(issuer, what="issuer")
    metadata: dict[str, Any] = {
        "issuer": issuer,
        "token_endpoint": check_https_url(token_endpoint or issuer.rstrip("/") + "/token", what="token"),
        "grant_types_supported": [PRE_AUTHORIZED_CODE_GRANT],
        "pre-authorized_grant_anonymous_access_supported": anonymous_access,
    }
    validate(metadata, "oauth-authorization-server-metadata")
    return metadata


def _load(body: bytes | str, what: str, max_length: int) -> dict[str, Any]:
    if len(body) > max_length:  # rule 1
        raise MalformedInput(f"{what} is longer than {max_length} bytes")
    return loads_object(body, what=what)


def parse_credential_issuer_metadata(
    body: bytes | str, *, expected_issuer: str, max_length: int = _MAX_METADATA
) -> dict[str, Any]:
    """Wallet side: rules 1-4 on a Credential Issuer Metadata document; return it."""
    metadata = _load(body, "credential issuer metadata", max_length)
    validate(metadata, "oid4vci-credential-issuer-metadata")  # rule 2
    if metadata["credential_issuer"] != expected_issuer:  # rule 3
        raise MalformedInput("credential_issuer is not the identifier the metadata was fetched for")
    check_locales((d.get("locale") for d in metadata.get("display", ())), what="issuer display")  # rule 4
    for config_id, config in metadata["credential_configurations_supported"].items():
        credential_metadata = config.get("credential_metadata", {})
        what = f"credential configuration {config_id!r}"
        check_locales((d.get("locale") for d in credential_metadata.get("display", ())), what=what)
        claims = credential_metadata.get("claims", ())
        check_claim_paths(c["path"] for c in claims)
        for claim in claims:
            check_locales((d.get("locale") for d in claim.get("display", ())), what=what)
    return metadata


def parse_authorization_server_metadata(
    body: bytes | str, *, expected_issuer: str, max_length: int = _MAX_METADATA
) -> dict[str, Any]:
    """Wallet side: rules 1-3 on RFC 8414 Authorization Server Metadata; return it."""
    metadata = _load(body, "authorization server metadata", max_length)
    validate(metadata, "oauth-authorization-server-metadata")
    if metadata["issuer"] != expected_issuer:
        raise MalformedInput("issuer is not the identifier the metadata was fetched for")
    return metadata
