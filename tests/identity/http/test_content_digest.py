"""Content-Digest (RFC 9530): the RFC's own values, then the rules of identity.http.content_digest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import identity.errors as errors
from identity.errors import AkashiError, DigestMismatch, MalformedInput, UnsupportedAlgorithm
from identity.http.content_digest import (
    MAX_FIELD_LENGTH,
    check_content_digest,
    content_digest,
    parse_content_digest,
)

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "rfc9530" / "content-digest.json").read_text())
HELLO = b'{"hello": "world"}'
SHA256_HELLO = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
SHA512_HELLO = (
    "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
)


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda case: case["name"])
def test_rfc9530_values_are_accepted_and_reproduced(case: dict[str, Any]) -> None:
    body = case["body"].encode()
    check_content_digest(case["header"], body)
    if case["produced"]:
        assert content_digest(body) == case["header"]


@pytest.mark.parametrize("case", VECTORS["refused"], ids=lambda case: case["name"])
def test_rfc9530_values_akashi_refuses(case: dict[str, Any]) -> None:
    with pytest.raises(getattr(errors, case["error"])):
        check_content_digest(case["header"], case["body"].encode())


def test_unknown_algorithms_beside_an_accepted_one_are_ignored() -> None:
    # Appendix D's md5 value beside its sha-256 value: md5 is not checked, sha-256 is.
    check_content_digest(f"{SHA256_HELLO}, md5=:Sd/dVLAcvNLSq16eXua5uQ==:", HELLO)
    with pytest.raises(DigestMismatch):
        check_content_digest(f"{SHA256_HELLO}, md5=:Sd/dVLAcvNLSq16eXua5uQ==:", HELLO + b"\n")


def test_every_accepted_member_must_match() -> None:
    check_content_digest(f"{SHA256_HELLO},{SHA512_HELLO}", HELLO)
    wrong_512 = SHA512_HELLO.replace("WZDP", "WZDQ")
    with pytest.raises(DigestMismatch):
        check_content_digest(f"{SHA256_HELLO}, {wrong_512}", HELLO)


def test_a_digest_of_empty_content_does_not_cover_a_body() -> None:
    # RFC 9530 B.2's HEAD response digest, presented with content.
    with pytest.raises(DigestMismatch):
        check_content_digest("sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:", HELLO)


def test_optional_whitespace_around_members_is_allowed() -> None:
    check_content_digest(f"  {SHA256_HELLO} \t,\t {SHA512_HELLO}  ", HELLO)
    assert set(parse_content_digest(f"{SHA256_HELLO},{SHA512_HELLO}")) == {"sha-256", "sha-512"}


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ("", MalformedInput),
        (" ", MalformedInput),
        (f"{SHA256_HELLO},", MalformedInput),  # trailing comma
        (f"{SHA256_HELLO},,{SHA512_HELLO}", MalformedInput),  # empty member
        (f"{SHA256_HELLO}, {SHA256_HELLO}", MalformedInput),  # duplicate key
        (f"{SHA256_HELLO};q=1", MalformedInput),  # parameters
        (SHA256_HELLO.replace("sha-256", "SHA-256"), MalformedInput),  # keys are lower case
        ("sha-256 =:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", MalformedInput),
        ("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE:", MalformedInput),  # unpadded
        ("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPF=:", MalformedInput),  # stray bits
        ("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=", MalformedInput),  # no closing colon
        ("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9D:", MalformedInput),  # 30 bytes
        ("sha-256=::", MalformedInput),  # empty digest
        ('sha-256="X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="', MalformedInput),  # a string
        ("sha-256", MalformedInput),  # a boolean member
        (SHA256_HELLO + "é", MalformedInput),
        (SHA256_HELLO + "\n", MalformedInput),
        ("sha-256=:" + "A" * MAX_FIELD_LENGTH + ":", MalformedInput),
        ("sha-384=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", UnsupportedAlgorithm),
    ],
)
def test_refused_fields(header: str, error: type[AkashiError]) -> None:
    with pytest.raises(error):
        check_content_digest(header, HELLO)


def test_a_non_string_field_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        check_content_digest(b"sha-256=:...:", HELLO)  # type: ignore[arg-type]


@given(st.binary(max_size=2048))
def test_round_trip(body: bytes) -> None:
    header = content_digest(body)
    assert header.startswith("sha-256=:") and header.endswith(":")
    check_content_digest(header, body)  # returns only when the digest matches


@given(st.binary(min_size=1, max_size=512), st.data())
def test_any_changed_byte_of_the_body_is_refused(body: bytes, data: st.DataObject) -> None:
    header = content_digest(body)
    index = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
    with pytest.raises(DigestMismatch):
        check_content_digest(header, changed)


@given(st.data())
def test_any_flipped_character_of_the_field_is_refused_with_an_akashi_error(data: st.DataObject) -> None:
    header = content_digest(HELLO)
    index = data.draw(st.integers(0, len(header) - 1))
    char = data.draw(st.characters().filter(lambda c: c != header[index]))
    with pytest.raises(AkashiError):
        check_content_digest(header[:index] + char + header[index + 1 :], HELLO)
