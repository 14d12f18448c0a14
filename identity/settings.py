"""Layered settings for the services: flags over ``PREFIX_*`` variables over defaults.

Pure: the caller passes the environment in, so nothing here reads the process's.
Each role keeps its own frozen dataclass of settings and calls :func:`layer_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["layer_settings"]

SettingsT = TypeVar("SettingsT")

_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}


def _convert(variable: str, raw: str, current: Any) -> Any:
    """``raw`` as the type of the default ``current``; a readable ValueError if it is not one."""
    if isinstance(current, bool):
        if raw.lower() not in _TRUE | _FALSE:
            raise ValueError(f"{variable} must be true or false, not {raw!r}")
        return raw.lower() in _TRUE
    if isinstance(current, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{variable} must be an integer, not {raw!r}") from None
    if isinstance(current, float):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{variable} must be a number, not {raw!r}") from None
    if isinstance(current, Path):
        return Path(raw)
    return raw


def layer_settings(
    defaults: SettingsT,
    prefix: str,
    environ: Mapping[str, str],
    flags: Mapping[str, Any] | None = None,
    saved: Mapping[str, Any] | None = None,
) -> SettingsT:
    """``defaults`` (a frozen dataclass) overridden by ``saved`` (what a service's data folder
    remembers, e.g. the URL given at ``init``), then ``prefix``-named variables, then ``flags``.

    Flags and saved values that are None were not given. Unknown names are refused, so a typo
    in a variable or flag does not pass silently.
    """
    known = {f.name for f in fields(defaults)}  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for name, value in (saved or {}).items():
        if value is None:
            continue
        if name not in known:
            raise ValueError(f"unknown saved setting {name}")
        changes[name] = Path(value) if isinstance(getattr(defaults, name), Path) else value
    for key, raw in environ.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :].lower()
        if name not in known:
            raise ValueError(f"unknown setting {key}")
        changes[name] = _convert(key, raw, getattr(defaults, name))
    for name, value in (flags or {}).items():
        if value is None:
            continue
        if name not in known:
            raise ValueError(f"unknown setting {name}")
        changes[name] = Path(value) if isinstance(getattr(defaults, name), Path) else value
    return replace(defaults, **changes)  # type: ignore[type-var]
