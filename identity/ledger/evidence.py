"""Ledger evidence: an entry, its inclusion proof and the cosigned checkpoint it leads to.

Records that others must be able to check later — a verifier's APPI export, a holder's
audit file — carry, for each thing they record, the ledger entry that proves it::

    {"index": 7, "entry": {<envelope>}, "leaf_hash": "<base64url>",
     "inclusion_proof": {<specs/inclusion-proof>}, "checkpoint": "<signed note>"}

Such a file is checked offline, with nothing but the log's verifier key and the
witnesses' keys. :func:`verify_ledger_evidence` applies these rules, in order
(RFC 9162 section 2.1.3.2 for the proof, C2SP tlog-checkpoint and tlog-cosignature
for the note):

1. The checkpoint note is signed by the log's key, is a checkpoint of the expected
   origin, and is cosigned by ``k`` distinct witness keys
   (:class:`~identity.ledger.policy.WitnessPolicy`). There is no freshness rule: an
   audit reads checkpoints that were fresh when they were recorded, so the policy
   must have no ``max_age``. Failures: :class:`~identity.errors.InvalidSignature`,
   :class:`~identity.errors.UnknownKey`, :class:`~identity.errors.KeyStateError`
   (another log's origin), :class:`~identity.errors.PolicyError` (the log did not
   sign, too few witnesses).
2. The leaf hash is ``SHA-256(0x00 || JCS(entry))``; a leaf hash recorded beside the
   entry (the JSON form's ``leaf_hash``) must equal it
   (:class:`~identity.errors.ProofMismatch`).
3. The inclusion proof is for the evidence's leaf index and the checkpoint's tree
   size (:class:`~identity.errors.ProofMismatch`).
4. The proof leads from the leaf hash to the checkpoint's root hash
   (:class:`~identity.errors.ProofMismatch`; a malformed proof is
   :class:`~identity.errors.MalformedInput`).

Across many pieces of evidence of one log, :class:`ForkCheck` applies

5. Checkpoints of the same size have the same root: a log that signed two different
   trees of one size forked, and one file can show it
   (:class:`~identity.errors.ProofMismatch`).

What the entry *says* — that it is the consent, anchor or notice a record speaks
of — is for the caller to check against the returned evidence's envelope. The
entry's own signature is not checked here: inclusion shows that the log accepted it
under the consortium rules, which check that signature with the signer's key state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.errors import MalformedInput, ProofMismatch
from identity.ledger.checkpoint import Checkpoint, parse_checkpoint_body
from identity.ledger.cosignature import COSIGNATURE_V1, CosignatureVerifier
from identity.ledger.envelope import entry_bytes, parse_envelope
from identity.ledger.merkle import leaf_hash
from identity.ledger.note import Ed25519NoteVerifier, NoteVerifier, parse_note_unverified, parse_vkey
from identity.ledger.policy import WitnessPolicy
from identity.ledger.proofs import InclusionProof, parse_inclusion_proof

__all__ = [
    "ForkCheck",
    "LedgerEvidence",
    "ProvenEntryLike",
    "check_no_fork",
    "verify_ledger_evidence",
    "verify_ledger_evidence_json",
    "witness_policy",
    "witness_verifier",
]


class ProvenEntryLike(Protocol):
    """What :meth:`LedgerEvidence.from_proven` reads: an entry a client proved included
    (``registry.client.ProvenEntry`` has this shape; the core does not import it)."""

    @property
    def index(self) -> int: ...

    @property
    def envelope(self) -> Mapping[str, Any]: ...

    @property
    def proof(self) -> InclusionProof: ...

    @property
    def checkpoint(self) -> Checkpoint: ...


@dataclass(frozen=True, slots=True)
class LedgerEvidence:
    """A ledger entry, its inclusion proof and the signed checkpoint note the proof leads to.

    Constructing one checks nothing about trust: :func:`verify_ledger_evidence` does.
    """

    index: int
    envelope: Mapping[str, Any]
    proof: InclusionProof
    checkpoint_note: str
    #: The entry's leaf hash, computed once: a file may repeat one entry on many rows.
    leaf: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "leaf", leaf_hash(entry_bytes(self.envelope)))

    @classmethod
    def from_proven(cls, entry: ProvenEntryLike, note: str) -> LedgerEvidence:
        """Keep a proven entry with ``note``, the signed note of the checkpoint it was proven
        under; :class:`ProofMismatch` if the note's checkpoint is another one."""
        body = parse_checkpoint_body(parse_note_unverified(note).text)
        if body != entry.checkpoint:
            raise ProofMismatch("the checkpoint note is not the one the entry was proven under")
        return cls(entry.index, dict(entry.envelope), entry.proof, note)

    @property
    def entry_type(self) -> str:
        """The entry's ``type`` (``consent.grant``, ``mailbox.ack``, …)."""
        return str(self.envelope["type"])

    @property
    def body(self) -> Mapping[str, Any]:
        """The entry's ``body``."""
        body: Mapping[str, Any] = self.envelope["body"]
        return body

    def checkpoint_unverified(self) -> Checkpoint:
        """The checkpoint the note claims, read *without* checking its signatures
        (for display, e.g. a spreadsheet summary; trust needs :func:`verify_ledger_evidence`)."""
        return parse_checkpoint_body(parse_note_unverified(self.checkpoint_note).text)

    def to_json(self) -> dict[str, Any]:
        """``{index, entry, leaf_hash, inclusion_proof, checkpoint}``."""
        return {
            "index": self.index,
            "entry": dict(self.envelope),
            "leaf_hash": b64url_encode(self.leaf),
            "inclusion_proof": self.proof.to_json(),
            "checkpoint": self.checkpoint_note,
        }

    @classmethod
    def from_json(cls, obj: Any, *, what: str = "ledger evidence") -> LedgerEvidence:
        """Read :meth:`to_json`'s object back: its shape only (the envelope's and the proof's
        syntax), not its trust. ``what`` names it in error messages. The recorded
        ``leaf_hash`` is not read here: :func:`verify_ledger_evidence_json` compares it."""
        if not isinstance(obj, Mapping):
            raise MalformedInput(f"{what} is an object")
        index, note = obj.get("index"), obj.get("checkpoint")
        if isinstance(index, bool) or not isinstance(index, int) or not isinstance(note, str):
            raise MalformedInput(f"{what} needs an integer 'index' and a 'checkpoint' note")
        envelope = parse_envelope(_member(obj, "entry", Mapping, what))
        proof = parse_inclusion_proof(_member(obj, "inclusion_proof", Mapping, what))
        return cls(index, envelope, proof, note)


def _member(obj: Mapping[str, Any], name: str, kind: type[Any], what: str) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind):
        raise MalformedInput(f"{what} has no valid {name!r}")
    return value


def witness_policy(
    log_vkey: str, witness_vkeys: Sequence[str], k: int, *, origin: str | None = None
) -> WitnessPolicy:
    """The policy "signed by the log key ``log_vkey``, cosigned by ``k`` of ``witness_vkeys``",
    from verifier key strings; a witness key may be a tlog-cosignature (type 0x04) or a plain
    Ed25519 note key. ``origin`` is the checkpoints' origin line when it differs from the log
    key's name. Bad keys raise :class:`MalformedInput`; an impossible ``k``, ``ValueError``."""
    return WitnessPolicy(
        Ed25519NoteVerifier.from_vkey(log_vkey),
        tuple(witness_verifier(v) for v in witness_vkeys),
        k,
        origin=origin,
    )


def witness_verifier(vkey: str) -> NoteVerifier:
    """The note verifier of a witness key string: a tlog-cosignature key (type 0x04) or a
    plain Ed25519 note key (0x01); :class:`MalformedInput` for anything else."""
    if parse_vkey(vkey, derived_id_types=()).sig_type == COSIGNATURE_V1:
        return CosignatureVerifier.from_vkey(vkey)
    return Ed25519NoteVerifier.from_vkey(vkey)


def _verified_checkpoint(
    note: str, policy: WitnessPolicy, verified_notes: MutableMapping[str, Checkpoint] | None
) -> Checkpoint:
    # A note is verified once per file: many records share one checkpoint. The cache is
    # keyed by the exact note text, so it only ever answers for the bytes it verified.
    checkpoint = None if verified_notes is None else verified_notes.get(note)
    if checkpoint is None:
        checkpoint = policy.verify(note)  # 1 (no ``now``: no freshness)
        if verified_notes is not None:
            verified_notes[note] = checkpoint
    return checkpoint


def verify_ledger_evidence(
    evidence: LedgerEvidence,
    policy: WitnessPolicy,
    *,
    recorded_leaf: bytes | None = None,
    verified_notes: MutableMapping[str, Checkpoint] | None = None,
) -> Checkpoint:
    """The verified checkpoint ``evidence`` leads to, if rules 1-4 hold; raise otherwise.

    ``recorded_leaf`` is a leaf hash stored beside the entry, which must be the entry's.
    ``verified_notes`` caches verified notes across calls; use one cache per policy.
    A policy with ``max_age`` raises ``ValueError``: evidence has no "now".
    """
    checkpoint = _verified_checkpoint(evidence.checkpoint_note, policy, verified_notes)  # 1
    if recorded_leaf is not None and recorded_leaf != evidence.leaf:  # 2
        raise ProofMismatch("the recorded leaf hash is not SHA-256(0x00 || JCS(entry))")
    proof = evidence.proof
    if (proof.leaf_index, proof.tree_size) != (evidence.index, checkpoint.size):  # 3
        raise ProofMismatch("the inclusion proof is for another leaf or tree size")
    proof.verify(evidence.leaf, checkpoint.root_hash)  # 4
    return checkpoint


def verify_ledger_evidence_json(
    obj: Any,
    policy: WitnessPolicy,
    *,
    what: str = "ledger evidence",
    verified_notes: MutableMapping[str, Checkpoint] | None = None,
) -> tuple[LedgerEvidence, Checkpoint]:
    """Read evidence in its JSON form and check it (rules 1-4, the recorded ``leaf_hash``
    included); the evidence and the verified checkpoint it leads to."""
    evidence = LedgerEvidence.from_json(obj, what=what)
    cache: MutableMapping[str, Checkpoint] = {} if verified_notes is None else verified_notes
    # Rule 1 before the recorded leaf hash is even read, so that a file's failures are
    # reported in rule order.
    _verified_checkpoint(evidence.checkpoint_note, policy, cache)
    recorded = b64url_decode(_member(obj, "leaf_hash", str, what), what="leaf_hash")
    checkpoint = verify_ledger_evidence(evidence, policy, recorded_leaf=recorded, verified_notes=cache)
    return evidence, checkpoint


class ForkCheck:
    """Rule 5 across many verified checkpoints: one log, one root per tree size.

    Feed it only checkpoints that met the trust policy; ``where`` says where each was
    seen (e.g. ``"on line 3"``), and the error names the first place of a conflicting one.
    """

    def __init__(self) -> None:
        self._roots: dict[tuple[str, int], tuple[bytes, str]] = {}

    def add(self, checkpoint: Checkpoint, where: str) -> None:
        """Remember ``checkpoint``; :class:`ProofMismatch` if its size was seen with another root."""
        key = (checkpoint.origin, checkpoint.size)
        root, first = self._roots.setdefault(key, (checkpoint.root_hash, where))
        if root != checkpoint.root_hash:  # 5
            raise ProofMismatch(
                f"a checkpoint of size {checkpoint.size} with another root than {first}: the log forked"
            )


def check_no_fork(checkpoints: Iterable[Checkpoint]) -> None:
    """Rule 5 for a collection of verified checkpoints; :class:`ProofMismatch` on a fork."""
    fork_check = ForkCheck()
    for number, checkpoint in enumerate(checkpoints, start=1):
        fork_check.add(checkpoint, f"checkpoint {number}")
