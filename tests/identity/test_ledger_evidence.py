"""Ledger evidence checked offline: real entries in a MemoryTree, log-signed checkpoints,
witness cosignatures; one named case per broken rule, with the error a reader sees."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PrivateKey
from identity.did.did_key import did_key_from_public_key
from identity.errors import (
    AkashiError,
    InvalidSignature,
    KeyStateError,
    MalformedInput,
    PolicyError,
    ProofMismatch,
    UnknownKey,
)
from identity.ledger.checkpoint import Checkpoint, sign_checkpoint
from identity.ledger.cosignature import CosignatureSigner, cosign
from identity.ledger.envelope import Envelope, entry_bytes, sign_envelope
from identity.ledger.evidence import (
    ForkCheck,
    LedgerEvidence,
    check_no_fork,
    verify_ledger_evidence,
    verify_ledger_evidence_json,
    witness_policy,
)
from identity.ledger.merkle import leaf_hash
from identity.ledger.note import Ed25519NoteSigner
from identity.ledger.policy import WitnessPolicy
from identity.ledger.proofs import InclusionProof
from identity.ledger.tree import MemoryTree

T = 1_750_000_000
ORIGIN = "akashi.example/log"
LOG = Ed25519NoteSigner(ORIGIN, Ed25519PrivateKey.from_seed(b"L" * 32))
WITNESSES = [CosignatureSigner(f"w{n}.example", Ed25519PrivateKey.from_seed(bytes([0x50 + n]) * 32), T)
             for n in range(3)]
HOLDER = Ed25519PrivateKey.from_seed(b"H" * 32)
HOLDER_DID = did_key_from_public_key(HOLDER.public_key)
VERIFIER = "did:akashi:QmVerifier"


def grant(n: int) -> Envelope:
    """A consent.grant entry by the holder's pairwise did:key."""
    body = {
        "receipt_digest": b64url_encode(sha256(f"receipt-{n}".encode())), "holder": HOLDER_DID,
        "verifier": VERIFIER, "purpose_id": "account-opening", "granted_at": T + n,
        "expires_at": T + n + 86400, "updates_allowed": False,
    }
    return sign_envelope("consent.grant", body, f"{HOLDER_DID}#{HOLDER_DID[8:]}", HOLDER)


class Log:
    """A tree of consent grants and the keys that sign and cosign its checkpoints."""

    def __init__(self, entries: int = 7, *, log: Ed25519NoteSigner = LOG, origin: str = ORIGIN) -> None:
        self.log, self.origin = log, origin
        self.entries = [grant(n) for n in range(entries)]
        self.tree = MemoryTree(entry_bytes(e) for e in self.entries)

    def note(self, size: int | None = None, *, cosigners: int = 3) -> str:
        size = self.tree.size if size is None else size
        note = sign_checkpoint(Checkpoint(self.origin, size, self.tree.root(size)), self.log)
        for witness in WITNESSES[:cosigners]:
            note = cosign(note, witness.name, witness.key, timestamp=T)
        return note

    def evidence(self, index: int, size: int | None = None, **note: Any) -> LedgerEvidence:
        size = self.tree.size if size is None else size
        proof = InclusionProof(index, size, tuple(self.tree.inclusion_proof(index, size)))
        return LedgerEvidence(index, self.entries[index], proof, self.note(size, **note))


def policy(k: int = 2, **changes: Any) -> WitnessPolicy:
    base = WitnessPolicy(LOG.verifier(), tuple(w.verifier() for w in WITNESSES), k)
    return replace(base, **changes)


LEDGER = Log()


# --- what verifies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(7))
def test_evidence_of_every_leaf_verifies_to_its_checkpoint(index: int) -> None:
    evidence = LEDGER.evidence(index)
    checkpoint = verify_ledger_evidence(evidence, policy())
    assert (checkpoint.origin, checkpoint.size) == (ORIGIN, 7)
    assert checkpoint.root_hash == LEDGER.tree.root()
    assert evidence.leaf == leaf_hash(entry_bytes(LEDGER.entries[index]))
    assert evidence.entry_type == "consent.grant" and evidence.body["granted_at"] == T + index


@settings(max_examples=40, deadline=None, derandomize=True)
@given(data=st.data())
def test_evidence_verifies_in_any_tree_size(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=7))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    assert verify_ledger_evidence(LEDGER.evidence(index, size), policy()).size == size


def test_json_round_trip_keeps_everything_and_verifies() -> None:
    evidence = LEDGER.evidence(3)
    obj = json.loads(json.dumps(evidence.to_json()))
    assert set(obj) == {"index", "entry", "leaf_hash", "inclusion_proof", "checkpoint"}
    back = LedgerEvidence.from_json(obj)
    assert back == evidence and back.leaf == evidence.leaf
    read, checkpoint = verify_ledger_evidence_json(obj, policy())
    assert read == evidence and checkpoint == evidence.checkpoint_unverified()


def test_the_policy_comes_from_verifier_key_strings() -> None:
    vkeys = [w.verifier().vkey for w in WITNESSES]
    built = witness_policy(LOG.verifier().vkey, vkeys, 3)
    assert verify_ledger_evidence(LEDGER.evidence(0), built).size == 7
    plain = Ed25519NoteSigner("plain.example", Ed25519PrivateKey.from_seed(b"P" * 32)).verifier().vkey
    assert witness_policy(LOG.verifier().vkey, [plain], 1).witnesses[0].name == "plain.example"
    with pytest.raises(ValueError, match="k must be"):
        witness_policy(LOG.verifier().vkey, vkeys, 4)
    with pytest.raises(MalformedInput):
        witness_policy("not a key", vkeys, 1)


def test_a_verified_note_is_cached_but_the_proof_still_checked() -> None:
    cache: dict[str, Checkpoint] = {}
    evidence = LEDGER.evidence(1)
    verify_ledger_evidence(evidence, policy(), verified_notes=cache)
    assert list(cache) == [evidence.checkpoint_note]
    wrong = LedgerEvidence(2, LEDGER.entries[1], evidence.proof, evidence.checkpoint_note)
    with pytest.raises(ProofMismatch, match="another leaf"):
        verify_ledger_evidence(wrong, policy(), verified_notes=cache)


def test_a_policy_with_a_freshness_rule_is_a_misuse() -> None:
    with pytest.raises(ValueError, match="current time"):
        verify_ledger_evidence(LEDGER.evidence(0), policy(max_age=60))


# --- each rule, broken ------------------------------------------------------------------------------


def _note_edit(edit: Callable[[str], str]) -> Callable[[LedgerEvidence], LedgerEvidence]:
    return lambda e: replace(e, checkpoint_note=edit(e.checkpoint_note))


def _flip_log_signature(note: str) -> str:
    text, _, sigs = note.partition("\n\n")
    lines = sigs.splitlines()
    assert lines[0].startswith("— " + ORIGIN + " ")
    raw = lines[0][-10:]
    lines[0] = lines[0][:-10] + ("A" if raw[0] != "A" else "B") + raw[1:]
    return text + "\n\n" + "\n".join(lines) + "\n"


def _witness_signature_only(note: str) -> str:
    text, _, sigs = note.partition("\n\n")
    return text + "\n\n" + "\n".join(sigs.splitlines()[1:]) + "\n"


OTHER_LOG = Log(log=Ed25519NoteSigner(ORIGIN, Ed25519PrivateKey.from_seed(b"O" * 32)))
OTHER_ORIGIN = Log(origin="elsewhere.example/log")


@dataclass(frozen=True)
class Case:
    name: str
    evidence: Callable[[], LedgerEvidence]
    error: type[AkashiError]
    match: str | None = None
    k: int = 2


CASES = [
    # 1: the checkpoint note and its signatures
    Case("log signature does not verify", lambda: _note_edit(_flip_log_signature)(LEDGER.evidence(2)),
         InvalidSignature),
    Case("checkpoint text edited under the signatures",
         lambda: _note_edit(lambda n: n.replace("\n7\n", "\n6\n", 1))(LEDGER.evidence(2)), InvalidSignature),
    Case("cosigned by witnesses, not signed by the log",
         lambda: _note_edit(_witness_signature_only)(LEDGER.evidence(2)), PolicyError, "log's key"),
    Case("a checkpoint of another log (other key, same name)", lambda: OTHER_LOG.evidence(2), PolicyError,
         "log's key"),
    Case("a checkpoint of another log, witnessed by nobody we know",
         lambda: OTHER_LOG.evidence(2, cosigners=0), UnknownKey),
    Case("a checkpoint for another origin", lambda: OTHER_ORIGIN.evidence(2), KeyStateError, "elsewhere"),
    Case("too few cosignatures", lambda: LEDGER.evidence(2, cosigners=1), PolicyError, "1 of the 2"),
    Case("no cosignature at all", lambda: LEDGER.evidence(2, cosigners=0), PolicyError, "0 of the 1", k=1),
    # 2: the leaf
    Case("entry body edited", lambda: replace(LEDGER.evidence(2), envelope={
        **LEDGER.entries[2], "body": {**LEDGER.entries[2]["body"], "granted_at": 1}}),
        ProofMismatch, "root hash"),
    Case("another entry with this entry's proof",
         lambda: replace(LEDGER.evidence(2), envelope=LEDGER.entries[3]), ProofMismatch, "root hash"),
    # 3: positions
    Case("proof of another leaf", lambda: replace(LEDGER.evidence(2), index=3), ProofMismatch,
         "another leaf"),
    Case("proof for another tree size",
         lambda: replace(LEDGER.evidence(2, 5), checkpoint_note=LEDGER.note(7)), ProofMismatch, "tree size"),
    # 4: the path
    Case("a path hash flipped", lambda: replace(LEDGER.evidence(2), proof=InclusionProof(
        2, 7, (bytes(32), *LEDGER.evidence(2).proof.path[1:]))), ProofMismatch, "root hash"),
    Case("a path hash missing", lambda: replace(LEDGER.evidence(2), proof=InclusionProof(
        2, 7, LEDGER.evidence(2).proof.path[:-1])), ProofMismatch, "needs"),
    Case("a path hash too short", lambda: replace(LEDGER.evidence(2), proof=InclusionProof(
        2, 7, (b"short", *LEDGER.evidence(2).proof.path[1:]))), MalformedInput),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_broken_rule_raises_its_error(case: Case) -> None:
    with pytest.raises(case.error, match=case.match):
        verify_ledger_evidence(case.evidence(), policy(case.k))


def test_a_recorded_leaf_hash_must_be_the_entrys() -> None:
    evidence = LEDGER.evidence(4)
    assert verify_ledger_evidence(evidence, policy(), recorded_leaf=evidence.leaf).size == 7
    with pytest.raises(ProofMismatch, match="recorded leaf hash"):
        verify_ledger_evidence(evidence, policy(), recorded_leaf=bytes(32))
    obj = evidence.to_json() | {"leaf_hash": b64url_encode(bytes(32))}
    with pytest.raises(ProofMismatch, match="recorded leaf hash"):
        verify_ledger_evidence_json(obj, policy())


@pytest.mark.parametrize(
    "change",
    [
        lambda o: [o],
        lambda o: o | {"index": True},
        lambda o: o | {"index": "4"},
        lambda o: {k: v for k, v in o.items() if k != "checkpoint"},
        lambda o: {k: v for k, v in o.items() if k != "entry"},
        lambda o: o | {"entry": {**o["entry"], "v": 2}},
        lambda o: o | {"inclusion_proof": {"leaf_index": 4}},
        lambda o: {k: v for k, v in o.items() if k != "leaf_hash"},
        lambda o: o | {"leaf_hash": "not base64url!"},
    ],
    ids=["array", "bool-index", "text-index", "no-note", "no-entry", "bad-envelope", "bad-proof",
         "no-leaf-hash", "bad-leaf-hash"],
)
def test_malformed_json_is_malformed_input(change: Callable[[dict[str, Any]], Any]) -> None:
    with pytest.raises(MalformedInput):
        verify_ledger_evidence_json(change(LEDGER.evidence(4).to_json()), policy(), what="the proof")


def test_from_json_names_what_it_reads() -> None:
    with pytest.raises(MalformedInput, match=r"^an anchor proof is an object$"):
        LedgerEvidence.from_json([], what="an anchor proof")
    with pytest.raises(MalformedInput, match=r"^ledger evidence has no valid 'entry'$"):
        LedgerEvidence.from_json({"index": 1, "checkpoint": "x"})


@settings(max_examples=150, deadline=None, derandomize=True)
@given(position=st.integers(min_value=0), byte=st.integers(min_value=1, max_value=255))
def test_a_changed_byte_never_verifies_as_other_evidence(position: int, byte: int) -> None:
    """Change one byte of the JSON form: it fails with an akashi error, or it still reads as
    exactly the same evidence under the same checkpoint (never as something else)."""
    original = LEDGER.evidence(5)
    data = bytearray(json.dumps(original.to_json(), ensure_ascii=False).encode())
    data[position % len(data)] ^= byte
    try:
        obj = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return
    try:
        evidence, checkpoint = verify_ledger_evidence_json(obj, policy())
    except AkashiError:
        return
    assert evidence == original and checkpoint == original.checkpoint_unverified()


# --- building from a client's proof ------------------------------------------------------------------


@dataclass(frozen=True)
class Proven:
    """The shape of registry.client.ProvenEntry (the core must not import the registry)."""

    index: int
    envelope: Envelope
    proof: InclusionProof
    checkpoint: Checkpoint


def test_from_proven_keeps_the_note_of_the_checkpoint_it_was_proven_under() -> None:
    evidence = LEDGER.evidence(6)
    proven = Proven(6, LEDGER.entries[6], evidence.proof, evidence.checkpoint_unverified())
    assert LedgerEvidence.from_proven(proven, evidence.checkpoint_note) == evidence
    with pytest.raises(ProofMismatch, match="not the one"):
        LedgerEvidence.from_proven(proven, LEDGER.note(6))


# --- 5: no fork ----------------------------------------------------------------------------------------


def test_two_roots_for_one_size_are_a_fork() -> None:
    forked = Log(8)  # the same first seven grants and one more: a different tree of size 8
    forked.entries[7] = grant(99)
    forked.tree = MemoryTree(entry_bytes(e) for e in forked.entries)
    longer = Log(8)
    ours = verify_ledger_evidence(longer.evidence(7), policy())
    theirs = verify_ledger_evidence(forked.evidence(7), policy())
    earlier = verify_ledger_evidence(LEDGER.evidence(0), policy())
    check_no_fork([ours, earlier, ours])
    forks = ForkCheck()
    forks.add(ours, "on line 2")
    forks.add(earlier, "on line 3")
    message = r"^a checkpoint of size 8 with another root than on line 2: the log forked$"
    with pytest.raises(ProofMismatch, match=message):
        forks.add(theirs, "on line 4")
    with pytest.raises(ProofMismatch, match="forked"):
        check_no_fork([earlier, ours, theirs])
