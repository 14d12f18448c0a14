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
  and status list remembered; each credential's anchor looked up once), per core;
* the same without a cache (every ledger lookup made: three ledger reads each);
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from issuance import Bench

from identity.credentials.sdjwt import present
from identity.crypto.keys import Ed25519PrivateKey
from identity.protocols.dcql import claim, credential_set, dcql_query, sd_jwt_credential
from verifier.pipeline import TrustCache, verify_presentation

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
import json, sys, threading, time, httpx
url, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
bodies = json.load(open(path))
shares = [bodies[n::threads] for n in range(threads)]
latencies, failures = [], []
def run(share):
    with httpx.Client(timeout=60) as client:
        for body in share:
            t0 = time.perf_counter()
            r = client.post(url, content=body, headers={"content-type": "application/x-www-form-urlencoded"})
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200:
                failures.append(r.text[:200])
workers = [threading.Thread(target=run, args=(s,)) for s in shares]
start = time.perf_counter()
for w in workers: w.start()
for w in workers: w.join()
elapsed = time.perf_counter() - start
latencies.sort()
print(json.dumps({"rate": len(bodies) / elapsed, "p50": latencies[len(latencies) // 2] * 1000,
                  "p99": latencies[int(len(latencies) * 0.99)] * 1000, "failures": failures[:3]}))
"""


def run_http(credentials: int, responses: int, threads: int) -> tuple[float, float, float]:
    """Wallet responses posted over loopback HTTP by a second process to the verifier's
    response endpoint (requests opened beforehand by the operator)."""
    import json
    import subprocess

    from akashi_demo.loopback import free_port, serve_in_thread
    from identity.credentials.sdjwt import parse_claims_unverified
    from identity.protocols.dcql import Candidate, select_credentials
    from identity.protocols.oid4vp import build_authorization_response
    from registry.genesis import sign_member_entry
    from registry.service import read_private_key
    from registry.state import Member, Purpose
    from verifier.app import create_app
    from verifier.config import VerifierConfig
    from verifier.identity import create_identity
    from verifier.policies import default_policies, parse_policies
    from verifier.service import Verifier

    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        bench = Bench(folder, anchored=True)
        try:
            issued = _credentials(bench, credentials)
            issuer, ledger = bench.issuer, bench.issuer.ledger
            assert ledger is not None and bench.registry is not None
            identity, _ = create_identity(folder / "verifier")
            ledger.submit(identity.did_create_entry())
            member = Member(
                identity.did,
                "verifier",
                "株式会社ベンチシェア",
                "2120901007402",
                1,
                purposes=(Purpose("space-sharing", "スペース利用者の本人・年齢確認"),),
            )
            governance = [read_private_key(p) for p in sorted((folder / "registry" / "governance").iterdir())]
            ledger.submit(sign_member_entry("member.add", member.to_body(), governance))
            port = free_port()
            config = VerifierConfig(data_dir=folder / "verifier", port=port)
            verifier = Verifier(
                config,
                identity,
                ledger=ledger,
                policies=parse_policies(default_policies()),
                issuers=[issuer.url],
                fetch_status_list=lambda uri: issuer.status_token(uri.rsplit("/", 1)[1]),
            )
            server = serve_in_thread(create_app(verifier), port)
            now = int(time.time())
            bodies = []
            for n in range(responses):
                credential, holder = issued[n % len(issued)]
                transaction = verifier.new_request("space-sharing")
                claims = parse_claims_unverified(credential)
                selection = select_credentials(transaction.query, [Candidate(claims["vct"], claims)])
                vp_token = {
                    qid: [
                        present(
                            credential,
                            paths,
                            holder_key=holder,
                            nonce=transaction.nonce,
                            aud=transaction.client_id,
                            iat=now,
                        )
                        for _, paths in chosen
                    ]
                    for qid, chosen in selection.items()
                }
                bodies.append(build_authorization_response(vp_token, transaction.state))
            warm = bodies[: len(issued)]
            for body in warm:  # each credential's anchor proof once, as for a returning customer
                verifier.receive(body.encode())
            path = folder / "bodies.json"
            path.write_text(json.dumps(bodies[len(issued) :]))
            env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
            result = subprocess.run(
                [sys.executable, "-c", _LOAD, f"{verifier.url}/oid4vp/response", str(path), str(threads)],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            answer = json.loads(result.stdout.strip().splitlines()[-1])
            if answer["failures"]:
                raise RuntimeError(answer["failures"])
            server.stop()
            verifier.close()
            return answer["rate"], answer["p50"], answer["p99"]
        finally:
            bench.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--credentials", type=int, default=100)
    parser.add_argument("--verifications", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=8, help="client threads of the HTTP load")
    args = parser.parse_args(argv)
    print(
        f"akashi verifier benchmark — Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores; {args.credentials} credentials, {args.verifications} presentations"
    )
    print(f"{'measure':52s} {'per second':>11s} {'p50 ms':>8s} {'p99 ms':>8s}")
    rows = run(args.credentials, args.verifications)
    rate, p50, p99 = run_http(args.credentials, args.verifications // 2, args.threads)
    rows.insert(2, (f"over HTTP, {args.threads} client threads in a second process", rate, p50, p99))
    for name, rate, p50, p99 in rows:
        print(f"{name:52s} {rate:11,.0f} {p50:8.2f} {p99:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
