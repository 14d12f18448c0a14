"""Customer-data updates through the registry's mailbox: one holder's update fanned out to
many consented operators, and those operators receiving their mail concurrently.

Run with ``.venv/bin/python bench/mailbox.py`` (also part of ``make bench``). The registry
node runs as its own process (``akashi-registry serve``, SQLite with full fsync, its own
witness cosigning every checkpoint); the holder's wallet runs in this process; the operators
(``--verifiers`` of them, each a did:akashi on the ledger with a consent from the holder
that allows updates and covers the address) run as threads of one more process, each with
its own registry client and keys.

Rows:

* **fan-out** (first with no operator fetching, then with all of them long-polling and
  opening what arrives, on the same two cores): :func:`holder_app.updates.send_update` for
  an address change to every
  operator — per operator: the pairwise-signed ``update+jwt``, resolving the operator's
  did:akashi from its proven key events, sealing to its X25519 key, posting notice and
  ciphertext, checking the notice's inclusion proof against a cosigned checkpoint, keeping
  the delivery in the wallet. Timed from the call to its return (``--rounds`` rounds;
  the goal: under 1 s for 100 operators).
* **delivery while fanning out**: every operator long-polls (``wait``) its mailbox during
  the fan-outs; per message, the time from the holder starting its post to the operator
  holding the opened, signature-checked update (the notice proven on the ledger first).
* **backlog drain**: ``--backlog`` messages waiting per operator; all operators fetch at
  once, each page proven and every update opened: messages per second and the p99 of one
  fetch (a page of up to 100).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
PASSPHRASE = "bench passphrase"
ADDRESS_PATH = ("verified_claims", "claims", "address")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_registry(folder: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, Any], str, list[Any]]:
    """A fresh node in ``folder`` served by ``akashi-registry serve``: (process, URL, genesis
    document, witness key, governance keys)."""
    import httpx

    from registry.config import RegistryConfig
    from registry.service import init_data_dir, open_service, read_private_key

    config = RegistryConfig(data_dir=folder, admission_workers=0)
    made = init_data_dir(config, origin="akashi.bench/registry", governance_keys=3, threshold=2)
    governance = [read_private_key(path) for path in made.governance_key_files]
    service = open_service(config)
    witness = service.witness_verifier.vkey
    service.close()
    genesis = json.loads(config.genesis_file.read_text(encoding="utf-8"))
    port = _free_port()
    command = [str(Path(sys.executable).parent / "akashi-registry"), "serve", "--data", str(folder)]
    process = subprocess.Popen([*command, "--port", str(port)], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/checkpoint", timeout=1.0)
            return process, url, genesis, witness, governance
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the registry did not start")


def _client(url: str, genesis: dict[str, Any], witness: str) -> Any:
    from registry.client import ClientTrust, RegistryClient

    trust = ClientTrust.from_genesis_document(genesis, [witness], 1)
    return RegistryClient(url, trust=trust, timeout=60.0)


def _corporate_number(base: int) -> str:
    """A valid 法人番号 for a 12-digit ``base`` (check digit first; see registry.state)."""
    digits = f"{base:012d}"
    total = sum(int(d) * (1 if n % 2 else 2) for n, d in enumerate(reversed(digits), start=1))
    return f"{9 - total % 9}{digits}"


def _setup(
    folder: Path, url: str, genesis: dict[str, Any], witness: str, governance: list[Any], operators: int
) -> Any:
    """The holder's wallet with one consent (updates allowed, address covered) per operator;
    each operator's did:akashi, its trust-registry membership and each consent's grant on the
    ledger."""
    from holder_app.store import WalletStore
    from holder_app.wallet import Wallet, create_wallet
    from identity.credentials.consent import (
        consent_digest,
        consent_grant_body,
        new_consent_receipt,
        sign_consent_receipt,
    )
    from identity.crypto.keys import Ed25519PrivateKey
    from identity.crypto.passphrase import TEST_PARAMS
    from identity.did.did_key import did_key_from_public_key
    from identity.ledger.envelope import sign_envelope
    from registry.genesis import sign_member_entry
    from registry.state import Member, Purpose
    from verifier.identity import create_identity

    identities = [create_identity(folder / f"operator-{i}")[0] for i in range(operators)]
    ledger = _client(url, genesis, witness)
    _submit_all(ledger, [identity.did_create_entry() for identity in identities])
    purpose = Purpose("customer-records", "keep the customer record current", (ADDRESS_PATH,))
    members = [
        Member(identity.did, "verifier", f"ベンチ{i}株式会社", _corporate_number(5 * 10**11 + i), 1,
               purposes=(purpose,))
        for i, identity in enumerate(identities)
    ]  # fmt: skip
    _submit_all(ledger, [sign_member_entry("member.add", m.to_body(), governance) for m in members])
    store = WalletStore.create(folder / "wallet.db", PASSPHRASE, params=TEST_PARAMS)
    create_wallet(store, ledger)
    now = int(time.time())
    grants = []
    for identity in identities:
        key = Ed25519PrivateKey.generate()
        store.add_key("holder", key)
        receipt = new_consent_receipt(
            key.public_key, verifier=identity.did, purpose_id="customer-records",
            purpose="keep the customer record current", claims=[".".join(ADDRESS_PATH)],
            granted_at=now, expires_at=now + 30 * 86400, updates_allowed=True,
        )  # fmt: skip
        token = sign_consent_receipt(receipt, key)
        holder = did_key_from_public_key(key.public_key)
        signer = f"{holder}#{holder.removeprefix('did:key:')}"
        grants.append(sign_envelope("consent.grant", consent_grant_body(token, receipt), signer, key))
        store.add_consent(
            receipt=token, digest=consent_digest(token), verifier=identity.did, purpose="customer-records",
            claims=[ADDRESS_PATH], expires_at=receipt.expires_at, updates_allowed=True, created_at=now,
        )  # fmt: skip
    _submit_all(ledger, grants)
    return Wallet(store, ledger)


def _submit_all(ledger: Any, entries: list[Any]) -> None:
    """Append ``entries`` a hundred at a time; any refusal stops the bench."""
    for start in range(0, len(entries), 100):
        outcomes = ledger.submit_batch(entries[start : start + 100], prove=False)
        refused = [o for o in outcomes if isinstance(o, Exception)]
        if refused:
            raise RuntimeError(f"the ledger refused the set-up: {refused[0]}")


# ------------------------------------------------------------------ the operators' process


def _operators_main(
    url: str, genesis: dict[str, Any], witness: str, folders: list[str], mode: str, expect: int, out: Any
) -> None:
    """Each operator in its own thread: fetch (long-poll in ``live`` mode, pages in ``drain``
    mode) until ``expect`` messages are opened; report receive times per message id, and
    per-fetch latencies."""
    from identity.credentials.updates import open_update
    from identity.did.did_key import public_key_from_did_key
    from verifier.identity import load_identity

    received: dict[str, float] = {}
    fetches: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(len(folders) + 1)
    go = threading.Event()

    def operator(folder: str) -> None:
        identity = load_identity(Path(folder))
        client = _client(url, genesis, witness)
        cursor = None
        got = 0
        ready.wait()
        go.wait()
        try:
            while got < expect:
                started = time.perf_counter()
                messages, cursor = client.fetch_messages(
                    identity.signing_key, identity.kid, cursor, wait=20 if mode == "live" else 0
                )
                for message in messages:
                    holder = public_key_from_did_key(message.notice.envelope["signer"].split("#")[0])
                    open_update(
                        message.ciphertext, identity.agreement_key, holder, recipient=identity.did,
                        now=time.time(), consent_digest=message.notice.envelope["body"]["consent"],
                    )  # fmt: skip
                    with lock:
                        received[message.id] = time.time()
                got += len(messages)
                with lock:
                    fetches.append(time.perf_counter() - started)
        except Exception as error:  # report, do not hang the parent
            with lock:
                failures.append(f"{type(error).__name__}: {error}")
        finally:
            client.close()

    threads = [threading.Thread(target=operator, args=(f,), daemon=True) for f in folders]
    for thread in threads:
        thread.start()
    ready.wait()
    out.put("ready")
    started = time.time()
    go.set()
    for thread in threads:
        thread.join()
    out.put({"received": received, "fetches": fetches, "failures": failures, "started": started,
             "ended": time.time()})  # fmt: skip


def _start_operators(
    url: str, genesis: dict[str, Any], witness: str, folders: list[Path], mode: str, expect: int
) -> tuple[Any, Any]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(
        target=_operators_main,
        args=(url, genesis, witness, [str(f) for f in folders], mode, expect, out),
        daemon=True,
    )
    process.start()
    if out.get(timeout=120) != "ready":
        raise RuntimeError("the operators did not start")
    return process, out


# ------------------------------------------------------------------ measuring


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def run(operators: int, rounds: int, backlog: int) -> list[tuple[str, str, str, str]]:
    from holder_app.updates import plan_update, send_update

    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        process, url, genesis, witness, governance = _start_registry(folder / "registry")
        wallet = None
        try:
            wallet = _setup(folder, url, genesis, witness, governance, operators)
            folders = [folder / f"operator-{i}" for i in range(operators)]

            # fan-out, with every operator long-polling
            post_started: dict[str, float] = {}
            send = wallet.ledger.send_updates

            def timed_send(items: Any, **kwargs: Any) -> Any:
                from identity.crypto.encoding import b64url_encode
                from identity.ledger.envelope import entry_digest

                now = time.time()
                for notice, _ in items:
                    post_started[b64url_encode(entry_digest(notice))] = now
                return send(items, **kwargs)

            quiet = []
            for number in range(rounds):  # nobody fetching: the fan-out alone
                plan = plan_update(wallet, "address")
                started = time.perf_counter()
                send_update(wallet, plan, {"formatted": f"京都府京都市中京区1-{number}"}, date.today())
                quiet.append(time.perf_counter() - started)
            rows.append((
                f"fan-out to {operators} operators, none fetching (median of {rounds})",
                f"{statistics.median(quiet) * 1000:,.0f} ms",
                f"{operators / statistics.median(quiet):,.0f} /s",
                f"worst {max(quiet) * 1000:,.0f} ms",
            ))  # fmt: skip
            wallet.ledger.send_updates = timed_send  # type: ignore[method-assign]
            fleet, out = _start_operators(url, genesis, witness, folders, "live", 2 * rounds)
            time.sleep(0.5)  # every operator is waiting in its long-poll
            fan_outs = []
            for number in range(rounds):
                plan = plan_update(wallet, "address")
                assert len(plan.recipients) == operators, "every consent should receive it"
                started = time.perf_counter()
                deliveries = send_update(wallet, plan, {"formatted": f"大阪府大阪市北区中之島1-3-{number}"},
                                         date.today())  # fmt: skip
                fan_outs.append(time.perf_counter() - started)
                failed = [d.error for d in deliveries if d.error is not None]
                if failed:
                    raise RuntimeError(f"sends failed: {failed[:3]}")
            result = out.get(timeout=300)
            fleet.join(timeout=30)
            if result["failures"]:
                raise RuntimeError(f"operators failed: {result['failures'][:3]}")
            latencies = [(result["received"][m] - post_started[m]) * 1000 for m in post_started]
            rows.append((
                f"fan-out to {operators} operators, all long-polling (median of {rounds})",
                f"{statistics.median(fan_outs) * 1000:,.0f} ms",
                f"{operators / statistics.median(fan_outs):,.0f} /s",
                f"worst {max(fan_outs) * 1000:,.0f} ms",
            ))  # fmt: skip
            rows.append((
                f"delivery while fanning out ({len(latencies)} messages, long-poll)",
                f"p50 {_percentile(latencies, 0.5):,.0f} ms",
                f"p99 {_percentile(latencies, 0.99):,.0f} ms",
                f"max {max(latencies):,.0f} ms",
            ))  # fmt: skip

            # backlog: fill every mailbox, then let every operator fetch at once
            for number in range(backlog):
                plan = plan_update(wallet, "address")
                send_update(wallet, plan, {"formatted": f"福岡県福岡市中央区天神1-8-{number}"}, date.today())
            fleet, out = _start_operators(url, genesis, witness, folders, "drain", 2 * rounds + backlog)
            result = out.get(timeout=300)
            fleet.join(timeout=30)
            if result["failures"]:
                raise RuntimeError(f"operators failed: {result['failures'][:3]}")
            drained = operators * backlog
            seconds = result["ended"] - result["started"]
            fetch_ms = [f * 1000 for f in result["fetches"]]
            rows.append((
                f"backlog drain ({operators} operators × {backlog} waiting, concurrently)",
                f"{drained / seconds:,.0f} msg/s",
                f"fetch p50 {_percentile(fetch_ms, 0.5):,.0f} ms",
                f"fetch p99 {_percentile(fetch_ms, 0.99):,.0f} ms",
            ))  # fmt: skip
        finally:
            if wallet is not None:
                wallet.close()
                wallet.ledger.close()
                wallet.store.close()
            process.terminate()
            process.wait(timeout=30)
    return rows


def print_rows(rows: list[tuple[str, str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{'mailbox':{width}s}  {'':>14s}  {'':>16s}  {'':>18s}")
    for name, a, b, c in rows:
        print(f"{name:{width}s}  {a:>14s}  {b:>16s}  {c:>18s}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--verifiers", type=int, default=100, help="operators with a consent")
    parser.add_argument("--rounds", type=int, default=5, help="fan-outs measured")
    parser.add_argument("--backlog", type=int, default=10, help="messages waiting per operator")
    args = parser.parse_args(argv)
    print(
        f"akashi mailbox benchmark — Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores"
    )
    print_rows(run(args.verifiers, args.rounds, args.backlog))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
