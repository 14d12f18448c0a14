"""The node as `akashi-registry` runs it: data folder, own witness, CLI commands."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from test_crash import did_create

from identity.ledger.cosignature import CosignatureVerifier
from identity.ledger.note import verify_note
from registry.cli import main
from registry.config import RegistryConfig
from registry.service import open_service


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "node"
    assert (
        main(
            [
                "init",
                "--data",
                str(folder),
                "--origin",
                "akashi.test/cli",
                "--governance-keys",
                "3",
                "--threshold",
                "2",
            ]
        )
        == 0
    )
    return folder


def fill(folder: Path, count: int = 40) -> None:
    service = open_service(RegistryConfig(data_dir=folder))
    rng = random.Random(7)
    try:
        for _ in range(0, count, 10):
            outcomes = service.node.submit([did_create(rng) for _ in range(10)])
            assert all(not isinstance(o, Exception) for o in outcomes)
        service.wait_cosigned()
    finally:
        service.close()


def test_init_writes_private_keys_only_for_their_owner(data: Path) -> None:
    for path in [data / "log.key", data / "witness.key", *sorted((data / "governance").iterdir())]:
        assert path.stat().st_mode & 0o077 == 0, path
    genesis = json.loads((data / "genesis.json").read_text())
    assert genesis["governance"]["threshold"] == 2 and len(genesis["governance"]["keys"]) == 3
    assert main(["init", "--data", str(data)]) == 1  # never overwrites a registry


def test_every_checkpoint_is_cosigned_by_the_nodes_own_witness(data: Path) -> None:
    fill(data)
    service = open_service(RegistryConfig(data_dir=data), cosign=False)
    try:
        latest = service.storage.latest_checkpoint()
        assert latest is not None and latest.size == 40
        (line,) = latest.cosignatures
        witness: CosignatureVerifier = service.witness_verifier
        verified = verify_note(latest.note + line, [witness])
        assert verified.signed_by(witness)
    finally:
        service.close()


def test_cli_verify_rebuild_export_and_key(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill(data)
    capsys.readouterr()
    assert main(["verify", "--data", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "entries": 40, "checkpoints": 4}
    assert main(["rebuild", "--data", str(data)]) == 0
    assert "rebuilt" in capsys.readouterr().out
    assert main(["verify", "--data", str(data)]) == 0
    capsys.readouterr()
    out = data / "export.jsonl"
    assert main(["export", "--data", str(data), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 41 and "checkpoint" in json.loads(lines[0])
    assert json.loads(lines[5])["inclusion_proof"]["leaf_index"] == 4
    assert main(["key", "--data", str(data)]) == 0
    log_line, witness_line = capsys.readouterr().out.splitlines()
    assert log_line.startswith("log key:     akashi.test/cli+") and witness_line.startswith("witness key: ")


def test_cli_verify_reports_tampering_with_exit_status_1(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    fill(data, 20)
    conn = sqlite3.connect(data / "registry.db")
    conn.execute("UPDATE entries SET data = replace(data, 'did.create', 'did.crEate') WHERE idx = 7")
    conn.commit()
    conn.close()
    capsys.readouterr()
    assert main(["verify", "--data", str(data)]) == 1
    assert "entries 7" in capsys.readouterr().out


def test_cli_verify_examines_a_store_whose_tiles_were_changed(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    fill(data, 20)
    with sqlite3.connect(data / "registry.db") as conn:
        level, index, tile = conn.execute("SELECT * FROM tiles ORDER BY level, idx LIMIT 1").fetchone()
        changed = bytearray(tile)
        changed[0] ^= 0x01
        conn.execute("UPDATE tiles SET data = ? WHERE level = ? AND idx = ?", (bytes(changed), level, index))
    capsys.readouterr()
    assert main(["verify", "--data", str(data)]) == 1  # a node would refuse to open it; verify reports it
    out = capsys.readouterr()
    assert "MISMATCH" in out.out and "Traceback" not in out.err


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--data", str(tmp_path / "nothing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("akashi-registry: ") and err.count("\n") == 1
    with pytest.raises(SystemExit) as usage:
        main(["frobnicate"])
    assert usage.value.code == 2


def test_init_refuses_an_impossible_threshold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = RegistryConfig(data_dir=tmp_path / "x")
    assert main(["init", "--data", str(config.data_dir), "--governance-keys", "1", "--threshold", "2"]) == 1
    assert "threshold" in capsys.readouterr().err


def test_a_stand_alone_witness_cosigns_another_members_log(data: Path, tmp_path: Path) -> None:
    """`akashi-registry witness` serves tlog-witness for logs it is told about."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx
    from test_crash import free_port

    from registry.witness import format_add_checkpoint_request

    fill(data, 10)
    service = open_service(RegistryConfig(data_dir=data), cosign=False)
    log_key = service.genesis.log_key
    latest = service.storage.latest_checkpoint()
    service.close()
    assert latest is not None
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "registry.cli",
            "witness",
            "--data",
            str(tmp_path / "w"),
            "--name",
            "other.example/witness",
            "--log",
            log_key,
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        body = format_add_checkpoint_request(0, [], latest.note)
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/add-checkpoint", content=body, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "witness did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.text.startswith("— other.example/witness ")
        stale = httpx.post(f"http://127.0.0.1:{port}/add-checkpoint", content=body, timeout=2)
        assert stale.status_code == 409  # it has moved on: old size 0 is no longer its size
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
