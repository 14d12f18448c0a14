"""Configuration of the verifier service: a frozen dataclass from flags, then
``AKASHI_VERIFIER_*`` environment variables, then defaults (nothing is read at import)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from identity.settings import layer_settings

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


def from_sources(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    saved: Mapping[str, Any] | None = None,
) -> VerifierConfig:
    """A config from ``flags`` (highest), ``AKASHI_VERIFIER_*`` variables
    (``os.environ`` unless ``environ`` is given), then ``saved`` (what the data folder remembers),
    then defaults; unknown names are refused."""
    return layer_settings(
        VerifierConfig(), _ENV_PREFIX, os.environ if environ is None else environ, flags, saved
    )
