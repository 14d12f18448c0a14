"""Byte encodings: base64url without padding, standard base64, multibase base58btc.

Decoders are strict: they accept exactly one spelling for each byte string, so
that a changed character can never decode to the same bytes (a non-canonical
final character of base64, padding where none belongs, foreign characters).
"""

from __future__ import annotations

import base64
import binascii
import re

import base58

from identity.errors import MalformedInput

__all__ = [
    "b64decode_std",
    "b64encode_std",
    "b64url_decode",
    "b64url_encode",
    "multibase_b58_decode",
    "multibase_b58_encode",
    "varint_decode",
    "varint_encode",
]

_B64STD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_B58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]+")


_TO_URL = bytes.maketrans(b"+/", b"-_")
_FROM_URL = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", b"", b"==", b"=")
# For each base64 character, the value of its 6 bits (or 64 for a non-alphabet byte).
_SEXTET = bytes(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".find(chr(c)) % 65
    if chr(c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    else 64
    for c in range(256)
)


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URL).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes, *, what: str = "base64url value") -> bytes:
    """Decode unpadded base64url, refusing padding, foreign characters and
    non-canonical spellings (a final character with stray low bits set)."""
    if isinstance(text, str):
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError as exc:
            raise MalformedInput(f"{what} is not unpadded base64url") from exc
    else:
        raw = text
    remainder = len(raw) % 4
    if remainder == 1:
        raise MalformedInput(f"{what} is not unpadded base64url")
    if remainder and _SEXTET[raw[-1]] & (0x0F if remainder == 2 else 0x03):
        raise MalformedInput(f"{what} is not canonical base64url (stray bits at the end)")
    # Map to the standard alphabet, deleting "+", "/" and "=": they belong to standard
    # base64 and would pass after translation, so a shorter result means foreign input.
    standard = raw.translate(_FROM_URL, b"+/=")
    if len(standard) != len(raw):
        raise MalformedInput(f"{what} is not unpadded base64url")
    try:
        return binascii.a2b_base64(standard + _PADDING[remainder], strict_mode=True)
    except binascii.Error as exc:
        raise MalformedInput(f"{what} is not unpadded base64url") from exc


def b64encode_std(data: bytes) -> str:
    """Standard padded base64 (RFC 4648 section 4), as signed notes use."""
    return base64.b64encode(data).decode("ascii")


def b64decode_std(text: str, *, what: str = "base64 value") -> bytes:
    """Decode standard padded base64, refusing any non-canonical spelling."""
    if _B64STD.fullmatch(text) is None or len(text) % 4 != 0:
        raise MalformedInput(f"{what} is not padded base64")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput(f"{what} is not padded base64") from exc
    if b64encode_std(data) != text:
        raise MalformedInput(f"{what} is not canonical base64 (stray bits at the end)")
    return data


def multibase_b58_encode(data: bytes) -> str:
    """Multibase base58btc: ``z`` followed by the Bitcoin-alphabet base58 of ``data``."""
    return "z" + base58.b58encode(data).decode("ascii")


def multibase_b58_decode(text: str, *, what: str = "multibase value") -> bytes:
    """Decode a ``z…`` base58btc multibase string."""
    if not text.startswith("z"):
        raise MalformedInput(f"{what} is not base58btc multibase (must start with 'z')")
    body = text[1:]
    if _B58.fullmatch(body) is None:
        raise MalformedInput(f"{what} has characters outside the base58btc alphabet")
    return base58.b58decode(body)


def varint_encode(value: int) -> bytes:
    """Unsigned LEB128, as multicodec prefixes use."""
    if value < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def varint_decode(data: bytes, *, what: str = "varint") -> tuple[int, int]:
    """Decode a minimal unsigned LEB128 prefix; return ``(value, bytes_used)``."""
    value = 0
    for i, byte in enumerate(data[:9]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise MalformedInput(f"{what} is not minimally encoded")
            return value, i + 1
    raise MalformedInput(f"{what} is truncated or too long")
