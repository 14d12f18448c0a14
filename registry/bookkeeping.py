"""Index rows a node keeps beside the rules' derived state, so that reads can prove
their answers: which entry last changed each record, and the entries of each
did:akashi's key event log.

Deterministic like the rules (a function of the entry, its index and the state
before it), so ``rebuild`` reproduces it exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from registry.state import DID, StateChange

__all__ = ["DID_LOG", "ENTRY_FOR", "bookkeeping_rows"]

ENTRY_FOR = "entry_for"
DID_LOG = "did_log"


class _View(Protocol):
    def get(self, kind: str, key: str) -> dict[str, Any] | None: ...


def bookkeeping_rows(
    view: _View, envelope: Mapping[str, Any], changes: Sequence[StateChange], index: int
) -> list[tuple[str, str, dict[str, Any] | None]]:
    """The index rows for the entry at ``index`` that made ``changes``."""
    rows: list[tuple[str, str, dict[str, Any] | None]] = [
        (ENTRY_FOR, f"{change.kind}:{change.key}", {"index": index}) for change in changes
    ]
    if envelope["type"].startswith("did."):
        for change in changes:
            if change.kind == DID:
                log = view.get(DID_LOG, change.key) or {"indexes": []}
                rows.append((DID_LOG, change.key, {"indexes": [*log["indexes"], index]}))
    return rows
