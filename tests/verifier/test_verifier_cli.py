"""``akashi-verifier`` as an operator uses it: init a data folder against a registry served on
loopback, register, open requests (URL and QR code), list customers, export the APPI
records and check an export offline; and the data folder's pieces (verifier/setup.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_verifier_service import World

from akashi_demo.loopback import LoopbackRegistry, free_port
from identity.errors import MalformedInput, RemoteError
from identity.jose.jws import parse_compact_unverified
from identity.protocols.oid4vp import ACCESS_DENIED, build_error_response, parse_request_url
from verifier.cli import main
from verifier.config import VerifierConfig
from verifier.setup import (
    HttpStatusFetcher,
    close_verifier,
    load_issuers,
    open_verifier,
    registry_trust,
    save_registry,
)

ISSUER = "https://issuer.example"


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackRegistry]:
    node = LoopbackRegistry(tmp_path_factory.mktemp("registry"))
    yield node
    node.stop()


def init_args(registry: LoopbackRegistry, data: Path, url: str) -> list[str | Path]:
    return [
        "init", "--data", data, "--url", url, "--registry", registry.url,
        "--genesis", registry.config.genesis_file,
        "--witness", registry.service.witness_verifier.vkey, "--k", "1",
        "--issuer", ISSUER, "--issuer", ISSUER + "/", "--json",
    ]  # fmt: skip


@pytest.fixture
def data(registry: LoopbackRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    folder = tmp_path / "verifier"
    code, _, err = run(capsys, *init_args(registry, folder, "https://verifier.example"))
    assert code == 0, err
    return folder


def test_init_prints_the_did_token_and_member_body(
    registry: LoopbackRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "v"
    code, out, _ = run(capsys, *init_args(registry, folder, "https://verifier.example/"))
    assert code == 0
    answer = json.loads(out)
    assert answer["did"].startswith("did:akashi:")
    assert (folder / "admin.token").read_text().strip() == answer["admin_token"]
    member = answer["member"]
    assert member["role"] == "verifier" and member["did"] == answer["did"]
    assert {p["id"] for p in member["purposes"]} == {"car-sharing", "space-sharing", "parcel-locker"}
    assert answer["policies"] == ["car-sharing", "space-sharing", "parcel-locker"]
    config = VerifierConfig(data_dir=folder)
    assert load_issuers(config) == [ISSUER]  # duplicates and trailing slashes folded
    assert registry_trust(config).log_key == registry.genesis.log_key
    # A second init never overwrites the keys.
    code, out, err = run(capsys, *init_args(registry, folder, "https://verifier.example"))
    assert code == 1 and out == "" and err.count("\n") == 1 and "refusing to overwrite" in err


def test_init_needs_an_issuer_and_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "init", "--data", tmp_path / "v")
    assert code == 1 and "--issuer" in err
    assert not (tmp_path / "v").exists()
    with pytest.raises(SystemExit) as usage:
        main(["export", "--format", "xml"])
    assert usage.value.code == 2
    with pytest.raises(SystemExit) as usage:
        main(["frobnicate"])
    assert usage.value.code == 2


def test_register_puts_the_did_on_the_ledger_and_remembers_the_checkpoint(
    data: Path, registry: LoopbackRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "register", "--data", data, "--json")
    assert code == 0, err
    answer = json.loads(out)
    state = json.loads((data / "registry-state.json").read_text())
    assert state["size"] > answer["index"]
    verifier = open_verifier(VerifierConfig(data_dir=data))
    try:
        assert verifier.ledger.last_checkpoint is not None  # read back from the state file
        assert verifier.ledger.resolve_did(answer["did"]).document is not None
    finally:
        close_verifier(verifier)


def test_request_prints_the_url_and_writes_qr_codes(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "request", "space-sharing", "--data", data, "--qr", tmp_path / "r.svg")
    assert code == 0
    url = out.splitlines()[0]
    reference = parse_request_url(url)
    assert reference.request_uri.startswith("https://verifier.example/oid4vp/requests/")
    assert (tmp_path / "r.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    code, out, _ = run(capsys, "request", "car-sharing", "--data", data, "--qr", tmp_path / "r.png", "--json")
    assert code == 0
    answer = json.loads(out)
    assert answer["policy"] == "car-sharing" and answer["url"].startswith("openid4vp://")
    assert (tmp_path / "r.png").read_bytes().startswith(b"\x89PNG")
    # The request object is served from the same store `serve` answers from.
    verifier = open_verifier(VerifierConfig(data_dir=data))
    try:
        assert verifier.requests.request_object(answer["id"]).count(".") == 2
    finally:
        close_verifier(verifier)
    code, _, err = run(capsys, "request", "space-sharing", "--data", data, "--qr", tmp_path / "r.txt")
    assert code == 1 and ".svg or .png" in err
    code, _, err = run(capsys, "request", "boat-sharing", "--data", data)
    assert code == 1 and err.count("\n") == 1 and "known: car-sharing" in err


def test_commands_on_an_empty_folder_fail_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("request space-sharing", "customers", "recheck", "export --out x.jsonl"):
        code, out, err = run(capsys, *command.split(), "--data", tmp_path)
        assert (code, out) == (1, ""), command
        assert err.startswith("akashi-verifier: ") and err.count("\n") == 1 and "init" in err


def test_an_empty_verifier_lists_no_customers_and_exports_nothing(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "customers", "--data", data)[1] == "no customers recorded\n"
    assert json.loads(run(capsys, "customers", "--data", data, "--json")[1]) == {"customers": []}
    assert run(capsys, "recheck", "--data", data)[1] == "no status changed\n"
    out = tmp_path / "appi.csv"
    code, printed, _ = run(capsys, "export", "--data", data, "--format", "csv", "--out", out, "--json")
    assert code == 0 and json.loads(printed)["rows"] == 0 and out.exists()
    code, _, err = run(capsys, "export", "--data", data)
    assert code == 1 and "--out" in err


# ---------------------------------------------------------------- with a recorded customer


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A verifier (in process) that verified one customer; its data folder completed with the
    settings files the CLI reads (the registry is in process: the CLI never calls it here)."""
    w = World(tmp_path_factory.mktemp("cli-world"))
    opened = w.http.post("/admin/requests", json={"policy": "space-sharing"}, headers=w.admin)
    assert w.wallet_answer(opened.json()["url"]).status_code == 200
    config = w.verifier.config
    (config.path("policies.json")).write_text(
        json.dumps({"version": 1, "policies": [p.to_json() for p in w.verifier.policies.values()]})
    )
    (config.path("issuers.json")).write_text(json.dumps({"issuers": [w.setup.world.issuer.url]}))
    genesis = w.setup.registry.config.genesis_file
    vkey = w.setup.registry.witness_verifier.vkey
    save_registry(config, f"http://127.0.0.1:{free_port()}", genesis, [vkey], 1)
    yield w
    w.verifier.close()
    w.setup.close()


def test_customers_lists_the_verified_customer(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    data = world.verifier.config.data_dir
    code, out, _ = run(capsys, "customers", "--data", data, "--json")
    assert code == 0
    (customer,) = json.loads(out)["customers"]
    assert customer["status"] == "verified" and customer["policy"] == "space-sharing"
    code, out, _ = run(capsys, "customers", "--data", data)
    assert customer["customer"] in out and "verified" in out and "jpki" in out


def test_an_export_verifies_offline_and_a_tampered_row_is_named(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = world.verifier.config.data_dir
    export = tmp_path / "appi.jsonl"
    code, out, _ = run(capsys, "export", "--data", data, "--format", "jsonl", "--out", export)
    assert code == 0 and out.startswith("1 APPI receipt records written")
    code, out, _ = run(capsys, "export", "--data", data, "--verify", export)
    assert (code, out) == (0, "ok: 1 rows, every ledger proof verified offline\n")

    row: dict[str, Any] = json.loads(export.read_text())
    row["credential"]["digest"] = "A" * 43  # another credential than the anchored one
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text(export.read_text() + json.dumps(row) + "\n" + "not json\n")
    code, out, _ = run(capsys, "export", "--data", data, "--verify", tampered)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(f"{tampered}:2: row ") and "anchor" in lines[0]
    assert lines[1].startswith(f"{tampered}:3: unreadable row: ")
    assert lines[2] == "FAILED: 2 of 3 rows did not verify"
    code, out, _ = run(capsys, "export", "--data", data, "--verify", tampered, "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and [f["line"] for f in report["failures"]] == [2, 3]


# ---------------------------------------------------------------- the status list fetcher


def test_the_status_list_fetcher_reads_tokens_and_reports_failures_as_remote_errors() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/status/1":
            return httpx.Response(200, content=b"a.b.c\n")
        if request.url.path == "/status/big":
            return httpx.Response(200, content=b"a" * (2 << 20))
        if request.url.path == "/status/binary":
            return httpx.Response(200, content=b"\xff\xfe")
        return httpx.Response(404)

    fetch = HttpStatusFetcher(client=httpx.Client(transport=httpx.MockTransport(answer)))
    assert fetch("https://issuer.example/status/1") == "a.b.c"
    for uri in (
        "https://issuer.example/status/2",
        "https://issuer.example/status/big",
        "https://issuer.example/status/binary",
        "file:///etc/passwd",
    ):
        with pytest.raises(RemoteError):
            fetch(uri)
    unreachable = HttpStatusFetcher(timeout=2)
    try:
        with pytest.raises(RemoteError, match="could not be fetched"):
            unreachable(f"http://127.0.0.1:{free_port()}/status/1")
    finally:
        unreachable.close()


def test_broken_settings_files_are_malformed_input(data: Path) -> None:
    config = VerifierConfig(data_dir=data)
    (data / "issuers.json").write_text('{"issuers": []}')
    with pytest.raises(MalformedInput, match="at least one issuer"):
        open_verifier(config)
    (data / "issuers.json").write_text('{"issuers": ["ftp://x"]}')
    with pytest.raises(MalformedInput, match="http"):
        load_issuers(config)
    (data / "registry.json").write_text("[]")
    with pytest.raises(MalformedInput):
        registry_trust(config)


def test_serve_with_two_workers_answers_and_a_state_is_used_once_across_them(
    registry: LoopbackRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp_path / "verifier"
    assert run(capsys, *init_args(registry, data, url))[0] == 0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    server = subprocess.Popen(
        [sys.executable, "-m", "verifier.cli", "serve", "--data", str(data), "--port", str(port),
         "--workers", "2", "--recheck-every", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert "with 2 worker processes" in (server.stdout.readline() if server.stdout else "")
        code, out, _ = run(capsys, "request", "space-sharing", "--data", data, "--json")
        assert code == 0
        reference = parse_request_url(json.loads(out)["url"])
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(reference.request_uri, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "serve did not come up"
                time.sleep(0.1)
        assert answer.status_code == 200 and answer.text.count(".") == 2
        state = json.loads(parse_compact_unverified(answer.text).payload)["state"]
        refusal = build_error_response(ACCESS_DENIED, state=state)
        form = {"content-type": "application/x-www-form-urlencoded"}
        # Fresh connections: the kernel spreads them over both workers. Only the first
        # answer to a request counts, whichever process it reaches.
        response_uri = url + "/oid4vp/response"
        answers = [httpx.post(response_uri, content=refusal, headers=form, timeout=5) for _ in range(6)]
        assert [a.status_code for a in answers] == [200] + [422] * 5
        assert all("already answered" in a.json()["detail"] for a in answers[1:])
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert server.returncode == 0


def test_serve_refuses_fewer_than_one_worker(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "serve", "--data", data, "--workers", "0")
    assert code != 0 and err.count("\n") == 1 and "--workers" in err
