"""SD-JWT VC metadata an issuer publishes (draft-ietf-oauth-sd-jwt-vc, sections 5-9).

* JWT VC Issuer Metadata, served at ``/.well-known/jwt-vc-issuer`` (section 5):
  ``{"issuer": <iss of the SD-JWT VCs>, "jwks": {"keys": [...]}}``.
* Type Metadata for a ``vct`` (section 6): ``vct``, ``name``, ``description``,
  ``display`` per locale, ``claims`` with ``path``, ``display`` (``label``,
  ``description``), ``mandatory``, ``sd``.
* Document integrity (section 7, W3C SRI): ``vct#integrity`` is
  ``sha256-<base64 of the SHA-256 of the document's bytes>``.

The ``parse_*`` functions are for the wallet and the verifier, and check:

1. The body is at most ``max_length`` bytes of JSON without repeated names
   and satisfies its schema (``specs/jwt-vc-issuer-metadata``,
   ``specs/sd-jwt-vc-type-metadata``).
2. ``issuer`` is identical to the ``iss`` of the SD-JWT VC (5.3), resp.
   ``vct`` to the ``vct`` that referred to the document (6.3); otherwise the
   document MUST NOT be used.
3. Issuer metadata carries ``jwks`` or ``jwks_uri`` but not both (5.2).
4. Type Metadata: one display per locale, no repeated or contradictory claim
   paths, unique ``svg_id`` (sections 8 and 9).

The display language follows the draft's latest text (``locale``, and
``label`` for claims; drafts up to -11 said ``lang``).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from identity.crypto.encoding import b64encode_std
from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PublicKey
from identity.crypto.strict_json import loads_object
from identity.errors import MalformedInput, ProofMismatch
from identity.jose.jwk import public_key_to_jwk
from identity.jose.jws import ALG
from identity.protocols.oid4vci.credential_types import CredentialType, check_claim_paths, check_locales
from identity.protocols.oid4vci.urls import check_https_identifier
from identity.schemas import validate

__all__ = [
    "build_jwt_vc_issuer_metadata",
    "build_type_metadata",
    "integrity",
    "parse_jwt_vc_issuer_metadata",
    "parse_type_metadata",
    "verify_integrity",
]

_MAX_DOCUMENT = 256 * 1024


def build_jwt_vc_issuer_metadata(issuer: str, keys: Mapping[str, Ed25519PublicKey]) -> dict[str, Any]:
    """JWT VC Issuer Metadata with the issuer's keys by value (``kid`` -> key)."""
    check_https_identifier(issuer, what="issuer")
    if not keys:
        raise MalformedInput("JWT VC issuer metadata needs at least one key")
    jwks = [{**public_key_to_jwk(key), "kid": kid, "use": "sig", "alg": ALG} for kid, key in keys.items()]
    metadata = {"issuer": issuer, "jwks": {"keys": jwks}}
    validate(metadata, "jwt-vc-issuer-metadata")
    return metadata


def _load(body: bytes | str, what: str, schema: str, max_length: int) -> dict[str, Any]:
    if len(body) > max_length:  # rule 1
        raise MalformedInput(f"{what} is longer than {max_length} bytes")
    document = loads_object(body, what=what)
    validate(document, schema)
    return document


def parse_jwt_vc_issuer_metadata(
    body: bytes | str, *, expected_issuer: str, max_length: int = _MAX_DOCUMENT
) -> dict[str, Any]:
    """Rules 1-3 on JWT VC Issuer Metadata; return it (keys stay JWKs for the caller to import)."""
    metadata = _load(body, "JWT VC issuer metadata", "jwt-vc-issuer-metadata", max_length)
    if metadata["issuer"] != expected_issuer:  # rule 2
        raise MalformedInput("JWT VC issuer metadata 'issuer' is not the credential's 'iss'")
    if ("jwks" in metadata) == ("jwks_uri" in metadata):  # rule 3
        raise MalformedInput("JWT VC issuer metadata must carry exactly one of jwks and jwks_uri")
    return metadata


def build_type_metadata(credential: CredentialType) -> dict[str, Any]:
    """The Type Metadata document for ``credential.vct`` (section 6.2)."""
    document: dict[str, Any] = {"vct": credential.vct}
    if credential.name is not None:
        document["name"] = credential.name
    if credential.description is not None:
        document["description"] = credential.description
    if credential.display:
        document["display"] = credential.type_metadata_display()
    if credential.claims:
        document["claims"] = credential.type_metadata_claims()
    validate(document, "sd-jwt-vc-type-metadata")
    return document


def parse_type_metadata(
    body: bytes | str, *, expected_vct: str, max_length: int = _MAX_DOCUMENT
) -> dict[str, Any]:
    """Rules 1, 2 and 4 on a Type Metadata document; return it."""
    document = _load(body, "type metadata", "sd-jwt-vc-type-metadata", max_length)
    if document["vct"] != expected_vct:  # rule 2
        raise MalformedInput("type metadata 'vct' is not the vct that referred to it")
    check_locales((d["locale"] for d in document.get("display", ())), what="type metadata display")
    claims = document.get("claims", ())
    check_claim_paths(c["path"] for c in claims)  # rule 4
    for claim in claims:
        check_locales((d["locale"] for d in claim.get("display", ())), what="claim display")
    svg_ids = [c["svg_id"] for c in claims if "svg_id" in c]
    if len(set(svg_ids)) != len(svg_ids):
        raise MalformedInput("svg_id values must be unique within the type metadata")
    return document


def integrity(document: bytes) -> str:
    """The SRI "integrity metadata" of ``document``'s bytes: ``sha256-<base64>``."""
    return "sha256-" + b64encode_std(sha256(document))


def verify_integrity(document: bytes, expected: str) -> bytes:
    """Return ``document`` if its SHA-256 integrity metadata is ``expected``; raise otherwise.

    Only ``sha256`` is accepted; several space-separated values are not.
    """
    if not isinstance(expected, str) or not expected.startswith("sha256-"):
        raise MalformedInput("integrity metadata must be a single 'sha256-…' value")
    if not hmac.compare_digest(integrity(document).encode("ascii"), expected.encode("ascii", "replace")):
        raise ProofMismatch("the document does not match its integrity metadata")
    return document
