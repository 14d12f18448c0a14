"""Holder revocation requests (identity/credentials/holder_revocation.py): signed by the holder key,
verified rule by rule — one named case per rule with the error it raises."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from identity.credentials.holder_revocation import (
    HOLDER_REVOCATION_TYP,
    HolderRevocation,
    HolderRevocationPolicy,
    credential_digest,
    new_holder_revocation,
    parse_holder_revocation_unverified,
    sign_holder_revocation,
    verify_holder_revocation,
)
from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import (
    AkashiError,
    BindingError,
    InvalidSignature,
    MalformedInput,
    SchemaViolation,
    TimeError,
    UnsupportedAlgorithm,
)
from identity.jose.jws import sign_compact, sign_jwt

NOW = 1_800_000_000
ISSUER = "https://idp.example"
HOLDER = Ed25519PrivateKey.from_seed(bytes(range(32)))
DIGEST = b64url_encode(sha256(b"an issuer-signed JWT"))


def request(**changes: object) -> HolderRevocation:
    made = new_holder_revocation(DIGEST, audience=ISSUER, iat=NOW, random=lambda n: b"\x07" * n)
    return replace(made, **changes)


def test_a_request_signed_by_the_holder_verifies_and_round_trips() -> None:
    token = sign_holder_revocation(request(), HOLDER)
    verified = verify_holder_revocation(
        token, HOLDER.public_key, credential=DIGEST, audience=ISSUER, now=NOW + 299
    )
    assert verified == request() == parse_holder_revocation_unverified(token)
    assert HolderRevocation.from_json(verified.to_json()) == verified
    assert verified.jti == b64url_encode(b"\x07" * 16)


def test_the_digest_is_of_the_issuer_signed_jwt_alone() -> None:
    assert (
        credential_digest("a.b.c~disclosure~")
        == credential_digest("a.b.c")
        == b64url_encode(sha256(b"a.b.c"))
    )
    with pytest.raises(MalformedInput):
        credential_digest("é.b.c~")


@dataclass(frozen=True)
class Case:
    """A request made some way, verified with the holder key; the error it must raise."""

    token: Callable[[], str]
    error: type[AkashiError]
    now: int = NOW


def _with_header(header: dict[str, object]) -> str:
    return sign_compact(header, canonicalize(request().to_json()), HOLDER)


CASES = {
    "1: another key signed it": Case(
        lambda: sign_holder_revocation(request(), Ed25519PrivateKey.generate()), InvalidSignature
    ),
    "1: another typ": Case(lambda: _with_header({"typ": "JWT"}), MalformedInput),
    "1: a crit header": Case(
        lambda: _with_header({"typ": HOLDER_REVOCATION_TYP, "crit": ["exp"]}), UnsupportedAlgorithm
    ),
    "1: not a JWS": Case(lambda: "revoke it", MalformedInput),
    "2: a claim missing": Case(
        lambda: sign_jwt({"typ": HOLDER_REVOCATION_TYP}, {"credential": DIGEST, "aud": ISSUER}, HOLDER),
        SchemaViolation,
    ),
    "2: a claim too many": Case(
        lambda: sign_jwt({"typ": HOLDER_REVOCATION_TYP}, {**request().to_json(), "exp": NOW}, HOLDER),
        SchemaViolation,
    ),
    "3: another credential": Case(
        lambda: sign_holder_revocation(request(credential=b64url_encode(sha256(b"other"))), HOLDER),
        BindingError,
    ),
    "4: another issuer": Case(
        lambda: sign_holder_revocation(request(aud="https://other.example"), HOLDER), BindingError
    ),
    "5: stale": Case(lambda: sign_holder_revocation(request(), HOLDER), TimeError, NOW + 300 + 61),
    "5: from the future": Case(lambda: sign_holder_revocation(request(), HOLDER), TimeError, NOW - 61),
    "limit: too long": Case(lambda: sign_holder_revocation(request(), HOLDER) + "A" * 4096, MalformedInput),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_rule_refuses_what_it_names(case: Case) -> None:
    with pytest.raises(case.error):
        verify_holder_revocation(
            case.token(), HOLDER.public_key, credential=DIGEST, audience=ISSUER, now=case.now
        )


def test_the_policy_sets_the_freshness_window() -> None:
    token = sign_holder_revocation(request(), HOLDER)
    strict = HolderRevocationPolicy(max_age=10, skew=0)
    with pytest.raises(TimeError):
        verify_holder_revocation(
            token, HOLDER.public_key, credential=DIGEST, audience=ISSUER, now=NOW + 11, policy=strict
        )


def test_a_request_outside_the_schema_is_not_signed() -> None:
    with pytest.raises(SchemaViolation):
        sign_holder_revocation(request(jti="short"), HOLDER)
