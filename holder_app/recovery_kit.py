"""The recovery kit: what a person keeps offline to take their identity back.

It holds the wallet's root ``did:akashi`` and the 32-byte seed of its pre-committed
``next`` key. A stolen current key cannot rotate the DID; a *lost* one is replaced
by signing, with the kit's key, the rotation the key event log committed to, after
which the lost key is dead (ARCHITECTURE.md, "Identifiers and keys").

Text form (:func:`format_kit`), to print or write down::

    AKASHI-KIT1-XXXXX-XXXXX-…-XXXXX        28 groups of 5 characters

The 70 bytes ``D ‖ S ‖ C`` — ``D`` the SHA-256 in the DID's identifier (its
multihash without the ``0x12 0x20`` prefix), ``S`` the seed, ``C`` the first 6 bytes
of SHA-256("akashi-kit1" ‖ D ‖ S) — in Crockford base32: 112 characters, in 28
groups of 4, each group followed by its Luhn mod 32 check character.

:func:`parse_kit` reads what a person types, by these rules:

1. it starts ``AKASHI-KIT`` and a version: version 1 is read, a higher one is
   :class:`~identity.errors.UnsupportedVersion`, anything else not a kit;
2. case, spaces and line breaks do not matter, and O reads as 0, I and L as 1
   (Crockford's rule for letters people confuse); other characters outside the
   alphabet are refused, naming the group;
3. there are 28 groups of 5 (hyphens may be left out);
4. each group's check character matches: any single mistyped character, and any
   swap of two neighbours but 0 and Z, is found and its group named;
5. the 48-bit checksum ``C`` matches: catches the rest (two typos in one group,
   groups in the wrong order).

Errors are :class:`~identity.errors.MalformedInput` with a message saying what to
fix. The QR code (:func:`kit_qr_svg`, :func:`kit_qr_png`) carries the same text in
alphanumeric mode, at error correction level Q because kits are printed and kept
for years. :func:`verify_kit` checks a kit against the DID's current key state.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
from dataclasses import dataclass

import segno

from identity.crypto.encoding import multibase_b58_decode, multibase_b58_encode
from identity.crypto.keys import Ed25519PrivateKey
from identity.did.key_events import METHOD_PREFIX, KeyState, key_digest
from identity.errors import KeyStateError, MalformedInput, UnsupportedVersion

__all__ = ["KIT_VERSION", "RecoveryKit", "format_kit", "kit_qr_png", "kit_qr_svg", "parse_kit", "verify_kit"]

KIT_VERSION = 1
_PREFIX = "AKASHI-KIT"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
_VALUE = {char: value for value, char in enumerate(_ALPHABET)} | {"O": 0, "I": 1, "L": 1}
_CONFUSED = str.maketrans("OIL", "011")  # in the version number too
_MULTIHASH_SHA256 = b"\x12\x20"
_CHECKSUM_BYTES = 6
_DATA_CHARS = 4  # per group, then one check character
_GROUPS = 28  # (32 + 32 + 6) bytes * 8 / 5 bits / 4 characters
_HEADER = re.compile(r"AKASHI-KIT([0-9OIL]+)-?")


@dataclass(frozen=True, slots=True, repr=False)
class RecoveryKit:
    """A wallet's root DID and the seed of its pre-committed next key."""

    did: str
    seed: bytes

    def __post_init__(self) -> None:
        _scid_digest(self.did)  # a did:akashi, or MalformedInput
        if not isinstance(self.seed, bytes) or len(self.seed) != 32:
            raise MalformedInput("a recovery kit's key seed is exactly 32 bytes")

    @property
    def key(self) -> Ed25519PrivateKey:
        """The next key itself."""
        return Ed25519PrivateKey.from_seed(self.seed)

    def __repr__(self) -> str:  # never print the seed
        return f"RecoveryKit(did={self.did!r}, seed=…)"


def _scid_digest(did: str) -> bytes:
    """The 32-byte SHA-256 that a did:akashi identifier encodes."""
    if not isinstance(did, str) or not did.startswith(METHOD_PREFIX):
        raise MalformedInput("a recovery kit is for a did:akashi identifier")
    scid = did[len(METHOD_PREFIX) :]
    raw = multibase_b58_decode("z" + scid, what="did:akashi identifier")
    if len(raw) != 34 or not raw.startswith(_MULTIHASH_SHA256) or _did_of(raw[2:]) != did:
        raise MalformedInput("a did:akashi identifier is a base58btc sha2-256 multihash")
    return raw[2:]


def _did_of(digest: bytes) -> str:
    return METHOD_PREFIX + multibase_b58_encode(_MULTIHASH_SHA256 + digest)[1:]


def _checksum(data: bytes) -> bytes:
    return hashlib.sha256(b"akashi-kit1" + data).digest()[:_CHECKSUM_BYTES]


def _luhn_mod32(values: list[int]) -> int:
    """The Luhn mod N check value (N = 32) of ``values``: doubling every second value from
    the right is a permutation of 0..31, so any single changed value changes the sum."""
    total, factor = 0, 2
    for value in reversed(values):
        addend = factor * value
        total += addend // 32 + addend % 32
        factor = 3 - factor
    return (32 - total % 32) % 32


def format_kit(kit: RecoveryKit) -> str:
    """The kit as text: ``AKASHI-KIT1-`` and 28 hyphen-separated groups of 5 characters."""
    data = _scid_digest(kit.did) + kit.seed
    number = int.from_bytes(data + _checksum(data), "big")
    symbols = [(number >> (5 * i)) & 31 for i in reversed(range(_GROUPS * _DATA_CHARS))]
    groups = []
    for start in range(0, len(symbols), _DATA_CHARS):
        values = symbols[start : start + _DATA_CHARS]
        groups.append("".join(_ALPHABET[v] for v in [*values, _luhn_mod32(values)]))
    return f"{_PREFIX}{KIT_VERSION}-" + "-".join(groups)


def parse_kit(text: str) -> RecoveryKit:
    """The kit written in ``text``, checked by the rules of the module docstring."""
    cleaned = re.sub(r"\s+", "", text).upper()
    header = _HEADER.match(cleaned)
    if header is None:  # rule 1
        raise MalformedInput(f"this is not an akashi recovery kit: a kit begins {_PREFIX}{KIT_VERSION}-")
    version = int(header.group(1).translate(_CONFUSED))
    if version > KIT_VERSION:
        raise UnsupportedVersion(
            f"this recovery kit is version {version}, made by a newer akashi; update akashi to read it"
        )
    if version != KIT_VERSION:
        raise MalformedInput(f"recovery kit version {version} does not exist: check the start of the kit")
    groups = _groups(cleaned[header.end() :])
    values: list[int] = []
    for number, group in enumerate(groups, start=1):
        for char in group:  # rule 2
            if char not in _VALUE:
                raise MalformedInput(
                    f"group {number} of the recovery kit ({group}) has {char!r}, which is never in a kit"
                )
        digits = [_VALUE[char] for char in group]
        if _luhn_mod32(digits[:-1]) != digits[-1]:  # rule 4
            raise MalformedInput(f"group {number} of the recovery kit ({group}) has a mistyped character")
        values.extend(digits[:-1])
    number_value = 0
    for value in values:
        number_value = number_value << 5 | value
    raw = number_value.to_bytes(64 + _CHECKSUM_BYTES, "big")
    data, checksum = raw[:64], raw[64:]
    if not hmac.compare_digest(checksum, _checksum(data)):  # rule 5
        raise MalformedInput(
            "the recovery kit's checksum does not match: a character is mistyped or two groups are swapped"
        )
    return RecoveryKit(_did_of(data[:32]), data[32:])


def _groups(body: str) -> list[str]:
    """Rule 3: 28 groups of 5 characters, however the hyphens were typed."""
    parts = [part for part in body.split("-") if part]
    if len(parts) == _GROUPS:
        for number, part in enumerate(parts, start=1):
            if len(part) != _DATA_CHARS + 1:
                raise MalformedInput(
                    f"group {number} of the recovery kit ({part}) has {len(part)} characters, not 5"
                )
        return parts
    joined = "".join(parts)
    size = _DATA_CHARS + 1
    if len(joined) != _GROUPS * size:
        raise MalformedInput(
            f"the recovery kit has {len(joined)} characters after its start, not {_GROUPS * size}: "
            "a character or a group is missing or extra"
        )
    return [joined[i : i + size] for i in range(0, len(joined), size)]


def verify_kit(kit: RecoveryKit, state: KeyState) -> Ed25519PrivateKey:
    """The kit's key, if it may sign the next rotation of ``state`` (a replayed key event
    log): same DID, and its key among the digests committed as next keys."""
    if kit.did != state.did:
        raise KeyStateError(f"this recovery kit is for {kit.did}, not for {state.did}")
    if state.deactivated:
        raise KeyStateError(f"{state.did} is deactivated: nothing can recover it")
    key = kit.key
    if key_digest(key.public_key) not in state.next_digests:
        raise KeyStateError(
            "the key in this recovery kit is not the one committed for the next rotation: "
            "the kit is outdated (a rotation happened after it was made) or was already used"
        )
    return key


def _qr(kit: RecoveryKit) -> segno.QRCode:
    # level Q (25% recovery): a printed kit may be kept for years, folded or stained
    return segno.make_qr(format_kit(kit), error="q")


def kit_qr_svg(kit: RecoveryKit, *, scale: int = 4) -> str:
    """The kit as an SVG QR code (a complete XML document)."""
    out = io.BytesIO()
    _qr(kit).save(out, kind="svg", scale=scale, border=4, title="akashi recovery kit")
    return out.getvalue().decode("utf-8")


def kit_qr_png(kit: RecoveryKit, *, scale: int = 6) -> bytes:
    """The kit as a PNG QR code."""
    out = io.BytesIO()
    _qr(kit).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
