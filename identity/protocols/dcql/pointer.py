"""Claims path pointers over JSON credentials (OpenID4VP 1.0 section 7.1) and value matching
(section 6.3).

Processing, numbered as in section 7.1.1 ("Processing"):

1. Select the root element (the top-level claims object).
2. For each component, left to right:
   1. a string selects that key in every selected element; a selected element that is
      not an object is an error; an element without the key leaves the selection;
   2. ``null`` selects every element of every selected array; a non-array is an error;
   3. a non-negative integer selects that index in every selected array; a non-array is
      an error; an array without that index leaves the selection;
   4. anything else is an error.
3. An empty selection is an error.

Value matching: a selected element matches ``values`` when its JSON type and value equal
one of them exactly. ``True`` is not ``1`` and ``1.0`` is not ``1`` here, although Python's
``==`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from identity.credentials.sdjwt.common import ClaimPath
from identity.protocols.dcql.query import ClaimValue

__all__ = ["PointerError", "matches_values", "path_covers", "select"]


class PointerError(Exception):
    """Internal: a pointer does not apply to a credential (it lacks the claim)."""


def select(claims: Any, path: ClaimPath) -> list[Any]:
    """The elements ``path`` selects in ``claims``; :class:`PointerError` on rules 2 and 3."""
    selected: list[Any] = [claims]  # rule 1
    for part in path:
        if type(part) is str:  # rule 2.1
            if any(not isinstance(e, dict) for e in selected):
                raise PointerError(f"{part!r} is applied to a non-object")
            selected = [e[part] for e in selected if part in e]
        elif part is None:  # rule 2.2
            if any(not isinstance(e, list) for e in selected):
                raise PointerError("null is applied to a non-array")
            selected = [item for e in selected for item in e]
        elif type(part) is int and part >= 0:  # rule 2.3
            if any(not isinstance(e, list) for e in selected):
                raise PointerError(f"index {part} is applied to a non-array")
            selected = [e[part] for e in selected if part < len(e)]
        else:  # rule 2.4
            raise PointerError(f"path component {part!r} is not allowed")
    if not selected:  # rule 3
        raise PointerError("the path selects nothing")
    return selected


def _same(value: Any, wanted: ClaimValue) -> bool:
    return type(value) is type(wanted) and value == wanted


def matches_values(selected: Iterable[Any], values: Sequence[ClaimValue] | None) -> bool:
    """Whether a selection satisfies ``values``: with a ``null`` in the path, one matching
    element is enough (the claim "exists" with an accepted value)."""
    if values is None:
        return True
    return any(_same(element, wanted) for element in selected for wanted in values)


def _agree(path: ClaimPath, request: ClaimPath) -> bool:
    """Whether two paths agree on their common length (``null`` stands for any index)."""
    for got, want in zip(path, request, strict=False):
        if got == want and type(got) is type(want):
            continue
        if (want is None and type(got) is int) or (got is None and type(want) is int):
            continue
        return False
    return True


def path_covers(disclosed: ClaimPath, requested: Iterable[ClaimPath]) -> bool:
    """Whether a disclosed claim path was needed for one of ``requested``: it lies on the
    way to a requested claim, or inside one."""
    return any(_agree(disclosed, request) for request in requested)


def path_within(path: ClaimPath, scopes: Iterable[ClaimPath]) -> bool:
    """Whether ``path`` is one of ``scopes`` or lies inside one: a scope is a prefix of it,
    step by step (a ``null`` scope step stands for every array element, so it covers an
    index or ``null``; an index covers only itself). Unlike :func:`path_covers`, the way to
    a scope is not inside it: ``["a"]`` is not within ``[["a", "b"]]``."""
    for scope in scopes:
        if len(path) < len(scope):
            continue
        if all(
            (want is None and (got is None or type(got) is int)) or (got == want and type(got) is type(want))
            for got, want in zip(path, scope, strict=False)
        ):
            return True
    return False
