"""The append pipeline of a registry node, and the reads that prove its answers.

``submit`` runs, for each entry: admission (size, JSON Schema of the envelope,
the entry's own time against this node's clock) in the caller's thread; then,
under the single writer lock, for a whole group of waiting submissions at once
("group commit"): de-duplication, the consortium rules (signature and
state), sequencing, one SQLite transaction with the entries, their tiles, the
state changes, the mailbox ciphertexts the entries store or delete
(:func:`registry.mailbox_store.mailbox_changes`) and one signed checkpoint.
A submitter hears back only after that transaction committed: its index is
durable and already integrated, so an inclusion proof can be served at once.

Sequencing is the only step a consortium replaces (with NATS JetStream order);
admission, rules and storage stay as they are.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from identity.crypto.encoding import b64url_encode
from identity.errors import AkashiError, MalformedInput, NotFound, RejectedByRules
from identity.ledger.checkpoint import Checkpoint, sign_checkpoint
from identity.ledger.merkle import leaf_hash
from identity.ledger.note import NoteSigner
from registry import rules, tree
from registry.admission import Admitted, Refusal, admit_entries
from registry.bookkeeping import bookkeeping_rows
from registry.config import RegistryConfig
from registry.genesis import Genesis
from registry.mailbox_store import mailbox_changes
from registry.state import StateChange
from registry.storage import Batch, Storage, StoredCheckpoint, StoredEntry

__all__ = ["Accepted", "Node", "Outcome", "OverlayView"]

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Accepted:
    """An entry that is in the log: its index, and whether it was there already."""

    index: int
    digest: bytes
    leaf_hash: bytes
    size: int
    duplicate: bool = False


Outcome = Accepted | AkashiError


@dataclass(slots=True)
class _Job:
    items: list[Admitted | AkashiError]
    ciphertexts: list[bytes | None]
    outcomes: list[Outcome] = field(default_factory=list)
    done: bool = False


StateReader = Callable[[str, str], "dict[str, Any] | None"]


class OverlayView:
    """The derived state as the rules see it inside a batch: what ``read`` returns
    (the store) plus the changes of the entries accepted earlier in the batch."""

    def __init__(self, read: StateReader) -> None:
        self._read = read
        self._pending: dict[tuple[str, str], dict[str, Any] | None] = {}

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The current record, pending changes first."""
        if (kind, key) in self._pending:
            return self._pending[(kind, key)]
        return self._read(kind, key)

    def apply(self, changes: Iterable[StateChange]) -> None:
        """Record ``changes`` for later reads in this batch."""
        for change in changes:
            self._pending[(change.kind, change.key)] = change.value

    def put(self, rows: Iterable[tuple[str, str, dict[str, Any] | None]]) -> None:
        """Record raw rows (the node's own index rows) for later reads in this batch."""
        for kind, key, value in rows:
            self._pending[(kind, key)] = value

    def changes(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        """The net change of the batch, one row per record."""
        return [(kind, key, value) for (kind, key), value in self._pending.items()]


def _exit_with_parent(parent: int) -> None:
    """In an admission worker: end when the node's process is gone (even by SIGKILL,
    which gives the node no chance to stop its workers)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class Node:
    """One registry node over a :class:`~registry.storage.Storage`."""

    def __init__(
        self,
        config: RegistryConfig,
        storage: Storage,
        genesis: Genesis,
        log_signer: NoteSigner,
        *,
        clock: Clock = time.time,
        workers: int = 0,
    ) -> None:
        """``workers`` > 0 runs admission (schemas, canonical form, signatures) in that many
        worker processes, beside the strictly ordered rules and writes of this process."""
        self.config = config
        self._workers = workers
        self._pool = (
            ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
            if workers > 0
            else None
        )
        self.storage = storage
        self.genesis = genesis
        self.log_signer = log_signer
        self.clock = clock
        self._queue: list[_Job] = []
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._integrator = tree.Integrator.load(storage.size(), storage)
        latest = storage.latest_checkpoint()
        if latest is not None and (latest.size != storage.size() or latest.root != self._integrator.root):
            # The tiles are trusted by load(): refuse to extend a tree that is not the signed one.
            raise RuntimeError("the stored tree does not match the latest signed checkpoint; run `verify`")
        self._listeners: list[Callable[[StoredCheckpoint], None]] = []

    # ------------------------------------------------------------------ writing

    def on_checkpoint(self, listener: Callable[[StoredCheckpoint], None]) -> None:
        """Call ``listener`` (outside the writer lock) after every new checkpoint."""
        self._listeners.append(listener)

    def submit(
        self, entries: Sequence[bytes | dict[str, Any]], *, ciphertexts: Sequence[bytes | None] | None = None
    ) -> list[Outcome]:
        """Append ``entries``; one outcome per entry, in order: where it is, or why not.

        ``ciphertexts`` (one per entry, None for most) are mailbox ciphertexts: the one of a
        ``mailbox.notice`` the rules accept is stored in the transaction that appends it. The
        caller has checked that it hashes to the notice's ``ciphertext_digest``.
        """
        if len(entries) > self.config.max_batch_entries:
            raise MalformedInput(f"a batch holds at most {self.config.max_batch_entries} entries")
        attached: list[bytes | None] = [None] * len(entries) if ciphertexts is None else list(ciphertexts)
        if len(attached) != len(entries):
            raise ValueError("submit() takes one ciphertext (or None) per entry")
        job = _Job(self._admit(entries, self.clock()), attached)
        with self._queue_lock:
            self._queue.append(job)
        new_checkpoint: StoredCheckpoint | None = None
        with self._write_lock:
            if not job.done:
                new_checkpoint = self._drain()
        if new_checkpoint is not None:
            for listener in self._listeners:
                listener(new_checkpoint)
        return job.outcomes

    def _admit(self, entries: Sequence[bytes | dict[str, Any]], now: float) -> list[Admitted | AkashiError]:
        """Admission (no state needed), outside the writer lock; in worker processes when
        the node has them, split across them for a large batch."""
        limits = (now, self.config.max_entry_bytes, self.config.max_clock_skew)
        if self._pool is None or not entries:
            results = admit_entries(entries, *limits)
        else:
            share = -(-len(entries) // self._workers)
            chunks = [entries[i : i + share] for i in range(0, len(entries), share)]
            futures = [self._pool.submit(admit_entries, chunk, *limits) for chunk in chunks]
            results = [result for future in futures for result in future.result()]
        return [result.error() if isinstance(result, Refusal) else result for result in results]

    def _drain(self) -> StoredCheckpoint | None:
        """Integrate waiting jobs, a batch at a time, until this thread's job is done."""
        checkpoint = None
        while True:
            with self._queue_lock:
                jobs: list[_Job] = []
                count = 0
                while self._queue and (
                    not jobs or count + len(self._queue[0].items) <= self.config.integrate_batch
                ):
                    job = self._queue.pop(0)
                    jobs.append(job)
                    count += len(job.items)
            if not jobs:
                return checkpoint
            checkpoint = self._integrate(jobs) or checkpoint

    def _integrate(self, jobs: list[_Job]) -> StoredCheckpoint | None:
        start = self.storage.size()
        view = OverlayView(self.storage.get_state)
        admitted = [item for job in jobs for item in job.items if isinstance(item, Admitted)]
        known = self.storage.find_digests([item.digest for item in admitted]) if admitted else {}
        batch = Batch(start)
        in_batch: dict[bytes, StoredEntry] = {}
        for job in jobs:
            job.outcomes = [
                self._apply(item, view, batch, known, in_batch, ciphertext)
                for item, ciphertext in zip(job.items, job.ciphertexts, strict=True)
            ]
        checkpoint = None
        if batch.entries:
            try:
                result = self._integrator.append([entry.leaf_hash for entry in batch.entries])
                checkpoint = self._sign(result.size, result.root)
                batch.tiles = dict(result.tiles)
                batch.state = view.changes()
                batch.checkpoint = checkpoint
                self.storage.commit(batch)
            except BaseException as exc:
                # Nothing of the batch is stored: forget it, and tell every submitter.
                self._integrator = tree.Integrator.load(self.storage.size(), self.storage)
                failure = exc if isinstance(exc, AkashiError) else None
                for job in jobs:
                    job.outcomes = [
                        failure or RejectedByRules("the batch could not be stored", rule="storage")
                        if isinstance(o, Accepted) and not o.duplicate
                        else o
                        for o in job.outcomes
                    ]
                    job.done = True
                if not isinstance(exc, Exception):
                    raise
                return None
        size = batch.end
        for job in jobs:
            job.outcomes = [
                Accepted(o.index, o.digest, o.leaf_hash, size, o.duplicate) if isinstance(o, Accepted) else o
                for o in job.outcomes
            ]
            job.done = True
        return checkpoint

    def _apply(
        self,
        item: Admitted | AkashiError,
        view: OverlayView,
        batch: Batch,
        known: dict[bytes, int],
        in_batch: dict[bytes, StoredEntry],
        ciphertext: bytes | None = None,
    ) -> Outcome:
        if isinstance(item, AkashiError):
            return item
        if item.digest in known:  # the same entry again: it is appended once
            index = known[item.digest]
            return Accepted(index, item.digest, leaf_hash(item.data), 0, duplicate=True)
        if item.digest in in_batch:
            earlier = in_batch[item.digest]
            return Accepted(earlier.index, item.digest, earlier.leaf_hash, 0, duplicate=True)
        try:
            changes = rules.apply(view, item.entry, genesis=self.genesis)
        except AkashiError as error:
            return error
        view.apply(changes)
        envelope = item.entry.envelope
        entry = StoredEntry(batch.end, item.digest, leaf_hash(item.data), envelope["type"], item.data)
        view.put(bookkeeping_rows(view, envelope, changes, entry.index))
        batch.mailbox.extend(mailbox_changes(envelope, b64url_encode(item.digest), entry.index, ciphertext))
        batch.entries.append(entry)
        in_batch[item.digest] = entry
        return Accepted(entry.index, entry.digest, entry.leaf_hash, 0)

    def _sign(self, size: int, root: bytes) -> StoredCheckpoint:
        body = Checkpoint(self.genesis.origin, size, root, ())
        note = sign_checkpoint(body, self.log_signer)
        return StoredCheckpoint(size, root, note)

    def close(self) -> None:
        """Stop the admission workers, if any."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    # ------------------------------------------------------------------ reading

    def size(self) -> int:
        """The number of entries in the log."""
        return self.storage.size()

    def latest_checkpoint(self) -> StoredCheckpoint:
        """The newest signed checkpoint (raises :class:`NotFound` for an empty log)."""
        checkpoint = self.storage.latest_checkpoint()
        if checkpoint is None:
            raise NotFound("the log is empty: no checkpoint yet")
        return checkpoint

    def entry(self, index: int) -> StoredEntry:
        """The entry at ``index``."""
        entry = self.storage.entry(index)
        if entry is None:
            raise NotFound(f"no entry at index {index}")
        return entry

    def inclusion_proof(self, index: int, size: int | None = None) -> tuple[int, list[bytes]]:
        """``(tree_size, proof)`` for the leaf at ``index`` in the tree of ``size`` (default: now)."""
        current = self.storage.size()
        size = current if size is None else size
        if not 0 <= index < size <= current:
            raise NotFound(f"no leaf {index} in a tree of size {size} (the log has {current})")
        return size, tree.inclusion_proof(index, size, self.storage)

    def inclusion_proofs(self, indexes: Sequence[int], size: int) -> list[list[bytes]]:
        """Inclusion proofs of many leaves in the tree of ``size`` (computed together)."""
        current = self.storage.size()
        if not 0 < size <= current or any(not 0 <= index < size for index in indexes):
            raise NotFound(f"leaves outside a tree of size {size} (the log has {current})")
        return tree.inclusion_proofs(indexes, size, self.storage)

    def consistency_proof(self, size1: int, size2: int | None = None) -> tuple[int, list[bytes]]:
        """``(size2, proof)`` that the tree of ``size1`` is a prefix of the tree of ``size2``."""
        current = self.storage.size()
        size2 = current if size2 is None else size2
        if not 0 < size1 <= size2 <= current:
            raise NotFound(f"no consistency proof from {size1} to {size2} (the log has {current})")
        return size2, tree.consistency_proof(size1, size2, self.storage)

    def root(self, size: int | None = None) -> bytes:
        """The tree head hash at ``size`` (default: now)."""
        current = self.storage.size()
        size = current if size is None else size
        if not 0 <= size <= current:
            raise NotFound(f"no tree of size {size} (the log has {current})")
        return tree.root_at(size, self.storage)
