"""Holder revocation requests: the holder of a credential asks its issuer to revoke it.

Why. A credential copy is bound (``cnf``) to a holder key. When a wallet is lost, whoever
has it holds the copies *and* those keys, and can present them to any verifier that never
met the person; nothing on the ledger ties the keys to the person's DID, so only the issuer
can end the copies, through its status list. The wallet that recovers the identity still
has the keys (retired) and proves possession of each one to the issuer.

A request is a compact JWS (``typ`` ``holder-revocation+jwt``, EdDSA) signed by the key the
credential is bound to, over the claims specs/holder-revocation-claims.schema.json
describes:

- ``credential``: the credential's digest — unpadded base64url SHA-256 of the ASCII bytes
  of its issuer-signed JWT, the digest its ``attestation.anchor`` carries and the issuer's
  id for it (:func:`credential_digest`);
- ``aud``: the credential issuer identifier (its URL) the request is meant for;
- ``iat``: when the holder signed it (seconds since 1970);
- ``jti``: a random identifier of this request.

Whoever holds the key may end the credential: its holder, or a thief, who only takes the
copy away from himself. A replayed request changes nothing (revocation is final, and
asking again is answered with the state), so the issuer keeps no ``jti``; ``iat``
freshness bounds how long a request seen in transit stays usable, ``aud`` that it is used
at one issuer only.

:func:`verify_holder_revocation` applies these rules, in order (the limits of
:class:`HolderRevocationPolicy` before any of them):

1. The JWS verifies under the holder key with ``typ`` ``holder-revocation+jwt``
   (the rules of :mod:`identity.jose.jws`: EdDSA only, no ``crit``).
2. The claims satisfy specs/holder-revocation-claims.schema.json.
3. ``credential`` is the digest of the credential whose key the caller used.
4. ``aud`` is the expected issuer identifier.
5. ``iat`` is not in the future and at most ``max_age`` seconds old (each with ``skew``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey, RandomSource
from identity.errors import BindingError, MalformedInput
from identity.jose.jws import parse_compact_unverified, sign_jwt, verify_jwt
from identity.jose.jwt import TimePolicy, check_time_claims
from identity.schemas import validate

__all__ = [
    "DEFAULT_POLICY",
    "HOLDER_REVOCATION_TYP",
    "HolderRevocation",
    "HolderRevocationPolicy",
    "credential_digest",
    "new_holder_revocation",
    "parse_holder_revocation_unverified",
    "sign_holder_revocation",
    "verify_holder_revocation",
]

HOLDER_REVOCATION_TYP = "holder-revocation+jwt"
_SCHEMA = "holder-revocation-claims"
_WHAT = "holder revocation request"
_JTI_BYTES = 16


@dataclass(frozen=True, slots=True)
class HolderRevocationPolicy:
    """Limits of a holder revocation request: its size in characters (checked before any
    parsing), how old ``iat`` may be, and how far clocks may disagree."""

    max_chars: int = 4096
    max_age: int = 300
    skew: int = 60


DEFAULT_POLICY = HolderRevocationPolicy()


@dataclass(frozen=True, slots=True)
class HolderRevocation:
    """The claims of one request: revoke ``credential`` (its digest) at issuer ``aud``."""

    credential: str
    aud: str
    iat: int
    jti: str

    def to_json(self) -> dict[str, Any]:
        """The JWS payload object."""
        return {"credential": self.credential, "aud": self.aud, "iat": self.iat, "jti": self.jti}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> HolderRevocation:
        """Read a payload that already satisfied the schema."""
        return cls(credential=obj["credential"], aud=obj["aud"], iat=obj["iat"], jti=obj["jti"])


def credential_digest(credential: str) -> str:
    """The digest of an SD-JWT VC (or its issuer-signed JWT alone): unpadded base64url
    SHA-256 of the issuer-signed JWT's ASCII bytes — what ``attestation.anchor`` carries."""
    if not isinstance(credential, str):
        raise MalformedInput("a credential is an SD-JWT: <issuer-signed JWT>~<disclosures>~")
    try:
        data = credential.split("~", 1)[0].encode("ascii")
    except UnicodeEncodeError as exc:
        raise MalformedInput("the issuer-signed JWT is not a compact JWS") from exc
    return b64url_encode(sha256(data))


def new_holder_revocation(
    credential: str, *, audience: str, iat: int, random: RandomSource = os.urandom
) -> HolderRevocation:
    """A request to revoke the credential with digest ``credential`` at issuer ``audience``,
    with a fresh random ``jti``."""
    return HolderRevocation(credential, audience, iat, b64url_encode(random(_JTI_BYTES)))


def sign_holder_revocation(request: HolderRevocation, key: Ed25519PrivateKey) -> str:
    """Sign ``request`` with the credential's holder key as a ``holder-revocation+jwt``."""
    payload = request.to_json()
    validate(payload, _SCHEMA)
    return sign_jwt({"typ": HOLDER_REVOCATION_TYP}, payload, key)


def parse_holder_revocation_unverified(
    token: str, *, policy: HolderRevocationPolicy = DEFAULT_POLICY
) -> HolderRevocation:
    """The request's claims, syntax and schema checked, its signature **not**: only to know
    which credential's key to verify it with."""
    _check_size(token, policy)
    claims = parse_compact_unverified(token, what=_WHAT).payload_json(what=f"{_WHAT} claims")
    validate(claims, _SCHEMA)
    return HolderRevocation.from_json(claims)


def verify_holder_revocation(
    token: str,
    holder_key: Ed25519PublicKey,
    *,
    credential: str,
    audience: str,
    now: int | float,
    policy: HolderRevocationPolicy = DEFAULT_POLICY,
) -> HolderRevocation:
    """Verify a request to revoke ``credential`` (its digest) at issuer ``audience``, signed
    by the key the credential is bound to (rules 1-5); return it or raise."""
    _check_size(token, policy)
    _header, claims = verify_jwt(token, holder_key, typ=HOLDER_REVOCATION_TYP, what=_WHAT)  # 1
    validate(claims, _SCHEMA)  # 2
    request = HolderRevocation.from_json(claims)
    if request.credential != credential:  # 3
        raise BindingError(f"the {_WHAT} is for another credential")
    if request.aud != audience:  # 4
        raise BindingError(f"the {_WHAT} is meant for another issuer ({request.aud!r})")
    time_policy = TimePolicy(skew=policy.skew, max_iat_age=policy.max_age, require=frozenset({"iat"}))
    check_time_claims({"iat": request.iat}, now, time_policy, what=_WHAT)  # 5
    return request


def _check_size(token: object, policy: HolderRevocationPolicy) -> None:
    if not isinstance(token, str):
        raise MalformedInput(f"a {_WHAT} is a compact JWS (text)")
    if len(token) > policy.max_chars:
        raise MalformedInput(f"a {_WHAT} is at most {policy.max_chars} characters")
