"""What a credential type looks like to people: display names and claim descriptions.

One :class:`CredentialType` describes a kind of credential an issuer offers.
It is written once and rendered twice, in the two shapes the specifications
define for the same information:

* OpenID4VCI 1.0 Credential Issuer Metadata (section 12.2.4): a credential
  configuration's ``credential_metadata.display`` (``name``, ``locale``,
  ``description``, ``logo``, colours) and ``credential_metadata.claims``
  (claims description objects of Appendix B.2: ``path``, ``mandatory``,
  ``display`` with ``name`` and ``locale``);
* SD-JWT VC Type Metadata (draft-ietf-oauth-sd-jwt-vc, sections 6, 8 and 9):
  ``display`` (``locale``, ``name``, ``description``, ``rendering.simple``) and
  ``claims`` (``path``, ``display`` with ``locale``, ``label`` and
  ``description``, ``mandatory``, ``sd``, ``svg_id``).

Rules both shapes share, checked by :func:`check_claim_paths` and
:func:`check_locales` (OpenID4VCI Appendix B.3 and C; SD-JWT VC sections 8 and 9.1):

1. A claim path is a non-empty array of strings, ``null`` and non-negative
   integers.
2. No two descriptions address the same claim.
3. A claim is not addressed both as an array with ``null`` and with an index.
4. A claim is not addressed both as an array and as an object.
5. There is only one display object per locale.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from identity.credentials.sdjwt.common import ClaimPath
from identity.errors import MalformedInput

__all__ = [
    "ClaimInfo",
    "CredentialDisplay",
    "CredentialType",
    "check_claim_paths",
    "check_locales",
]

SdRule = Literal["always", "allowed", "never"]
_SVG_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class CredentialDisplay:
    """How a credential type is shown in one language (``locale`` is a BCP 47 tag)."""

    locale: str
    name: str
    description: str | None = None
    logo_uri: str | None = None
    logo_alt_text: str | None = None
    background_color: str | None = None
    text_color: str | None = None


@dataclass(frozen=True)
class ClaimInfo:
    """One claim (or set of claims) of a credential type, with its labels per locale.

    ``labels`` and ``descriptions`` map a BCP 47 locale to text. ``sd`` says
    whether the issuer always, may or never makes the claim selectively
    disclosable (SD-JWT VC section 9.4); ``svg_id`` names it in SVG templates.
    """

    path: ClaimPath
    labels: Mapping[str, str] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)
    mandatory: bool = False
    sd: SdRule | None = None
    svg_id: str | None = None


@dataclass(frozen=True)
class CredentialType:
    """A kind of credential the issuer offers: its configuration id, ``vct`` and display."""

    configuration_id: str
    vct: str
    display: Sequence[CredentialDisplay]
    claims: Sequence[ClaimInfo] = ()
    name: str | None = None
    description: str | None = None
    scope: str | None = None

    def __post_init__(self) -> None:
        check_locales((d.locale for d in self.display), what=f"display of {self.configuration_id!r}")
        check_claim_paths([c.path for c in self.claims])
        svg_ids = [c.svg_id for c in self.claims if c.svg_id is not None]
        if len(set(svg_ids)) != len(svg_ids):
            raise MalformedInput("svg_id values must be unique within a credential type")
        for claim in self.claims:
            check_locales(claim.labels, what=f"labels of claim {list(claim.path)!r}")
            if claim.svg_id is not None and _SVG_ID.fullmatch(claim.svg_id) is None:
                raise MalformedInput(f"svg_id {claim.svg_id!r} must be letters, digits and '_'")

    def issuer_metadata_display(self) -> list[dict[str, Any]]:
        """``credential_metadata.display`` (OpenID4VCI 1.0 section 12.2.4)."""
        out = []
        for d in self.display:
            entry: dict[str, Any] = {"name": d.name, "locale": d.locale}
            if d.logo_uri is not None:
                entry["logo"] = _logo(d)
            if d.description is not None:
                entry["description"] = d.description
            if d.background_color is not None:
                entry["background_color"] = d.background_color
            if d.text_color is not None:
                entry["text_color"] = d.text_color
            out.append(entry)
        return out

    def issuer_metadata_claims(self) -> list[dict[str, Any]]:
        """``credential_metadata.claims``: claims description objects (Appendix B.2)."""
        out = []
        for claim in self.claims:
            entry: dict[str, Any] = {"path": list(claim.path)}
            if claim.mandatory:
                entry["mandatory"] = True
            if claim.labels:
                entry["display"] = [{"name": text, "locale": loc} for loc, text in claim.labels.items()]
            out.append(entry)
        return out

    def type_metadata_display(self) -> list[dict[str, Any]]:
        """Type Metadata ``display`` (SD-JWT VC section 8)."""
        out = []
        for d in self.display:
            entry: dict[str, Any] = {"locale": d.locale, "name": d.name}
            if d.description is not None:
                entry["description"] = d.description
            simple: dict[str, Any] = {}
            if d.logo_uri is not None:
                simple["logo"] = _logo(d)
            if d.background_color is not None:
                simple["background_color"] = d.background_color
            if d.text_color is not None:
                simple["text_color"] = d.text_color
            if simple:
                entry["rendering"] = {"simple": simple}
            out.append(entry)
        return out

    def type_metadata_claims(self) -> list[dict[str, Any]]:
        """Type Metadata ``claims`` (SD-JWT VC section 9)."""
        out = []
        for claim in self.claims:
            entry: dict[str, Any] = {"path": list(claim.path)}
            if claim.labels:
                display = []
                for loc, label in claim.labels.items():
                    item = {"locale": loc, "label": label}
                    if loc in claim.descriptions:
                        item["description"] = claim.descriptions[loc]
                    display.append(item)
                entry["display"] = display
            if claim.mandatory:
                entry["mandatory"] = True
            if claim.sd is not None:
                entry["sd"] = claim.sd
            if claim.svg_id is not None:
                entry["svg_id"] = claim.svg_id
            out.append(entry)
        return out


def _logo(d: CredentialDisplay) -> dict[str, str]:
    logo = {"uri": d.logo_uri or ""}
    if d.logo_alt_text is not None:
        logo["alt_text"] = d.logo_alt_text
    return logo


def _check_path(path: Sequence[Any]) -> None:
    # Rule 1 (JSON arrives as lists, Python callers may give tuples).
    if not isinstance(path, (list, tuple)) or not path:
        raise MalformedInput("a claim path must be a non-empty array")
    for part in path:
        if part is None or isinstance(part, str):
            continue
        if type(part) is int and part >= 0:
            continue
        raise MalformedInput(f"claim path component {part!r} must be a string, null or an index >= 0")


def check_claim_paths(paths: Iterable[Sequence[Any]]) -> None:
    """Rules 1-4 over the paths of one ``claims`` array; raise :class:`MalformedInput`."""
    seen: set[tuple[Any, ...]] = set()
    kinds: dict[tuple[Any, ...], set[str]] = {}
    for path in paths:
        _check_path(path)
        key = tuple(path)
        if key in seen:  # rule 2
            raise MalformedInput(f"claim path {list(path)!r} is described twice")
        seen.add(key)
        for i, part in enumerate(key):
            kind = "object" if isinstance(part, str) else "all" if part is None else "index"
            kinds.setdefault(key[:i], set()).add(kind)
    for prefix, found in kinds.items():
        where = list(prefix) or "the credential"
        if "object" in found and len(found) > 1:  # rule 4
            raise MalformedInput(f"claim {where!r} is described both as an object and as an array")
        if {"all", "index"} <= found:  # rule 3
            raise MalformedInput(f"array {where!r} is addressed both with null and with an index")


def check_locales(locales: Iterable[Any], *, what: str = "display") -> None:
    """Rule 5: each locale at most once."""
    seen: set[Any] = set()
    for locale in locales:
        if locale in seen:
            raise MalformedInput(f"{what} has more than one entry for locale {locale!r}")
        seen.add(locale)
