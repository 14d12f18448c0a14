"""Consent receipts: the holder's signed record of what it agreed to share, with whom, why.

A receipt is a compact JWS (``typ`` ``consent+jwt``, EdDSA) signed by the holder's
pairwise key over the object that specs/consent-receipt.schema.json describes:
``receipt_id``, ``holder`` (the did:key of the signing key), ``verifier`` (a DID),
``purpose {id, text}``, ``claims``, ``granted_at``, ``expires_at``,
``updates_allowed`` and, when given in a presentation, the request ``nonce``.

The ledger never sees the receipt: ``consent.grant`` carries its digest
(SHA-256 of the compact JWS's ASCII bytes) and the verifier's DID.

:func:`verify_consent_receipt` applies these rules, in order:

1. The JWS verifies under the holder key with ``typ`` ``consent+jwt``
   (the rules of :mod:`identity.jose.jws`).
2. The payload satisfies specs/consent-receipt.schema.json.
3. ``holder`` is the did:key of the key that signed it.
4. ``granted_at`` is before ``expires_at``, not in the future, and the receipt
   has not expired at ``now`` (with the policy's clock skew).
5. ``verifier`` is the expected verifier, when one is named.
6. ``nonce`` is the expected request nonce, when one is named.
7. ``purpose.id`` is the expected purpose, when one is named.
8. Every claim asked for is among the consented ``claims``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey, RandomSource
from identity.did.did_key import did_key_from_public_key
from identity.errors import BindingError, ConsentError, MalformedInput
from identity.jose.jws import sign_jwt, verify_jwt
from identity.jose.jwt import TimePolicy, check_time_claims
from identity.schemas import validate

__all__ = [
    "CONSENT_TYP",
    "ConsentReceipt",
    "consent_digest",
    "consent_grant_body",
    "new_consent_receipt",
    "sign_consent_receipt",
    "verify_consent_receipt",
]

CONSENT_TYP = "consent+jwt"
_ID_BYTES = 16


@dataclass(frozen=True, slots=True)
class ConsentReceipt:
    """One consent: ``holder`` lets ``verifier`` receive ``claims`` for one purpose."""

    receipt_id: str
    holder: str
    verifier: str
    purpose_id: str
    purpose: str
    claims: tuple[str, ...]
    granted_at: int
    expires_at: int
    updates_allowed: bool
    nonce: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JWS payload object."""
        out: dict[str, Any] = {
            "receipt_id": self.receipt_id,
            "holder": self.holder,
            "verifier": self.verifier,
            "purpose": {"id": self.purpose_id, "text": self.purpose},
            "claims": list(self.claims),
            "granted_at": self.granted_at,
            "expires_at": self.expires_at,
            "updates_allowed": self.updates_allowed,
        }
        if self.nonce is not None:
            out["nonce"] = self.nonce
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ConsentReceipt:
        """Read a payload that already satisfied the schema."""
        return cls(
            receipt_id=obj["receipt_id"],
            holder=obj["holder"],
            verifier=obj["verifier"],
            purpose_id=obj["purpose"]["id"],
            purpose=obj["purpose"]["text"],
            claims=tuple(obj["claims"]),
            granted_at=obj["granted_at"],
            expires_at=obj["expires_at"],
            updates_allowed=obj["updates_allowed"],
            nonce=obj.get("nonce"),
        )

    def active_at(self, now: int | float) -> bool:
        """True while ``granted_at <= now < expires_at``."""
        return self.granted_at <= now < self.expires_at

    def covers(self, claims: Iterable[str]) -> bool:
        """True if every name in ``claims`` was consented to."""
        return set(claims) <= set(self.claims)


def new_consent_receipt(
    holder_key: Ed25519PublicKey,
    *,
    verifier: str,
    purpose_id: str,
    purpose: str,
    claims: Iterable[str],
    granted_at: int,
    expires_at: int,
    updates_allowed: bool,
    nonce: str | None = None,
    random: RandomSource = os.urandom,
) -> ConsentReceipt:
    """A receipt for ``holder_key``'s pairwise DID with a fresh random ``receipt_id``."""
    return ConsentReceipt(
        receipt_id=b64url_encode(random(_ID_BYTES)),
        holder=did_key_from_public_key(holder_key),
        verifier=verifier,
        purpose_id=purpose_id,
        purpose=purpose,
        claims=tuple(claims),
        granted_at=granted_at,
        expires_at=expires_at,
        updates_allowed=updates_allowed,
        nonce=nonce,
    )


def sign_consent_receipt(receipt: ConsentReceipt, key: Ed25519PrivateKey) -> str:
    """Sign ``receipt`` with the holder's key as a ``consent+jwt`` compact JWS."""
    holder = did_key_from_public_key(key.public_key)
    if receipt.holder != holder:
        raise ValueError("a consent receipt is signed by the key its 'holder' names")
    payload = receipt.to_json()
    validate(payload, "consent-receipt")
    if receipt.expires_at <= receipt.granted_at:
        raise ValueError("a consent receipt must expire after it is granted")
    kid = holder + "#" + holder.removeprefix("did:key:")
    return sign_jwt({"typ": CONSENT_TYP, "kid": kid}, payload, key)


def verify_consent_receipt(
    token: str,
    holder_key: Ed25519PublicKey,
    *,
    now: int | float,
    verifier: str | None = None,
    purpose: str | None = None,
    nonce: str | None = None,
    claims: Iterable[str] = (),
    policy: TimePolicy = TimePolicy(),
) -> ConsentReceipt:
    """Verify a consent receipt signed by ``holder_key`` (rules 1-8); return it or raise."""
    _header, payload = verify_jwt(token, holder_key, typ=CONSENT_TYP, what="consent receipt")  # 1
    validate(payload, "consent-receipt")  # 2
    receipt = ConsentReceipt.from_json(payload)
    if receipt.holder != did_key_from_public_key(holder_key):  # 3
        raise BindingError("consent receipt's holder is not the key that signed it")
    _check_times(receipt, now, policy)  # 4
    if verifier is not None and receipt.verifier != verifier:  # 5
        raise BindingError("consent receipt was given to another verifier")
    if nonce is not None and receipt.nonce != nonce:  # 6
        raise BindingError("consent receipt does not carry the request's nonce")
    if purpose is not None and receipt.purpose_id != purpose:  # 7
        raise ConsentError(f"consent receipt is for purpose {receipt.purpose_id!r}, not {purpose!r}")
    missing = sorted(set(claims) - set(receipt.claims))
    if missing:  # 8
        raise ConsentError(f"no consent to receive {', '.join(missing)}")
    return receipt


def _check_times(receipt: ConsentReceipt, now: int | float, policy: TimePolicy) -> None:
    if receipt.expires_at <= receipt.granted_at:
        raise MalformedInput("consent receipt expires before it is granted")
    times = {"iat": receipt.granted_at, "exp": receipt.expires_at}
    check_time_claims(times, now, policy, what="consent receipt")


def consent_digest(token: str) -> str:
    """The receipt's ledger digest: base64url SHA-256 of the compact JWS's ASCII bytes."""
    try:
        data = token.encode("ascii")
    except (UnicodeEncodeError, AttributeError) as exc:
        raise MalformedInput("a consent receipt is an ASCII compact JWS") from exc
    return b64url_encode(sha256(data))


def consent_grant_body(token: str, receipt: ConsentReceipt) -> dict[str, Any]:
    """The ``consent.grant`` ledger body (specs/entry-consent.grant.schema.json): the receipt's
    digest, the holder's pairwise DID (a key, not a person), the verifier, the purpose's id and
    the terms the ledger rules enforce (when it was granted, until when, whether updates may be
    delivered). The receipt itself — the claims, the purpose text, the nonce — stays off the
    ledger."""
    return {
        "receipt_digest": consent_digest(token),
        "holder": receipt.holder,
        "verifier": receipt.verifier,
        "purpose_id": receipt.purpose_id,
        "granted_at": receipt.granted_at,
        "expires_at": receipt.expires_at,
        "updates_allowed": receipt.updates_allowed,
    }
