"""JWT time claims (RFC 7519 sections 4.1.4-4.1.6) checked against an injected clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from identity.errors import Expired, MalformedInput, TimeError

__all__ = ["TimePolicy", "check_time_claims"]


@dataclass(frozen=True, slots=True)
class TimePolicy:
    """How strictly to judge ``exp``/``nbf``/``iat``.

    ``skew`` tolerates clocks that disagree by a few seconds. ``max_iat_age``,
    when set, refuses tokens issued longer ago than that (for key-binding JWTs,
    which must be fresh). ``require`` names claims that must be present.
    """

    skew: int = 60
    max_iat_age: int | None = None
    require: frozenset[str] = frozenset()


def _numeric_date(claims: Mapping[str, Any], name: str, what: str) -> float | None:
    value = claims.get(name)
    if value is None:
        if name in claims:
            raise MalformedInput(f"{what} claim {name!r} must be a NumericDate, not null")
        return None
    if type(value) is int or type(value) is float:  # not bool, which is an int too
        return value
    raise MalformedInput(f"{what} claim {name!r} must be a NumericDate (seconds since 1970)")


def check_time_claims(
    claims: Mapping[str, Any],
    now: int | float,
    policy: TimePolicy = TimePolicy(),
    *,
    what: str = "token",
) -> None:
    """Return if ``claims`` are valid at ``now``; raise :class:`TimeError` otherwise."""
    for name in policy.require:
        if name not in claims:
            raise MalformedInput(f"{what} is missing the required claim {name!r}")
    skew = policy.skew
    exp = _numeric_date(claims, "exp", what)
    if exp is not None and now - skew >= exp:
        raise Expired(f"{what} expired at {int(exp)} (now {int(now)})")
    nbf = _numeric_date(claims, "nbf", what)
    if nbf is not None and now + skew < nbf:
        raise TimeError(f"{what} is not valid before {int(nbf)} (now {int(now)})")
    iat = _numeric_date(claims, "iat", what)
    if iat is not None:
        if iat > now + skew:
            raise TimeError(f"{what} claims to be issued in the future ({int(iat)}, now {int(now)})")
        if policy.max_iat_age is not None and now - iat > policy.max_iat_age + skew:
            raise TimeError(f"{what} is too old: issued {int(now - iat)} s ago")
