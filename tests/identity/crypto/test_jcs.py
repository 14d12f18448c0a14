"""RFC 8785 canonicalisation against the cyberphone test data and the RFC's number rules."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.crypto.jcs import canonical_number, canonicalize
from identity.errors import MalformedInput

VECTORS = Path(__file__).parents[2] / "vectors" / "jcs"
CASES = sorted(p.name for p in (VECTORS / "input").iterdir())


@pytest.mark.parametrize("name", CASES)
def test_canonical_output_matches_reference(name: str) -> None:
    value = json.loads((VECTORS / "input" / name).read_text(encoding="utf-8"))
    expected = (VECTORS / "output" / name).read_bytes()
    hex_form = bytes.fromhex(
        (VECTORS / "outhex" / name.replace(".json", ".txt")).read_text().replace(" ", "").replace("\n", "")
    )
    assert canonicalize(value) == expected == hex_form


# RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "text"), APPENDIX_B)
def test_numbers_follow_ecmascript(bits: str, text: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert canonical_number(value) == text


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 2**53 + 1, {1: "x"}, b"bytes", {"\ud800": 1}])
def test_non_ijson_values_are_refused(bad: object) -> None:
    with pytest.raises(MalformedInput):
        canonicalize(bad)


def test_keys_sort_by_utf16_code_units_not_code_points() -> None:
    # U+1F600 is 0xD83D 0xDE00 in UTF-16: it sorts before U+FB33 there, after it by code point.
    expected = '{"\U0001f600":2,"\ufb33":1}'.encode()
    assert canonicalize({"\ufb33": 1, "\U0001f600": 2}) == expected


@settings(max_examples=300)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_double_round_trips_through_its_canonical_text(value: float) -> None:
    text = canonical_number(value)
    assert float(text) == value
    # I-JSON: a reader takes every number as a double, so parse integers as floats too.
    reparsed = json.loads(canonicalize({"n": value}), parse_int=float)
    assert canonicalize(reparsed) == canonicalize({"n": value})
