"""``verify`` and ``rebuild``: re-deriving everything a node stores from its raw entries.

:func:`verify_store` recomputes, in order, every entry's digest and leaf hash
from its bytes, every tile from the leaves, every checkpoint's root and its
signature, every cosignature, and the derived state from a replay of the
rules, and checks every ciphertext the mailbox holds against the notice that
announced it; it reports the first mismatch with its index. Any single changed
byte of a stored entry, tile, checkpoint or cosignature row is caught: every
column is either signed, or recomputed from the entries.

:func:`replay_state` is the same replay, used by ``rebuild`` to replace the
derived-state tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.errors import AkashiError
from identity.ledger.checkpoint import verify_checkpoint
from identity.ledger.cosignature import CosignatureVerifier
from identity.ledger.envelope import parse_entry
from identity.ledger.merkle import leaf_hash
from identity.ledger.note import verify_note
from registry import rules, tree
from registry.bookkeeping import bookkeeping_rows
from registry.genesis import Genesis, genesis_changes
from registry.node import OverlayView
from registry.storage import SqliteStorage, StoredEntry, as_blob

__all__ = ["Mismatch", "replay_state", "verify_store"]

Progress = Callable[[int, int], None]
_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The first thing found wrong: where (table and index) and what."""

    table: str
    index: int
    problem: str

    def __str__(self) -> str:
        return f"{self.table} {self.index}: {self.problem}"


class _MemoryView:
    """A state view over a plain dict, for replays."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        return self.rows.get((kind, key))

    def put(self, rows: list[tuple[str, str, dict[str, Any] | None]]) -> None:
        for kind, key, value in rows:
            if value is None:
                self.rows.pop((kind, key), None)
            else:
                self.rows[(kind, key)] = value


def _entries(storage: SqliteStorage, size: int) -> Iterator[StoredEntry]:
    for start in range(0, size, _CHUNK):
        yield from storage.entries(start, min(size, start + _CHUNK))


def replay_state(
    storage: SqliteStorage, genesis: Genesis, progress: Progress | None = None
) -> dict[tuple[str, str], dict[str, Any]]:
    """The derived state the rules give when every stored entry is applied in order.

    Raises :class:`AkashiError` if a stored entry does not pass the rules at its position.
    """
    view = _MemoryView()
    view.put(genesis_rows(genesis))
    size = storage.size()
    for entry in _entries(storage, size):
        envelope = parse_entry(entry.data)
        overlay = OverlayView(view.get)
        changes = rules.check(overlay, envelope, genesis=genesis, data=entry.data)
        overlay.apply(changes)
        overlay.put(bookkeeping_rows(overlay, envelope, changes, entry.index))
        view.put(overlay.changes())
        if progress and entry.index % _CHUNK == 0:
            progress(entry.index, size)
    return view.rows


def genesis_rows(genesis: Genesis) -> list[tuple[str, str, dict[str, Any] | None]]:
    """The state the genesis file itself establishes (its initial members)."""
    return [(change.kind, change.key, change.value) for change in genesis_changes(genesis)]


def verify_store(
    storage: SqliteStorage, genesis: Genesis, progress: Progress | None = None
) -> Mismatch | None:
    """Recompute everything from the entries; the first :class:`Mismatch`, or ``None``."""
    size = storage.size()
    log_key = genesis.log_verifier()
    checkpoints = {cp.size: cp for cp in storage.checkpoints()}
    stored_count = sum(1 for _ in storage.raw_rows("entries"))
    if stored_count != size:
        return Mismatch("meta", size, f"the log claims {size} entries but {stored_count} are stored")
    integrator = tree.Integrator()
    expected_tiles: dict[tuple[int, int], bytes] = {}
    pending: list[bytes] = []
    position = 0
    notices: dict[str, int] = {}  # mailbox.notice digest -> its index, for the mailbox check

    def integrate() -> None:
        result = integrator.append(pending)
        expected_tiles.update(result.tiles)
        pending.clear()

    for entry in _entries(storage, size):
        if entry.index != position:
            return Mismatch("entries", position, "an index is missing or out of order")
        if sha256(entry.data) != entry.digest:
            return Mismatch("entries", entry.index, "the stored digest is not the SHA-256 of the entry")
        computed = leaf_hash(entry.data)
        if computed != entry.leaf_hash:
            return Mismatch("entries", entry.index, "the stored leaf hash is not the hash of the entry")
        try:
            envelope = parse_entry(entry.data)
        except AkashiError as error:
            return Mismatch("entries", entry.index, f"the entry does not parse: {error}")
        if envelope["type"] != entry.type:
            return Mismatch("entries", entry.index, "the stored type is not the entry's type")
        if entry.type == "mailbox.notice":
            notices[b64url_encode(entry.digest)] = entry.index
        pending.append(computed)
        position += 1
        if position in checkpoints or len(pending) >= _CHUNK:
            integrate()
            if position in checkpoints and integrator.root != checkpoints[position].root:
                return Mismatch("checkpoints", position, "the stored root is not the root of the entries")
        if progress and position % _CHUNK == 0:
            progress(position, size)
    if pending:
        integrate()
    if position != size:
        return Mismatch("entries", position, "entries are missing")

    stored_tiles = {(level, idx): as_blob(data) for level, idx, data in storage.raw_rows("tiles")}
    for key in sorted(set(stored_tiles) | set(expected_tiles)):
        if stored_tiles.get(key) != expected_tiles.get(key):
            level, idx = key
            return Mismatch("tiles", idx, f"tile {level}/{idx} is not the one the entries give")

    witnesses = _witness_verifiers(storage)
    for cp_size, cp in sorted(checkpoints.items()):
        try:
            body = verify_checkpoint(cp.note.encode(), log_key, origin=genesis.origin)
        except AkashiError as error:
            return Mismatch("checkpoints", cp_size, f"the signed note does not verify: {error}")
        if body.size != cp_size or body.root_hash != cp.root:
            return Mismatch("checkpoints", cp_size, "the stored size or root is not the signed one")
        if cp_size > size:
            return Mismatch("checkpoints", cp_size, "a checkpoint is larger than the log")
        problem = _check_cosignatures(cp.note, cp.cosignatures, witnesses)
        if problem:
            return Mismatch("cosignatures", cp_size, problem)
    for row_size, witness, line in storage.raw_rows("cosignatures"):
        if row_size not in checkpoints:
            return Mismatch("cosignatures", row_size, f"a cosignature by {witness} for no checkpoint")
        if not str(line).startswith(f"— {witness} "):
            return Mismatch("cosignatures", row_size, f"the line is not signed by {witness}")

    try:
        replayed = replay_state(storage, genesis)
    except AkashiError as error:
        return Mismatch("entries", -1, f"the rules refuse a stored entry on replay: {error}")
    live = {(kind, key): value for kind, key, value in storage.state_items()}
    for key in sorted(set(live) | set(replayed)):
        if live.get(key) != replayed.get(key):
            return Mismatch("state", -1, f"derived state {key[0]}:{key[1]} differs from a replay of the log")
    return _check_mailbox(storage, replayed, notices)


def _check_mailbox(
    storage: SqliteStorage, state: dict[tuple[str, str], Any], notices: dict[str, int]
) -> Mismatch | None:
    """Every ciphertext the mailbox holds is one a notice on the ledger announced (its
    recipient, consent, leaf and time; SHA-256 of the bytes is its ``ciphertext_digest``),
    still unacknowledged: a row slipped in, moved to another recipient or altered shows."""
    for seq, notice, recipient, consent, index, sent_at, ciphertext, *_ in storage.raw_rows("mailbox"):
        announced = state.get(("notice", notice))
        if announced is None or notices.get(notice) != index:
            return Mismatch("mailbox", seq, "a held ciphertext has no notice on the ledger at its leaf")
        stated = (announced["recipient"], announced["consent"], announced["sent_at"])
        if stated != (recipient, consent, sent_at):
            return Mismatch("mailbox", seq, "a ciphertext's recipient, consent or time is not its notice's")
        if b64url_encode(sha256(as_blob(ciphertext))) != announced["ciphertext_digest"]:
            return Mismatch("mailbox", seq, "a ciphertext does not hash to its notice's ciphertext_digest")
        if announced["ack_status"] is not None:
            return Mismatch("mailbox", seq, "a ciphertext is still held after its acknowledgement")
    return None


def _witness_verifiers(storage: SqliteStorage) -> dict[str, CosignatureVerifier]:
    """The cosignature keys of the witnesses the trust registry lists."""
    verifiers: dict[str, CosignatureVerifier] = {}
    for _, _, value in storage.state_items("member"):
        if value.get("role") in {"witness", "node"} and value.get("note_key"):
            try:
                verifier = CosignatureVerifier.from_vkey(value["note_key"])
            except AkashiError:
                continue
            verifiers[verifier.name] = verifier
    return verifiers


def _check_cosignatures(
    note: str, lines: tuple[str, ...], witnesses: dict[str, CosignatureVerifier]
) -> str | None:
    for line in lines:
        name = line.removeprefix("— ").split(" ", 1)[0]
        verifier = witnesses.get(name)
        if verifier is None:
            continue  # a witness the trust registry does not list: kept, but proves nothing here
        try:
            verify_note(note + line + ("" if line.endswith("\n") else "\n"), [verifier])
        except AkashiError:
            return f"the cosignature by {name} does not verify"
    return None
