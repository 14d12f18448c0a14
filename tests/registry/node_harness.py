"""A registry node on a fresh SQLite file with the rules-test scenario's genesis and a fixed clock."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from rules_world import LOG_KEY, T0, make_genesis

from identity.errors import AkashiError
from identity.ledger.note import Ed25519NoteSigner
from registry.audit import genesis_rows
from registry.config import RegistryConfig
from registry.genesis import Genesis
from registry.node import Accepted, Node
from registry.storage import SqliteStorage


class Harness:
    """A node on a fresh SQLite file, with the scenario's genesis and a fixed clock."""

    def __init__(self, folder: Path, genesis: Genesis | None = None, **config: Any) -> None:
        self.folder = folder
        self.genesis = genesis or make_genesis()
        self.config = replace(RegistryConfig(data_dir=folder), **{"max_clock_skew": 10**9, **config})
        self.open()
        self.storage.replace_state(row for row in genesis_rows(self.genesis) if row[2] is not None)

    def open(self) -> None:
        self.storage = SqliteStorage(self.folder / "registry.db")
        signer = Ed25519NoteSigner(self.genesis.origin, LOG_KEY)
        self.node = Node(self.config, self.storage, self.genesis, signer, clock=lambda: T0 + 500)

    def reopen(self) -> None:
        self.storage.close()
        self.open()

    def accepted(self, entries: list[Any]) -> list[Accepted]:
        outcomes = self.node.submit(entries)
        for outcome in outcomes:
            if isinstance(outcome, AkashiError):
                raise outcome
        return [o for o in outcomes if isinstance(o, Accepted)]

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        return {
            table: sorted(self.storage.raw_rows(table))
            for table in ("entries", "tiles", "checkpoints", "state", "meta")
        }


