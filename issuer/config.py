"""Configuration of the issuer service: a frozen dataclass from flags, then
``AKASHI_ISSUER_*`` environment variables, then defaults (nothing is read at import)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from identity.settings import layer_settings

__all__ = ["IssuerConfig", "from_sources"]

_ENV_PREFIX = "AKASHI_ISSUER_"


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    """Where the issuer keeps its data, how it is reached, and its limits."""

    data_dir: Path = Path("issuer-data")
    host: str = "127.0.0.1"
    port: int = 8471
    #: The credential issuer identifier (its public base URL); default http://host:port.
    url: str = ""
    #: The registry node this issuer anchors to.
    registry_url: str = "http://127.0.0.1:8470"
    #: Cosignatures a registry checkpoint needs before this issuer trusts it.
    registry_witnesses_required: int = 1
    #: Seconds an offer (pre-authorized code) stays redeemable.
    offer_ttl: int = 600
    #: Seconds an access token stays usable.
    token_ttl: int = 300
    #: Seconds a c_nonce stays usable.
    nonce_ttl: int = 300
    #: Seconds a card challenge stays answerable.
    challenge_ttl: int = 300
    #: Most credentials (holder keys) in one credential request.
    batch_size: int = 10
    #: Days a credential is valid.
    credential_days: int = 365
    #: Years the AML verification record is kept (the Act requires 7).
    retention_years: int = 7
    #: Largest request body.
    max_body_bytes: int = 256 * 1024
    #: Entries in each status list (herd privacy: large lists).
    status_list_size: int = 131072

    @property
    def public_url(self) -> str:
        """The issuer identifier."""
        return (self.url or f"http://{self.host}:{self.port}").rstrip("/")

    def path(self, name: str) -> Path:
        """A file in the data folder."""
        return self.data_dir / name


def from_sources(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    saved: Mapping[str, Any] | None = None,
) -> IssuerConfig:
    """A config from ``flags`` (highest), ``AKASHI_ISSUER_*`` variables
    (``os.environ`` unless ``environ`` is given), then ``saved`` (what the data folder remembers),
    then defaults; unknown names are refused."""
    return layer_settings(
        IssuerConfig(), _ENV_PREFIX, os.environ if environ is None else environ, flags, saved
    )
