"""Customer-data updates through the electronic mailbox, and the verifier's acknowledgement.

The holder signs an update (``typ`` ``update+jwt``) with the pairwise key it uses
towards one verifier: a new ``address`` or ``name``, or an APPI Article 35 request
to ``stop`` using (利用停止) or to ``erase`` (消去) claims. The signed update is
sealed to the verifier's X25519 key; the ledger's ``mailbox.notice`` carries only
the SHA-256 of the ciphertext and the consent digest. The verifier answers with a
signed acknowledgement (``typ`` ``update-ack+jwt``): applied or rejected, with a
reason code.

:func:`open_update` and :func:`verify_update` apply these rules, in order:

1. The ciphertext is within the size limit and, when the notice's digest is
   given, hashes to it.
2. The sealed box opens with the verifier's key (it was sealed to it, unaltered).
3. The plaintext is an ASCII compact JWS that verifies under the holder key with
   ``typ`` ``update+jwt``.
4. The payload satisfies specs/customer-update.schema.json.
5. ``holder`` is the did:key of the key that signed it.
6. ``recipient`` is this verifier (a sealed update cannot be forwarded to another).
7. ``consent_digest`` is the digest of the consent it claims to travel under,
   when one is named.
8. ``issued_at`` is not in the future (and not too old, if the policy says so).

:func:`verify_update_ack` checks the signature (``typ`` ``update-ack+jwt``), the
schema, that the ack answers the expected update and ciphertext, and ``acked_at``.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.keys import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
    RandomSource,
    X25519PrivateKey,
    X25519PublicKey,
)
from identity.did.did_key import did_key_from_public_key
from identity.errors import BindingError, ConsentError, MalformedInput, ProofMismatch
from identity.jose.jws import sign_jwt, verify_jwt
from identity.jose.jwt import TimePolicy, check_time_claims
from identity.schemas import validate

__all__ = [
    "ACK_TYP",
    "MAX_SEALED_BYTES",
    "UPDATE_TYP",
    "CustomerUpdate",
    "SealedUpdate",
    "UpdateAck",
    "UpdateKind",
    "new_customer_update",
    "open_update",
    "seal_update",
    "sign_update",
    "sign_update_ack",
    "verify_update",
    "verify_update_ack",
]

UPDATE_TYP = "update+jwt"
ACK_TYP = "update-ack+jwt"
MAX_SEALED_BYTES = 256 * 1024  # an update with an issuer attestation is a few KB
_ID_BYTES = 16

UpdateKind = Literal["address", "name", "erasure", "stop"]
AckStatus = Literal["applied", "rejected"]


def _digest(data: bytes) -> str:
    return b64url_encode(sha256(data))


@dataclass(frozen=True, slots=True)
class CustomerUpdate:
    """One holder-signed change for one verifier."""

    update_id: str
    kind: UpdateKind
    value: Any  # address: an address object; name: names; erasure/stop: {"claims": [...]}
    effective_date: date
    issued_at: int
    holder: str
    recipient: str
    consent_digest: str
    attestation: str | None = None  # a compact SD-JWT from the issuer backing the new value

    def to_json(self) -> dict[str, Any]:
        """The JWS payload object."""
        out: dict[str, Any] = {
            "update_id": self.update_id,
            "kind": self.kind,
            "value": self.value,
            "effective_date": self.effective_date.isoformat(),
            "issued_at": self.issued_at,
            "holder": self.holder,
            "recipient": self.recipient,
            "consent_digest": self.consent_digest,
        }
        if self.attestation is not None:
            out["attestation"] = self.attestation
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> CustomerUpdate:
        """Read a payload that already satisfied the schema."""
        return cls(
            update_id=obj["update_id"],
            kind=obj["kind"],
            value=obj["value"],
            effective_date=date.fromisoformat(obj["effective_date"]),
            issued_at=obj["issued_at"],
            holder=obj["holder"],
            recipient=obj["recipient"],
            consent_digest=obj["consent_digest"],
            attestation=obj.get("attestation"),
        )


def new_customer_update(
    holder_key: Ed25519PublicKey,
    *,
    kind: UpdateKind,
    value: Any,
    effective_date: date,
    issued_at: int,
    recipient: str,
    consent_digest: str,
    attestation: str | None = None,
    random: RandomSource = os.urandom,
) -> CustomerUpdate:
    """An update from ``holder_key``'s pairwise DID with a fresh random ``update_id``."""
    return CustomerUpdate(
        update_id=b64url_encode(random(_ID_BYTES)),
        kind=kind,
        value=value,
        effective_date=effective_date,
        issued_at=issued_at,
        holder=did_key_from_public_key(holder_key),
        recipient=recipient,
        consent_digest=consent_digest,
        attestation=attestation,
    )


def sign_update(update: CustomerUpdate, key: Ed25519PrivateKey) -> str:
    """Sign ``update`` with the holder's pairwise key as an ``update+jwt``."""
    holder = did_key_from_public_key(key.public_key)
    if update.holder != holder:
        raise ValueError("an update is signed by the key its 'holder' names")
    payload = update.to_json()
    validate(payload, "customer-update")
    kid = holder + "#" + holder.removeprefix("did:key:")
    return sign_jwt({"typ": UPDATE_TYP, "kid": kid}, payload, key)


@dataclass(frozen=True, slots=True)
class SealedUpdate:
    """A signed update sealed to one verifier; ``digest`` goes into ``mailbox.notice``."""

    ciphertext: bytes
    digest: str


def seal_update(token: str, recipient_key: X25519PublicKey) -> SealedUpdate:
    """Encrypt a signed update to the verifier's X25519 key (sealed box)."""
    ciphertext = recipient_key.seal(token.encode("ascii"))
    return SealedUpdate(ciphertext, _digest(ciphertext))


def open_update(
    ciphertext: bytes,
    recipient_key: X25519PrivateKey,
    holder_key: Ed25519PublicKey,
    *,
    recipient: str,
    now: int | float,
    expected_digest: str | None = None,
    consent_digest: str | None = None,
    policy: TimePolicy = TimePolicy(),
) -> CustomerUpdate:
    """Open and verify a sealed update (rules 1-8); return it or raise."""
    if not isinstance(ciphertext, bytes) or len(ciphertext) > MAX_SEALED_BYTES:  # 1
        raise MalformedInput("sealed update is not bytes of acceptable length")
    if expected_digest is not None and not hmac.compare_digest(
        _digest(ciphertext), expected_digest
    ):
        raise ProofMismatch("sealed update does not match the digest in its notice")
    plaintext = recipient_key.unseal(ciphertext)  # 2
    try:
        token = plaintext.decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedInput("sealed update does not hold a compact JWS") from exc
    return verify_update(
        token, holder_key, recipient=recipient, now=now,
        consent_digest=consent_digest, policy=policy,
    )


def verify_update(
    token: str,
    holder_key: Ed25519PublicKey,
    *,
    recipient: str,
    now: int | float,
    consent_digest: str | None = None,
    policy: TimePolicy = TimePolicy(),
) -> CustomerUpdate:
    """Rules 3-8 on an unsealed update token."""
    _header, payload = verify_jwt(token, holder_key, typ=UPDATE_TYP, what="update")  # 3
    validate(payload, "customer-update")  # 4
    update = CustomerUpdate.from_json(payload)
    if update.holder != did_key_from_public_key(holder_key):  # 5
        raise BindingError("update's holder is not the key that signed it")
    if update.recipient != recipient:  # 6
        raise BindingError("update is addressed to another verifier")
    if consent_digest is not None and update.consent_digest != consent_digest:  # 7
        raise ConsentError("update does not travel under the expected consent")
    check_time_claims({"iat": update.issued_at}, now, policy, what="update")  # 8
    return update


@dataclass(frozen=True, slots=True)
class UpdateAck:
    """The verifier's answer to one update. ``reason`` is a code, never personal data."""

    update_id: str
    ciphertext_digest: str
    status: AckStatus
    verifier: str
    holder: str
    acked_at: int
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JWS payload object."""
        out: dict[str, Any] = {
            "update_id": self.update_id,
            "ciphertext_digest": self.ciphertext_digest,
            "status": self.status,
            "verifier": self.verifier,
            "holder": self.holder,
            "acked_at": self.acked_at,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def sign_update_ack(ack: UpdateAck, key: Ed25519PrivateKey) -> str:
    """Sign ``ack`` with the verifier's key as an ``update-ack+jwt``."""
    payload = ack.to_json()
    validate(payload, "update-ack")
    return sign_jwt({"typ": ACK_TYP}, payload, key)


def verify_update_ack(
    token: str,
    verifier_key: Ed25519PublicKey,
    *,
    now: int | float,
    verifier: str | None = None,
    update_id: str | None = None,
    ciphertext_digest: str | None = None,
    policy: TimePolicy = TimePolicy(),
) -> UpdateAck:
    """Verify an acknowledgement signed by ``verifier_key``; return it or raise."""
    _header, payload = verify_jwt(token, verifier_key, typ=ACK_TYP, what="update ack")
    validate(payload, "update-ack")
    ack = UpdateAck(**payload)
    if verifier is not None and ack.verifier != verifier:
        raise BindingError("update ack comes from another verifier")
    if update_id is not None and ack.update_id != update_id:
        raise BindingError("update ack answers another update")
    if ciphertext_digest is not None and ack.ciphertext_digest != ciphertext_digest:
        raise BindingError("update ack answers another mailbox notice")
    check_time_claims({"iat": ack.acked_at}, now, policy, what="update ack")
    return ack
