"""Configuration of a registry node: a frozen dataclass, built from flags, then
``AKASHI_REGISTRY_*`` environment variables, then defaults.

Nothing reads the environment at import time; :func:`from_sources` does, when asked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from identity.settings import layer_settings

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
    #: How long the mailbox keeps a ciphertext nobody acknowledged, counted from the notice's
    #: ``sent_at`` (seconds; default 30 days); then it is deleted.
    mailbox_retention: int = 30 * 86400
    #: Largest ciphertext the mailbox stores (bytes; a sealed update is a few KB).
    mailbox_max_ciphertext: int = 256 * 1024
    #: Most messages one mailbox fetch answers with (and at most ``max_body_bytes`` of them).
    mailbox_page: int = 100
    #: Longest long-poll a fetch may ask for (``wait``, seconds).
    mailbox_max_wait: int = 30
    #: Most fetches waiting at once on the node, and for one recipient.
    mailbox_max_waiters: int = 1000
    mailbox_max_waiters_per_recipient: int = 4
    #: RFC 9421 signatures of mailbox requests: the oldest ``created`` accepted and the clock
    #: skew allowed (seconds); nonces and signatures are remembered that long to refuse replays.
    mailbox_signature_max_age: int = 300
    mailbox_signature_skew: int = 60

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


def from_sources(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> RegistryConfig:
    """A config from ``flags`` (highest), ``AKASHI_REGISTRY_*`` variables
    (``os.environ`` unless ``environ`` is given), then defaults; unknown names are refused."""
    return layer_settings(RegistryConfig(), _ENV_PREFIX, os.environ if environ is None else environ, flags)
