"""Credentials issued per second: in process and through the whole HTTP flow.

Run with ``.venv/bin/python bench/issuance.py`` (also part of ``make bench``).
Offers are created beforehand (the evidence check is the operator's step, not
the wallet's); each measured issuance is what a wallet triggers: token request,
nonce request, credential request with JWT proofs for ``--copies`` holder keys,
and the issuer's work — proofs, random status indexes, SD-JWT VC signing, the
ledger anchors (one ``attestation.anchor`` batch per credential request), and
the response.

Rows:
* SD-JWT VC signing alone (the KYC credential, 2 decoys per level);
* the issuer in process without a ledger (no anchoring);
* the issuer in process anchoring on a registry node (in process, over ASGI);
* end to end over loopback HTTP: wallets → issuer (uvicorn) → registry (uvicorn),
  with ``--wallets`` concurrent wallets.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from starlette.testclient import TestClient

from akashi_demo.loopback import free_port, serve_in_thread
from identity.credentials.kyc import Address, JpkiEvidence, PersonClaims, Verification, kyc_claims
from identity.credentials.sdjwt import issue
from identity.crypto.keys import Ed25519PrivateKey
from identity.protocols.oid4vci.proof import build_proof_jwt
from identity.protocols.oid4vci.token import build_token_request
from issuer.app import create_app
from issuer.config import IssuerConfig
from issuer.credentials import KYC, kyc_layout
from issuer.identity import create_identity
from issuer.service import Issuer
from registry.app import create_app as create_registry_app
from registry.client import ClientTrust, RegistryClient
from registry.config import RegistryConfig
from registry.genesis import sign_member_entry
from registry.service import init_data_dir, open_service, read_private_key
from registry.state import Member

NOW = datetime.now(UTC)
PERSON = PersonClaims(
    "山田", "花子", date(1998, 7, 15), Address(formatted="東京都千代田区霞が関2-1-2", country="JP")
)


def evidence() -> dict[str, Any]:
    verification = Verification(
        time=NOW,
        verification_process="bench",
        evidence=(JpkiEvidence(issuer="CN=JPKI Bench CA", serial_number="1234", created_at=NOW),),
    )
    return {"kyc": kyc_claims(PERSON, verification, NOW.date())}


class Bench:
    """An issuer (and optionally a registry it anchors to) in ``folder``."""

    def __init__(self, folder: Path, *, anchored: bool, http: bool = False) -> None:
        self.registry = None
        self.registry_server = None
        ledger = None
        if anchored:
            rconfig = RegistryConfig(data_dir=folder / "registry", admission_workers=0)
            result = init_data_dir(rconfig, origin="akashi.bench/registry", governance_keys=2, threshold=2)
            governance = [read_private_key(p) for p in result.governance_key_files]
            self.registry = open_service(rconfig, workers=1 if http else 0)
            registry_app = create_registry_app(self.registry.node)
            trust = ClientTrust.from_genesis(self.registry.genesis, [self.registry.witness_verifier.vkey], 1)
            if http:
                self.registry_server = serve_in_thread(registry_app)
                ledger = RegistryClient(self.registry_server.url, trust=trust)
            else:
                ledger = RegistryClient(client=TestClient(registry_app), trust=trust)
        # Over HTTP the port is chosen first: the issuer writes its URL into every credential
        # (status list URIs, vct).
        port = free_port() if http else IssuerConfig().port
        self.config = replace(IssuerConfig(data_dir=folder / "issuer", port=port), batch_size=50)
        identity, _ = create_identity(self.config.data_dir)
        self.issuer = Issuer(self.config, identity, jpki_trust=None, licence_trust=None, ledger=ledger)
        if ledger is not None and self.registry is not None:
            ledger.submit(identity.did_create_entry())
            member = Member(
                identity.did, "issuer", "株式会社ベンチ", "4010001234567", 1, evidence_methods=("jpki",)
            )
            ledger.submit(sign_member_entry("member.add", member.to_body(), governance))
        self.server = serve_in_thread(create_app(self.issuer), port) if http else None
        self.http = TestClient(create_app(self.issuer)) if not http else None

    def offers(self, count: int) -> list[str]:
        """Pre-authorized codes of fresh offers."""
        from issuer.records import JpkiCertificate, VerificationRecord

        codes = []
        for _ in range(count):
            record = VerificationRecord(
                checked_by="bench",
                checked_at=NOW,
                method="jpki",
                document=JpkiCertificate("CN=JPKI Bench CA", "1234"),
                person=PERSON,
                verification_process="bench",
            )
            out = self.issuer._offer(evidence(), (KYC,), self.issuer.records.add(record), False)
            codes.append(
                out.offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"][
                    "pre-authorized_code"
                ]
            )
        return codes

    def close(self) -> None:
        for server in (self.server, self.registry_server):
            if server is not None:
                server.stop()
        self.issuer.close()
        if self.registry is not None:
            self.registry.close()


def _flow(client: Any, base: str, code: str, copies: int) -> int:
    token = client.post(
        f"{base}/token",
        content=build_token_request(code),
        headers={"content-type": "application/x-www-form-urlencoded"},
    ).json()["access_token"]
    nonce = client.post(f"{base}/nonce").json()["c_nonce"]
    now = int(time.time())
    proofs = [
        build_proof_jwt(Ed25519PrivateKey.generate(), audience=base, iat=now, nonce=nonce)
        for _ in range(copies)
    ]
    answer = client.post(
        f"{base}/credential",
        json={"credential_configuration_id": KYC.configuration_id, "proofs": {"jwt": proofs}},
        headers={"authorization": "Bearer " + token},
    )
    if answer.status_code != 200:
        raise RuntimeError(answer.text)
    return len(answer.json()["credentials"])


def _direct(issuer: Issuer, code: str, copies: int) -> int:
    """The same flow as a wallet's, calling the issuer's methods (no HTTP)."""
    token = issuer.token(build_token_request(code).encode())["access_token"]
    nonce = issuer.nonce()["c_nonce"]
    now = int(time.time())
    keys = [Ed25519PrivateKey.generate() for _ in range(copies)]
    proofs = [build_proof_jwt(k, audience=issuer.url, iat=now, nonce=nonce) for k in keys]
    body = {"credential_configuration_id": KYC.configuration_id, "proofs": {"jwt": proofs}}
    answer = issuer.credential("Bearer " + token, json.dumps(body).encode())
    return len(answer["credentials"])


def rate_in_process(anchored: bool, requests: int, copies: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        bench = Bench(Path(folder), anchored=anchored)
        try:
            codes = bench.offers(requests)
            start = time.perf_counter()
            issued = sum(_direct(bench.issuer, code, copies) for code in codes)
            return issued / (time.perf_counter() - start)
        finally:
            bench.close()


def rate_http(requests: int, copies: int, wallets: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        bench = Bench(Path(folder), anchored=True, http=True)
        try:
            codes = bench.offers(requests)
            shares = [codes[n::wallets] for n in range(wallets)]
            counts = [0] * wallets

            def wallet(n: int) -> None:
                with httpx.Client(timeout=30) as client:
                    counts[n] = sum(_flow(client, bench.issuer.url, code, copies) for code in shares[n])

            threads = [threading.Thread(target=wallet, args=(n,)) for n in range(wallets)]
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return sum(counts) / (time.perf_counter() - start)
        finally:
            bench.close()


def rate_processes(requests: int, copies: int, wallets: int) -> float:
    """End to end with each service in its own process, as deployed: ``akashi-registry serve``
    and ``akashi-issuer serve`` on loopback, the wallets in this process."""
    import subprocess

    from akashi_demo.loopback import free_port
    from identity.ledger.cosignature import CosignatureVerifier
    from issuer.setup import ledger_client, save_registry
    from registry.service import witness_name

    root = Path(__file__).resolve().parent.parent
    # Wallets, issuer and registry share the machine's cores: the registry does its admission
    # in its own process rather than in a further worker process.
    env = {**os.environ, "PYTHONPATH": str(root), "AKASHI_REGISTRY_ADMISSION_WORKERS": "0"}
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        rconfig = RegistryConfig(data_dir=folder / "registry")
        result = init_data_dir(rconfig, origin="akashi.bench/registry", governance_keys=2, threshold=2)
        governance = [read_private_key(p) for p in result.governance_key_files]
        witness = CosignatureVerifier(
            witness_name(result.genesis.origin), read_private_key(rconfig.witness_key_file).public_key
        )
        rport, iport = free_port(), free_port()
        servers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "registry.cli",
                    "serve",
                    "--data",
                    str(rconfig.data_dir),
                    "--port",
                    str(rport),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
            )
        ]
        try:
            _wait(f"http://127.0.0.1:{rport}/members")
            iconfig = replace(IssuerConfig(data_dir=folder / "issuer", port=iport), batch_size=50)
            identity, _ = create_identity(iconfig.data_dir)
            save_registry(iconfig, f"http://127.0.0.1:{rport}", rconfig.genesis_file, [witness.vkey], 1)
            ledger = ledger_client(iconfig)
            assert ledger is not None
            ledger.submit(identity.did_create_entry())
            member = Member(
                identity.did, "issuer", "株式会社ベンチ", "4010001234567", 1, evidence_methods=("jpki",)
            )
            ledger.submit(sign_member_entry("member.add", member.to_body(), governance))
            ledger.close()
            issuer = Issuer(iconfig, identity, jpki_trust=None, licence_trust=None, ledger=None)
            codes = Bench.offers(_Offers(issuer), requests)  # type: ignore[arg-type]
            issuer.close()
            servers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "issuer.cli",
                        "serve",
                        "--data",
                        str(iconfig.data_dir),
                        "--port",
                        str(iport),
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                )
            )
            base = f"http://127.0.0.1:{iport}"
            _wait(base + "/.well-known/openid-credential-issuer")
            shares = [codes[n::wallets] for n in range(wallets)]
            counts = [0] * wallets

            def wallet(n: int) -> None:
                with httpx.Client(timeout=60) as client:
                    counts[n] = sum(_flow(client, base, code, copies) for code in shares[n])

            threads = [threading.Thread(target=wallet, args=(n,)) for n in range(wallets)]
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return sum(counts) / (time.perf_counter() - start)
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=20)


class _Offers:
    """Lets :meth:`Bench.offers` create offers on an issuer opened in this process."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer


def _wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def rate_signing(count: int) -> float:
    key, holder = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    layout = kyc_layout(evidence()["kyc"])
    payload = {
        "iss": "did:akashi:QmBench",
        "vct": "https://akashi.example/vct/kyc",
        "iat": 1,
        "exp": 2,
        "status": {"status_list": {"idx": 1, "uri": "https://akashi.example/status/1"}},
        **layout,
    }
    start = time.perf_counter()
    for _ in range(count):
        issue(payload, key, holder_key=holder.public_key, decoys=2)
    return count / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=200, help="credential requests per row")
    parser.add_argument("--copies", type=int, default=10, help="holder keys (credentials) per request")
    parser.add_argument("--wallets", type=int, default=4, help="concurrent wallets in the HTTP row")
    args = parser.parse_args(argv)
    print(
        f"akashi issuer benchmark — Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores; {args.copies} credentials per request"
    )
    rows = [
        ("SD-JWT VC signing alone (KYC credential)", rate_signing(2000)),
        (
            "issuer in process, no ledger (token+nonce+credential)",
            rate_in_process(False, args.requests, args.copies),
        ),
        ("issuer in process, anchored on a registry node", rate_in_process(True, args.requests, args.copies)),
        (
            f"end to end, all in one process, {args.wallets} wallets, anchored",
            rate_http(args.requests, args.copies, args.wallets),
        ),
        (
            f"end to end, registry and issuer in their own processes, {args.wallets} wallets",
            rate_processes(args.requests, args.copies, args.wallets),
        ),
    ]
    print(f"{'measure':62s} {'credentials/s':>14s}")
    for name, value in rows:
        print(f"{name:62s} {value:14,.0f}")
    print(json.dumps({name: round(value) for name, value in rows}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
