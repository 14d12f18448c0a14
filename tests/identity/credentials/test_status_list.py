"""Token Status List: the draft's vectors, our encoding, the signed token, status checks."""

from __future__ import annotations

import contextlib
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity.credentials.status_list import (
    INVALID,
    SUSPENDED,
    VALID,
    StatusList,
    StatusListLimits,
    StatusReference,
    check_status,
    parse_status_list_claims,
    parse_status_reference,
    sign_status_list_token,
    verify_status_list_token,
)
from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import (
    AkashiError,
    Expired,
    InvalidSignature,
    MalformedInput,
    Revoked,
    SchemaViolation,
    StatusError,
    Suspended,
    UnsupportedAlgorithm,
    VerificationError,
)
from identity.jose.jws import sign_jwt

VECTORS = json.loads(
    (Path(__file__).parents[2] / "vectors" / "status-list" / "examples.json").read_text("utf-8")
)
# The per-index statuses drawn in the draft's figures (see tests/vectors/status-list/SOURCE).
EXPECTED = {
    1: [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1],
    2: [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3],
}
URI = "https://issuer.akashi.example/statuslists/1"
NOW = 1_800_000_000
KEY = Ed25519PrivateKey.from_seed(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_seed(bytes(32))


def _case(bits: int) -> dict[str, Any]:
    return next(c for c in VECTORS["cases"] if c["bits"] == bits)


# --- the draft's vectors ---------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 2])
def test_vector_decodes_to_the_draft_bytes_and_statuses(bits: int) -> None:
    case = _case(bits)
    listed = StatusList.decode(bits, case["lst"])
    assert listed.to_bytes().hex() == case["byte_array_hex"]
    assert [listed.get(i) for i in range(len(EXPECTED[bits]))] == EXPECTED[bits]


@pytest.mark.parametrize("bits", [1, 2])
def test_our_encoding_of_the_draft_statuses_round_trips(bits: int) -> None:
    values = EXPECTED[bits]
    listed = StatusList.new(bits, len(values))
    for i, value in enumerate(values):
        listed.set(i, value)
    assert listed.to_bytes().hex() == _case(bits)["byte_array_hex"]
    lst = listed.encode()
    assert b64url_decode(lst)[:1] == b"\x78"  # ZLIB header (RFC 1950), not raw DEFLATE
    assert StatusList.decode(bits, lst) == listed


def test_vector_jwt_payload_parses_for_its_uri() -> None:
    payload = VECTORS["status_list_jwt_example"]["payload"]
    token = parse_status_list_claims(payload, uri=payload["sub"])
    assert token.ttl == 43200 and token.exp == 2291720170
    assert token.status_list.get(0) == INVALID and token.status_list.get(1) == VALID


# --- list mechanics ------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_default_value_fills_every_entry(bits: int) -> None:
    listed = StatusList.new(bits, 20, default=1)
    assert all(listed.get(i) == 1 for i in range(listed.size))


def test_set_touches_only_its_own_bits() -> None:
    listed = StatusList.new(2, 8)
    listed.set(5, SUSPENDED)
    assert [listed.get(i) for i in range(8)] == [0, 0, 0, 0, 0, 2, 0, 0]
    assert listed.to_bytes() == bytes([0, 0b0000_1000])


def test_bad_bits_and_values_are_refused() -> None:
    with pytest.raises(MalformedInput):
        StatusList(3, b"\x00")
    with pytest.raises(ValueError):
        StatusList.new(1, 8).set(0, 2)
    with pytest.raises(IndexError):
        StatusList.new(1, 8).set(8, 1)


def test_index_out_of_range_is_malformed() -> None:
    listed = StatusList.new(1, 16)
    for idx in (16, -1, True, "0"):
        with pytest.raises(MalformedInput):
            listed.get(idx)  # type: ignore[arg-type]


def test_zip_bomb_is_refused_before_it_is_inflated() -> None:
    bomb = b64url_encode(zlib.compress(bytes(64 * 1024 * 1024), 9))  # 64 MiB of zeros, ~64 KB
    assert len(bomb) < 100_000
    with pytest.raises(MalformedInput, match="inflates to more than"):
        StatusList.decode(1, bomb)
    limits = StatusListLimits(max_inflated_bytes=1024)
    with pytest.raises(MalformedInput):
        StatusList.decode(1, b64url_encode(zlib.compress(bytes(1025))), limits=limits)


@pytest.mark.parametrize(
    "lst",
    [
        b64url_encode(zlib.compress(b"\x01\x02")[:-1]),  # truncated
        b64url_encode(zlib.compress(b"\x01\x02") + b"\x00"),  # trailing bytes
        b64url_encode(zlib.compress(b"\x01\x02", wbits=-15)),  # raw DEFLATE, no ZLIB header
        b64url_encode(zlib.compress(b"")),  # empty list
        "eNrbuRgAAhcBXQ==",  # padded base64
        "not base64!",
    ],
)
def test_malformed_lists_are_refused(lst: str) -> None:
    with pytest.raises(MalformedInput):
        StatusList.decode(1, lst)


# --- property tests ------------------------------------------------------------------


@st.composite
def _lists(draw: st.DrawFn) -> tuple[int, list[int]]:
    bits = draw(st.sampled_from([1, 2, 4, 8]))
    values = draw(st.lists(st.integers(0, (1 << bits) - 1), min_size=1, max_size=200))
    return bits, values


@settings(max_examples=200, derandomize=True, deadline=None)
@given(_lists())
def test_round_trip_for_every_bit_size(case: tuple[int, list[int]]) -> None:
    bits, values = case
    listed = StatusList.new(bits, len(values))
    for i, value in enumerate(values):
        listed.set(i, value)
    decoded = StatusList.decode(bits, listed.encode())
    assert [decoded.get(i) for i in range(len(values))] == values
    # a naive reference: LSB-first bit string per byte
    naive = "".join(format(v, f"0{bits}b")[::-1] for v in values)
    got = "".join(format(b, "08b")[::-1] for b in decoded.to_bytes())
    assert got.startswith(naive)


@settings(max_examples=150, derandomize=True, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 255))
def test_flipped_lst_byte_fails_cleanly_or_decodes(position: int, mask: int) -> None:
    """A flipped compressed byte never escapes as a foreign exception. (It may still decode:
    the ZLIB level bits are informational, which is why lists travel inside a signed token.)"""
    compressed = bytearray(b64url_decode(_case(2)["lst"]))
    compressed[position % len(compressed)] ^= mask
    with contextlib.suppress(AkashiError):
        StatusList.decode(2, b64url_encode(bytes(compressed)))


@settings(
    max_examples=150, derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.integers(0, 10_000), st.integers(1, 255))
def test_flipped_token_byte_is_rejected(position: int, mask: int) -> None:
    token = bytearray(_token().encode("ascii"))
    token[position % len(token)] ^= mask
    with pytest.raises(AkashiError):
        verify_status_list_token(
            token.decode("latin-1"), KEY.public_key, uri=URI, now=NOW
        )


# --- the signed token and status checks -----------------------------------------------


def _list() -> StatusList:
    listed = StatusList.new(2, 16)
    listed.set(3, INVALID)
    listed.set(4, SUSPENDED)
    listed.set(5, 3)
    return listed


def _token(**overrides: Any) -> str:
    args: dict[str, Any] = {"uri": URI, "iat": NOW - 60, "key": KEY, "exp": NOW + 3600, "ttl": 300}
    args.update(overrides)
    return sign_status_list_token(_list(), **args)


def test_token_round_trip() -> None:
    verified = verify_status_list_token(_token(kid="k1"), KEY.public_key, uri=URI, now=NOW)
    assert verified.status_list == _list()
    assert (verified.uri, verified.iat, verified.exp, verified.ttl) == (URI, NOW - 60, NOW + 3600, 300)
    assert not verified.refresh_due(resolved_at=NOW - 100, now=NOW)
    assert verified.refresh_due(resolved_at=NOW - 301, now=NOW)


def test_token_for_another_uri_is_refused() -> None:
    with pytest.raises(VerificationError, match="not the referenced"):
        verify_status_list_token(_token(), KEY.public_key, uri=URI + "x", now=NOW)


def test_expired_token_is_refused() -> None:
    with pytest.raises(Expired):
        verify_status_list_token(_token(), KEY.public_key, uri=URI, now=NOW + 3600 + 61)


def test_token_signed_by_another_key_is_refused() -> None:
    with pytest.raises(InvalidSignature):
        verify_status_list_token(_token(key=OTHER_KEY), KEY.public_key, uri=URI, now=NOW)


_SL = {"bits": 1, "lst": "eNrbuRgAAhcBXQ"}
_TYP = {"typ": "statuslist+jwt"}


@pytest.mark.parametrize(
    ("header", "claims", "error"),
    [
        ({"typ": "JWT"}, {"sub": URI, "iat": NOW, "status_list": _SL}, MalformedInput),
        (_TYP, {"sub": URI, "status_list": _SL}, MalformedInput),
        (_TYP, {"sub": URI, "iat": NOW, "status_list": {**_SL, "bits": 3}}, SchemaViolation),
        (_TYP, {"sub": URI, "iat": NOW, "ttl": 0, "status_list": _SL}, SchemaViolation),
        ({**_TYP, "crit": ["x"]}, {"sub": URI, "iat": NOW, "status_list": _SL}, UnsupportedAlgorithm),
    ],
    ids=["wrong-typ", "no-iat", "bits-3", "ttl-0", "crit"],
)
def test_bad_tokens_are_refused(
    header: dict[str, Any], claims: dict[str, Any], error: type[AkashiError]
) -> None:
    with pytest.raises(error):
        verify_status_list_token(sign_jwt(header, claims, KEY), KEY.public_key, uri=URI, now=NOW)


def test_schema_violation_names_the_field() -> None:
    claims = {"sub": URI, "iat": NOW, "status_list": {"bits": 5, "lst": "eNrbuRgAAhcBXQ"}}
    with pytest.raises(SchemaViolation) as info:
        parse_status_list_claims(claims, uri=URI)
    assert info.value.path == "/status_list/bits"


@pytest.mark.parametrize(
    ("idx", "error"),
    [(0, None), (3, Revoked), (4, Suspended), (5, StatusError), (16, MalformedInput)],
    ids=["valid", "invalid", "suspended", "application-specific", "out-of-range"],
)
def test_check_status(idx: int, error: type[AkashiError] | None) -> None:
    verified = verify_status_list_token(_token(), KEY.public_key, uri=URI, now=NOW)
    reference = parse_status_reference({"status": StatusReference(idx, URI).to_claim()})
    if error is None:
        check_status(reference, verified)
    else:
        with pytest.raises(error):
            check_status(reference, verified)


def test_check_status_refuses_a_list_for_another_uri() -> None:
    verified = verify_status_list_token(_token(), KEY.public_key, uri=URI, now=NOW)
    with pytest.raises(VerificationError):
        check_status(StatusReference(0, URI + "/2"), verified)


@pytest.mark.parametrize(
    ("claims", "path"),
    [
        ({}, None),
        ({"status": {}}, "/"),
        ({"status": {"status_list": {"idx": -1, "uri": URI}}}, "/status_list/idx"),
        ({"status": {"status_list": {"idx": 1.5, "uri": URI}}}, "/status_list/idx"),
        ({"status": {"status_list": {"idx": 0, "uri": "no scheme"}}}, "/status_list/uri"),
        ({"status": {"status_list": {"idx": 0}}}, "/status_list"),
    ],
    ids=["no-status", "no-status-list", "negative-idx", "float-idx", "not-a-uri", "no-uri"],
)
def test_bad_references_are_refused(claims: dict[str, Any], path: str | None) -> None:
    with pytest.raises(MalformedInput) as info:
        parse_status_reference(claims)
    if path is not None:
        assert isinstance(info.value, SchemaViolation) and info.value.path == path


def test_reference_round_trip() -> None:
    ref = StatusReference(412, URI)
    assert parse_status_reference({"status": ref.to_claim()}) == ref
