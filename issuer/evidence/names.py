"""Small helpers shared by the evidence checks: names as Japanese documents write them, and days in Japan."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from identity.errors import MalformedInput

__all__ = ["JST", "day_in_japan", "split_full_name"]

#: Japan Standard Time. Licences are valid "through" a calendar day in Japan.
JST = timezone(timedelta(hours=9), "JST")

_SEPARATORS = ("\u3000", " ")  # full-width (和文) space first: how JPKI and licences write 山田　花子


def split_full_name(full_name: str) -> tuple[str, str]:
    """``(family_name, given_name)`` from a name written as one string, family name first.

    JPKI certificates and licence chips carry the name as the resident register writes it,
    family name first, separated by a full-width space (``山田　花子``); foreign residents'
    names are in Latin letters separated by ASCII spaces. The split is at the first
    full-width space if there is one, otherwise at the first ASCII space; the rest (which
    may hold further spaces, e.g. a middle name) is the given name. A name without any
    separator cannot be split truthfully and is refused rather than guessed at.
    """
    name = full_name.strip(" \u3000")
    for separator in _SEPARATORS:
        family, found, given = name.partition(separator)
        if found:
            family, given = family.strip(" \u3000"), given.strip(" \u3000")
            if family and given:
                return family, given
    raise MalformedInput("the name has no space between family and given name and cannot be split")


def day_in_japan(now: datetime) -> date:
    """The calendar day in Japan at the instant ``now`` (which must carry a time zone)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(JST).date()
