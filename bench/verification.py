"""Presentations verified per second by the verifier's pipeline, with p50/p99 latency,
beside the raw cost of the signature checks a verification needs.

Run with ``.venv/bin/python bench/verification.py`` (also part of ``make bench``).
A registry node and an issuer run in this process; ``--credentials`` KYC credentials
are issued to as many holders and anchored. Each measured verification is a fresh
presentation (its own nonce, made beforehand: presenting is the wallet's work) going
through :func:`verifier.pipeline.verify_presentation`: issuer key, SD-JWT VC and KB-JWT,
accreditation, anchor, status list, DCQL with nothing extra disclosed.

Rows:
* the pipeline with a warm :class:`~verifier.pipeline.TrustCache` (issuer key, membership
  and status list remembered; each credential's anchor looked up once, and what its bytes
  name — issuer, key, status reference — parsed once), per core;
* the same without a cache (every ledger lookup made: three ledger reads each);
* whole wallet answers over HTTP to ``akashi-verifier serve --workers N`` (see
  :func:`run_http`): parsing the ``direct_post`` body, the pipeline, the consent rules,
  and one commit that closes the request and stores the records;
* two Ed25519 verifications (issuer signature, key binding): the floor.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from issuance import Bench

from identity.credentials.sdjwt import present
from identity.crypto.keys import Ed25519PrivateKey
from identity.protocols.dcql import claim, credential_set, dcql_query, sd_jwt_credential
from verifier.pipeline import TrustCache, verify_presentation

ROOT = Path(__file__).resolve().parent.parent
AUDIENCE = "decentralized_identifier:did:akashi:QmBenchVerifier"


def _credentials(bench: Bench, count: int) -> list[tuple[str, Ed25519PrivateKey]]:
    """``count`` anchored KYC credentials, each bound to its own holder key."""
    import json

    from identity.protocols.oid4vci.proof import build_proof_jwt
    from identity.protocols.oid4vci.token import build_token_request

    issuer = bench.issuer
    out = []
    for code in bench.offers(count):
        holder = Ed25519PrivateKey.generate()
        token = issuer.token(build_token_request(code).encode())["access_token"]
        nonce = issuer.nonce()["c_nonce"]
        proof = build_proof_jwt(holder, audience=issuer.url, iat=int(time.time()), nonce=nonce)
        body = {"credential_configuration_id": "akashi_kyc", "proofs": {"jwt": [proof]}}
        answer = issuer.credential("Bearer " + token, json.dumps(body).encode())
        out.append((answer["credentials"][0]["credential"], holder))
    return out


def run(credentials: int, verifications: int) -> list[tuple[str, float, float, float]]:
    with tempfile.TemporaryDirectory() as folder:
        bench = Bench(Path(folder), anchored=True)
        try:
            issued = _credentials(bench, credentials)
            issuer = bench.issuer
            ledger = issuer.ledger
            assert ledger is not None
            query = dcql_query(
                [
                    sd_jwt_credential(
                        "kyc",
                        [issuer.url + "/vct/kyc"],
                        claims=[
                            claim("verified_claims", "verification", "trust_framework", values=["jp_aml"]),
                            claim("age_over_20", values=[True]),
                        ],
                    )
                ],
                [credential_set(["kyc"])],
            )
            now = int(time.time())
            work: list[tuple[str, str]] = []
            for n in range(verifications):
                credential, holder = issued[n % len(issued)]
                nonce = f"nonce-{n}"
                work.append(
                    (
                        present(
                            credential,
                            [("age_over_20",)],
                            holder_key=holder,
                            nonce=nonce,
                            aud=AUDIENCE,
                            iat=now,
                        ),
                        nonce,
                    )
                )

            def fetch(uri: str) -> str:
                return issuer.status_token(uri.rsplit("/", 1)[1])

            def measure(cache: TrustCache | None, items: list[tuple[str, str]]) -> tuple[float, float, float]:
                latencies = []
                start = time.perf_counter()
                for presentation, nonce in items:
                    t0 = time.perf_counter()
                    verify_presentation(
                        presentation,
                        ledger=ledger,
                        fetch_status_list=fetch,
                        nonce=nonce,
                        audience=AUDIENCE,
                        now=now,
                        query=query,
                        query_id="kyc",
                        cache=cache,
                    )
                    latencies.append(time.perf_counter() - t0)
                elapsed = time.perf_counter() - start
                latencies.sort()
                p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
                return len(items) / elapsed, statistics.median(latencies) * 1000, p99 * 1000

            cache = TrustCache(ttl=3600)
            measure(cache, work[: len(issued)])  # warm: every credential's anchor once
            rows = [("pipeline, warm trust cache (in process, 1 core)", *measure(cache, work))]
            rows.append(
                (
                    "pipeline, no cache (3 ledger reads each)",
                    *measure(None, work[: max(50, verifications // 20)]),
                )
            )
            key = Ed25519PrivateKey.generate()
            message = b"x" * 900
            signature = key.sign(message)
            count = 5000
            start = time.perf_counter()
            for _ in range(count):
                key.public_key.verify(signature, message)
                key.public_key.verify(signature, message)
            rows.append(
                ("two Ed25519 verifications (the floor)", count / (time.perf_counter() - start), 0.0, 0.0)
            )
            return rows
        finally:
            bench.close()


_LOAD = r"""
import http.client, json, sys, threading, time, urllib.parse
url, path, threads = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2], int(sys.argv[3])
bodies = json.load(open(path))
shares = [bodies[n::threads] for n in range(threads)]
latencies, failures = [], []
def run(share):
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    for body in share:
        t0 = time.perf_counter()
        connection.request("POST", url.path, body=body.encode(),
                           headers={"content-type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        text = response.read()
        latencies.append(time.perf_counter() - t0)
        if response.status != 200:
            failures.append(text[:200].decode(errors="replace"))
    connection.close()
workers = [threading.Thread(target=run, args=(s,)) for s in shares]
start = time.perf_counter()
for w in workers: w.start()
for w in workers: w.join()
elapsed = time.perf_counter() - start
latencies.sort()
print(json.dumps({"rate": len(bodies) / elapsed, "p50": latencies[len(latencies) // 2] * 1000,
                  "p99": latencies[int(len(latencies) * 0.99)] * 1000, "failures": failures[:3]}))
"""


def _wait_for(url: str, process: Any, seconds: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the verifier exited: {process.stderr.read()}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers at {url}")


def _post_all(url: str, bodies: list[str], folder: Path, threads: int) -> dict[str, Any]:
    import json
    import subprocess

    path = folder / "bodies.json"
    path.write_text(json.dumps(bodies))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _LOAD, url, str(path), str(threads)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    if answer["failures"]:
        raise RuntimeError(answer["failures"])
    return answer


def run_http(credentials: int, responses: int, threads: int, workers: int) -> tuple[float, float, float]:
    """Wallet responses posted over loopback HTTP by a second process to the response
    endpoint of ``akashi-verifier serve --workers N`` (a third process and its workers),
    as an operator deploys it; the registry and the issuer answer from this process.
    The requests are opened beforehand through the same data folder; every worker is
    warmed first with each credential once (a returning customer's anchor is known)."""
    import json
    import subprocess

    from akashi_demo.loopback import free_port
    from identity.credentials.sdjwt import parse_claims_unverified
    from identity.protocols.dcql import Candidate, select_credentials
    from identity.protocols.oid4vp import build_authorization_response
    from registry.genesis import sign_member_entry
    from registry.service import read_private_key
    from registry.state import Member, Purpose
    from verifier.config import VerifierConfig
    from verifier.setup import close_verifier, open_verifier

    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        bench = Bench(folder, anchored=True, http=True)
        server = None
        try:
            issued = _credentials(bench, credentials)
            assert bench.registry is not None and bench.registry_server is not None
            assert bench.server is not None
            registry = bench.registry
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            data = folder / "verifier"
            cli = [sys.executable, "-m", "verifier.cli"]
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            init = subprocess.run(
                [*cli, "init", "--data", str(data), "--url", url, "--registry", bench.registry_server.url,
                 "--genesis", str(registry.config.genesis_file), "--witness", registry.witness_verifier.vkey,
                 "--k", "1", "--issuer", bench.server.url, "--legal-name", "株式会社ベンチシェア", "--json"],
                capture_output=True, text=True, env=env, check=True,
            )  # fmt: skip
            did = json.loads(init.stdout)["did"]
            subprocess.run([*cli, "register", "--data", str(data)], capture_output=True, env=env, check=True)
            member = Member(
                did, "verifier", "株式会社ベンチシェア", "2120901007402", 1,
                purposes=(Purpose("space-sharing", "スペース利用者の本人・年齢確認"),),
            )  # fmt: skip
            governance = [read_private_key(p) for p in sorted((folder / "registry" / "governance").iterdir())]
            assert bench.issuer.ledger is not None
            bench.issuer.ledger.submit(sign_member_entry("member.add", member.to_body(), governance))
            server = subprocess.Popen(
                [*cli, "serve", "--data", str(data), "--port", str(port), "--workers", str(workers),
                 "--recheck-every", "0"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            )  # fmt: skip
            _wait_for(url + "/oid4vp/requests/none", server)
            operator = open_verifier(VerifierConfig(data_dir=data, port=port, url=url))
            try:
                now = int(time.time())
                warm = credentials * workers * 2
                bodies = []
                for n in range(warm + responses):
                    credential, holder = issued[n % len(issued)]
                    transaction = operator.new_request("space-sharing")
                    claims = parse_claims_unverified(credential)
                    selection = select_credentials(transaction.query, [Candidate(claims["vct"], claims)])
                    vp_token = {
                        qid: [
                            present(credential, paths, holder_key=holder, nonce=transaction.nonce,
                                    aud=transaction.client_id, iat=now)
                            for _, paths in chosen
                        ]
                        for qid, chosen in selection.items()
                    }  # fmt: skip
                    bodies.append(build_authorization_response(vp_token, transaction.state))
            finally:
                close_verifier(operator)
            _post_all(url + "/oid4vp/response", bodies[:warm], folder, threads)
            answer = _post_all(url + "/oid4vp/response", bodies[warm:], folder, threads)
            return answer["rate"], answer["p50"], answer["p99"]
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            bench.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--credentials", type=int, default=100)
    parser.add_argument("--verifications", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=16, help="client threads of the HTTP load")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="verifier processes")
    args = parser.parse_args(argv)
    print(
        f"akashi verifier benchmark — Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores; {args.credentials} credentials, {args.verifications} presentations"
    )
    print(f"{'measure':52s} {'per second':>11s} {'p50 ms':>8s} {'p99 ms':>8s}")
    rows = run(args.credentials, args.verifications)
    for n, workers in enumerate(sorted({1, args.workers})):
        rate, p50, p99 = run_http(args.credentials, args.verifications // 2, args.threads, workers)
        where = f"serve --workers {workers}, {args.threads} client threads"
        rows.insert(2 + n, (f"over HTTP: {where}", rate, p50, p99))
    for name, rate, p50, p99 in rows:
        print(f"{name:52s} {rate:11,.0f} {p50:8.2f} {p99:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
