"""JWT time claims against an injected clock."""

from __future__ import annotations

import pytest

from identity.errors import Expired, MalformedInput, TimeError
from identity.jose.jwt import TimePolicy, check_time_claims

NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("claims", "policy", "error"),
    [
        ({"exp": NOW + 10}, TimePolicy(), None),
        ({"exp": NOW - 61}, TimePolicy(skew=60), Expired),
        ({"exp": NOW - 59}, TimePolicy(skew=60), None),
        ({"exp": NOW}, TimePolicy(skew=0), Expired),
        ({"nbf": NOW + 61}, TimePolicy(skew=60), TimeError),
        ({"nbf": NOW + 30}, TimePolicy(skew=60), None),
        ({"iat": NOW + 120}, TimePolicy(skew=60), TimeError),
        ({"iat": NOW - 400}, TimePolicy(skew=60, max_iat_age=300), TimeError),
        ({"iat": NOW - 200}, TimePolicy(skew=60, max_iat_age=300), None),
        ({}, TimePolicy(require=frozenset({"iat"})), MalformedInput),
        ({"exp": "tomorrow"}, TimePolicy(), MalformedInput),
        ({"exp": True}, TimePolicy(), MalformedInput),
        ({"exp": None}, TimePolicy(), MalformedInput),
    ],
)
def test_time_claims(claims: dict[str, object], policy: TimePolicy, error: type[Exception] | None) -> None:
    if error is None:
        check_time_claims(claims, NOW, policy)
    else:
        with pytest.raises(error):
            check_time_claims(claims, NOW, policy)
