"""Ed25519 signing keys and X25519 encryption keys on libsodium (PyNaCl).

This module and its siblings in ``identity.crypto`` are the only code that
imports nacl. Randomness is injected: constructors take seeds, and
``generate`` reads from a ``random`` callable that defaults to the OS.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions

from identity.errors import InvalidSignature, MalformedInput

__all__ = [
    "Ed25519PrivateKey",
    "Ed25519PublicKey",
    "RandomSource",
    "X25519PrivateKey",
    "X25519PublicKey",
]

RandomSource = Callable[[int], bytes]

_SIG_LEN = 64
_KEY_LEN = 32


@dataclass(frozen=True, slots=True)
class Ed25519PublicKey:
    """An Ed25519 verification key (32 raw bytes)."""

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != _KEY_LEN:
            raise MalformedInput("an Ed25519 public key is exactly 32 bytes")

    def verify(self, signature: bytes, message: bytes) -> None:
        """Return if ``signature`` is this key's signature over ``message``; raise otherwise."""
        if len(signature) != _SIG_LEN:
            raise InvalidSignature("signature is invalid")
        try:
            nacl.bindings.crypto_sign_open(signature + message, self.raw)
        except nacl.exceptions.CryptoError as exc:  # bad signature, or a key libsodium refuses
            raise InvalidSignature("signature is invalid") from exc

    def to_x25519(self) -> X25519PublicKey:
        """The birationally equivalent X25519 key (as did:key derives keyAgreement)."""
        try:
            return X25519PublicKey(nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(self.raw))
        except nacl.exceptions.CryptoError as exc:
            raise MalformedInput("Ed25519 public key is not a valid curve point") from exc


@dataclass(frozen=True, slots=True, repr=False)
class Ed25519PrivateKey:
    """An Ed25519 signing key, held as its 32-byte seed."""

    seed: bytes
    _secret: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def from_seed(cls, seed: bytes) -> Ed25519PrivateKey:
        """The key whose RFC 8032 private key is ``seed``."""
        if len(seed) != _KEY_LEN:
            raise MalformedInput("an Ed25519 seed is exactly 32 bytes")
        public, secret = nacl.bindings.crypto_sign_seed_keypair(seed)
        return cls(seed, secret, Ed25519PublicKey(public))

    @classmethod
    def generate(cls, random: RandomSource = os.urandom) -> Ed25519PrivateKey:
        """A new key from ``random`` (the OS by default)."""
        return cls.from_seed(random(_KEY_LEN))

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached Ed25519 signature over ``message``."""
        return nacl.bindings.crypto_sign(message, self._secret)[:_SIG_LEN]

    def to_x25519(self) -> X25519PrivateKey:
        """The X25519 private key matching :meth:`Ed25519PublicKey.to_x25519`."""
        return X25519PrivateKey(nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(self._secret))

    def __repr__(self) -> str:  # never print secrets
        return f"Ed25519PrivateKey(public={self.public_key.raw.hex()[:16]}…)"


@dataclass(frozen=True, slots=True)
class X25519PublicKey:
    """An X25519 key-agreement key (32 raw bytes)."""

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != _KEY_LEN:
            raise MalformedInput("an X25519 public key is exactly 32 bytes")

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt anonymously to this key (libsodium sealed box: X25519 + XSalsa20-Poly1305)."""
        return nacl.bindings.crypto_box_seal(plaintext, self.raw)


@dataclass(frozen=True, slots=True, repr=False)
class X25519PrivateKey:
    """An X25519 private key."""

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != _KEY_LEN:
            raise MalformedInput("an X25519 private key is exactly 32 bytes")

    @classmethod
    def generate(cls, random: RandomSource = os.urandom) -> X25519PrivateKey:
        """A new key from ``random`` (the OS by default)."""
        return cls(random(_KEY_LEN))

    @property
    def public_key(self) -> X25519PublicKey:
        """The matching public key."""
        return X25519PublicKey(nacl.bindings.crypto_scalarmult_base(self.raw))

    def unseal(self, ciphertext: bytes) -> bytes:
        """Open a sealed box addressed to this key; raise if it was not, or was altered."""
        try:
            return nacl.bindings.crypto_box_seal_open(
                ciphertext, self.public_key.raw, self.raw
            )
        except nacl.exceptions.CryptoError as exc:
            raise InvalidSignature("sealed box could not be opened: wrong key or altered") from exc

    def __repr__(self) -> str:
        return "X25519PrivateKey(…)"
