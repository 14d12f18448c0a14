"""Keys from passphrases: Argon2id (RFC 9106) on libsodium's ``crypto_pwhash``.

A wallet or a wallet backup is locked with a key derived from the person's
passphrase::

    key = Argon2id-v1.3(password = UTF-8(NFC(passphrase)), salt, opslimit, memlimit), 32 bytes

with libsodium's fixed single lane. The 16-byte salt is random per file and is
passed in (``identity`` has no randomness of its own); the cost parameters travel
with the file as :class:`KdfParams`, so a file made with other parameters still
opens, and stronger defaults later do not strand old wallets.

Parameters read from a file are not trusted: :class:`KdfParams` refuses values
outside :data:`OPSLIMIT_RANGE` / :data:`MEMLIMIT_RANGE` before any work, so a
forged backup cannot make the reader spend gigabytes or minutes.

* :data:`DEFAULT_PARAMS` is libsodium's MODERATE: 3 passes over 256 MiB, about
  half a second on a 2-core machine — stronger than INTERACTIVE (2 passes,
  64 MiB), which libsodium calls the floor for interactive logins.
* :data:`TEST_PARAMS` is the least libsodium accepts (1 pass, 8 KiB). It protects
  nothing and exists so that test suites stay fast.

The passphrase is normalised to Unicode NFC first (as RFC 8265's OpaqueString
does), so the same passphrase typed on two devices — one composing が, one
sending か and a combining mark — gives the same key.

:func:`expand_key` turns the one derived key into independent keys for separate
purposes (HKDF-Expand, RFC 5869 section 2.3), so no key is used for two jobs.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
from nacl.pwhash import argon2id as _argon2id

from identity.errors import MalformedInput

__all__ = [
    "DEFAULT_PARAMS",
    "KEY_BYTES",
    "MEMLIMIT_RANGE",
    "OPSLIMIT_RANGE",
    "SALT_BYTES",
    "TEST_PARAMS",
    "KdfParams",
    "argon2id",
    "derive_key",
    "expand_key",
]

ALGORITHM = "argon2id13"
KEY_BYTES = 32
SALT_BYTES = 16
#: Accepted passes: libsodium's minimum for Argon2id up to a bound that keeps
#: a forged file from stalling its reader (10 passes over 1 GiB is tens of seconds).
OPSLIMIT_RANGE = (1, 10)
#: Accepted memory in bytes: libsodium's minimum (8 KiB) up to 1 GiB, which a phone can still give.
MEMLIMIT_RANGE = (8 * 1024, 1024 * 1024 * 1024)
_LENGTH_RANGE = (16, 1024)  # libsodium's minimum output; 1 KiB is far beyond any key we need


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id cost parameters: ``opslimit`` passes over ``memlimit`` bytes of memory."""

    opslimit: int
    memlimit: int

    def __post_init__(self) -> None:
        for name, value, (low, high) in (
            ("opslimit", self.opslimit, OPSLIMIT_RANGE),
            ("memlimit", self.memlimit, MEMLIMIT_RANGE),
        ):
            # bool is an int in Python; JSON true must not pass as 1
            if not isinstance(value, int) or isinstance(value, bool):
                raise MalformedInput(f"Argon2id {name} must be an integer")
            if not low <= value <= high:
                raise MalformedInput(f"Argon2id {name} {value} is outside the accepted {low}..{high}")

    def to_json(self) -> dict[str, Any]:
        """``{"alg": "argon2id13", "opslimit": …, "memlimit": …}`` (memlimit in bytes)."""
        return {"alg": ALGORITHM, "opslimit": self.opslimit, "memlimit": self.memlimit}

    @classmethod
    def from_json(cls, value: object) -> KdfParams:
        """Parameters read from a file; anything but exactly :meth:`to_json`'s shape with
        in-range values is :class:`~identity.errors.MalformedInput`."""
        if not isinstance(value, dict) or set(value) != {"alg", "opslimit", "memlimit"}:
            raise MalformedInput("KDF parameters must be an object with alg, opslimit and memlimit")
        if value["alg"] != ALGORITHM:
            raise MalformedInput(f"KDF algorithm {value['alg']!r} is not {ALGORITHM!r}")
        return cls(value["opslimit"], value["memlimit"])


DEFAULT_PARAMS = KdfParams(opslimit=3, memlimit=256 * 1024 * 1024)
TEST_PARAMS = KdfParams(opslimit=OPSLIMIT_RANGE[0], memlimit=MEMLIMIT_RANGE[0])


def argon2id(password: bytes, salt: bytes, params: KdfParams, *, length: int = KEY_BYTES) -> bytes:
    """Raw Argon2id v1.3 (one lane) of ``password`` — libsodium's ``crypto_pwhash`` with
    ``crypto_pwhash_ALG_ARGON2ID13``. ``length`` outside 16..1024 is a ``ValueError``."""
    if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
        raise MalformedInput(f"an Argon2id salt is exactly {SALT_BYTES} bytes")
    if not _LENGTH_RANGE[0] <= length <= _LENGTH_RANGE[1]:
        raise ValueError(f"Argon2id output length must be {_LENGTH_RANGE[0]}..{_LENGTH_RANGE[1]}")
    try:
        key: bytes = _argon2id.kdf(
            length, password, salt, opslimit=params.opslimit, memlimit=params.memlimit
        )
    except nacl.exceptions.RuntimeError as exc:  # libsodium could not allocate memlimit bytes
        raise MemoryError(f"Argon2id could not get {params.memlimit} bytes of memory") from exc
    return key


def derive_key(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    """The 32-byte key that ``passphrase`` (normalised to NFC) and ``salt`` give under ``params``."""
    if not isinstance(passphrase, str):
        raise TypeError("a passphrase is text (str)")
    return argon2id(unicodedata.normalize("NFC", passphrase).encode("utf-8"), salt, params)


def expand_key(key: bytes, info: str) -> bytes:
    """A 32-byte key for the purpose named by ``info``, independent of the keys for other
    purposes: HKDF-Expand (RFC 5869 section 2.3) with SHA-256, one block, ``key`` as PRK."""
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise MalformedInput(f"a key to expand is exactly {KEY_BYTES} bytes")
    return hmac.new(key, info.encode("utf-8") + b"\x01", hashlib.sha256).digest()
