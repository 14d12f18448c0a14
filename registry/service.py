"""Putting a node together from its data folder: keys, genesis, store, witness.

``init`` writes the folder; ``open_service`` reads it back into a running
:class:`Service` (the node and its own witness, which cosigns every new
checkpoint before the submitter hears back).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from identity.crypto.keys import Ed25519PrivateKey, RandomSource
from identity.errors import AkashiError, MalformedInput
from identity.jose.jwk import private_key_from_jwk, private_key_to_jwk
from identity.ledger.cosignature import CosignatureVerifier
from identity.ledger.note import Ed25519NoteSigner
from registry.config import RegistryConfig
from registry.genesis import Genesis, create_genesis, dump_genesis, genesis_changes, load_genesis
from registry.node import Node
from registry.storage import SqliteStorage, StoredCheckpoint
from registry.witness import Witness, format_add_checkpoint_request
from registry.witness_store import SqliteWitnessStore

__all__ = ["Service", "init_data_dir", "open_service", "read_private_key", "write_private_key"]

log = logging.getLogger("akashi.registry")

Clock = Callable[[], float]


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write ``key`` as a private JWK, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(private_key_to_jwk(key), handle)
        handle.write("\n")


def read_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a private Ed25519 JWK written by :func:`write_private_key`."""
    try:
        jwk = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MalformedInput(f"cannot read the key file {path}: {exc}") from exc
    key = private_key_from_jwk(jwk)
    if not isinstance(key, Ed25519PrivateKey):
        raise MalformedInput(f"{path} does not hold an Ed25519 signing key")
    return key


@dataclass(frozen=True, slots=True)
class InitResult:
    """What ``init`` created."""

    genesis: Genesis
    governance_key_files: tuple[Path, ...]


def init_data_dir(
    config: RegistryConfig,
    *,
    origin: str,
    governance_keys: int = 3,
    threshold: int = 2,
    governance_public: Sequence[Ed25519PrivateKey] = (),
    now: int | None = None,
    random: RandomSource = os.urandom,
) -> InitResult:
    """Create a node's data folder: log and witness keys, governance keys, the genesis."""
    data = config.data_dir
    if config.genesis_file.exists() or config.database.exists():
        raise MalformedInput(f"{data} already holds a registry; refusing to overwrite it")
    data.mkdir(parents=True, exist_ok=True)
    log_key = Ed25519PrivateKey.generate(random)
    witness_key = Ed25519PrivateKey.generate(random)
    write_private_key(config.log_key_file, log_key)
    write_private_key(config.witness_key_file, witness_key)
    keys = list(governance_public)
    files: list[Path] = []
    for number in range(len(keys), governance_keys):
        key = Ed25519PrivateKey.generate(random)
        path = data / "governance" / f"governance-{number + 1}.jwk"
        write_private_key(path, key)
        files.append(path)
        keys.append(key)
    genesis = create_genesis(
        origin=origin,
        log_key=log_key.public_key,
        governance_keys=[key.public_key for key in keys],
        threshold=threshold,
        created_at=int(time.time() if now is None else now),
    )
    config.genesis_file.write_bytes(dump_genesis(genesis))
    storage = SqliteStorage(config.database)
    storage.replace_state((c.kind, c.key, c.value) for c in genesis_changes(genesis) if c.value is not None)
    storage.close()
    return InitResult(genesis, tuple(files))


def witness_name(origin: str) -> str:
    """The cosigner name of a node's own witness."""
    return origin + "/witness"


class Service:
    """A running node: the :class:`Node` and its own witness, which cosigns every checkpoint."""

    def __init__(
        self, config: RegistryConfig, *, clock: Clock = time.time, cosign: bool = True, workers: int = 0
    ) -> None:
        self.config = config
        self.genesis = load_genesis(config.genesis_file.read_bytes())
        self.storage = SqliteStorage(config.database)
        log_signer = Ed25519NoteSigner(self.genesis.origin, read_private_key(config.log_key_file))
        self.node = Node(config, self.storage, self.genesis, log_signer, clock=clock, workers=workers)
        self.witness_store = SqliteWitnessStore(config.data_dir / "witness.db")
        self.witness = Witness(
            witness_name(self.genesis.origin),
            read_private_key(config.witness_key_file),
            {self.genesis.origin: self.genesis.log_verifier()},
            self.witness_store,
            clock,
        )
        self._cosign_lock = threading.Lock()
        if cosign:
            # Cosign in the submitting thread, before it answers: a client asking for the
            # checkpoint right after its entry was accepted finds it cosigned already.
            self.node.on_checkpoint(self._cosign_quietly)
            latest = self.storage.latest_checkpoint()
            if latest is not None and not latest.cosignatures:
                self._cosign_quietly(latest)  # the node stopped before its witness cosigned

    @property
    def witness_verifier(self) -> CosignatureVerifier:
        """The key of this node's own witness."""
        return self.witness.verifier

    def cosign(self, checkpoint: StoredCheckpoint) -> None:
        """Have this node's witness cosign ``checkpoint`` and store the cosignature."""
        latest = self.storage.latest_checkpoint()
        if latest is not None and latest.size > checkpoint.size:
            checkpoint = latest  # a newer one supersedes it: cosign that instead
        seen = self.witness.latest(self.genesis.origin)
        old_size = 0 if seen is None else seen.size
        # At equal sizes (the witness cosigned, then the node died before storing the
        # line) the empty proof asks the witness to cosign the same checkpoint again.
        proof = (
            []
            if old_size in (0, checkpoint.size)
            else self.node.consistency_proof(old_size, checkpoint.size)[1]
        )
        answer = self.witness.add_checkpoint(format_add_checkpoint_request(old_size, proof, checkpoint.note))
        if answer.status != 200:
            log.warning("own witness refused checkpoint %d: %s", checkpoint.size, answer.body[:200])
            return
        self.storage.add_cosignature(checkpoint.size, self.witness.name, answer.body.decode("utf-8"))

    def _cosign_quietly(self, checkpoint: StoredCheckpoint) -> None:
        with self._cosign_lock:
            try:
                self.cosign(checkpoint)
            except (AkashiError, OSError, RuntimeError):
                log.exception("cosigning checkpoint %d failed", checkpoint.size)

    def wait_cosigned(self, timeout: float = 10.0) -> None:
        """Block until the latest checkpoint carries this node's witness cosignature."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            latest = self.storage.latest_checkpoint()
            if latest is None or latest.cosignatures:
                return
            time.sleep(0.01)
        raise TimeoutError("the latest checkpoint was not cosigned in time")

    def close(self) -> None:
        """Stop the cosigner and close the stores."""
        self.node.close()
        self.storage.close()
        self.witness_store.close()


def open_service(
    config: RegistryConfig, *, clock: Clock = time.time, cosign: bool = True, workers: int = 0
) -> Service:
    """The running service of the data folder ``config.data_dir``; ``workers`` admission
    processes (``akashi-registry serve`` starts ``config.workers`` of them)."""
    if not config.genesis_file.exists():
        raise MalformedInput(f"{config.data_dir} holds no registry: run `akashi-registry init` first")
    return Service(config, clock=clock, cosign=cosign, workers=workers)
