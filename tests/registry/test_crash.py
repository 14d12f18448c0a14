"""A registry killed with SIGKILL at random moments keeps every entry it acknowledged,
and every checkpoint it published stays consistent with the tree after restart.

The node runs as a real process (`akashi-registry serve`) on a loopback port; a
client streams appends, and the test kills the process mid-stream, 20 times.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from identity.crypto.keys import Ed25519PrivateKey
from identity.did.key_events import incept, sign_event
from identity.did.multikey import encode_multikey
from identity.ledger.checkpoint import verify_checkpoint
from identity.ledger.envelope import sign_envelope
from identity.ledger.merkle import verify_consistency
from identity.ledger.proofs import parse_consistency_proof
from registry.audit import verify_store
from registry.config import RegistryConfig
from registry.genesis import load_genesis
from registry.service import init_data_dir
from registry.storage import SqliteStorage

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 20


def did_create(rng: random.Random) -> dict[str, object]:
    """A valid did.create from fresh keys: acceptable at any position of the log."""
    current = Ed25519PrivateKey.from_seed(rng.randbytes(32))
    following = Ed25519PrivateKey.from_seed(rng.randbytes(32))
    event = incept([current.public_key], [following.public_key])
    signer = f"{event['id']}#{encode_multikey(current.public_key)}"
    return dict(sign_envelope("did.create", sign_event(event, [current]), signer, current))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "serve", "--data", str(data), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/members", timeout=0.5)
            return process
        except httpx.TransportError:
            if process.poll() is not None:
                message = process.stderr.read().decode() if process.stderr else "server died"
                raise RuntimeError(message) from None
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not start")


def test_sigkill_loses_no_acknowledged_entry_and_no_published_checkpoint(tmp_path: Path) -> None:
    config = RegistryConfig(data_dir=tmp_path / "node")
    init_data_dir(config, origin="akashi.test/crash", governance_keys=1, threshold=1)
    genesis = load_genesis(config.genesis_file.read_bytes())
    rng = random.Random(20261129)
    acknowledged: dict[int, str] = {}  # index -> digest the server acknowledged
    published: list[bytes] = []  # checkpoint notes the server served
    port = free_port()

    for _ in range(ROUNDS):
        process = start(config.data_dir, port)
        stop = threading.Event()

        def stream(stop: threading.Event = stop) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
                while not stop.is_set():
                    batch = [did_create(rng) for _ in range(rng.randint(1, 20))]
                    try:
                        response = client.post("/entries", json={"entries": batch})
                        if response.status_code != 200:
                            continue
                        for result in response.json()["results"]:
                            accepted = result["accepted"]
                            acknowledged[accepted["index"]] = accepted["digest"]
                        note = client.get("/checkpoint")
                        if note.status_code == 200:
                            published.append(note.content)
                    except (httpx.TransportError, ValueError):
                        return  # the server was killed mid-request: that answer never came

        writers = [threading.Thread(target=stream) for _ in range(3)]
        for writer in writers:
            writer.start()
        time.sleep(rng.uniform(0.2, 0.8))
        process.send_signal(signal.SIGKILL)
        process.wait()
        stop.set()
        for writer in writers:
            writer.join()

    assert len(acknowledged) > 100, "the stream should have appended a good number of entries"
    process = start(config.data_dir, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            final = verify_checkpoint(client.get("/checkpoint").content, genesis.log_verifier())
            for index, digest in sorted(acknowledged.items()):
                entry = client.get(f"/entries/{index}")
                assert entry.status_code == 200, index
                assert entry.json()["digest"] == digest, index
            seen_sizes = set()
            for note in published:
                checkpoint = verify_checkpoint(note, genesis.log_verifier())
                if checkpoint.size in seen_sizes or checkpoint.size == final.size:
                    continue
                seen_sizes.add(checkpoint.size)
                proof = parse_consistency_proof(
                    client.get(
                        "/proofs/consistency", params={"from": checkpoint.size, "to": final.size}
                    ).content
                )
                verify_consistency(
                    checkpoint.size, final.size, proof.path, checkpoint.root_hash, final.root_hash
                )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    storage = SqliteStorage(config.database)
    try:
        # verify_store also checks every stored checkpoint's signature and root against the tree.
        assert verify_store(storage, genesis) is None
    finally:
        storage.close()
