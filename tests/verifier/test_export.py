"""APPI records: JSONL/CSV export round trip, and verify_export offline on real proofs
(MemoryTree, log-signed checkpoints, witness cosignatures), with tampering named by row."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from records_world import ISSUER, KYC_CLAIMS, Ledger, T, consent, credential
from test_pipeline import World as PipelineWorld

from identity.crypto.keys import Ed25519PrivateKey
from identity.did.did_key import did_key_from_public_key
from identity.ledger.note import Ed25519NoteSigner
from verifier.export import AnchorProof, verify_export
from verifier.records import CustomerStore, prove_anchor


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
def store(tmp_path: Path, ledger: Ledger) -> Iterator[CustomerStore]:
    """Two customers; the second with a consent receipt and two credentials, proven under a
    later checkpoint than the first."""
    s = CustomerStore(tmp_path / "c.db", lambda: float(T))
    alice, bob = (Ed25519PrivateKey.from_seed(bytes([n]) * 32) for n in (10, 11))
    first, _ = credential(ledger, alice, 1, KYC_CLAIMS, [("age_over_20",)])
    s.record_verification(
        did_key_from_public_key(alice.public_key), "age-check", [first], None,
        {first.digest: ledger.anchor(first.anchor_index or 0)},
        purpose={"id": "age-check", "text": "年齢確認"},
    )
    kyc, _ = credential(ledger, bob, 2, KYC_CLAIMS, [("age_over_20",), ("verified_claims",)])
    licence, _ = credential(ledger, bob, 3, {"categories": ["普通"]}, [("categories",)])
    record, grant = consent(ledger, bob)
    note = ledger.note()
    proofs = {v.digest: ledger.anchor(v.anchor_index or 0, note) for v in (kyc, licence)}
    proofs[record["receipt_digest"]] = ledger.anchor(grant, note)
    bob_did = did_key_from_public_key(bob.public_key)
    s.record_verification(bob_did, "car-sharing", [kyc, licence], record, proofs)
    yield s
    s.close()


def check(path: Path, ledger: Ledger, **changes: Any) -> Any:
    args: dict[str, Any] = {"log_key_vkey": ledger.log_vkey, "witness_vkeys": ledger.witness_vkeys, "k": 2}
    return verify_export(path, **(args | changes))


def rewrite(path: Path, line: int, change: Any) -> None:
    rows = path.read_text(encoding="utf-8").splitlines()
    row = json.loads(rows[line - 1])
    change(row)
    rows[line - 1] = json.dumps(row, ensure_ascii=False)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_jsonl_round_trip_records_who_when_what_and_consent(store: CustomerStore, tmp_path: Path) -> None:
    path = tmp_path / "appi.jsonl"
    assert store.export_jsonl(path) == 3
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows == store.appi_rows()
    plain, kyc, licence = rows
    assert plain["consent"] is None and plain["purpose"] == {"id": "age-check", "text": "年齢確認"}
    assert kyc["items"] == [["age_over_20"], ["verified_claims"]] and licence["items"] == [["categories"]]
    assert kyc["provider"]["issuer"] == ISSUER and kyc["provider"]["holder"] == kyc["customer"]
    assert kyc["received_at"] == T and kyc["purpose"]["id"] == "car-sharing"
    assert kyc["consent"]["anchor"]["entry"]["type"] == "consent.grant"
    assert AnchorProof.from_json(kyc["credential"]["anchor"]).index == 1


def test_csv_export_has_one_row_per_receipt_with_its_proof(store: CustomerStore, tmp_path: Path) -> None:
    path = tmp_path / "appi.csv"
    assert store.export_csv(path) == 3
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["policy"] for r in rows] == ["age-check", "car-sharing", "car-sharing"]
    assert rows[1]["items"] == "age_over_20; verified_claims" and rows[1]["purpose_id"] == "car-sharing"
    assert rows[0]["consent_proof"] == "" and json.loads(rows[1]["consent_proof"])["index"] == 3
    proof = json.loads(rows[2]["credential_proof"])
    assert proof["checkpoint"].startswith("akashi.example/log\n4\n")
    assert rows[0]["received_at_utc"].startswith("2025-06-15T")


def test_a_genuine_export_verifies_offline(store: CustomerStore, ledger: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "appi.jsonl"
    store.export_jsonl(path)
    report = check(path, ledger)
    assert report.ok and report.rows == 3, report.failures
    assert check(path, ledger, k=1).ok


def test_a_tampered_row_is_named(store: CustomerStore, ledger: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "appi.jsonl"
    store.export_jsonl(path)
    rewrite(path, 2, lambda row: row["credential"]["anchor"]["entry"]["body"].update(vct="forged"))
    report = check(path, ledger)
    assert [(f.line, f.row, f.code) for f in report.failures] == [(2, 2, "proof-mismatch")]


def test_a_row_pointing_at_another_credentials_proof_fails(
    store: CustomerStore, ledger: Ledger, tmp_path: Path
) -> None:
    path = tmp_path / "appi.jsonl"
    store.export_jsonl(path)
    rewrite(path, 3, lambda row: row["credential"].update(digest="A" * 43))
    [failure] = check(path, ledger).failures
    assert (failure.line, failure.row) == (3, 3) and "anchor of this row's credential" in failure.error


def test_a_swapped_inclusion_path_or_leaf_hash_fails(
    store: CustomerStore, ledger: Ledger, tmp_path: Path
) -> None:
    path = tmp_path / "appi.jsonl"
    store.export_jsonl(path)

    def swap(row: dict[str, Any]) -> None:
        row["credential"]["anchor"]["inclusion_proof"]["inclusion_path"].reverse()
        row["consent"]["anchor"]["leaf_hash"] = row["credential"]["anchor"]["leaf_hash"]

    rewrite(path, 2, swap)
    rewrite(path, 1, lambda row: row["credential"]["anchor"].update(leaf_hash="A" * 43))
    failures = check(path, ledger).failures
    assert [(f.row, f.code) for f in failures] == [(1, "proof-mismatch"), (2, "proof-mismatch")]


def test_wrong_log_key_fails_every_row(store: CustomerStore, ledger: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "appi.jsonl"
    store.export_jsonl(path)
    other = Ed25519NoteSigner("akashi.example/log", Ed25519PrivateKey.from_seed(b"o" * 32)).verifier().vkey
    report = check(path, ledger, log_key_vkey=other)
    assert [f.line for f in report.failures] == [1, 2, 3]


def test_missing_cosignature_fails(tmp_path: Path) -> None:
    ledger = Ledger()
    holder = Ed25519PrivateKey.from_seed(b"h" * 32)
    store = CustomerStore(tmp_path / "c.db", lambda: float(T))
    verified, index = credential(ledger, holder, 1, KYC_CLAIMS, [("age_over_20",)])
    proofs = {verified.digest: ledger.anchor(index, ledger.note(cosigners=1))}
    store.record_verification(did_key_from_public_key(holder.public_key), "p", [verified], None, proofs)
    path = tmp_path / "appi.jsonl"
    store.export_jsonl(path)
    store.close()
    [failure] = check(path, ledger).failures
    assert failure.code == "policy" and "1 of the 2 witness cosignatures" in failure.error
    assert check(path, ledger, k=1).ok


def test_a_fork_between_rows_is_detected(store: CustomerStore, ledger: Ledger, tmp_path: Path) -> None:
    # A log that signs two trees of the same size shows itself in one file.
    path = tmp_path / "appi.jsonl"
    store.export_jsonl(path)
    forked = Ledger()
    holder = Ed25519PrivateKey.from_seed(b"z" * 32)
    for idx in range(4):
        last, index = credential(forked, holder, 100 + idx, KYC_CLAIMS, [("age_over_20",)])
    proof = forked.anchor(index, forked.note(4)).to_json()

    def fork(row: dict[str, Any]) -> None:
        row["credential"].update(digest=last.digest, anchor=proof)

    rewrite(path, 3, fork)
    [failure] = check(path, ledger).failures
    assert failure.row == 3 and "forked" in failure.error


def test_garbage_lines_are_reported_not_raised(store: CustomerStore, ledger: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "appi.jsonl"
    store.export_jsonl(path)
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"row": 9, "row": 9}\n[1]\n{"row": 10}\n{"row": 11, "customer": "x", "received_at": 1,'
                ' "items": [], "provider": 5, "credential": {}, "consent": null}\n')
    report = check(path, ledger)
    assert [f.line for f in report.failures] == [4, 5, 6, 7] and report.rows == 7
    assert all(f.code in {"malformed-input", "schema-violation"} for f in report.failures)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_any_flipped_bit_is_reported_never_raised(tmp_path_factory: Any, position: int, bit: int) -> None:
    """Flipping a bit anywhere in a row is reported as that row's failure, or lands in a
    member no proof covers (the row's own text); it never raises, never fails another row."""
    folder = tmp_path_factory.mktemp("flip")
    ledger, holder = Ledger(), Ed25519PrivateKey.from_seed(b"h" * 32)
    verified, index = credential(ledger, holder, 1, KYC_CLAIMS, [("age_over_20",)])
    store = CustomerStore(folder / "c.db", lambda: float(T))
    store.record_verification(did_key_from_public_key(holder.public_key), "p", [verified], None,
                              {verified.digest: ledger.anchor(index)})
    path = folder / "appi.jsonl"
    store.export_jsonl(path)
    store.close()
    data = bytearray(path.read_bytes())
    at = position % (len(data) - 1)  # the final newline stays: one line, one row
    data[at] ^= 1 << bit
    path.write_bytes(bytes(data))
    report = check(path, ledger)
    if data.count(b"\n") == 1:  # (a flip can also make a newline, and so two rows)
        assert all(f.line == 1 for f in report.failures)
    row = json.loads(data) if report.ok else None
    if row is not None:  # accepted: the proofs and what they bind are intact
        assert row["credential"]["digest"] == verified.digest and row["provider"]["issuer"] == ISSUER


def test_an_export_of_a_real_presentation_verifies_offline(tmp_path: Path) -> None:
    """Real issuer and registry node: the pipeline's result, recorded with prove_anchor's proof,
    exports to a file that verifies with only the log's and the witness's keys."""
    world = PipelineWorld(tmp_path)
    try:
        verified = world.verify(world.present([("age_over_20",)]))
        assert verified.anchor_index is not None
        proof = prove_anchor(world.setup.ledger, verified.anchor_index)
        store = CustomerStore(tmp_path / "c.db", lambda: float(T))
        customer = did_key_from_public_key(world.holder.public_key)
        store.record_verification(customer, "age-check", [verified], None, {verified.digest: proof})
        path = tmp_path / "appi.jsonl"
        store.export_jsonl(path)
        store.close()
        trust = world.setup.ledger.trust
        report = verify_export(path, log_key_vkey=trust.log_key, witness_vkeys=trust.witnesses, k=1,
                               origin=trust.origin)
        assert report.ok and report.rows == 1, report.failures
    finally:
        world.setup.close()
