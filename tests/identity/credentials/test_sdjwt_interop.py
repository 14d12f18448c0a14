"""SD-JWT interoperability with the reference implementation (PyPI ``sd-jwt`` 0.10.4).

Every role is played by both implementations: an SD-JWT issued by one, presented (with a
key-binding JWT, EdDSA holder key) by either holder and checked by either verifier must
yield the same processed claims. Keys are Ed25519 throughout; the reference signs with
jwcrypto OKP keys and ``sign_alg="EdDSA"``.

sd-jwt 0.10.4 checks key-binding JWTs as ES256 whatever their header says: its
``SDJWTVerifier._verify_key_binding_jwt(..., sign_alg=None)`` falls back to the module
constant ``sd_jwt.verifier.DEFAULT_SIGNING_ALG`` and the constructor offers no way to pass
another value. The ``reference_eddsa`` fixture sets that constant to ``EdDSA`` (and pins the
reference holder's clock) for the duration of a test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sd_jwt.holder
import sd_jwt.verifier
from jwcrypto.jwk import JWK  # type: ignore[import-untyped]
from jwcrypto.jws import InvalidJWSSignature  # type: ignore[import-untyped]
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from identity.credentials.sdjwt import SD, ClaimPath, issue, present, verify
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey
from identity.jose.jwk import private_key_to_jwk, public_key_to_jwk

ISSUER = Ed25519PrivateKey.from_seed(hashlib.sha256(b"interop issuer").digest())
HOLDER = Ed25519PrivateKey.from_seed(hashlib.sha256(b"interop holder").digest())
NOW = 1_800_000_000
NONCE = "n-0S6_WzA2Mj"
AUD = "https://verifier.akashi.example"
VCT = "https://akashi.example/vct/kyc/1"


def sd(value: Any) -> dict[str, Any]:
    """Marks ``value`` as selectively disclosable in the claim tables below."""
    return {"!sd": value}


BASE = {
    "iss": "https://idp.akashi.example",
    "iat": NOW - 3600,
    "exp": NOW + 365 * 86400,
    "vct": VCT,
}
BOUND = {**BASE, "cnf": {"jwk": public_key_to_jwk(HOLDER.public_key)}}

KYC = {
    **BASE,
    "verified_claims": {
        "verification": {
            "trust_framework": "jp_aml",
            "time": sd("2025-04-01T10:00:00+09:00"),
            "evidence": [
                sd(
                    {
                        "type": "document",
                        "method": sd("pipp"),
                        "document_details": sd({"type": "driving_permit", "document_number": "123456789012"}),
                    }
                )
            ],
        },
        "claims": {
            "family_name": sd("山田"),
            "given_name": sd("太郎"),
            "name_kana": sd("ヤマダ タロウ"),
            "birthdate": sd("1990-01-15"),
            "address": sd(
                {
                    "formatted": sd("東京都港区芝公園4丁目2-8"),
                    "postal_code": sd("105-0011"),
                    "country": "JP",
                }
            ),
            "nationalities": [sd("JP"), sd("US")],
        },
    },
    "age_equal_or_over": {"18": sd(True), "20": sd(True), "65": sd(False)},
}

ARRAYS = {
    **BASE,
    "matrix": [sd([sd("a"), sd("b")]), [sd("c"), "d"]],
    "tags": [sd("x"), "y", sd("z")],
    "profile": sd({"nick": sd("たろう"), "langs": [sd("ja"), sd("en")], "note": None}),
}


@dataclass(frozen=True)
class Case:
    name: str
    claims: dict[str, Any]
    disclose: list[ClaimPath]
    expected: dict[str, Any]


def _kyc(
    claims: dict[str, Any] | None = None,
    verification: dict[str, Any] | None = None,
    age: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """The processed KYC credential: always-visible claims plus what was disclosed."""
    return {
        **BOUND,
        "verified_claims": {
            "verification": {"trust_framework": "jp_aml", "evidence": [], **(verification or {})},
            # An array whose elements are all withheld stays, empty.
            "claims": {"nationalities": [], **(claims or {})},
        },
        "age_equal_or_over": age or {},
    }


CASES = [
    Case(
        "kyc-name-only",
        KYC,
        [("verified_claims", "claims", "family_name"), ("verified_claims", "claims", "given_name")],
        _kyc({"family_name": "山田", "given_name": "太郎"}),
    ),
    Case("kyc-age-over-20", KYC, [("age_equal_or_over", "20")], _kyc(age={"20": True})),
    Case(
        "kyc-postal-code-inside-sd-address",
        KYC,
        [("verified_claims", "claims", "address", "postal_code")],
        _kyc({"address": {"postal_code": "105-0011", "country": "JP"}}),
    ),
    Case(
        "kyc-whole-address",
        KYC,
        [("verified_claims", "claims", "address")],
        _kyc(
            {
                "address": {
                    "formatted": "東京都港区芝公園4丁目2-8",
                    "postal_code": "105-0011",
                    "country": "JP",
                }
            }
        ),
    ),
    Case(
        "kyc-evidence-method-and-time",
        KYC,
        [
            ("verified_claims", "verification", "evidence", 0, "method"),
            ("verified_claims", "verification", "time"),
        ],
        _kyc(
            verification={
                "time": "2025-04-01T10:00:00+09:00",
                "evidence": [{"type": "document", "method": "pipp"}],
            }
        ),
    ),
    Case(
        "kyc-every-nationality",
        KYC,
        [("verified_claims", "claims", "nationalities", None)],
        _kyc({"nationalities": ["JP", "US"]}),
    ),
    Case(
        "kyc-second-nationality",
        KYC,
        [("verified_claims", "claims", "nationalities", 1)],
        _kyc({"nationalities": ["US"]}),
    ),
    Case("kyc-nothing", KYC, [], _kyc()),
    Case(
        "arrays-nested-elements",
        ARRAYS,
        [("matrix", 0, 1), ("tags", 2)],
        {**BOUND, "matrix": [["b"], ["d"]], "tags": ["y", "z"]},
    ),
    Case(
        "arrays-inside-recursive-object",
        ARRAYS,
        [("profile", "langs", 1)],
        {**BOUND, "matrix": [["d"]], "tags": ["y"], "profile": {"langs": ["en"], "note": None}},
    ),
    Case(
        "arrays-everything",
        ARRAYS,
        [("matrix",), ("tags",), ("profile",)],
        {
            **BOUND,
            "matrix": [["a", "b"], ["c", "d"]],
            "tags": ["x", "y", "z"],
            "profile": {"nick": "たろう", "langs": ["ja", "en"], "note": None},
        },
    ),
]


# --------------------------------------------------------------------------- adapters


def _is_sd(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"!sd"}


def _ours(value: Any) -> Any:
    """Claims with our :class:`SD` markers."""
    if _is_sd(value):
        return SD(_ours(value["!sd"]))
    if isinstance(value, dict):
        return {name: _ours(v) for name, v in value.items()}
    if isinstance(value, list):
        return [_ours(e) for e in value]
    return value


def _reference(value: Any) -> Any:
    """Claims with the reference's markers: ``SDObj`` on member names and array elements."""
    if isinstance(value, dict):
        return {
            (SDObj(name) if _is_sd(v) else name): _reference(v["!sd"] if _is_sd(v) else v)
            for name, v in value.items()
        }
    if isinstance(value, list):
        return [SDObj(_reference(e["!sd"])) if _is_sd(e) else _reference(e) for e in value]
    return value


def _everything(marked: Any) -> Any:
    """The reference holder's instruction to disclose ``marked`` and all below it."""
    inner = marked["!sd"] if _is_sd(marked) else marked
    if isinstance(inner, dict):
        return {name: _everything(v) for name, v in inner.items()} or True
    if isinstance(inner, list):
        return [_everything(e) for e in inner] or True
    return True


def _put(frame: Any, path: ClaimPath, container: Any) -> None:
    key, rest = path[0], path[1:]
    if key is None:
        for index in range(len(container)):
            _put(frame, (index, *rest), container)
        return
    if isinstance(frame, list):
        assert isinstance(key, int)
        frame.extend([None] * (key + 1 - len(frame)))
    marked = container[key]
    if not rest:
        frame[key] = _everything(marked)
        return
    inner = marked["!sd"] if _is_sd(marked) else marked
    current = frame.get(key) if isinstance(frame, dict) else frame[key]
    if not isinstance(current, (dict, list)):
        current = {} if isinstance(inner, dict) else []
        frame[key] = current
    _put(current, rest, inner)


def _reference_frame(paths: list[ClaimPath], claims: dict[str, Any]) -> dict[str, Any]:
    """Our claim paths as the reference holder's ``claims_to_disclose`` structure."""
    frame: dict[str, Any] = {}
    for path in paths:
        _put(frame, path, claims)
    return frame


def _jwk(key: Ed25519PrivateKey | Ed25519PublicKey) -> Any:
    members = private_key_to_jwk(key) if isinstance(key, Ed25519PrivateKey) else public_key_to_jwk(key)
    return JWK(**members)


def _seeded_random(seed: bytes) -> Callable[[int], bytes]:
    counter = iter(range(1 << 62))

    def random(n: int) -> bytes:
        block = hashlib.sha256(seed + next(counter).to_bytes(8, "big")).digest()
        return (block * (n // 32 + 1))[:n]

    return random


# --------------------------------------------------------------------------- the roles


def issue_ours(case: Case, *, array_decoys: bool = True) -> str:
    # The reference holder picks array elements by their position in the issued array,
    # decoys included, so a selection written against the claims misses once decoys sit
    # in arrays; our decoys go into objects and arrays alike, hence the switch.
    return issue(
        _ours(case.claims),
        ISSUER,
        holder_key=HOLDER.public_key,
        decoys=2 if array_decoys else 0,
        random=_seeded_random(case.name.encode()),
    )


def issue_reference(case: Case, *, array_decoys: bool = True) -> str:
    del array_decoys  # the reference puts decoys into objects only
    issuer = SDJWTIssuer(
        _reference(case.claims),
        _jwk(ISSUER),
        _jwk(HOLDER),
        sign_alg="EdDSA",
        add_decoy_claims=True,
        extra_header_parameters={"typ": "dc+sd-jwt"},
    )
    return str(issuer.sd_jwt_issuance)


def present_ours(issued: str, case: Case) -> str:
    return present(issued, case.disclose, holder_key=HOLDER, nonce=NONCE, aud=AUD, iat=NOW)


def present_reference(issued: str, case: Case) -> str:
    holder = SDJWTHolder(issued)
    holder.create_presentation(
        _reference_frame(case.disclose, case.claims), NONCE, AUD, _jwk(HOLDER), "EdDSA"
    )
    return str(holder.sd_jwt_presentation)


def verify_ours(presentation: str) -> dict[str, Any]:
    return verify(presentation, ISSUER.public_key, now=NOW, nonce=NONCE, aud=AUD).claims


def verify_reference(presentation: str) -> dict[str, Any]:
    issuer_jwk = _jwk(ISSUER.public_key)
    verifier = SDJWTVerifier(presentation, lambda iss, header: issuer_jwk, AUD, NONCE)
    claims: dict[str, Any] = verifier.get_verified_payload()
    return claims


ISSUERS = {"ours": issue_ours, "reference": issue_reference}
HOLDERS = {"ours": present_ours, "reference": present_reference}
VERIFIERS = {"ours": verify_ours, "reference": verify_reference}


@pytest.fixture
def reference_eddsa(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(sd_jwt.verifier, "DEFAULT_SIGNING_ALG", "EdDSA")
    monkeypatch.setattr(sd_jwt.holder, "time", lambda: NOW)
    yield


# --------------------------------------------------------------------------- tests


@pytest.mark.usefixtures("reference_eddsa")
@pytest.mark.parametrize("verifier", VERIFIERS)
@pytest.mark.parametrize("holder", HOLDERS)
@pytest.mark.parametrize("issuer", ISSUERS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_issuer_holder_verifier_pairing_yields_the_same_claims(
    case: Case, issuer: str, holder: str, verifier: str
) -> None:
    issued = ISSUERS[issuer](case, array_decoys=holder != "reference")
    presentation = HOLDERS[holder](issued, case)
    assert VERIFIERS[verifier](presentation) == case.expected


@pytest.mark.usefixtures("reference_eddsa")
@pytest.mark.parametrize("issuer", ISSUERS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_both_holders_choose_the_same_disclosures(case: Case, issuer: str) -> None:
    issued = ISSUERS[issuer](case, array_decoys=False)
    ours = present_ours(issued, case).split("~")[1:-1]
    reference = present_reference(issued, case).split("~")[1:-1]
    assert sorted(ours) == sorted(reference)


@pytest.mark.usefixtures("reference_eddsa")
def test_our_key_binding_jwt_as_the_reference_sees_it() -> None:
    case = CASES[0]
    presentation = present_ours(issue_ours(case), case)
    verifier = SDJWTVerifier(presentation, lambda iss, header: _jwk(ISSUER.public_key), AUD, NONCE)
    assert verifier.get_verified_payload() == case.expected
    with pytest.raises(ValueError, match="audience"):
        SDJWTVerifier(presentation, lambda iss, header: _jwk(ISSUER.public_key), AUD + "/x", NONCE)
    with pytest.raises(ValueError, match="nonce"):
        SDJWTVerifier(presentation, lambda iss, header: _jwk(ISSUER.public_key), AUD, NONCE + "x")


def test_reference_0_10_4_checks_key_binding_as_es256_by_default() -> None:
    # Without the fixture, the reference refuses a valid EdDSA KB-JWT: the reason the
    # fixture exists, and a reminder to drop it when the reference lets callers choose.
    case = CASES[0]
    presentation = present_ours(issue_ours(case), case)
    with pytest.raises(InvalidJWSSignature):
        SDJWTVerifier(presentation, lambda iss, header: _jwk(ISSUER.public_key), AUD, NONCE)


def test_reference_frame_conversion() -> None:
    frame = _reference_frame(
        [("verified_claims", "claims", "nationalities", None), ("age_equal_or_over", "20")], KYC
    )
    assert frame == {
        "verified_claims": {"claims": {"nationalities": [True, True]}},
        "age_equal_or_over": {"20": True},
    }
