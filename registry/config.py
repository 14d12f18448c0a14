"""Configuration of a registry node: a frozen dataclass, built from flags, then
``AKASHI_REGISTRY_*`` environment variables, then defaults.

Nothing reads the environment at import time; :func:`from_sources` does, when asked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["RegistryConfig", "from_sources"]

_ENV_PREFIX = "AKASHI_REGISTRY_"


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    """Everything a node needs to know besides its data.

    Limits are checked before any work is done on a request.
    """

    data_dir: Path = Path("registry-data")
    host: str = "127.0.0.1"
    port: int = 8470
    #: Largest request body accepted (a batch of entries).
    max_body_bytes: int = 4 * 1024 * 1024
    #: Largest single entry (JCS bytes of the envelope); tlog-tiles entry bundles hold at most 65,535.
    max_entry_bytes: int = 65535
    #: Most entries in one submitted batch.
    max_batch_entries: int = 2048
    #: Most entries the sequencer integrates under one commit and one checkpoint.
    integrate_batch: int = 4096
    #: How long the sequencer waits to gather more entries into a batch (seconds).
    batch_delay: float = 0.005
    #: An entry whose own time is further than this from the node's clock is refused (seconds).
    max_clock_skew: int = 300
    #: Most proofs/entries returned by one read request.
    max_page: int = 1000
    #: Worker processes checking schemas and signatures ahead of the ordered rules;
    #: -1 means one fewer than the machine's cores (0 on a single core: all in-process).
    admission_workers: int = -1

    @property
    def workers(self) -> int:
        """The number of admission worker processes to start."""
        if self.admission_workers >= 0:
            return self.admission_workers
        return max(0, (os.cpu_count() or 1) - 1)

    @property
    def database(self) -> Path:
        """The SQLite file of the node."""
        return self.data_dir / "registry.db"

    @property
    def genesis_file(self) -> Path:
        """The consortium genesis file (public)."""
        return self.data_dir / "genesis.json"

    @property
    def log_key_file(self) -> Path:
        """The log's private signing key (C2SP signer key line), readable by the owner only."""
        return self.data_dir / "log.key"

    @property
    def witness_key_file(self) -> Path:
        """This node's own witness signing key."""
        return self.data_dir / "witness.key"


def _convert(name: str, raw: str, current: Any) -> Any:
    if isinstance(current, bool):
        if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
            raise ValueError(f"{_ENV_PREFIX}{name.upper()} must be true or false, not {raw!r}")
        return raw.lower() in {"1", "true", "yes"}
    if isinstance(current, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{_ENV_PREFIX}{name.upper()} must be an integer, not {raw!r}") from None
    if isinstance(current, float):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{_ENV_PREFIX}{name.upper()} must be a number, not {raw!r}") from None
    if isinstance(current, Path):
        return Path(raw)
    return raw


def from_sources(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> RegistryConfig:
    """A config from ``flags`` (highest), then ``environ`` (``AKASHI_REGISTRY_*``), then defaults.

    Unknown ``AKASHI_REGISTRY_*`` variables are refused, so a typo does not pass silently.
    """
    config = RegistryConfig()
    known = {f.name for f in fields(RegistryConfig)}
    env = os.environ if environ is None else environ
    changes: dict[str, Any] = {}
    for key, raw in env.items():
        if not key.startswith(_ENV_PREFIX):
            continue
        name = key[len(_ENV_PREFIX) :].lower()
        if name not in known:
            raise ValueError(f"unknown setting {key}")
        changes[name] = _convert(name, raw, getattr(config, name))
    for name, value in (flags or {}).items():
        if value is None:
            continue
        if name not in known:
            raise ValueError(f"unknown setting {name}")
        current = getattr(config, name)
        changes[name] = Path(value) if isinstance(current, Path) else value
    return replace(config, **changes)
