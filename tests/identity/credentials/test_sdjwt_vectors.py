"""SD-JWT against public vectors: the RFC 9901 examples and the reference implementation's cases.

* ``tests/vectors/sd-jwt-rfc9901``: SD-JWTs printed in RFC 9901, signed with ES256. They are
  verified with our :func:`verify`, given a test-only ES256 verifier, and must yield the
  Processed SD-JWT Payload printed in the RFC.
* ``tests/vectors/sd-jwt-python``: the claim specifications of sd-jwt-python's end-to-end tests,
  issued, presented and verified with our own functions (Ed25519 keys).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from es256_testkey import Es256Verifier
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.credentials.sdjwt import SD, ClaimPath, issue, present, sd_hash, verify
from identity.crypto.encoding import b64url_decode
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import (
    AkashiError,
    BindingError,
    InvalidSignature,
    ProofMismatch,
    UnsupportedAlgorithm,
)
from identity.jose.jwk import public_key_to_jwk
from identity.jose.jws import parse_compact_unverified, verify_parsed

VECTORS = Path(__file__).parents[2] / "vectors"
RFC = json.loads((VECTORS / "sd-jwt-rfc9901" / "examples.json").read_text("utf-8"))
REF = json.loads((VECTORS / "sd-jwt-python" / "testcases.json").read_text("utf-8"))

RFC_ISSUER = Es256Verifier.from_jwk(RFC["issuer_public_jwk"])
RFC_HOLDER = Es256Verifier.from_jwk(RFC["holder_public_jwk"])
RFC_NOW: int = RFC["now"]
RFC_KB_CASES = [c for c in RFC["cases"] if c["key_binding"]]

ISSUER = Ed25519PrivateKey.from_seed(bytes(range(32)))
HOLDER = Ed25519PrivateKey.from_seed(bytes(range(32, 64)))
NOW = 1_800_000_000


def _without_kb(presentation: str) -> str:
    """The SD-JWT part of an SD-JWT+KB: everything up to and including the last ``~``."""
    return presentation[: presentation.rindex("~") + 1]


def _name(case: dict[str, Any]) -> str:
    return str(case["name"])


# --------------------------------------------------------------------------- RFC 9901 examples


@pytest.mark.parametrize("case", RFC["cases"], ids=_name)
def test_rfc_example_yields_the_processed_payload_printed_in_the_rfc(case: dict[str, Any]) -> None:
    # Our production verifier refuses P-256 holder keys, so an SD-JWT+KB is checked here
    # without its KB-JWT; the KB-JWT itself is checked in the next test.
    presentation = _without_kb(case["presentation"])
    result = verify(
        presentation,
        RFC_ISSUER,
        now=RFC_NOW,
        nonce=None,
        aud=None,
        require_key_binding=False,
        typ=case["typ"],
    )
    assert result.claims == case["expected_claims"]
    assert result.header == {"alg": "ES256", "typ": case["typ"]}
    assert len(result.disclosures) == presentation.count("~") - 1
    assert result.key_binding is None


@pytest.mark.parametrize("case", RFC_KB_CASES, ids=_name)
def test_rfc_kb_jwt_binds_exactly_the_presented_disclosures(case: dict[str, Any]) -> None:
    presentation: str = case["presentation"]
    kb_jwt = presentation[presentation.rindex("~") + 1 :]
    jws = parse_compact_unverified(kb_jwt, what="key-binding JWT")
    verify_parsed(jws, RFC_HOLDER, typ="kb+jwt", what="key-binding JWT")
    claims = jws.payload_json()
    # Our sd_hash over the RFC's bytes is the one the RFC's holder signed.
    assert claims["sd_hash"] == sd_hash(_without_kb(presentation))
    assert {k: claims[k] for k in ("nonce", "aud", "iat")} == case["key_binding"]


@pytest.mark.parametrize("case", RFC_KB_CASES, ids=_name)
def test_rfc_kb_presentation_with_p256_holder_key_is_refused(case: dict[str, Any]) -> None:
    # akashi binds credentials to Ed25519 holder keys only (cnf.jwk of kty OKP).
    kb = case["key_binding"]
    with pytest.raises(UnsupportedAlgorithm):
        verify(
            case["presentation"],
            RFC_ISSUER,
            now=kb["iat"],
            nonce=kb["nonce"],
            aud=kb["aud"],
            typ=case["typ"],
        )


def test_rfc_example_without_kb_jwt_is_refused_when_binding_is_required() -> None:
    case = RFC_KB_CASES[0]
    kb = case["key_binding"]
    with pytest.raises(BindingError):
        verify(
            _without_kb(case["presentation"]),
            RFC_ISSUER,
            now=kb["iat"],
            nonce=kb["nonce"],
            aud=kb["aud"],
            typ=case["typ"],
        )


def test_rfc_example_under_another_key_is_refused() -> None:
    case = RFC["cases"][0]
    with pytest.raises(InvalidSignature):
        verify(
            case["presentation"],
            RFC_HOLDER,
            now=RFC_NOW,
            nonce=None,
            aud=None,
            require_key_binding=False,
            typ=case["typ"],
        )


def test_rfc_disclosure_from_another_credential_is_refused() -> None:
    # A.1 with a disclosure of section 5 appended: no digest of A.1 refers to it.
    a1 = next(c for c in RFC["cases"] if c["section"] == "A.1")
    s5 = next(c for c in RFC["cases"] if c["section"] == "5.1")
    stranger = s5["presentation"].split("~")[1]
    with pytest.raises(ProofMismatch):
        verify(
            a1["presentation"] + stranger + "~",
            RFC_ISSUER,
            now=RFC_NOW,
            nonce=None,
            aud=None,
            require_key_binding=False,
            typ=a1["typ"],
        )


_A2 = next(c for c in RFC["cases"] if c["section"] == "A.2")
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@settings(max_examples=150, derandomize=True, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=len(_A2["presentation"]) - 1),
    replacement=st.sampled_from(_B64URL + ".~"),
)
def test_any_changed_character_of_an_rfc_example_is_rejected(position: int, replacement: str) -> None:
    original: str = _A2["presentation"]
    if original[position] == replacement:
        replacement = "A" if replacement != "A" else "B"
    tampered = original[:position] + replacement + original[position + 1 :]
    with pytest.raises(AkashiError):
        verify(
            tampered,
            RFC_ISSUER,
            now=RFC_NOW,
            nonce=None,
            aud=None,
            require_key_binding=False,
            typ=_A2["typ"],
        )


# --------------------------------------------------------------------------- sd-jwt-python cases


def _is_sd(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"!sd"}


def _to_sd(value: Any) -> Any:
    """The vector's ``{"!sd": v}`` markers as our :class:`SD` markers."""
    if _is_sd(value):
        return SD(_to_sd(value["!sd"]))
    if isinstance(value, dict):
        return {name: _to_sd(v) for name, v in value.items()}
    if isinstance(value, list):
        return [_to_sd(e) for e in value]
    return value


def _has_sd(value: Any) -> bool:
    if _is_sd(value):
        return True
    if isinstance(value, dict):
        return any(_has_sd(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_sd(e) for e in value)
    return False


def _paths(wanted: Any, marked: Any, path: ClaimPath = ()) -> list[ClaimPath]:
    """sd-jwt-python's ``holder_disclosed_claims`` as claim paths.

    The reference holder discloses an object member if its entry is truthy and an array
    element unless its entry is ``False``/``None``, then descends into the entry. Our
    :func:`present` adds the parents of a path and everything below it, so each disclosed
    item becomes the path to it unless deeper entries already name what to disclose.
    """
    items: list[tuple[str | int, Any, Any, bool]]
    if isinstance(wanted, dict) and isinstance(marked, dict):
        items = [(k, w, marked[k], bool(w)) for k, w in wanted.items() if k in marked]
    elif isinstance(wanted, list) and isinstance(marked, list):
        items = [(i, w, marked[i], w not in (False, None)) for i, w in enumerate(wanted[: len(marked)])]
    else:
        return []
    out: list[ClaimPath] = []
    for key, entry, value, selected in items:
        here = (*path, key)
        if not _is_sd(value):
            out.extend(_paths(entry, value, here))
            continue
        if not selected:
            continue
        inner = _paths(entry, value["!sd"], here)
        if not inner and _has_sd(value["!sd"]):
            raise ValueError(f"{here}: disclosing a node but not its disclosable children")
        out.extend(inner or [here])
    return out


def _seeded_random(seed: bytes) -> Callable[[int], bytes]:
    """A repeatable stand-in for os.urandom (salts and decoys)."""
    counter = iter(range(1 << 62))

    def random(n: int) -> bytes:
        block = hashlib.sha256(seed + next(counter).to_bytes(8, "big")).digest()
        return (block * (n // 32 + 1))[:n]

    return random


def _digests(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        yield from value.get("_sd", [])
        if set(value) == {"..."}:
            yield value["..."]
        for name, v in value.items():
            if name != "_sd":
                yield from _digests(v)
    elif isinstance(value, list):
        for element in value:
            yield from _digests(element)


@pytest.mark.parametrize("decoys", [0, 3], ids=["no-decoys", "3-decoys"])
@pytest.mark.parametrize("case", REF["cases"], ids=_name)
def test_reference_case_round_trip_yields_expected_claims(case: dict[str, Any], decoys: int) -> None:
    s = REF["settings"]
    bound = case["key_binding"]
    claims = {"iss": s["issuer"], **_to_sd(case["user_claims"])}
    header = {"typ": "example+sd-jwt", **case.get("extra_header_parameters", {})}
    issued = issue(
        claims,
        ISSUER,
        header=header,
        holder_key=HOLDER.public_key if bound else None,
        decoys=decoys,
        random=_seeded_random(case["name"].encode()),
    )
    paths = _paths(case["holder_disclosed_claims"], case["user_claims"])
    presentation = present(
        issued,
        paths,
        holder_key=HOLDER if bound else None,
        nonce=s["key_binding_nonce"] if bound else None,
        aud=s["verifier"] if bound else None,
        iat=NOW if bound else None,
    )
    result = verify(
        presentation,
        ISSUER.public_key,
        now=NOW,
        nonce=s["key_binding_nonce"] if bound else None,
        aud=s["verifier"] if bound else None,
        require_key_binding=bound,
        typ="example+sd-jwt",
    )

    expected = {**case["expect_verified_user_claims"], "iss": s["issuer"]}
    if bound:
        expected["cnf"] = {"jwk": public_key_to_jwk(HOLDER.public_key)}
        assert result.key_binding is not None
        assert result.key_binding["nonce"] == s["key_binding_nonce"]
    assert result.claims == expected
    assert result.header == {"alg": "EdDSA", **header}

    # Decoys: the issued SD-JWT holds more digests than it has disclosures.
    jwt, *disclosures, _ = issued.split("~")
    payload = parse_compact_unverified(jwt).payload_json()
    values = [json.loads(b64url_decode(d))[-1] for d in disclosures]
    n_digests = sum(1 for _ in _digests(payload)) + sum(1 for v in values for _ in _digests(v))
    if decoys and disclosures:
        assert n_digests > len(disclosures)
    else:
        assert n_digests == len(disclosures)


def test_reference_paths_follow_the_reference_holder() -> None:
    # The conversion of holder_disclosed_claims itself, on the richest case.
    case = next(c for c in REF["cases"] if c["name"] == "recursions")
    assert sorted(map(str, _paths(case["holder_disclosed_claims"], case["user_claims"]))) == sorted(
        map(
            str,
            [
                ("foo", 1),
                ("bar", "green"),
                ("qux", 0, 1),
                ("baz", 0, 1),
                ("baz", 1, 0),
                ("baz", 1, 1),
                ("animals", "snake", "age"),
                ("animals", "bird", "age"),
            ],
        )
    )
