"""C2SP tlog-cosignature v1.0.1, Ed25519 type: timestamped witness cosignatures.

A cosignature is one more signature line on a checkpoint note:

    — <cosigner name> base64(key ID || timestamped_signature)

Rules (sections "Format" and "Ed25519 signed message"):

1. The key ID is ``SHA-256(name || "\\n" || 0x04 || 32-byte public key)[:4]``;
   a verifier key string for it has signature type ``0x04``.
2. ``timestamped_signature`` is ``u64 timestamp (big-endian) || 64-byte
   Ed25519 signature``: exactly 72 bytes. A plain 64-byte note signature
   under a cosigner's key ID is not a cosignature and fails.
3. The timestamp is POSIX seconds and must not exceed ``2**63 - 1``.
4. The signed message is ``"cosignature/v1\\n"``, then ``"time <timestamp>\\n"``
   (ASCII decimal, no leading zeroes), then the whole checkpoint text
   including extension lines and the final newline, without signature lines.
5. The message does not name the cosigner, so one key must never serve two
   cosigner names; policies count distinct *keys* (see :mod:`.policy`).

Whether a cosignature is recent enough is a policy question (``max_age`` in
:mod:`.policy`); this module only proves who signed what, and when they say.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey
from identity.errors import InvalidSignature, MalformedInput, UnsupportedAlgorithm
from identity.ledger.checkpoint import parse_checkpoint_body
from identity.ledger.note import (
    DEFAULT_LIMITS,
    NoteLimits,
    add_signatures,
    check_key_name,
    format_vkey,
    key_id,
    parse_note_unverified,
    parse_vkey,
)

__all__ = [
    "COSIGNATURE_V1",
    "MAX_TIMESTAMP",
    "CosignatureSigner",
    "CosignatureVerifier",
    "cosign",
    "cosignature_message",
    "cosignature_timestamp",
]

#: Signature type byte of timestamped Ed25519 cosignatures.
COSIGNATURE_V1 = 0x04
MAX_TIMESTAMP = 2**63 - 1
_TS_LEN = 8
_SIG_LEN = 64


def cosignature_message(text: bytes, timestamp: int) -> bytes:
    """The bytes a v1 cosignature signs over the checkpoint ``text`` (rule 4)."""
    _check_timestamp(timestamp)
    return b"cosignature/v1\ntime %d\n" % timestamp + text


def cosignature_timestamp(signature: bytes) -> int:
    """The timestamp inside a ``timestamped_signature`` (the bytes after the key ID).

    Read it only from a signature that verified: before that it is a claim.
    """
    if len(signature) != _TS_LEN + _SIG_LEN:  # 2
        raise MalformedInput("a cosignature is an 8-byte timestamp and a 64-byte signature")
    return int.from_bytes(signature[:_TS_LEN], "big")


@dataclass(frozen=True, slots=True)
class CosignatureVerifier:
    """A known witness key for timestamped Ed25519 cosignatures."""

    name: str
    public_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """The verifier for a type ``0x04`` verifier key string."""
        parsed = parse_vkey(vkey, derived_id_types=(COSIGNATURE_V1,))
        if parsed.sig_type != COSIGNATURE_V1:
            raise UnsupportedAlgorithm(
                f"verifier key type {parsed.sig_type:#04x} is not a v1 cosignature key"
            )
        return cls(parsed.name, Ed25519PublicKey(parsed.key))

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID (rule 1)."""
        return key_id(self.name, COSIGNATURE_V1, self.public_key.raw)

    @property
    def vkey(self) -> str:
        """This key as a verifier key string."""
        return format_vkey(self.name, COSIGNATURE_V1, self.public_key.raw)

    def verify(self, text: bytes, signature: bytes) -> None:
        """Return if ``signature`` is this witness's cosignature of checkpoint ``text``."""
        if len(signature) != _TS_LEN + _SIG_LEN:  # 2
            raise InvalidSignature("cosignature is invalid")
        timestamp = int.from_bytes(signature[:_TS_LEN], "big")
        if timestamp > MAX_TIMESTAMP:  # 3
            raise InvalidSignature("cosignature is invalid")
        self.public_key.verify(signature[_TS_LEN:], cosignature_message(text, timestamp))  # 4


@dataclass(frozen=True, slots=True)
class CosignatureSigner:
    """A witness key about to cosign at ``timestamp`` (POSIX seconds, from the caller's clock)."""

    name: str
    key: Ed25519PrivateKey = field(repr=False)
    timestamp: int

    def __post_init__(self) -> None:
        check_key_name(self.name)
        _check_timestamp(self.timestamp)

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID (rule 1)."""
        return key_id(self.name, COSIGNATURE_V1, self.key.public_key.raw)

    def verifier(self) -> CosignatureVerifier:
        """The matching verifier."""
        return CosignatureVerifier(self.name, self.key.public_key)

    def sign(self, text: bytes) -> bytes:
        """The ``timestamped_signature`` over checkpoint ``text`` (rules 2–4)."""
        signature = self.key.sign(cosignature_message(text, self.timestamp))
        return self.timestamp.to_bytes(_TS_LEN, "big") + signature


def cosign(
    note: bytes | str,
    name: str,
    key: Ed25519PrivateKey,
    *,
    timestamp: int,
    limits: NoteLimits = DEFAULT_LIMITS,
) -> str:
    """Add this witness's cosignature to a checkpoint note.

    The witness must already have verified the log's signature and the
    consistency of this checkpoint with the last one it cosigned: a
    cosignature is the statement that it did.
    """
    parse_checkpoint_body(parse_note_unverified(note, limits=limits).text)  # a checkpoint at all
    return add_signatures(note, [CosignatureSigner(name, key, timestamp)], limits=limits)


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not 0 <= timestamp <= MAX_TIMESTAMP:  # 3
        raise MalformedInput("cosignature timestamp must be from 0 to 2**63-1")
