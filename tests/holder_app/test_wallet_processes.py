"""The wallet's whole story against live OS processes, each started and driven only through its
command line, as an operator and a person would: a registry node, an issuer and a verifier served
on loopback, governance approving both organisations with ``akashi-registry member add``, then
``akashi-wallet`` from ``init`` to an offline check of its audit record. No object of ours is
shared with a service: only ports, files and printed JSON (test_wallet_cli.py tells the same
story in process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from akashi_demo.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple"
VERIFIER_NAME = "株式会社アカシモビリティ"
#: How long one command, or one service coming up, may take.
COMMAND_TIMEOUT = 60.0
START_TIMEOUT = 30.0


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without any ``AKASHI_*`` setting, our code importable."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    return {**clean, "PYTHONPATH": str(ROOT), **extra}


class Processes:
    """Runs CLI commands as processes and keeps the services it started, to stop them all."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.servers: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def run(self, module: str, *argv: str | Path, env: dict[str, str] | None = None, **kw: Any) -> Any:
        """Run ``python -m module argv…``; its JSON answer (with ``--json``) or its stdout.
        A non-zero exit fails the test with the command's stderr."""
        args = [str(a) for a in argv]
        done = subprocess.run(
            [sys.executable, "-m", module, *args], capture_output=True, text=True,
            env=env or environment(), timeout=COMMAND_TIMEOUT, cwd=kw.pop("cwd", self.folder), **kw,
        )  # fmt: skip
        assert done.returncode == 0, f"{module} {' '.join(args[:2])} exited {done.returncode}: {done.stderr}"
        return json.loads(done.stdout) if "--json" in args else done.stdout

    def serve(self, name: str, module: str, *argv: str | Path, probe: str) -> None:
        """Start ``python -m module serve argv…`` and wait until ``probe`` answers over HTTP."""
        log = self.folder / f"{name}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", module, "serve", *map(str, argv)],
                stdout=output, stderr=subprocess.STDOUT, env=environment(), cwd=self.folder,
            )  # fmt: skip
        self.servers.append((name, process, log))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                httpx.get(probe, timeout=2)  # any HTTP answer: it is listening
                return
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    said = log.read_text(errors="replace")
                    raise AssertionError(f"{name} did not come up: {said}") from None
                time.sleep(0.05)

    def stop(self) -> dict[str, int]:
        """Terminate every service, last started first (killing one that does not stop);
        each one's exit status."""
        for _, process, _ in reversed(self.servers):
            process.terminate()
        codes: dict[str, int] = {}
        for name, process, _ in reversed(self.servers):
            try:
                codes[name] = process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait(timeout=5)
        return codes


@dataclass(frozen=True)
class World:
    """What the person and the operators know of the running services: URLs, files, keys."""

    processes: Processes
    registry_url: str
    genesis: Path
    witness: str
    issuer_did: str
    issuer_url: str
    issuer_data: Path
    verifier_did: str
    verifier_data: Path
    testca: Path
    licence: Path

    def ledger_args(self) -> list[str | Path]:
        """The wallet's ``--registry --genesis --witness --k`` options."""
        return [
            "--registry", self.registry_url, "--genesis", self.genesis, "--witness", self.witness, "--k", "1",
        ]  # fmt: skip

    def counter(self, kind: str, *argv: str | Path) -> Any:
        """``akashi-issuer check <kind>`` at the counter: the offer it prints (naming the URL
        given at ``init``, which the issuer remembers)."""
        argv = ("check", kind, "--data", self.issuer_data, *argv, "--json")
        return self.processes.run("issuer.cli", *argv)


def start_services(processes: Processes) -> World:
    """Registry, issuer and verifier, each set up and served by its own CLI, as the README says."""
    folder = processes.folder
    node, genesis = folder / "node", folder / "node" / "genesis.json"
    init = processes.run("registry.cli", "init", "--data", node, "--origin", "test.example/log", "--json")
    witness = processes.run("registry.cli", "key", "--data", node, "--json")["witness_key"]
    registry_port = str(free_port())
    registry_url = "http://127.0.0.1:" + registry_port
    probe = registry_url + "/checkpoint"
    processes.serve("registry", "registry.cli", "--data", node, "--port", registry_port, probe=probe)
    ledger = ["--registry", registry_url, "--genesis", genesis, "--witness", witness, "--k", "1"]
    # Two of the three governance keys approve each new member.
    approve = [
        "member", "add", "--node", registry_url, "--genesis", genesis, "--witness", witness, "--k", "1",
        *(arg for path in init["governance_key_files"][:2] for arg in ("--governance-key", path)),
    ]  # fmt: skip

    testca = folder / "testca"
    made = processes.run("issuer.cli", "testca", "--out", testca, "--json")
    idp, issuer_port = folder / "idp", str(free_port())
    issuer_url = "http://127.0.0.1:" + issuer_port
    issuer = processes.run(
        "issuer.cli", "init", "--data", idp, "--url", issuer_url, *ledger,
        "--jpki-root", testca / "jpki-root.pem", "--jpki-crl", testca / "jpki-root.crl.pem",
        "--licence-authority", testca / "licence-authority.pem", "--json",
    )  # fmt: skip
    assert set(issuer["member"]["evidence_methods"]) == {"jpki", "drivers_licence_ic"}
    processes.run("issuer.cli", "register", "--data", idp, "--json")
    # Governance reads the member body the issuer printed, from a file.
    member_file = folder / "issuer-member.json"
    member_file.write_text(json.dumps(issuer["member"], ensure_ascii=False), encoding="utf-8")
    accredited = processes.run("registry.cli", *approve, "--member", member_file, "--json")
    assert (accredited["type"], accredited["did"], accredited["version"]) == ("member.add", issuer["did"], 1)
    processes.serve(
        "issuer", "issuer.cli", "--data", idp, "--port", issuer_port,
        probe=issuer_url + "/.well-known/openid-credential-issuer",
    )  # fmt: skip

    op, verifier_port = folder / "op", str(free_port())
    verifier_url = "http://127.0.0.1:" + verifier_port
    verifier = processes.run(
        "verifier.cli", "init", "--data", op, "--url", verifier_url, "--issuer", issuer_url, *ledger,
        "--legal-name", VERIFIER_NAME, "--corporate-number", "2120901007402", "--json",
    )  # fmt: skip
    processes.run("verifier.cli", "register", "--data", op, "--json")
    # ... and the operator's, on standard input.
    body = json.dumps(verifier["member"], ensure_ascii=False)
    admitted = processes.run("registry.cli", *approve, "--member", "-", "--json", input=body)
    assert admitted["did"] == verifier["did"] and admitted["index"] > accredited["index"]
    processes.serve(
        "verifier", "verifier.cli", "--data", op, "--port", verifier_port, "--recheck-every", "0",
        probe=verifier_url + "/oid4vp/requests/none",
    )  # fmt: skip
    return World(
        processes, registry_url, genesis, witness, issuer["did"], issuer_url, idp,
        verifier["did"], op, testca, Path(made["licence"]),
    )  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    processes = Processes(tmp_path_factory.mktemp("processes"))
    try:
        yield start_services(processes)
    finally:
        codes = processes.stop()
    # Each stopped on SIGTERM: none crashed or had to be killed (uvicorn re-raises the signal
    # it caught once it has shut down, so a clean stop may read as -SIGTERM).
    assert all(code in (0, -signal.SIGTERM) for code in codes.values()), codes


def test_a_person_goes_from_no_wallet_to_a_verified_customer_and_back_with_only_the_clis(
    world: World, tmp_path: Path
) -> None:
    run = world.processes.run
    me = tmp_path / "me"
    wallet_env = environment(AKASHI_WALLET_PASSPHRASE=PASSPHRASE)

    def wallet(*argv: str | Path) -> Any:
        return run("holder_app.cli", *argv, "--data", me, "--json", env=wallet_env)

    created = wallet("init", *world.ledger_args())
    assert created["did"].startswith("did:akashi:") and created["recovery_kit"].startswith("AKASHI-KIT1-")

    # At the issuer's counter: the My Number card, then the driving licence (face compared).
    jpki = world.counter("jpki", "--card", world.testca / "card")
    [kyc] = wallet("receive", jpki["offer_url"])["credentials"]
    assert kyc["issuer"] == world.issuer_did and kyc["copies"] >= 2
    licence = world.counter("licence", "--licence", world.licence, "--face-compared")
    received = wallet("receive", licence["offer_url"])["credentials"]
    assert len(received) == 2 and {c["issuer"] for c in received} == {world.issuer_did}

    # The car-sharing operator asks; the person sees who and why, and approves.
    request = run("verifier.cli", "request", "car-sharing", "--data", world.verifier_data, "--json")
    shared = wallet("present", request["url"], "--yes")
    assert shared["approved"] is True and shared["consent"] is not None
    shown = shared["request"]
    assert shown["verifier"] == {
        "did": world.verifier_did, "legal_name": VERIFIER_NAME, "corporate_number": "2120901007402",
    }  # fmt: skip
    assert shown["purpose"]["id"] == "car-sharing" and shown["updates_allowed"] is True
    asked = {c["path"].rsplit(".", 1)[-1] for c in shown["claims"]}
    assert {"family_name", "given_name", "address", "age_over_20"} <= asked, asked

    customers = run("verifier.cli", "customers", "--data", world.verifier_data, "--json")["customers"]
    [customer] = customers
    assert (customer["status"], customer["policy"]) == ("verified", "car-sharing")
    assert customer["methods"] and set(customer["methods"]) <= {"jpki", "drivers_licence_ic"}

    # She moves: the update reaches the operator, which applies and acknowledges it on the ledger.
    new_address = "大阪府大阪市北区中之島1-3-20"
    [sent] = wallet("update", "address", new_address, "--yes")["sent"]
    assert sent["verifier"] == world.verifier_did and sent["error"] is None
    [applied] = run("verifier.cli", "inbox", "--data", world.verifier_data, "--json")["messages"]
    assert (applied["status"], applied["kind"], applied["acked"]) == ("applied", "address", True)
    [tracked] = wallet("updates")["updates"]
    assert (tracked["status"], tracked["legal_name"]) == ("applied", VERIFIER_NAME)

    consent = shared["consent"]["id"]
    revoked = wallet("revoke", consent)
    assert (revoked["id"], revoked["state"]) == (consent, "revoked")
    [listed] = wallet("consents", "--all")["consents"]
    assert listed["state"] == "revoked" and listed["purpose"] == "car-sharing"

    audit = tmp_path / "audit.jsonl"
    exported = wallet("audit", "export", audit)
    assert exported["events"] == 5  # the consent, the presentation, the update, its ack, the revocation
    # Offline: a process with no wallet, no passphrase and no registry URL, in another folder.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    checked = run(
        "holder_app.cli", "audit", "verify", audit, "--genesis", world.genesis, "--witness", world.witness,
        "--k", "1", "--head", exported["head"], "--json", env=environment(), cwd=elsewhere,
    )  # fmt: skip
    assert checked["ok"] is True and checked["events"] == 5 and checked["wallet"] == created["did"]
