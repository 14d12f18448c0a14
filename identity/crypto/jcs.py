"""RFC 8785 JSON Canonicalization Scheme (JCS).

Canonical bytes are what akashi hashes and signs: ledger envelopes, DID key
events, consent receipts. Two rules make it more than ``sort_keys``:

1. Numbers are written as ECMAScript's ``Number.prototype.toString`` writes
   IEEE 754 doubles (RFC 8785 section 3.2.2.3), e.g. ``1e+21``, ``1e-7``, ``-0`` → ``0``.
2. Object members are ordered by the UTF-16 code units of their names
   (section 3.2.3), which differs from code point order above U+FFFF.

Input must be I-JSON (RFC 7493): integers beyond 2**53 that a double cannot
hold exactly, NaN and infinities are refused rather than silently rounded.
"""

from __future__ import annotations

import json
import math
from typing import Any

from identity.errors import MalformedInput

__all__ = ["canonical_number", "canonicalize"]

_encode_string = json.JSONEncoder(ensure_ascii=False).encode


def canonicalize(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value (dict, list, str, number, bool, None)."""
    parts: list[str] = []
    _write(value, parts, 0)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedInput("JSON text contains a lone UTF-16 surrogate") from exc


_MAX_DEPTH = 64


def _write(value: Any, out: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise MalformedInput(f"JSON nested deeper than {_MAX_DEPTH} levels")
    if isinstance(value, str):
        out.append(_encode_string(value))
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None:
        out.append("null")
    elif isinstance(value, int):
        out.append(_canonical_int(value))
    elif isinstance(value, float):
        out.append(canonical_number(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key in sorted(value, key=_utf16_key):
            if not isinstance(key, str):
                raise MalformedInput("JSON object names must be strings")
            if not first:
                out.append(",")
            first = False
            out.append(_encode_string(key))
            out.append(":")
            _write(value[key], out, depth + 1)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out, depth + 1)
        out.append("]")
    else:
        raise MalformedInput(f"{type(value).__name__} is not a JSON value")


def _utf16_key(key: object) -> bytes:
    if not isinstance(key, str):
        raise MalformedInput("JSON object names must be strings")
    # Big-endian UTF-16 bytes compare exactly as the code-unit sequence does.
    return key.encode("utf-16-be", "surrogatepass")


def _canonical_int(value: int) -> str:
    if -(2**53) <= value <= 2**53:
        return str(value)
    as_float = float(value) if abs(value) < 2**1024 else math.inf
    if as_float != value:
        raise MalformedInput(f"integer {value} cannot be represented exactly as an IEEE 754 double")
    return canonical_number(as_float)


def canonical_number(value: float) -> str:
    """ECMAScript ``Number.prototype.toString`` of a finite double (ECMA-262 7.1.12.1)."""
    if math.isnan(value) or math.isinf(value):
        raise MalformedInput("NaN and infinity are not JSON numbers")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digit string that round-trips, as ECMAScript requires.
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    # n: the position of the decimal point relative to the first significant digit.
    n = len(int_part) + (int(exp_text) if exp_text else 0)
    if int_part == "0":
        n -= len(frac_part) - len(frac_part.lstrip("0"))
        n -= 1 - len(int_part.lstrip("0"))  # the leading "0." contributes no digit
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    exponent = n - 1
    exp_sign = "+" if exponent >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{exp_sign}{abs(exponent)}"
