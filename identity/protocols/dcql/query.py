"""DCQL queries: typed model, strict parser and builders (OpenID4VP 1.0 section 6, "Digital
Credentials Query Language (DCQL)"; section 7, "Claims Path Pointer").

:func:`parse_dcql_query` checks, in this order (numbers reused in the comments):

1. Size limits (:class:`DcqlLimits`) before any other work.
2. The JSON Schema ``specs/dcql-query.schema.json`` (structure, id characters,
   non-empty arrays, ``vct_values`` for ``dc+sd-jwt``, ``claim_sets`` only with ``claims``).
3. Credential Query ``id`` values are unique in the query (section 6.1).
4. Claims Query ``id`` values are unique within their ``claims`` array, and every claim
   has an ``id`` when ``claim_sets`` is present (section 6.3).
5. ``claim_sets`` name only ids of that query's ``claims`` (section 6.1).
6. No two claims of one Credential Query point to the same claim ("Verifiers MUST NOT
   point to the same claim more than once"; akashi refuses rather than ignores).
7. Path elements are strings, ``null`` or non-negative integers, never booleans or
   floats; ``values`` are strings, integers or booleans, never floats (section 6.3, 7).
8. ``credential_sets`` options name only Credential Query ids (section 6.2).

Unknown members are ignored, as section 6 requires. Formats other than ``dc+sd-jwt``
parse (their ``meta`` is kept as given) but akashi's wallet never matches them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias

from identity.credentials.sdjwt.common import SD_JWT_VC_TYP, ClaimPath
from identity.crypto.strict_json import loads
from identity.errors import MalformedInput
from identity.schemas import validate

__all__ = [
    "SD_JWT_VC_FORMAT",
    "ClaimValue",
    "ClaimsQuery",
    "CredentialQuery",
    "CredentialSetQuery",
    "DcqlLimits",
    "DcqlQuery",
    "TrustedAuthoritiesQuery",
    "claim",
    "credential_set",
    "dcql_query",
    "parse_dcql_query",
    "parse_dcql_query_json",
    "sd_jwt_credential",
]

SD_JWT_VC_FORMAT = SD_JWT_VC_TYP  # the Credential Format Identifier of SD-JWT VC (appendix B.3)
ClaimValue: TypeAlias = str | int | bool


@dataclass(frozen=True, slots=True)
class DcqlLimits:
    """Bounds on a query, checked before any other work (rule 1)."""

    max_credentials: int = 32
    max_claims: int = 64
    max_claim_sets: int = 32
    max_credential_sets: int = 16
    max_options: int = 32
    max_path_length: int = 16
    max_values: int = 64
    max_string_length: int = 1024
    max_query_bytes: int = 64 * 1024


DEFAULT_LIMITS = DcqlLimits()


@dataclass(frozen=True, slots=True)
class ClaimsQuery:
    """One claim asked for: a claims path pointer, an optional id and accepted values."""

    path: ClaimPath
    id: str | None = None
    values: tuple[ClaimValue, ...] | None = None


@dataclass(frozen=True, slots=True)
class TrustedAuthoritiesQuery:
    """An authority or trust framework the verifier accepts issuers under (section 6.1.1)."""

    type: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CredentialQuery:
    """One Credential Query (section 6.1). ``vct_values`` is set for ``dc+sd-jwt``."""

    id: str
    format: str
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), compare=False)
    vct_values: tuple[str, ...] | None = None
    multiple: bool = False
    trusted_authorities: tuple[TrustedAuthoritiesQuery, ...] | None = None
    require_cryptographic_holder_binding: bool = True
    claims: tuple[ClaimsQuery, ...] | None = None
    claim_sets: tuple[tuple[str, ...], ...] | None = None

    def claim_by_id(self, claim_id: str) -> ClaimsQuery:
        """The claim named ``claim_id`` (ids were checked when parsing)."""
        for item in self.claims or ():
            if item.id == claim_id:
                return item
        raise KeyError(claim_id)

    def claim_options(self) -> tuple[tuple[ClaimsQuery, ...], ...]:
        """The sets of claims that satisfy this query, most preferred first (section 6.4.1).

        No ``claims``: one empty option. ``claims`` alone: one option with all of them.
        """
        if self.claims is None:
            return ((),)
        if self.claim_sets is None:
            return (self.claims,)
        return tuple(tuple(self.claim_by_id(i) for i in option) for option in self.claim_sets)


@dataclass(frozen=True, slots=True)
class CredentialSetQuery:
    """One Credential Set Query (section 6.2): options of Credential Query ids."""

    options: tuple[tuple[str, ...], ...]
    required: bool = True


@dataclass(frozen=True, slots=True)
class DcqlQuery:
    """A parsed DCQL query."""

    credentials: tuple[CredentialQuery, ...]
    credential_sets: tuple[CredentialSetQuery, ...] | None = None

    def credential(self, query_id: str) -> CredentialQuery:
        """The Credential Query named ``query_id``; ``KeyError`` if there is none."""
        for query in self.credentials:
            if query.id == query_id:
                return query
        raise KeyError(query_id)

    def to_json(self) -> dict[str, Any]:
        """The query as the JSON object a request carries in ``dcql_query``."""
        out: dict[str, Any] = {"credentials": [_credential_json(q) for q in self.credentials]}
        if self.credential_sets is not None:
            out["credential_sets"] = [
                {"options": [list(o) for o in s.options], **({} if s.required else {"required": False})}
                for s in self.credential_sets
            ]
        return out


def _credential_json(query: CredentialQuery) -> dict[str, Any]:
    meta = copy.deepcopy(dict(query.meta))
    if query.vct_values is not None:
        meta["vct_values"] = list(query.vct_values)
    out: dict[str, Any] = {"id": query.id, "format": query.format, "meta": meta}
    if query.multiple:
        out["multiple"] = True
    if query.trusted_authorities is not None:
        out["trusted_authorities"] = [
            {"type": t.type, "values": list(t.values)} for t in query.trusted_authorities
        ]
    if not query.require_cryptographic_holder_binding:
        out["require_cryptographic_holder_binding"] = False
    if query.claims is not None:
        out["claims"] = [_claim_json(c) for c in query.claims]
    if query.claim_sets is not None:
        out["claim_sets"] = [list(s) for s in query.claim_sets]
    return out


def _claim_json(item: ClaimsQuery) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if item.id is not None:
        out["id"] = item.id
    out["path"] = list(item.path)
    if item.values is not None:
        out["values"] = list(item.values)
    return out


# -- parsing -----------------------------------------------------------------------------


def _check_limits(obj: Any, limits: DcqlLimits) -> None:
    """Rule 1: count before looking closer (the schema checks the types afterwards)."""
    if not isinstance(obj, dict):
        raise MalformedInput("a DCQL query must be a JSON object")
    credentials = obj.get("credentials")
    if isinstance(credentials, list):
        if len(credentials) > limits.max_credentials:
            raise MalformedInput(f"DCQL query has more than {limits.max_credentials} credentials")
        for query in credentials:
            if not isinstance(query, dict):
                continue
            claims = query.get("claims")
            if isinstance(claims, list):
                if len(claims) > limits.max_claims:
                    raise MalformedInput(f"a Credential Query has more than {limits.max_claims} claims")
                for item in claims:
                    _check_claim_limits(item, limits)
            sets = query.get("claim_sets")
            if isinstance(sets, list) and len(sets) > limits.max_claim_sets:
                raise MalformedInput(f"a Credential Query has more than {limits.max_claim_sets} claim_sets")
    sets = obj.get("credential_sets")
    if isinstance(sets, list):
        if len(sets) > limits.max_credential_sets:
            raise MalformedInput(f"DCQL query has more than {limits.max_credential_sets} credential_sets")
        for item in sets:
            options = item.get("options") if isinstance(item, dict) else None
            if isinstance(options, list) and len(options) > limits.max_options:
                raise MalformedInput(f"a Credential Set Query has more than {limits.max_options} options")


def _check_claim_limits(item: Any, limits: DcqlLimits) -> None:
    if not isinstance(item, dict):
        return
    path, values = item.get("path"), item.get("values")
    if isinstance(path, list):
        if len(path) > limits.max_path_length:
            raise MalformedInput(f"a claims path pointer is longer than {limits.max_path_length}")
        for part in path:
            if isinstance(part, str) and len(part) > limits.max_string_length:
                raise MalformedInput("a claims path pointer element is too long")
    if isinstance(values, list):
        if len(values) > limits.max_values:
            raise MalformedInput(f"a Claims Query has more than {limits.max_values} values")
        for value in values:
            if isinstance(value, str) and len(value) > limits.max_string_length:
                raise MalformedInput("a Claims Query value is too long")


def _path(raw: list[Any], where: str) -> ClaimPath:
    """Rule 7: exact element types (the schema's "integer" also admits 1.0; bool is an int here)."""
    out: list[str | int | None] = []
    for part in raw:
        if part is None or type(part) is str or (type(part) is int and part >= 0):
            out.append(part)
        else:
            raise MalformedInput(f"{where}: path element {part!r} is not a string, null or index")
    return tuple(out)


def _values(raw: list[Any], where: str) -> tuple[ClaimValue, ...]:
    for value in raw:
        if type(value) not in (str, int, bool):
            raise MalformedInput(f"{where}: value {value!r} is not a string, integer or boolean")
    return tuple(raw)


def _parse_credential(raw: dict[str, Any], where: str) -> CredentialQuery:
    claims: tuple[ClaimsQuery, ...] | None = None
    if "claims" in raw:
        claims = tuple(
            ClaimsQuery(
                path=_path(c["path"], f"{where}.claims[{n}]"),
                id=c.get("id"),
                values=_values(c["values"], f"{where}.claims[{n}]") if "values" in c else None,
            )
            for n, c in enumerate(raw["claims"])
        )
        ids = [c.id for c in claims if c.id is not None]
        if len(set(ids)) != len(ids):  # rule 4
            raise MalformedInput(f"{where}: a claim id is used more than once")
        paths = [c.path for c in claims]
        if len(set(paths)) != len(paths):  # rule 6
            raise MalformedInput(f"{where}: two claims point to the same claim")
    claim_sets: tuple[tuple[str, ...], ...] | None = None
    if "claim_sets" in raw and claims is not None:
        if any(c.id is None for c in claims):  # rule 4
            raise MalformedInput(f"{where}: every claim needs an id when claim_sets is present")
        known = {c.id for c in claims}
        claim_sets = tuple(tuple(s) for s in raw["claim_sets"])
        for option in claim_sets:
            for claim_id in option:
                if claim_id not in known:  # rule 5
                    raise MalformedInput(f"{where}: claim_sets names unknown claim id {claim_id!r}")
    meta = dict(raw["meta"])
    vct_values: tuple[str, ...] | None = None
    if raw["format"] == SD_JWT_VC_FORMAT:
        vct_values = tuple(meta.pop("vct_values"))
    authorities = raw.get("trusted_authorities")
    return CredentialQuery(
        id=raw["id"],
        format=raw["format"],
        meta=MappingProxyType(meta),
        vct_values=vct_values,
        multiple=raw.get("multiple", False),
        trusted_authorities=None
        if authorities is None
        else tuple(TrustedAuthoritiesQuery(a["type"], tuple(a["values"])) for a in authorities),
        require_cryptographic_holder_binding=raw.get("require_cryptographic_holder_binding", True),
        claims=claims,
        claim_sets=claim_sets,
    )


def parse_dcql_query(obj: Any, *, limits: DcqlLimits = DEFAULT_LIMITS) -> DcqlQuery:
    """Parse a decoded ``dcql_query`` object under rules 1-8 of this module.

    Raises :class:`MalformedInput` (or its :class:`SchemaViolation`) naming the problem.
    """
    _check_limits(obj, limits)  # rule 1
    validate(obj, "dcql-query")  # rule 2
    credentials = tuple(
        _parse_credential(raw, f"credentials[{n}]") for n, raw in enumerate(obj["credentials"])
    )
    ids = [q.id for q in credentials]
    for query_id in ids:
        if ids.count(query_id) > 1:  # rule 3
            raise MalformedInput(f"Credential Query id {query_id!r} is used more than once")
    sets: tuple[CredentialSetQuery, ...] | None = None
    if "credential_sets" in obj:
        sets = tuple(
            CredentialSetQuery(tuple(tuple(o) for o in s["options"]), s.get("required", True))
            for s in obj["credential_sets"]
        )
        for n, item in enumerate(sets):
            for option in item.options:
                for query_id in option:
                    if query_id not in ids:  # rule 8
                        raise MalformedInput(
                            f"credential_sets[{n}] names unknown Credential Query id {query_id!r}"
                        )
    return DcqlQuery(credentials, sets)


def parse_dcql_query_json(data: bytes | str, *, limits: DcqlLimits = DEFAULT_LIMITS) -> DcqlQuery:
    """Parse the JSON text of a ``dcql_query`` (duplicate member names refused)."""
    if len(data) > limits.max_query_bytes:
        raise MalformedInput(f"DCQL query is larger than {limits.max_query_bytes} bytes")
    return parse_dcql_query(loads(data, what="DCQL query"), limits=limits)


# -- builders ----------------------------------------------------------------------------


def claim(
    *path: str | int | None, id: str | None = None, values: Iterable[ClaimValue] | None = None
) -> ClaimsQuery:
    """A Claims Query for ``path``, e.g. ``claim("address", "region", id="region")``."""
    return ClaimsQuery(path=tuple(path), id=id, values=None if values is None else tuple(values))


def sd_jwt_credential(
    id: str,
    vct_values: Sequence[str],
    *,
    claims: Sequence[ClaimsQuery] | None = None,
    claim_sets: Sequence[Sequence[str]] | None = None,
    multiple: bool = False,
    require_cryptographic_holder_binding: bool = True,
    trusted_authorities: Sequence[TrustedAuthoritiesQuery] | None = None,
) -> CredentialQuery:
    """A ``dc+sd-jwt`` Credential Query; checked when given to :func:`dcql_query`."""
    return CredentialQuery(
        id=id,
        format=SD_JWT_VC_FORMAT,
        vct_values=tuple(vct_values),
        multiple=multiple,
        trusted_authorities=None if trusted_authorities is None else tuple(trusted_authorities),
        require_cryptographic_holder_binding=require_cryptographic_holder_binding,
        claims=None if claims is None else tuple(claims),
        claim_sets=None if claim_sets is None else tuple(tuple(s) for s in claim_sets),
    )


def credential_set(*options: Sequence[str], required: bool = True) -> CredentialSetQuery:
    """A Credential Set Query: ``credential_set(["kyc_jpki"], ["kyc_licence"])``."""
    return CredentialSetQuery(tuple(tuple(o) for o in options), required)


def dcql_query(
    credentials: Sequence[CredentialQuery],
    credential_sets: Sequence[CredentialSetQuery] | None = None,
    *,
    limits: DcqlLimits = DEFAULT_LIMITS,
) -> DcqlQuery:
    """Assemble a query and hold it to every parsing rule (it is serialised and re-parsed)."""
    built = DcqlQuery(tuple(credentials), None if credential_sets is None else tuple(credential_sets))
    return parse_dcql_query(built.to_json(), limits=limits)
