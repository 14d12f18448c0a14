"""Validated, durable appends per second through a registry node, against the cost of
their Ed25519 verifications alone.

Run alone with ``.venv/bin/python bench/registry_appends.py``; ``bench/registry.py``
prints it with the tree and proof rows. Each append is the whole pipeline of
``registry.node.Node.submit``: admission (size, envelope schema, claimed time),
the consortium rules (body schema, signer key from the ledger state, Ed25519
signature, the type's rule), de-duplication, sequencing, tile integration, one
signed checkpoint and one SQLite transaction with ``synchronous=FULL`` per batch.

Workloads (the ledger's everyday traffic):

* ``attestation.anchor`` by one accredited issuer (its key is found in the
  ledger state, its Multikey decoded once and remembered);
* ``consent.grant`` by a new pairwise holder key every time (no key is seen
  twice: the worst case for key decoding).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity.crypto.encoding import b64url_encode
from identity.crypto.keys import Ed25519PrivateKey
from identity.did.did_key import did_key_from_public_key
from identity.did.key_events import incept, sign_event
from identity.did.multikey import encode_multikey
from identity.ledger.envelope import sign_envelope, signing_input
from identity.ledger.note import Ed25519NoteSigner
from registry.audit import genesis_rows
from registry.config import RegistryConfig
from registry.genesis import create_genesis, sign_member_entry
from registry.node import Accepted, Node
from registry.state import Member, Purpose
from registry.storage import SqliteStorage

NOW = 1_800_000_000
ISSUER_CN = "4011001098993"
VERIFIER_CN = "2120901007402"


class Row(NamedTuple):
    measure: str
    ours: float
    unit: str
    floor: float | None = None


class Ledger:
    """A fresh node with one accredited issuer and one verifier on the ledger."""

    def __init__(self, folder: Path, workers: int = 0) -> None:
        governance = [Ed25519PrivateKey.generate() for _ in range(2)]
        log_key = Ed25519PrivateKey.generate()
        self.genesis = create_genesis(
            origin="akashi.bench/registry",
            log_key=log_key.public_key,
            governance_keys=[k.public_key for k in governance],
            threshold=2,
            created_at=NOW - 86400,
        )
        self.storage = SqliteStorage(folder / "registry.db")
        self.storage.replace_state(row for row in genesis_rows(self.genesis) if row[2] is not None)
        config = RegistryConfig(data_dir=folder, integrate_batch=4096)
        signer = Ed25519NoteSigner(self.genesis.origin, log_key)
        self.node = Node(config, self.storage, self.genesis, signer, clock=lambda: NOW, workers=workers)
        self.issuer_key, self.issuer = self._organisation()
        self.verifier_key, self.verifier = self._organisation()
        members = [
            Member(self.issuer, "issuer", "株式会社ベンチ本人確認", ISSUER_CN, 1, evidence_methods=("jpki",)),
            Member(
                self.verifier,
                "verifier",
                "株式会社ベンチシェア",
                VERIFIER_CN,
                1,
                purposes=(Purpose("account-opening", "会員登録時の本人確認"),),
            ),
        ]
        for member in members:
            self._append(sign_member_entry("member.add", member.to_body(), governance))

    def _organisation(self) -> tuple[Ed25519PrivateKey, str]:
        key, following = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
        event = incept([key.public_key], [following.public_key])
        self._append(
            sign_envelope("did.create", sign_event(event, [key]), self.signer(event["id"], key), key)
        )
        return key, event["id"]

    @staticmethod
    def signer(did: str, key: Ed25519PrivateKey) -> str:
        return f"{did}#{encode_multikey(key.public_key)}"

    def _append(self, envelope: Any) -> None:
        (outcome,) = self.node.submit([envelope])
        if not isinstance(outcome, Accepted):
            raise outcome

    def anchors(self, count: int) -> list[Any]:
        signer = self.signer(self.issuer, self.issuer_key)
        return [
            sign_envelope(
                "attestation.anchor",
                {
                    "digest": b64url_encode(os.urandom(32)),
                    "issuer": self.issuer,
                    "vct": "https://akashi.example/vct/kyc",
                    "method": "jpki",
                    "iat": NOW,
                    "exp": NOW + 86400 * 365,
                },
                signer,
                self.issuer_key,
            )
            for _ in range(count)
        ]

    def grants(self, count: int) -> list[Any]:
        out = []
        for _ in range(count):
            holder = Ed25519PrivateKey.generate()
            did = did_key_from_public_key(holder.public_key)
            body = {
                "receipt_digest": b64url_encode(os.urandom(32)),
                "holder": did,
                "verifier": self.verifier,
                "purpose_id": "account-opening",
                "granted_at": NOW,
                "expires_at": NOW + 86400 * 365,
                "updates_allowed": True,
            }
            out.append(sign_envelope("consent.grant", body, f"{did}#{did.removeprefix('did:key:')}", holder))
        return out

    def close(self) -> None:
        self.node.close()
        self.storage.close()


def _appends_per_second(ledger: Ledger, entries: list[Any], batch: int, submitters: int = 1) -> float:
    """Entries/s with ``submitters`` threads each submitting its share in batches (as HTTP
    requests would arrive); the node groups what waits into shared commits."""
    batches = [entries[first : first + batch] for first in range(0, len(entries), batch)]
    failures: list[BaseException] = []

    def work(mine: list[list[Any]]) -> None:
        for chunk in mine:
            outcomes = ledger.node.submit(chunk)
            bad = [o for o in outcomes if not isinstance(o, Accepted)]
            if bad:
                failures.append(bad[0])  # type: ignore[arg-type]
                return

    threads = [threading.Thread(target=work, args=(batches[n::submitters],)) for n in range(submitters)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(failures[0])
    return len(entries) / elapsed


def _verify_only_per_second(entries: list[Any], keys: Callable[[Any], Any]) -> float:
    from identity.crypto.encoding import b64url_decode

    prepared = [(keys(e), b64url_decode(e["sig"]), signing_input(e)) for e in entries]
    start = time.perf_counter()
    for key, signature, message in prepared:
        key.verify(signature, message)
    return len(prepared) / (time.perf_counter() - start)


def bench(count: int = 20_000, batch: int = 500, submitters: int = 3) -> list[Row]:
    """Rows: appends/s for each workload, in-process (no admission workers) and with one
    admission worker per spare core, beside Ed25519 verifications/s of the same entries."""
    from identity.did.did_key import public_key_from_did_key

    rows = []
    cores = os.cpu_count() or 1
    for workers in sorted({0, max(0, cores - 1)}):
        label = "in one process" if workers == 0 else f"+{workers} admission worker{'s' * (workers > 1)}"
        with tempfile.TemporaryDirectory() as folder:
            ledger = Ledger(Path(folder), workers=workers)
            try:
                ledger.node.submit(ledger.anchors(8))  # start the workers before timing
                anchors = ledger.anchors(count)
                issuer_public = ledger.issuer_key.public_key
                floor = _verify_only_per_second(anchors, lambda e, key=issuer_public: key)
                rate = _appends_per_second(ledger, anchors, batch, submitters)
                rows.append(
                    Row(f"attestation.anchor, validated + durable, {label}", rate, "appends/s", floor)
                )
                grants = ledger.grants(count)
                floor = _verify_only_per_second(
                    grants, lambda e: public_key_from_did_key(e["body"]["holder"])
                )
                rate = _appends_per_second(ledger, grants, batch, submitters)
                rows.append(Row(f"consent.grant (new holder key each), {label}", rate, "appends/s", floor))
            finally:
                ledger.close()
    return rows


def print_rows(rows: list[Row]) -> None:
    print(f"{'measure':62s} {'akashi':>10s} {'Ed25519 only':>13s} {'share':>6s}")
    for row in rows:
        floor = f"{row.floor:13,.0f}" if row.floor else f"{'':13s}"
        share = f"{row.ours / row.floor:5.0%}" if row.floor else ""
        print(f"{row.measure:62s} {row.ours:10,.0f} {floor} {share:>6s}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=20_000, help="entries per workload")
    parser.add_argument("--batch", type=int, default=500, help="entries per submitted batch")
    parser.add_argument("--submitters", type=int, default=3, help="threads submitting at once")
    args = parser.parse_args(argv)
    print(
        f"registry appends — Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, SQLite synchronous=FULL, "
        f"batches of {args.batch} from {args.submitters} threads"
    )
    print_rows(bench(args.count, args.batch, args.submitters))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
