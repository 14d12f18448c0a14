"""Configuration of the verifier service: a frozen dataclass from flags, then
``AKASHI_VERIFIER_*`` environment variables, then defaults (nothing is read at import)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["VerifierConfig", "from_sources"]

_ENV_PREFIX = "AKASHI_VERIFIER_"


@dataclass(frozen=True, slots=True)
class VerifierConfig:
    """Where the verifier keeps its data, how it is reached, and its limits."""

    data_dir: Path = Path("verifier-data")
    host: str = "127.0.0.1"
    port: int = 8472
    #: The verifier's public base URL (its response_uri and request_uri live under it).
    url: str = ""
    #: Seconds a presentation request stays answerable.
    request_ttl: int = 600
    #: Seconds a key-binding JWT may be old.
    kb_max_age: int = 300
    #: Largest request body (a direct_post response).
    max_body_bytes: int = 512 * 1024

    @property
    def public_url(self) -> str:
        """The verifier's base URL."""
        return (self.url or f"http://{self.host}:{self.port}").rstrip("/")

    def path(self, name: str) -> Path:
        """A file in the data folder."""
        return self.data_dir / name


def _convert(name: str, raw: str, current: Any) -> Any:
    if isinstance(current, bool):
        return raw.lower() in {"1", "true", "yes"}
    if isinstance(current, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{_ENV_PREFIX}{name.upper()} must be an integer, not {raw!r}") from None
    if isinstance(current, Path):
        return Path(raw)
    return raw


def from_sources(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> VerifierConfig:
    """A config from ``flags`` (highest), ``AKASHI_VERIFIER_*`` variables, then defaults."""
    config = VerifierConfig()
    known = {f.name for f in fields(VerifierConfig)}
    changes: dict[str, Any] = {}
    for key, raw in (os.environ if environ is None else environ).items():
        if key.startswith(_ENV_PREFIX):
            name = key[len(_ENV_PREFIX) :].lower()
            if name not in known:
                raise ValueError(f"unknown setting {key}")
            changes[name] = _convert(name, raw, getattr(config, name))
    for name, value in (flags or {}).items():
        if value is None:
            continue
        if name not in known:
            raise ValueError(f"unknown setting {name}")
        changes[name] = Path(value) if isinstance(getattr(config, name), Path) else value
    return replace(config, **changes)
