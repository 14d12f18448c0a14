"""What every SD-JWT step shares: markers, limits, disclosures and their digests.

Definitions follow RFC 9901 sections 4.2 (disclosures), 4.2.3 (digests) and
4 (the ``~``-separated compact form); rule numbers refer to the list in
:mod:`identity.credentials.sdjwt.verification`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.strict_json import loads
from identity.errors import MalformedInput, ProofMismatch

SD_JWT_VC_TYP = "dc+sd-jwt"
KB_JWT_TYP = "kb+jwt"
SD_ALG = "sha-256"
NEVER_DISCLOSABLE_IN_VC = frozenset({"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status"})

#: A claim path as DCQL writes it: names for object members, integers for
#: array positions, ``None`` for every element of an array.
ClaimPath: TypeAlias = tuple[str | int | None, ...]


@dataclass(frozen=True, slots=True)
class SD:
    """Marks a value, in the claims given to :func:`issue`, as selectively disclosable."""

    value: Any


class Disclosure(NamedTuple):
    """One decoded disclosure: ``name`` is ``None`` for an array element."""

    encoded: str
    digest: str
    salt: str
    name: str | None
    value: Any


@dataclass(frozen=True, slots=True)
class SdJwtLimits:
    """Bounds checked before any work, so hostile input costs little."""

    max_length: int = 256 * 1024
    max_disclosures: int = 512
    max_depth: int = 32


def disclosure_digest(encoded: str) -> str:
    """The digest that refers to a disclosure: base64url SHA-256 of its ASCII text."""
    return b64url_encode(sha256(encoded.encode("ascii")))


compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def encode_disclosure(items: list[Any]) -> str:
    return b64url_encode(compact_json(items).encode("utf-8"))


def split_sd_jwt(presentation: str, limits: SdJwtLimits) -> tuple[str, list[str], str]:
    """Rule 1: split into issuer JWT, disclosures and KB-JWT (empty if absent)."""
    if not isinstance(presentation, str):
        raise MalformedInput("an SD-JWT must be a string")
    if len(presentation) > limits.max_length:
        raise MalformedInput(f"SD-JWT is longer than {limits.max_length} characters")
    if not presentation.isascii():
        raise MalformedInput("SD-JWT contains non-ASCII characters")
    parts = presentation.split("~")
    if len(parts) < 2:
        raise MalformedInput("SD-JWT must contain at least one '~' separator")
    if len(parts) - 2 > limits.max_disclosures:
        raise MalformedInput(f"SD-JWT carries more than {limits.max_disclosures} disclosures")
    return parts[0], parts[1:-1], parts[-1]


def decode_disclosure(encoded: str, digest: str | None = None) -> Disclosure:
    """Rule 4. ``digest`` saves recomputing it when the caller has it."""
    if not encoded:
        raise MalformedInput("SD-JWT contains an empty disclosure ('~~')")
    items = loads(b64url_decode(encoded, what="disclosure"), what="disclosure")
    if not isinstance(items, list) or len(items) not in (2, 3):
        raise MalformedInput("a disclosure must be a JSON array of 2 or 3 elements")
    salt = items[0]
    if not isinstance(salt, str):
        raise MalformedInput("a disclosure's salt must be a string")
    if len(items) == 2:
        return Disclosure(encoded, digest or disclosure_digest(encoded), salt, None, items[1])
    name = items[1]
    if not isinstance(name, str):
        raise MalformedInput("a disclosure's claim name must be a string")
    if name in ("_sd", "..."):
        raise MalformedInput(f"a disclosure must not use the reserved claim name {name!r}")
    return Disclosure(encoded, digest or disclosure_digest(encoded), salt, name, items[2])


def index_disclosures(encoded: Iterable[str]) -> dict[str, Disclosure]:
    """Rules 4 and 5."""
    by_digest: dict[str, Disclosure] = {}
    for text in encoded:
        disclosure = decode_disclosure(text)
        if disclosure.digest in by_digest:
            raise ProofMismatch("the same disclosure is given more than once")
        by_digest[disclosure.digest] = disclosure
    return by_digest
