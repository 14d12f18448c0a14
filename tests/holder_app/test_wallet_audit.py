"""The wallet's audit export: real consent, notice, ack and revocation entries on an
in-process registry node whose checkpoints two witnesses cosign; the JSON Lines file
verifies offline, and every kind of tampering is named by line and rule."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from node_harness import Harness
from rules_world import LOG_KEY, T0, Base, Holder, base, key
from starlette.testclient import TestClient

from holder_app.audit import (
    CSV_COLUMNS,
    AuditEvent,
    AuditReport,
    Purpose,
    WrittenAudit,
    verify_audit,
    write_audit_csv,
    write_audit_jsonl,
)
from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import AkashiError, MalformedInput
from identity.ledger.checkpoint import Checkpoint, sign_checkpoint
from identity.ledger.cosignature import cosign
from identity.ledger.envelope import Envelope, entry_bytes
from identity.ledger.evidence import LedgerEvidence
from identity.ledger.note import Ed25519NoteSigner
from identity.ledger.proofs import InclusionProof
from identity.ledger.tree import MemoryTree
from registry.app import create_app
from registry.client import ClientTrust, RegistryClient
from registry.rules import notice_id
from registry.storage import StoredCheckpoint
from registry.witness import Witness, format_add_checkpoint_request
from registry.witness_store import MemoryWitnessStore

WALLET = "did:akashi:QmHanakoWallet"
PURPOSE = Purpose("account-opening", "カーシェア会員登録時の本人確認")
CLAIMS = (("family_name",), ("given_name",), ("address",))
WITNESS_KEYS = [key(f"audit-witness-{n}") for n in (1, 2)]
Written = tuple[Path, WrittenAudit]  # a genuine file and what writing it returned
Lines = list[dict[str, Any]]  # a file's lines, parsed


@dataclass
class Audit:
    """A registry that witnessed a holder's consent story, and the wallet's events about it."""

    scenario: Base
    origin: str
    log_vkey: str
    witness_vkeys: list[str]
    events: list[AuditEvent]
    history: list[Envelope]  # every entry of the log, in order

    def verify(self, path: Path, **changes: Any) -> AuditReport:
        args: dict[str, Any] = {"witness_vkeys": self.witness_vkeys, "k": 2}
        return verify_audit(path, **(args | changes))

    def write(self, path: Path, events: list[AuditEvent] | None = None) -> WrittenAudit:
        return write_audit_jsonl(
            self.events if events is None else events, path, wallet_did=WALLET, log_vkey=self.log_vkey
        )


def _attach_witnesses(harness: Harness) -> list[str]:
    """Two witnesses cosign every checkpoint before the submitter hears back; their vkeys."""
    origin = harness.genesis.origin
    witnesses = [
        Witness(f"akashi.test/witness-{n}", k, {origin: harness.genesis.log_verifier()},
                MemoryWitnessStore(), lambda: T0 + 500)
        for n, k in enumerate(WITNESS_KEYS, start=1)
    ]

    def cosign_new(checkpoint: StoredCheckpoint) -> None:
        for witness in witnesses:
            seen = witness.latest(origin)
            old = 0 if seen is None else seen.size
            size = checkpoint.size
            proof = [] if old in (0, size) else harness.node.consistency_proof(old, size)[1]
            answer = witness.add_checkpoint(format_add_checkpoint_request(old, proof, checkpoint.note))
            assert answer.status == 200, answer.body
            harness.storage.add_cosignature(checkpoint.size, witness.name, answer.body.decode())

    harness.node.on_checkpoint(cosign_new)
    return [w.verifier.vkey for w in witnesses]


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audit]:
    """hanako consents (the base scenario's grant, updates allowed), presents under it, sends
    an address update that the verifier applies, then withdraws her consent: each entry is
    submitted to a real node and comes back with its proof under a 2-of-2 cosigned checkpoint."""
    scenario = base()
    world, hanako = scenario.world, scenario.world.hanako
    harness = Harness(tmp_path_factory.mktemp("registry"))
    witness_vkeys = _attach_witnesses(harness)
    trust = ClientTrust.from_genesis(harness.genesis, witness_vkeys, 2)
    client = RegistryClient(client=TestClient(create_app(harness.node)), trust=trust, clock=lambda: T0 + 600)
    history = list(world.history)

    def submit(envelope: Envelope) -> LedgerEvidence:
        receipt = client.submit(envelope)
        assert receipt.proof is not None and receipt.checkpoint is not None
        assert set(receipt.checkpoint.cosigners) == {"akashi.test/witness-1", "akashi.test/witness-2"}
        return LedgerEvidence(receipt.index, envelope, receipt.proof, receipt.checkpoint.note)

    *before, grant_entry, notice_entry = world.history
    client.submit_batch(before, prove=False)
    grant = submit(grant_entry)
    notice = submit(notice_entry)
    ack_entry = world.submit(world.ack(notice_id(notice_entry)))
    ack = submit(ack_entry)
    revoke_entry = world.submit(world.revoke(hanako, scenario.consent))
    revocation = submit(revoke_entry)
    history += [ack_entry, revoke_entry]
    verifier, digest = world.verifier.did, scenario.consent
    events = [
        AuditEvent("consent", T0, verifier, PURPOSE, CLAIMS, receipt_digest=digest, evidence=grant),
        AuditEvent("presentation", T0 + 1, verifier, PURPOSE, CLAIMS, "completed", receipt_digest=digest,
                   evidence=grant),
        AuditEvent("presentation", T0 + 50, "did:akashi:QmStranger", PURPOSE, (("birthdate",),), "refused",
                   "the verifier is not in the trust registry"),
        AuditEvent("update", T0 + 100, verifier, None, (("address",),), "completed", receipt_digest=digest,
                   evidence=notice),
        AuditEvent("update-ack", T0 + 200, verifier, None, (("address",),), "applied", receipt_digest=digest,
                   evidence=ack),
        AuditEvent("revocation", T0 + 1000, verifier, PURPOSE, receipt_digest=digest, evidence=revocation),
    ]
    yield Audit(scenario, harness.genesis.origin, harness.genesis.log_key, witness_vkeys, events, history)
    harness.storage.close()


# --- helpers: files as lines, and an attacker who rewrites the chain -------------------------------------


def read_lines(path: Path) -> Lines:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def write_raw(path: Path, objs: Lines) -> None:
    """Write objects as lines, byte for byte as the writer would, without fixing the chain."""
    path.write_bytes(b"".join(canonicalize(o) + b"\n" for o in objs))


def rechain(path: Path, objs: Lines) -> None:
    """Write lines with seq, prev and the end line recomputed: a forger who rewrites the whole
    file from the first edit on, so that only what the chain cannot show is left to find."""
    header, *rest = objs
    events = [o for o in rest if "end" not in o]
    lines = [canonicalize(header)]
    for seq, obj in enumerate(events, start=1):
        lines.append(canonicalize({**obj, "seq": seq, "prev": b64url_encode(sha256(lines[-1]))}))
    count = len(events)
    end = {"seq": count + 1, "prev": b64url_encode(sha256(lines[-1])), "end": True, "events": count}
    lines.append(canonicalize(end))
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def failures(report: AuditReport) -> list[tuple[int, str]]:
    return [(f.line, f.rule) for f in report.failures]


@pytest.fixture
def written(audit: Audit, tmp_path: Path) -> Written:
    path = tmp_path / "audit.jsonl"
    return path, audit.write(path)


# --- a genuine file ------------------------------------------------------------------------------------


def test_a_genuine_audit_verifies_offline_and_reads_back(audit: Audit, written: Written) -> None:
    path, result = written
    assert result.events == 6
    report = audit.verify(path, expected_head=result.head)
    assert report.ok, report.failures
    assert (report.events, report.lines, report.head) == (6, 8, result.head)
    assert (report.wallet, report.origin, report.log_vkey) == (WALLET, audit.origin, audit.log_vkey)
    header, *events, end = read_lines(path)
    assert header == {"format": "akashi-wallet-audit", "version": 1, "wallet": WALLET,
                      "log": {"origin": audit.origin, "vkey": audit.log_vkey}}
    assert end == {"seq": 7, "prev": end["prev"], "end": True, "events": 6}
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert [AuditEvent.from_json(e) for e in events] == audit.events
    assert events[0]["claims"] == [["family_name"], ["given_name"], ["address"]]
    assert audit.verify(path, k=1, log_vkey=audit.log_vkey).ok


def test_the_file_holds_claim_names_never_values(audit: Audit, written: Written) -> None:
    text = written[0].read_text(encoding="utf-8")
    for value in ("山田", "花子", "1998-07-15", "霞が関", "大阪"):
        assert value not in text


def test_an_empty_audit_verifies(audit: Audit, tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    assert audit.write(path, []).events == 0
    report = audit.verify(path)
    assert report.ok and report.events == 0 and report.lines == 2


def test_csv_has_one_row_per_event_with_the_evidence_summarised(audit: Audit, tmp_path: Path) -> None:
    path = tmp_path / "audit.csv"
    assert write_audit_csv(audit.events, path, wallet_did=WALLET) == 6
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [r["kind"] for r in rows] == ["consent", "presentation", "presentation", "update", "update-ack",
                                         "revocation"]
    consent, _, refused, update, ack, revocation = rows
    grant = audit.events[0].evidence
    assert grant is not None
    assert consent["claims"] == "family_name; given_name; address" and consent["purpose"] == PURPOSE.text
    assert consent["entry_type"] == "consent.grant" and consent["leaf_index"] == str(grant.index)
    assert consent["leaf_hash"] == b64url_encode(grant.leaf)
    assert consent["tree_size"] == str(grant.proof.tree_size)
    assert consent["root_hash"] == b64url_encode(grant.checkpoint_unverified().root_hash)
    assert consent["at_utc"] == "2026-01-01T00:00:00+00:00" and consent["wallet"] == WALLET
    assert refused["outcome"] == "refused" and refused["leaf_index"] == "" and refused["reason"]
    assert (update["entry_type"], ack["entry_type"], revocation["entry_type"]) == (
        "mailbox.notice", "mailbox.ack", "consent.revoke")
    assert int(revocation["tree_size"]) > int(consent["tree_size"])


# --- tampering ----------------------------------------------------------------------------------------
# Lines: 1 header, 2 consent, 3 presentation, 4 refused presentation, 5 update, 6 ack, 7 revocation, 8 end.


def edit(objs: Lines, line: int, change: Callable[[dict[str, Any]], None]) -> Lines:
    change(objs[line - 1])
    return objs


def test_an_edited_claim_name_breaks_the_chain(audit: Audit, written: Written) -> None:
    path, result = written
    objs = edit(read_lines(path), 3, lambda o: o.update(claims=[["family_name"]]))
    write_raw(path, objs)
    assert failures(audit.verify(path)) == [(4, "chain")]
    rechain(path, objs)  # a full rewrite: only the kept head shows it (claims are not on the ledger)
    assert audit.verify(path).ok
    assert failures(audit.verify(path, expected_head=result.head)) == [(8, "chain")]


def test_an_edited_timestamp_is_found_by_the_chain_and_by_the_ledger(
    audit: Audit, written: Written
) -> None:
    path, _ = written
    for line, at in ((2, T0 - 3600), (7, T0 + 5), (5, T0 + 99), (6, T0 + 201)):
        audit.write(path)
        objs = edit(read_lines(path), line, lambda o, at=at: o.update(at=at))
        write_raw(path, objs)  # the ledger entry states the time, and the chain breaks
        assert failures(audit.verify(path)) == [(line, "entry"), (line + 1, "chain")]
        rechain(path, objs)
        assert failures(audit.verify(path)) == [(line, "entry")]


def test_a_deleted_line_is_found(audit: Audit, written: Written) -> None:
    path, _ = written
    original = read_lines(path)
    for line in range(2, 8):
        write_raw(path, original[: line - 1] + original[line:])
        assert (line, "chain") in failures(audit.verify(path)), line
    write_raw(path, original[:-1])  # the end line
    assert failures(audit.verify(path)) == [(8, "end")]
    path.write_bytes(path.read_bytes()[:-1])  # and the last newline
    assert (7, "end") in failures(audit.verify(path))


def test_swapped_lines_are_found(audit: Audit, written: Written) -> None:
    path, _ = written
    objs = read_lines(path)
    objs[2], objs[3] = objs[3], objs[2]
    write_raw(path, objs)
    assert failures(audit.verify(path)) == [(3, "chain"), (4, "chain"), (5, "chain")]


def test_an_inserted_line_is_found(audit: Audit, written: Written) -> None:
    path, _ = written
    objs = read_lines(path)
    write_raw(path, [*objs[:4], objs[3], *objs[4:]])  # line 4 twice: 7 events, the end line says 6
    assert failures(audit.verify(path)) == [(5, "chain"), (9, "end")]


def test_one_changed_byte_of_an_evidence_is_found(audit: Audit, written: Written) -> None:
    path, _ = written
    changes: list[Callable[[dict[str, Any]], None]] = [
        lambda ev: ev["entry"]["body"].update(verifier=ev["entry"]["body"]["verifier"][:-1] + "x"),
        lambda ev: ev.update(leaf_hash=("B" if ev["leaf_hash"][0] == "A" else "A") + ev["leaf_hash"][1:]),
        lambda ev: ev["inclusion_proof"].update(leaf_index=ev["inclusion_proof"]["leaf_index"] - 1),
        lambda ev: ev.update(checkpoint=ev["checkpoint"].replace("\n\n— ", "\n\n—  ", 1)),
        lambda ev: ev["inclusion_proof"]["inclusion_path"].reverse(),
    ]
    for change in changes:
        audit.write(path)
        objs = edit(read_lines(path), 3, lambda o, change=change: change(o["evidence"]))
        write_raw(path, objs)
        assert failures(audit.verify(path)) == [(3, "evidence"), (4, "chain")]
        rechain(path, objs)
        assert failures(audit.verify(path)) == [(3, "evidence")]
    audit.write(path)  # evidence that does not even parse is a malformed line
    objs = edit(read_lines(path), 3, lambda o: o["evidence"]["inclusion_proof"].update(leaf_index=10**6))
    rechain(path, objs)
    assert failures(audit.verify(path)) == [(3, "line")]


def test_evidence_of_another_entry_is_found(audit: Audit, written: Written) -> None:
    path, _ = written
    genuine = read_lines(path)

    def forged(line: int, change: Callable[[dict[str, Any]], None]) -> AuditReport:
        rechain(path, edit(json.loads(json.dumps(genuine)), line, change))
        return audit.verify(path)

    [failure] = forged(7, lambda o: o.update(evidence=genuine[1]["evidence"])).failures
    assert (failure.line, failure.rule, failure.code) == (7, "entry", "proof-mismatch")
    assert "consent.revoke" in failure.error  # a revocation "proven" by the grant
    # a consent pointing at another receipt; the revocation of the real one is still checked
    assert failures(forged(2, lambda o: o.update(receipt_digest="A" * 43))) == [(2, "entry")]
    assert failures(forged(3, lambda o: o.update(counterpart="did:akashi:QmSomeoneElse"))) == [(3, "entry")]
    assert failures(forged(3, lambda o: o.update(purpose={"id": "age-check", "text": "年齢確認"}))) == [
        (3, "entry")]
    assert failures(forged(6, lambda o: o.update(outcome="rejected", reason="invalid"))) == [(6, "entry")]
    assert failures(forged(7, lambda o: o.update(counterpart="did:akashi:QmSomeoneElse"))) == [(7, "entry")]
    assert failures(forged(5, lambda o: o.update(evidence=genuine[5]["evidence"]))) == [(5, "entry")]


def _other_log_note(audit: Audit, size: int, *, log_key: Ed25519PrivateKey, history: list[Envelope]) -> str:
    tree = MemoryTree(entry_bytes(e) for e in history[:size])
    log = Ed25519NoteSigner(audit.origin, log_key)
    note = sign_checkpoint(Checkpoint(audit.origin, size, tree.root()), log)
    for n, witness_key in enumerate(WITNESS_KEYS, start=1):
        note = cosign(note, f"akashi.test/witness-{n}", witness_key, timestamp=T0 + 500)
    return note


def _evidence_in(audit: Audit, index: int, history: list[Envelope], note: str) -> dict[str, Any]:
    size = int(note.split("\n")[1])
    tree = MemoryTree(entry_bytes(e) for e in history[:size])
    proof = InclusionProof(index, size, tuple(tree.inclusion_proof(index, size)))
    return LedgerEvidence(index, history[index], proof, note).to_json()


def test_a_checkpoint_of_another_log_is_found(audit: Audit, written: Written) -> None:
    """The same grant, in a tree signed by another log key under the same name and cosigned by
    the same witnesses: not the log the reader trusts."""
    path, _ = written
    objs = read_lines(path)
    index = objs[1]["evidence"]["index"]
    note = _other_log_note(audit, index + 1, log_key=key("another-log"), history=audit.history)
    rechain(path, edit(objs, 2, lambda o: o.update(evidence=_evidence_in(audit, index, audit.history, note))))
    [failure] = audit.verify(path).failures
    assert (failure.line, failure.rule, failure.code) == (2, "evidence", "policy")


def test_too_few_cosignatures_are_found(audit: Audit, written: Written) -> None:
    path, _ = written

    def one_cosignature(o: dict[str, Any]) -> None:
        note = o["evidence"]["checkpoint"]
        text, _, signatures = note.partition("\n\n")
        kept = [s for s in signatures.splitlines() if "witness-2" not in s]
        o["evidence"]["checkpoint"] = text + "\n\n" + "\n".join(kept) + "\n"

    rechain(path, edit(read_lines(path), 5, one_cosignature))
    [failure] = audit.verify(path).failures
    assert (failure.line, failure.rule, failure.code) == (5, "evidence", "policy")
    assert "1 of the 2" in failure.error
    assert audit.verify(path, k=1).ok


def test_a_fork_across_the_file_is_found(audit: Audit, written: Written) -> None:
    """The log (its real key) and both witnesses sign another tree of the same size as the
    consent's checkpoint: each proof verifies alone, the two together show the fork."""
    path, _ = written
    objs = read_lines(path)
    index, size = objs[1]["evidence"]["index"], objs[1]["evidence"]["inclusion_proof"]["tree_size"]
    forked = list(audit.history)
    forked[0] = audit.scenario.world.grant(Holder("taro"), granted_at=T0 + 7)  # another first entry
    note = _other_log_note(audit, size, log_key=LOG_KEY, history=forked)
    rechain(path, edit(objs, 3, lambda o: o.update(evidence=_evidence_in(audit, index, forked, note))))
    [failure] = audit.verify(path).failures
    assert (failure.line, failure.rule) == (3, "fork") and "forked" in failure.error


def test_the_readers_log_key_must_be_the_files(audit: Audit, written: Written) -> None:
    path, _ = written
    other = Ed25519NoteSigner(audit.origin, key("another-log")).verifier().vkey
    report = audit.verify(path, log_vkey=other)
    assert failures(report)[0] == (1, "header")
    assert {f.rule for f in report.failures[1:]} == {"evidence"} and len(report.failures) == 6


def test_the_witnesses_are_the_readers_not_the_files(audit: Audit, written: Written) -> None:
    path, _ = written
    strangers = [
        Ed25519NoteSigner(f"w{n}.example", Ed25519PrivateKey.from_seed(bytes([n]) * 32)).verifier().vkey
        for n in (1, 2)
    ]
    report = audit.verify(path, witness_vkeys=strangers)
    assert len(report.failures) == 5 and {f.code for f in report.failures} == {"policy"}


@pytest.mark.parametrize(
    "content",
    [b"", b"\n", b"hello\n", b"[1, 2]\n", b'{"row": 1, "customer": "did:key:z"}\n', b"\xff\xfe\n",
     b'{"format":"akashi-wallet-audit","version":2}\n'],
    ids=["empty", "blank", "text", "array", "appi-export", "binary", "version-2"],
)
def test_a_file_that_is_not_an_audit_is_a_clear_error(audit: Audit, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(content)
    with pytest.raises(MalformedInput, match=r"not an akashi wallet audit file|version 2"):
        audit.verify(path)


def test_events_refuse_what_an_audit_cannot_hold(audit: Audit) -> None:
    grant = audit.events[0]
    with pytest.raises(ValueError, match="kind"):
        replace(grant, kind="issuance")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ledger evidence"):
        replace(grant, evidence=None)
    with pytest.raises(ValueError, match="claim path"):
        replace(grant, claims=((),))
    with pytest.raises(ValueError, match="claim paths"):
        replace(grant, claims=["address"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="outcome"):
        replace(audit.events[1], outcome=None)
    with pytest.raises(ValueError, match="receipt"):
        replace(grant, receipt_digest=None)
    assert replace(grant, claims=[["address", 0], ["nationalities", None]]).claims == (  # type: ignore[arg-type]
        ("address", 0), ("nationalities", None))


# --- any byte ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def genuine(audit: Audit, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("genuine") / "audit.jsonl"
    audit.write(path)
    return path.read_bytes()


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), byte=st.integers(min_value=1, max_value=255))
def test_any_changed_byte_never_verifies(
    audit: Audit, genuine: bytes, tmp_path: Path, position: int, byte: int
) -> None:
    """Change any one byte: the report fails, or reading fails with an akashi error."""
    data = bytearray(genuine)
    data[position % len(data)] ^= byte
    path = tmp_path / "flipped.jsonl"
    path.write_bytes(bytes(data))
    try:
        report = audit.verify(path)
    except AkashiError:
        return
    assert not report.ok
