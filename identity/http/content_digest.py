"""``Content-Digest`` (RFC 9530 section 2): the digest of an HTTP message's content.

akashi writes ``sha-256`` only (:func:`content_digest`) and accepts ``sha-256`` and
``sha-512`` on receipt, the two algorithms RFC 9530 section 5 registers as "Active".
The digest is over the content as sent: the body bytes after any content coding.
Signing the field with RFC 9421 (:mod:`identity.http.message_signatures`) is what
makes it an integrity check against an attacker rather than against accidents.

:func:`check_content_digest` applies these rules, in order:

1. The field value is a string of at most 4096 characters, visible ASCII, SP or HTAB.
2. It is an RFC 8941 Dictionary (section 4.2.2) of Byte Sequences (section 4.2.7):
   members ``key=:base64:`` separated by commas with optional SP/HTAB around them,
   keys in RFC 8941 key syntax (lower case). Anything else is refused: parameters,
   other value types, empty members, a trailing comma.
3. No key appears twice. (RFC 8941 keeps the last one; a signer and a verifier that
   read different members is exactly what must not happen.)
4. Each Byte Sequence is canonical padded base64. (RFC 8941 lets parsers be lenient;
   akashi accepts one spelling per digest.)
5. At least one member uses an accepted algorithm; a field with only others
   (``md5``, ``sha``, ``unixsum``…, all "Deprecated") is refused as unsupported.
   Members of other algorithms beside an accepted one are ignored (section 2).
6. Every member of an accepted algorithm has that algorithm's length and equals the
   digest of the content (constant-time comparison); one mismatch refuses the content.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

from identity.crypto.encoding import b64decode_std, b64encode_std
from identity.errors import DigestMismatch, MalformedInput, UnsupportedAlgorithm

__all__ = [
    "ACCEPTED_ALGORITHMS",
    "MAX_FIELD_LENGTH",
    "check_content_digest",
    "content_digest",
    "parse_content_digest",
]

#: Longest ``Content-Digest`` value read at all (rule 1); two SHA-512 members need ~200.
MAX_FIELD_LENGTH = 4096

_HASHES: dict[str, Callable[[bytes], bytes]] = {
    "sha-256": lambda data: hashlib.sha256(data).digest(),
    "sha-512": lambda data: hashlib.sha512(data).digest(),
}
#: Algorithm keys checked on receipt (rule 5).
ACCEPTED_ALGORITHMS = frozenset(_HASHES)

# RFC 8941 section 3.2: key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" );
# section 3.3.5: sf-binary = ":" *(base64) ":" with base64 = ALPHA / DIGIT / "+" / "/" / "=".
_MEMBER = re.compile(r"([a-z*][a-z0-9_.*-]*)=:([A-Za-z0-9+/=]*):")
_FIELD_CHARS = re.compile(r"[\x20-\x7e\t]*")
_OWS = " \t"


def content_digest(body: bytes) -> str:
    """The ``Content-Digest`` value for ``body``: ``sha-256=:<base64>:``."""
    return "sha-256=:" + b64encode_std(_HASHES["sha-256"](bytes(body))) + ":"


def parse_content_digest(header: str) -> dict[str, bytes]:
    """Rules 1-4: the members of a ``Content-Digest`` value, algorithm key -> digest bytes."""
    if not isinstance(header, str):
        raise TypeError("Content-Digest must be given as a str")
    if len(header) > MAX_FIELD_LENGTH or _FIELD_CHARS.fullmatch(header) is None:  # 1
        raise MalformedInput("Content-Digest is too long or has characters outside visible ASCII")
    digests: dict[str, bytes] = {}
    # A Byte Sequence cannot contain a comma, so splitting on commas finds the members.
    for part in header.strip(_OWS).split(","):
        member = _MEMBER.fullmatch(part.strip(_OWS))  # 2
        if member is None:
            raise MalformedInput("Content-Digest is not a dictionary of byte sequences (RFC 9530)")
        key, value = member.groups()
        if key in digests:  # 3
            raise MalformedInput(f"Content-Digest names {key!r} twice")
        digests[key] = b64decode_std(value, what=f"Content-Digest {key} value")  # 4
    return digests


def check_content_digest(header: str, body: bytes) -> None:
    """Return if ``header`` is a ``Content-Digest`` value that ``body`` matches; raise otherwise.

    :class:`MalformedInput` for rules 1-4, :class:`UnsupportedAlgorithm` for rule 5,
    :class:`DigestMismatch` for rule 6.
    """
    digests = parse_content_digest(header)
    accepted = {key: value for key, value in digests.items() if key in _HASHES}
    if not accepted:  # 5
        raise UnsupportedAlgorithm(
            "Content-Digest has no sha-256 or sha-512 member (other algorithms are not accepted)"
        )
    content = bytes(body)
    for key, expected in accepted.items():  # 6
        actual = _HASHES[key](content)
        if len(expected) != len(actual):
            raise MalformedInput(f"Content-Digest {key} value is not {len(actual)} bytes long")
        if not hmac.compare_digest(expected, actual):
            raise DigestMismatch(f"the content does not match its Content-Digest ({key})")
