"""IETF Token Status List (draft-ietf-oauth-status-list): lists, tokens, references.

A Status List is a byte array holding one status of ``bits`` bits (1, 2, 4 or
8) per Referenced Token (section "Status List"):

1. Index ``i`` lives in byte ``i * bits // 8``, at bit offset
   ``i * bits % 8`` counted from the *least significant* bit: bits are read
   right to left within a byte, bytes left to right.
2. The array is compressed with DEFLATE in the ZLIB format (RFC 1950/1951)
   and base64url-encoded as ``lst``.

A Status List Token (section "Status List Token in JWT Format") is a JWT with
``typ`` ``statuslist+jwt`` and claims ``sub`` (the list's URI), ``iat``,
optional ``exp`` and ``ttl``, and ``status_list {bits, lst}``.

Validation of a Referenced Token's status (section "Validation Rules"),
numbered as the draft numbers them; the comments below reuse the numbers:

1. The token carries ``status.status_list`` with a non-negative integer
   ``idx`` and a URI ``uri``.
3. The Status List Token's signature and JWT validity check out (RFC 7519).
4.1 Its ``sub`` equals the ``uri`` of the reference (simple string comparison).
4.3 If ``exp`` is present, the Status List Token has not expired.
5. The list inflates (with a size limit: a small ``lst`` must not inflate
   into gigabytes).
6. ``idx`` is inside the list; out of bounds fails.
7. The status value decides: VALID passes, INVALID is :class:`Revoked`,
   SUSPENDED is :class:`Suspended`, any other value is a :class:`StatusError`
   (akashi attaches no meaning to application-specific values).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey
from identity.errors import (
    MalformedInput,
    Revoked,
    StatusError,
    Suspended,
    VerificationError,
)
from identity.jose.jws import sign_jwt, verify_jwt
from identity.jose.jwt import TimePolicy, check_time_claims
from identity.schemas import validate

__all__ = [
    "ALLOWED_BITS",
    "INVALID",
    "STATUS_LIST_TYP",
    "SUSPENDED",
    "VALID",
    "StatusList",
    "StatusListLimits",
    "StatusListToken",
    "StatusReference",
    "check_status",
    "parse_status_list_claims",
    "parse_status_reference",
    "sign_status_list_token",
    "verify_status_list_token",
]

VALID = 0x00
INVALID = 0x01
SUSPENDED = 0x02

ALLOWED_BITS = (1, 2, 4, 8)
STATUS_LIST_TYP = "statuslist+jwt"

# Scheme ":" then no whitespace (RFC 3986 section 3.1); enough to tell a URI from junk.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")


@dataclass(frozen=True, slots=True)
class StatusListLimits:
    """Bounds checked before any work. 8 MiB inflated is 67 million 1-bit entries."""

    max_inflated_bytes: int = 8 * 1024 * 1024
    max_lst_chars: int = 4 * 1024 * 1024


class StatusList:
    """A mutable status list of ``bits`` bits per entry (rule 1 of the module docstring)."""

    __slots__ = ("_bits", "_data")

    def __init__(self, bits: int, data: bytes | bytearray) -> None:
        if bits not in ALLOWED_BITS:
            raise MalformedInput(f"status list 'bits' must be 1, 2, 4 or 8, not {bits!r}")
        if not data:
            raise MalformedInput("a status list must hold at least one byte")
        self._bits = bits
        self._data = bytearray(data)

    @classmethod
    def new(cls, bits: int, size: int, *, default: int = VALID) -> StatusList:
        """A list of at least ``size`` entries, all set to ``default``."""
        if size < 1:
            raise ValueError("a status list holds at least one entry")
        nbytes = (size * bits + 7) // 8
        listed = cls(bits, bytes(nbytes))
        _check_value(bits, default)
        pattern = sum(default << (k * bits) for k in range(8 // bits))
        listed._data[:] = bytes([pattern]) * nbytes
        return listed

    @property
    def bits(self) -> int:
        """Bits per status: 1, 2, 4 or 8."""
        return self._bits

    @property
    def size(self) -> int:
        """Number of entries: every whole ``bits``-wide slot of the byte array."""
        return len(self._data) * 8 // self._bits

    def to_bytes(self) -> bytes:
        """The uncompressed byte array."""
        return bytes(self._data)

    def _locate(self, idx: int) -> tuple[int, int]:
        position = idx * self._bits
        return position // 8, position % 8

    def get(self, idx: int) -> int:
        """The status at ``idx``. An index from a token outside the list is malformed (rule 6)."""
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < self.size:
            raise MalformedInput(f"status index {idx!r} is outside the list (size {self.size})")
        byte, shift = self._locate(idx)
        return (self._data[byte] >> shift) & ((1 << self._bits) - 1)

    def set(self, idx: int, value: int) -> None:
        """Set the status at ``idx`` (issuer side: a bad index or value is a programming error)."""
        if not 0 <= idx < self.size:
            raise IndexError(f"status index {idx} is outside the list (size {self.size})")
        _check_value(self._bits, value)
        byte, shift = self._locate(idx)
        mask = ((1 << self._bits) - 1) << shift
        self._data[byte] = (self._data[byte] & ~mask) | (value << shift)

    def encode(self) -> str:
        """``lst``: ZLIB-wrapped DEFLATE at the highest level, base64url (rule 2)."""
        return b64url_encode(zlib.compress(bytes(self._data), 9))

    def to_json(self) -> dict[str, Any]:
        """The JSON Status List object ``{"bits": …, "lst": …}``."""
        return {"bits": self._bits, "lst": self.encode()}

    @classmethod
    def decode(
        cls, bits: int, lst: str, *, limits: StatusListLimits = StatusListLimits()
    ) -> StatusList:
        """Parse ``lst`` for ``bits``-bit statuses, refusing over-large inflations (rule 5)."""
        if not isinstance(lst, str) or len(lst) > limits.max_lst_chars:
            raise MalformedInput("status list 'lst' is not a string of acceptable length")
        compressed = b64url_decode(lst, what="status list 'lst'")
        return cls(bits, _inflate(compressed, limits.max_inflated_bytes))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusList):
            return NotImplemented
        return self._bits == other._bits and self._data == other._data

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"StatusList(bits={self._bits}, size={self.size})"


def _check_value(bits: int, value: int) -> None:
    if isinstance(value, bool) or not 0 <= value < (1 << bits):
        raise ValueError(f"status value {value!r} does not fit in {bits} bits")


def _inflate(compressed: bytes, limit: int) -> bytes:
    """Inflate a ZLIB stream to at most ``limit`` bytes; the stream must end exactly."""
    inflater = zlib.decompressobj()  # wbits=15: the ZLIB header and Adler-32 are required
    try:
        data = inflater.decompress(compressed, limit + 1)
    except zlib.error as exc:
        raise MalformedInput("status list is not valid ZLIB/DEFLATE data") from exc
    if len(data) > limit:
        raise MalformedInput(f"status list inflates to more than {limit} bytes")
    if not inflater.eof or inflater.unused_data:
        raise MalformedInput("status list ZLIB stream is truncated or has trailing bytes")
    return data


@dataclass(frozen=True, slots=True)
class StatusReference:
    """A Referenced Token's ``status.status_list`` member: which list, which entry."""

    idx: int
    uri: str

    def to_claim(self) -> dict[str, Any]:
        """The ``status`` claim value to put in a Referenced Token."""
        return {"status_list": {"idx": self.idx, "uri": self.uri}}


def parse_status_reference(claims: Mapping[str, Any]) -> StatusReference:
    """Rule 1: read ``status.status_list {idx, uri}`` from a Referenced Token's claims."""
    status = claims.get("status") if isinstance(claims, Mapping) else None
    if not isinstance(status, Mapping):
        raise MalformedInput("token has no 'status' object")
    validate(dict(status), "status-reference")
    ref = status["status_list"]
    if _URI.fullmatch(ref["uri"]) is None:
        raise MalformedInput("status_list 'uri' is not a URI")
    return StatusReference(idx=ref["idx"], uri=ref["uri"])


@dataclass(frozen=True, slots=True)
class StatusListToken:
    """The verified contents of a Status List Token."""

    uri: str
    iat: int
    exp: int | None
    ttl: int | None
    status_list: StatusList

    def refresh_due(self, resolved_at: int, now: int) -> bool:
        """Rule 4.4: a cached copy should be fetched again once ``resolved_at + ttl`` passed."""
        return self.ttl is not None and resolved_at + self.ttl < now


def sign_status_list_token(
    status_list: StatusList,
    *,
    uri: str,
    iat: int,
    key: Ed25519PrivateKey,
    exp: int | None = None,
    ttl: int | None = None,
    kid: str | None = None,
) -> str:
    """Sign ``status_list`` as a ``statuslist+jwt`` whose ``sub`` is ``uri``."""
    claims: dict[str, Any] = {"sub": uri, "iat": iat, "status_list": status_list.to_json()}
    if exp is not None:
        claims["exp"] = exp
    if ttl is not None:
        claims["ttl"] = ttl
    validate(claims, "status-list-token")
    header = {"typ": STATUS_LIST_TYP} | ({"kid": kid} if kid is not None else {})
    return sign_jwt(header, claims, key)


def parse_status_list_claims(
    claims: Mapping[str, Any], *, uri: str, limits: StatusListLimits = StatusListLimits()
) -> StatusListToken:
    """Rules 3.2, 4.1 and 5 on claims whose signature and times were already checked."""
    validate(dict(claims), "status-list-token")  # 3.2: required claims, types
    if claims["sub"] != uri:  # 4.1: the list the reference points at, not another one
        raise VerificationError(
            f"status list token is for {claims['sub']!r}, not the referenced {uri!r}"
        )
    listed = claims["status_list"]
    status_list = StatusList.decode(listed["bits"], listed["lst"], limits=limits)  # 5
    return StatusListToken(
        uri=claims["sub"],
        iat=claims["iat"],
        exp=claims.get("exp"),
        ttl=claims.get("ttl"),
        status_list=status_list,
    )


def verify_status_list_token(
    token: str,
    key: Ed25519PublicKey,
    *,
    uri: str,
    now: int | float,
    policy: TimePolicy = TimePolicy(),
    limits: StatusListLimits = StatusListLimits(),
) -> StatusListToken:
    """Verify a Status List Token fetched for the reference ``uri`` (rules 3-5)."""
    if not isinstance(token, str) or len(token) > limits.max_lst_chars + 4096:
        raise MalformedInput("status list token is not a string of acceptable length")
    _header, claims = verify_jwt(token, key, typ=STATUS_LIST_TYP, what="status list token")  # 3
    require = policy.require | {"iat"}
    timing = TimePolicy(skew=policy.skew, max_iat_age=policy.max_iat_age, require=require)
    check_time_claims(claims, now, timing, what="status list token")  # 3.1, 4.2, 4.3
    return parse_status_list_claims(claims, uri=uri, limits=limits)


def check_status(reference: StatusReference, verified: StatusListToken) -> None:
    """Rules 4.1, 6 and 7: return if the referenced entry is VALID, raise otherwise."""
    if verified.uri != reference.uri:  # 4.1
        raise VerificationError(
            f"status list token is for {verified.uri!r}, not the referenced {reference.uri!r}"
        )
    status = verified.status_list.get(reference.idx)  # 6: MalformedInput when out of range
    if status == VALID:  # 7
        return
    if status == INVALID:
        raise Revoked("the issuer revoked this credential")
    if status == SUSPENDED:
        raise Suspended("the issuer suspended this credential")
    raise StatusError(f"credential has status 0x{status:02x}, which akashi does not accept")
