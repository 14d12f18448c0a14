"""Secret-key authenticated encryption: libsodium's secretbox (XSalsa20-Poly1305).

For data a service keeps about people and must read back itself (the issuer's
AML verification records): one 32-byte key, a fresh random 24-byte nonce per
message. The sealed form is ``nonce || MAC || ciphertext`` (the nonce first,
then what ``crypto_secretbox_easy`` returns).

Opening checks the Poly1305 tag before anything is decrypted: a flipped bit,
a truncated box or another key all fail the same way, as
:class:`~identity.errors.InvalidSignature` ("altered or wrong key"), never as
garbage plaintext.
"""

from __future__ import annotations

import os

import nacl.bindings
import nacl.exceptions

from identity.crypto.keys import RandomSource
from identity.errors import InvalidSignature, MalformedInput

__all__ = ["KEY_BYTES", "NONCE_BYTES", "OVERHEAD_BYTES", "open_secret", "seal_secret"]

KEY_BYTES = 32
NONCE_BYTES = 24
MAC_BYTES = 16
#: Bytes a sealed message has beyond its plaintext.
OVERHEAD_BYTES = NONCE_BYTES + MAC_BYTES


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise MalformedInput(f"a secretbox key is exactly {KEY_BYTES} bytes")


def seal_secret(key: bytes, plaintext: bytes, random: RandomSource = os.urandom) -> bytes:
    """Encrypt and authenticate ``plaintext`` under ``key`` with a fresh nonce from ``random``."""
    _check_key(key)
    nonce = random(NONCE_BYTES)
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"the random source returned {len(nonce)} bytes, not {NONCE_BYTES}")
    return nonce + nacl.bindings.crypto_secretbox_easy(plaintext, nonce, key)


def open_secret(key: bytes, sealed: bytes) -> bytes:
    """The plaintext of ``sealed``; raise :class:`InvalidSignature` if it was altered or
    sealed under another key, :class:`MalformedInput` if ``key`` is not 32 bytes."""
    _check_key(key)
    if not isinstance(sealed, bytes) or len(sealed) < OVERHEAD_BYTES:
        # Too short to carry a nonce and a tag: truncated, so altered.
        raise InvalidSignature("sealed data is invalid: altered or truncated")
    nonce, box = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    try:
        plaintext: bytes = nacl.bindings.crypto_secretbox_open_easy(box, nonce, key)
    except nacl.exceptions.CryptoError as exc:
        raise InvalidSignature("sealed data is invalid: altered or sealed under another key") from exc
    return plaintext
