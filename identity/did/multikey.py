"""Multikey encoding of Ed25519 and X25519 public keys (W3C Controlled Identifiers 1.0,
section 2.2.2 "Multikey"; multicodec table).

A Multikey is ``z`` + base58btc(varint(codec) ‖ raw key): ``z6Mk…`` for
``ed25519-pub`` (0xed, varint ``ed 01``) and ``z6LS…`` for ``x25519-pub``
(0xec, varint ``ec 01``). Decoding is strict:

1. at most :data:`MAX_MULTIKEY_LENGTH` characters, checked before decoding
   (base58 decoding is quadratic);
2. multibase ``z`` (base58btc) only;
3. a minimal varint codec that is one of the two above, else
   :class:`UnsupportedAlgorithm`;
4. exactly 32 key bytes;
5. an Ed25519 key must be a point of the prime-order subgroup (did:key
   ``invalidPublicKey``): libsodium refuses the rest when converting it to X25519;
6. the text must be the one spelling of those bytes.
"""

from __future__ import annotations

from functools import lru_cache

from identity.crypto.encoding import (
    multibase_b58_decode,
    multibase_b58_encode,
    varint_decode,
    varint_encode,
)
from identity.crypto.keys import Ed25519PublicKey, X25519PublicKey
from identity.errors import MalformedInput, UnsupportedAlgorithm

__all__ = [
    "ED25519_PUB",
    "MAX_MULTIKEY_LENGTH",
    "X25519_PUB",
    "decode_multikey",
    "ed25519_from_multikey",
    "encode_multikey",
    "x25519_from_multikey",
]

ED25519_PUB = 0xED
X25519_PUB = 0xEC
MAX_MULTIKEY_LENGTH = 64  # a 32-byte key with a 2-byte codec is 48 characters

_KEY_LEN = 32


def encode_multikey(key: Ed25519PublicKey | X25519PublicKey) -> str:
    """The Multikey string of ``key``."""
    codec = ED25519_PUB if isinstance(key, Ed25519PublicKey) else X25519_PUB
    return multibase_b58_encode(varint_encode(codec) + key.raw)


def decode_multikey(text: object, *, what: str = "Multikey") -> Ed25519PublicKey | X25519PublicKey:
    """The public key a Multikey string encodes (rules 1-6)."""
    if not isinstance(text, str):
        raise MalformedInput(f"{what} must be a string")
    if len(text) > MAX_MULTIKEY_LENGTH:  # rule 1
        raise MalformedInput(f"{what} is too long to be an Ed25519 or X25519 key")
    try:
        return _decode_cached(text)
    except MalformedInput as error:
        raise MalformedInput(error.message.replace("Multikey", what, 1)) from None


@lru_cache(maxsize=4096)
def _decode_cached(text: str) -> Ed25519PublicKey | X25519PublicKey:
    # The subgroup check of rule 5 costs as much as a signature check; the same
    # signers recur (issuers, verifiers), so remember decoded keys. Only
    # successes are cached: a failure raises and is decoded again next time.
    what = "Multikey"
    data = multibase_b58_decode(text, what=what)  # rule 2
    codec, used = varint_decode(data, what=f"{what} codec")  # rule 3
    if codec not in (ED25519_PUB, X25519_PUB):
        raise UnsupportedAlgorithm(f"{what} codec {codec:#x} is not ed25519-pub or x25519-pub")
    raw = data[used:]
    if len(raw) != _KEY_LEN:  # rule 4
        raise MalformedInput(f"{what} must hold a 32-byte key, not {len(raw)} bytes")
    key: Ed25519PublicKey | X25519PublicKey
    if codec == ED25519_PUB:
        key = Ed25519PublicKey(raw)
        key.to_x25519()  # rule 5: raises MalformedInput off the prime-order subgroup
    else:
        key = X25519PublicKey(raw)
    if encode_multikey(key) != text:  # rule 6
        raise MalformedInput(f"{what} is not canonically encoded")
    return key


def ed25519_from_multikey(text: object, *, what: str = "Multikey") -> Ed25519PublicKey:
    """Like :func:`decode_multikey`, but the key must be Ed25519."""
    key = decode_multikey(text, what=what)
    if not isinstance(key, Ed25519PublicKey):
        raise UnsupportedAlgorithm(f"{what} is an X25519 key where an Ed25519 key is needed")
    return key


def x25519_from_multikey(text: object, *, what: str = "Multikey") -> X25519PublicKey:
    """Like :func:`decode_multikey`, but the key must be X25519."""
    key = decode_multikey(text, what=what)
    if not isinstance(key, X25519PublicKey):
        raise UnsupportedAlgorithm(f"{what} is an Ed25519 key where an X25519 key is needed")
    return key
