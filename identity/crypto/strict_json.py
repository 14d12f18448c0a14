"""Strict JSON parsing for data received from others.

Duplicate member names are refused (RFC 7515 section 5.2 and RFC 9901 leave
them to the parser; refusing them closes a whole family of confusion attacks),
and so are ``NaN``/``Infinity``, which are not JSON.
"""

from __future__ import annotations

import json
from typing import Any

from identity.errors import MalformedInput

__all__ = ["loads", "loads_object"]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _Duplicate(name)
            seen.add(name)
    return obj


class _Duplicate(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
_scan_once = _decoder.scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__


def _decode(text: str) -> Any:
    # The scanner alone is enough for text without surrounding whitespace (what
    # signed tokens carry); anything else takes the full path, which also
    # reports trailing garbage.
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:
        return _decoder.decode(text)
    if end != len(text):
        return _decoder.decode(text)
    return value


def loads(data: bytes | str, *, what: str = "JSON") -> Any:
    """Parse UTF-8 JSON text, refusing duplicate names and non-JSON constants."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return _decode(text)
    except _Duplicate as exc:
        raise MalformedInput(f"{what} has the member {exc.name!r} more than once") from exc
    except UnicodeDecodeError as exc:
        raise MalformedInput(f"{what} is not UTF-8") from exc
    except (ValueError, RecursionError) as exc:
        raise MalformedInput(f"{what} is not valid JSON") from exc


def loads_object(data: bytes | str, *, what: str = "JSON object") -> dict[str, Any]:
    """Parse JSON text that must be an object."""
    value = loads(data, what=what)
    if not isinstance(value, dict):
        raise MalformedInput(f"{what} must be a JSON object")
    return value
