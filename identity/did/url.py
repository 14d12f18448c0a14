"""DID and DID URL syntax (W3C DID Core 1.0, section 3), reduced to what akashi uses.

akashi names a key as ``<did>#<fragment>`` (the ``signer`` of a ledger envelope,
the ``kid`` of a JWS). Only that shape is accepted here: no path, no query.

1. ``did = "did:" method-name ":" method-specific-id`` (section 3.1): the method
   name is lower-case letters and digits; the method-specific id is ``idchar``
   (letters, digits, ``.``, ``-``, ``_``, percent escapes) with inner colons.
2. A DID URL is a DID, ``#`` and a non-empty RFC 3986 fragment (section 3.2).
3. Anything longer than :data:`MAX_DID_URL_LENGTH` is refused before any other work.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from identity.errors import MalformedInput

__all__ = ["MAX_DID_URL_LENGTH", "DidUrl", "did_url", "parse_did", "parse_did_url"]

#: did:key and did:akashi are under 100 characters; other methods get room to spare.
MAX_DID_URL_LENGTH = 512

_IDCHAR = r"(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})"
_DID = re.compile(rf"did:[a-z0-9]+:(?:{_IDCHAR}*:)*{_IDCHAR}+")
# RFC 3986 section 3.5: fragment = *( pchar / "/" / "?" ); we require at least one.
_FRAGMENT = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})+")


class DidUrl(NamedTuple):
    """A DID URL of the form ``did#fragment``."""

    did: str
    fragment: str

    def __str__(self) -> str:
        return f"{self.did}#{self.fragment}"


def _check_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise MalformedInput(f"{what} must be a string")
    if len(value) > MAX_DID_URL_LENGTH:  # rule 3
        raise MalformedInput(f"{what} is longer than {MAX_DID_URL_LENGTH} characters")
    return value


def parse_did(value: object, *, what: str = "DID") -> str:
    """Return ``value`` if it is a syntactically valid DID (rule 1); raise otherwise."""
    text = _check_text(value, what)
    if _DID.fullmatch(text) is None:
        raise MalformedInput(f"{what} {text!r} is not a valid DID")
    return text


def parse_did_url(value: object, *, what: str = "DID URL") -> DidUrl:
    """Split ``did#fragment`` into its DID and fragment (rules 1-3)."""
    text = _check_text(value, what)
    did, sep, fragment = text.partition("#")
    if not sep:
        raise MalformedInput(f"{what} {text!r} has no '#fragment'")
    if _DID.fullmatch(did) is None:
        raise MalformedInput(f"{what} {text!r} does not start with a valid DID")
    if _FRAGMENT.fullmatch(fragment) is None:  # rule 2; also refuses a second '#'
        raise MalformedInput(f"{what} {text!r} has an empty or invalid fragment")
    return DidUrl(did, fragment)


def did_url(did: str, fragment: str) -> str:
    """The DID URL ``did#fragment``, checked by :func:`parse_did_url`."""
    return str(parse_did_url(f"{did}#{fragment}"))
