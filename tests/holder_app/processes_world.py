"""Live OS processes for the end-to-end tests: a registry node, an issuer and a verifier, each
set up and served by its own command line on loopback, as an operator would (governance
approving both organisations with ``akashi-registry member add``). No object of ours is shared
with a service: only ports, files and printed JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from akashi_demo.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]
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
        self.start(name, module, "serve", *argv, probe=probe)

    def start(
        self, name: str, module: str, *argv: str | Path, probe: str, env: dict[str, str] | None = None
    ) -> None:
        """Start ``python -m module argv…`` and wait until ``probe`` answers over HTTP."""
        log = self.folder / f"{name}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", module, *map(str, argv)],
                stdout=output, stderr=subprocess.STDOUT, env=env or environment(), cwd=self.folder,
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


@contextmanager
def running_services(folder: Path) -> Iterator[World]:
    """:func:`start_services` in ``folder``; every service stopped afterwards, and each must
    have stopped cleanly on SIGTERM (uvicorn re-raises the signal it caught once it has shut
    down, so a clean stop may read as -SIGTERM)."""
    processes = Processes(folder)
    try:
        yield start_services(processes)
    finally:
        codes = processes.stop()
    assert all(code in (0, -signal.SIGTERM) for code in codes.values()), codes
