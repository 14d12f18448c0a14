"""Selective Disclosure for JWTs (RFC 9901) and SD-JWT VC (draft-ietf-oauth-sd-jwt-vc).

An SD-JWT is ``<issuer-signed JWT>~<disclosure>~…~<disclosure>~[<KB-JWT>]``.
The issuer replaces each selectively disclosable object property by a digest
in an ``_sd`` array, and each disclosable array element by ``{"...": digest}``;
a disclosure is the base64url JSON array ``[salt, name, value]`` (property) or
``[salt, value]`` (element), and its digest is the base64url SHA-256 of the
disclosure's ASCII text.

* :func:`issue` (``issuance``) conceals the claims marked :class:`SD`, at any
  depth, with optional decoy digests, and binds the holder's key in ``cnf``;
* :func:`present` (``presentation``) keeps only the disclosures a list of claim
  paths needs and appends a key-binding JWT;
* :func:`verify` (``verification``) checks every rule of RFC 9901 section 7
  and returns only what the presentation proves.
"""

from identity.credentials.sdjwt.common import (
    KB_JWT_TYP,
    SD,
    SD_JWT_VC_TYP,
    ClaimPath,
    Disclosure,
    SdJwtLimits,
)
from identity.credentials.sdjwt.issuance import issue
from identity.credentials.sdjwt.presentation import present, sd_hash
from identity.credentials.sdjwt.verification import (
    VerifiedSdJwt,
    parse_claims_unverified,
    verify,
)

__all__ = [
    "KB_JWT_TYP",
    "SD",
    "SD_JWT_VC_TYP",
    "ClaimPath",
    "Disclosure",
    "SdJwtLimits",
    "VerifiedSdJwt",
    "issue",
    "parse_claims_unverified",
    "present",
    "sd_hash",
    "verify",
]
