"""The registry's HTTP client: the only door other roles use, and it trusts no node.

Every answer is checked before it is returned (ARCHITECTURE.md, "The log"):

1. A checkpoint verifies under the log's key with the expected origin, and at
   least ``k`` distinct witnesses cosigned it, fresh enough (:class:`ClientTrust`).
2. Every new checkpoint is consistent with the last one this client saw (kept in
   memory and, optionally, in a small JSON file): a smaller one (rolled back) or
   a different root at the same size (forked) raises :class:`ProofMismatch`, and
   the kept checkpoint is not replaced.
3. A query answer names the checkpoint it was computed at. That note is verified
   as in 1; if no witness quorum cosigned it (the node serves its bare log
   signature), it must be a prefix of a checkpoint that meets rule 1.
4. Every entry an answer relies on is included (RFC 9162 proof of the JCS leaf,
   :func:`~identity.ledger.envelope.entry_bytes`) in the tree of rule 3.
5. A DID document is recomputed by replaying the proven key events
   (:func:`~identity.did.akashi.replay`) and must equal the one served.
6. A state record must agree with the proven entry that last changed it; a
   trust-registry member without an entry must be one of the genesis members.

What the log cannot prove: that an included entry is the *latest* one (a node
may hide a later rotation or revocation), nor that a member list is complete.

The mailbox (``send_update``, ``fetch_messages``, ``ack_message``) follows the same
rules; what a fetched message must satisfy is in :mod:`registry.mailbox_client`.

Errors: problem documents become the matching :mod:`identity.errors` class
(``RejectedByRules`` keeps its ``rule``); transport failures :class:`RemoteError`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from identity.crypto.encoding import b64encode_std, b64url_decode, b64url_encode
from identity.crypto.keys import Ed25519PrivateKey
from identity.crypto.strict_json import loads_object
from identity.did.akashi import replay, resolve_did_akashi
from identity.did.key_events import KeyState
from identity.did.url import parse_did_url
from identity.errors import (
    PROBLEM_TYPES,
    AkashiError,
    MalformedInput,
    PolicyError,
    ProofMismatch,
    RejectedByRules,
    RemoteError,
    SchemaViolation,
)
from identity.ledger.checkpoint import Checkpoint, verify_checkpoint
from identity.ledger.cosignature import COSIGNATURE_V1, CosignatureVerifier
from identity.ledger.envelope import Envelope, entry_bytes, entry_digest, parse_envelope, split_signer
from identity.ledger.merkle import leaf_hash
from identity.ledger.note import Ed25519NoteVerifier, NoteVerifier, parse_note_unverified, parse_vkey
from identity.ledger.policy import WitnessPolicy
from identity.ledger.proofs import InclusionProof, parse_consistency_proof, parse_inclusion_proof
from identity.schemas import validate
from registry.genesis import Genesis, parse_genesis
from registry.mailbox_client import (
    MailboxMessage,
    MailboxReceipt,
    check_message,
    mailbox_ack_entry,
    parse_cursor,
    signed_fetch_headers,
)
from registry.state import (
    ATTESTATION,
    CONSENT,
    MEMBER,
    NOTICE,
    RECORD_SCHEMAS,
    Attestation,
    Consent,
    Member,
    Notice,
)

__all__ = [
    "Attestation", "ClientTrust", "Consent", "MailboxMessage", "MailboxReceipt", "Member", "Notice", "Proven",
    "ProvenEntry", "ProvenNotice", "Receipt", "RegistryClient", "ResolvedDid", "VerifiedCheckpoint",
    "error_from_problem", "mailbox_ack_entry",
]

R = TypeVar("R")
#: Most messages in one mailbox post (the node's ``registry.mailbox.MAX_BATCH``).
MAILBOX_BATCH = 100


@dataclass(frozen=True, slots=True)
class ClientTrust:
    """Whom to believe: the log (origin, C2SP verifier key), ``k`` of the ``witnesses``
    (C2SP verifier keys), ``max_age`` seconds for cosignatures, the genesis members.

    ``k`` is at least 1; ``k == 0`` (the log's signature alone, for a single dev node)
    is built only by :meth:`unsafe_log_signature_only`.
    """

    origin: str
    log_key: str
    witnesses: tuple[str, ...]
    k: int
    max_age: int | None = None
    genesis_members: tuple[Member, ...] = ()
    unsafe_no_witnesses: bool = False

    def __post_init__(self) -> None:
        if self.k == 0 and not self.unsafe_no_witnesses:
            raise ValueError("k=0 trusts the log alone: use ClientTrust.unsafe_log_signature_only")
        if self.k != 0 or self.witnesses or self.max_age is not None:
            self.policy()  # refuses an impossible k, a witness with the log's key

    @classmethod
    def from_genesis(
        cls, genesis: Genesis, witnesses: Sequence[str], k: int, *, max_age: int | None = None
    ) -> ClientTrust:
        """The trust in the log a genesis file describes, with its initial members."""
        return cls(genesis.origin, genesis.log_key, tuple(witnesses), k, max_age, genesis.members)

    @classmethod
    def from_genesis_document(
        cls, document: Mapping[str, Any], witnesses: Sequence[str], k: int, *, max_age: int | None = None
    ) -> ClientTrust:
        """:meth:`from_genesis` for the genesis file's JSON (checked as the registry checks it);
        with ``k`` = 0, the unsafe log-signature-only trust."""
        genesis = parse_genesis(document)
        if k == 0:
            members = genesis.members
            return cls.unsafe_log_signature_only(genesis.origin, genesis.log_key, genesis_members=members)
        return cls.from_genesis(genesis, witnesses, k, max_age=max_age)

    @classmethod
    def unsafe_log_signature_only(
        cls, origin: str, log_key: str, *, genesis_members: tuple[Member, ...] = ()
    ) -> ClientTrust:
        """UNSAFE: accept checkpoints the log alone signed. A log key holder can then show
        this client a tree nobody else sees; for a single-node development setup only."""
        return cls(origin, log_key, (), 0, None, genesis_members, unsafe_no_witnesses=True)

    def log_verifier(self) -> Ed25519NoteVerifier:
        """The log's note key."""
        return Ed25519NoteVerifier.from_vkey(self.log_key)

    def witness_verifiers(self) -> tuple[NoteVerifier, ...]:
        """The witness keys: v1 cosignature (0x04) or plain Ed25519 note keys."""
        return tuple(
            CosignatureVerifier.from_vkey(v)
            if parse_vkey(v, derived_id_types=()).sig_type == COSIGNATURE_V1
            else Ed25519NoteVerifier.from_vkey(v)
            for v in self.witnesses
        )

    def policy(self) -> WitnessPolicy:
        """The k-of-n policy (only for ``k >= 1``)."""
        verifiers = self.witness_verifiers()
        return WitnessPolicy(self.log_verifier(), verifiers, self.k, max_age=self.max_age, origin=self.origin)


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    """A checkpoint that met the trust policy: tree head, note, names of verified cosigners."""

    checkpoint: Checkpoint
    note: str
    cosigners: tuple[str, ...]

    @property
    def size(self) -> int:
        """Tree size."""
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        """Root hash."""
        return self.checkpoint.root_hash


@dataclass(frozen=True, slots=True)
class ProvenEntry:
    """A log entry shown included, by ``proof``, in the tree head ``checkpoint``."""

    index: int
    envelope: Envelope
    leaf_hash: bytes
    proof: InclusionProof
    checkpoint: Checkpoint


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where a submitted entry is; with ``prove``, its verified inclusion proof."""

    index: int
    leaf_hash: bytes
    tree_size: int
    duplicate: bool
    proof: InclusionProof | None = None
    checkpoint: VerifiedCheckpoint | None = None


@dataclass(frozen=True, slots=True)
class ResolvedDid:
    """A did:akashi's DID document (None once deactivated) and key state, from proven events."""

    did: str
    document: dict[str, Any] | None
    state: KeyState
    events: tuple[ProvenEntry, ...]


@dataclass(frozen=True, slots=True)
class Proven(Generic[R]):
    """A state record and the proven entry that last changed it (None: a genesis member)."""

    record: R
    entry: ProvenEntry | None


@dataclass(frozen=True, slots=True)
class ProvenNotice:
    """A mailbox notice as the sender follows it: the record and the proven entry that last
    changed it (the ``mailbox.notice``, or once acknowledged the recipient's ``mailbox.ack``),
    both checked (rule 6); and, unproven, the node's word on the ciphertext: ``held`` (the
    node still keeps it) and ``delivered_at`` (when the node first served it to the
    recipient; None if not yet, or no longer held)."""

    record: Notice
    entry: ProvenEntry
    held: bool
    delivered_at: int | None

    @property
    def reason(self) -> str | None:
        """The recipient's reason code for a rejected update (from its proven ack), else None."""
        if self.entry.envelope["type"] != "mailbox.ack":
            return None
        reason: str | None = self.entry.envelope["body"].get("reason")
        return reason


def _subclasses(cls: type[AkashiError]) -> list[type[AkashiError]]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _subclasses(sub))]


#: problem type URI -> exception class
_PROBLEM_CLASSES = {PROBLEM_TYPES[c.code].uri: c for c in _subclasses(AkashiError) if c.code in PROBLEM_TYPES}


def error_from_problem(problem: Mapping[str, Any]) -> AkashiError:
    """The :mod:`identity.errors` exception a problem document describes (else RemoteError)."""
    detail = str(problem.get("detail") or problem.get("title") or "the registry refused the request")
    cls = _PROBLEM_CLASSES.get(str(problem.get("type")))
    if cls is None:
        return RemoteError(f"the registry answered: {detail}")
    if cls is RejectedByRules:
        return RejectedByRules(detail, rule=str(problem.get("rule", "")))
    if cls is SchemaViolation:
        return SchemaViolation(detail, path=str(problem.get("pointer", "")))
    return cls(detail)


def _get(obj: Mapping[str, Any], name: str, kind: type[Any] | tuple[type[Any], ...]) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise MalformedInput(f"the registry's answer has no valid {name!r}")
    return value


def _delivery(obj: Mapping[str, Any]) -> tuple[bool, int | None]:
    """``(held, delivered_at)`` of a notice answer's ``mailbox`` object (shape only: the node's
    word, which nothing proves)."""
    held = _get(obj, "held", bool)
    if "delivered_at" not in obj:
        raise MalformedInput("the registry's answer has no valid 'delivered_at'")
    delivered_at = obj["delivered_at"]
    if delivered_at is not None:
        delivered_at = _get(obj, "delivered_at", int)
        if delivered_at < 0:
            raise MalformedInput("the registry's answer has no valid 'delivered_at'")
    return held, delivered_at


def _mismatch(what: str) -> ProofMismatch:
    return ProofMismatch(f"the registry's answer does not match the log: {what}")


class RegistryClient:
    """Talks to one registry node and verifies everything it says (module docstring).

    ``client`` (e.g. Starlette's TestClient) replaces the HTTP client built for
    ``base_url``; ``state_file`` keeps the last verified checkpoint across restarts;
    ``cosign_wait`` is how long to wait for witnesses to cosign a new checkpoint.
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        client: httpx.Client | None = None,
        trust: ClientTrust,
        state_file: Path | None = None,
        clock: Callable[[], float] = time.time,
        cosign_wait: float = 5.0,
        timeout: float = 10.0,
    ) -> None:
        self.trust = trust
        self._http = client if client is not None else httpx.Client(base_url=base_url, timeout=timeout)
        self._owns_http = client is None
        self._prefix = base_url.rstrip("/") if client is not None else ""
        self._log = trust.log_verifier()
        self._witness_ids = {(w.name, w.key_id) for w in trust.witness_verifiers()}
        self._policy = trust.policy() if trust.k else None
        self._state_file = state_file
        self._clock = clock
        self._cosign_wait = cosign_wait
        self._timeout = timeout
        self._lock = threading.RLock()
        self._last: VerifiedCheckpoint | None = None
        if state_file is not None and state_file.exists():
            self._last = self._load_state(state_file)

    def close(self) -> None:
        """Close the HTTP client if this client made it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def last_checkpoint(self) -> VerifiedCheckpoint | None:
        """The newest checkpoint this client verified (rules 1-2)."""
        return self._last

    # ------------------------------------------------------------------ checkpoints

    def checkpoint(self) -> VerifiedCheckpoint:
        """The node's latest checkpoint, verified (rule 1) and consistent with the last seen (2)."""
        verified = self._verify_note(self._request("GET", "/checkpoint").content)
        self._advance(verified, latest=True)
        return verified

    def _verify_note(self, note: bytes) -> VerifiedCheckpoint:
        if self._policy is None:  # unsafe_log_signature_only
            checkpoint = verify_checkpoint(note, self._log, origin=self.trust.origin)
        else:
            checkpoint = self._policy.verify(note, now=int(self._clock()))  # 1
        signatures = parse_note_unverified(note).signatures  # every known one verified above
        cosigners = tuple(s.name for s in signatures if (s.name, s.key_id) in self._witness_ids)
        return VerifiedCheckpoint(checkpoint, note.decode("utf-8"), cosigners)

    def _advance(self, new: VerifiedCheckpoint, *, latest: bool) -> None:
        """Rule 2: keep ``new`` if it extends the last checkpoint seen; refuse a fork or rollback."""
        with self._lock:
            last = self._last
            if last is not None and new.size < last.size:
                if latest:
                    raise _mismatch(f"the log was rolled back from size {last.size} to {new.size}")
                self._consistency(new.checkpoint, last.checkpoint)  # an older head: a prefix of ours
                return
            if last is not None:
                if new.note == last.note:
                    return
                self._consistency(last.checkpoint, new.checkpoint)
            self._last = new
            if self._state_file is not None:
                self._save_state(self._state_file, new)

    def _consistency(self, old: Checkpoint, new: Checkpoint) -> None:
        if old.size == new.size:
            if old.root_hash != new.root_hash:
                raise _mismatch(f"two different trees of size {new.size}: the log forked")
            return
        if old.size == 0:
            return
        answer = self._request("GET", "/proofs/consistency", params={"from": old.size, "to": new.size})
        proof = parse_consistency_proof(answer.content)
        if (proof.tree_size_1, proof.tree_size_2) != (old.size, new.size):
            raise _mismatch("a consistency proof for other tree sizes")
        proof.verify(old.root_hash, new.root_hash)

    def _cosigned(self, min_size: int) -> VerifiedCheckpoint:
        """A checkpoint meeting the policy and covering ``min_size`` leaves, waiting for witnesses."""
        deadline = time.monotonic() + self._cosign_wait
        while True:
            try:
                verified = self.checkpoint()
                if verified.size >= min_size:
                    return verified
                failure: AkashiError = _mismatch(f"the checkpoint does not cover entry {min_size - 1}")
            except PolicyError as error:  # not cosigned yet, perhaps
                failure = error
            if time.monotonic() >= deadline:
                raise failure
            time.sleep(0.05)

    def _answer_checkpoint(self, note: str) -> Checkpoint:
        """Rule 3: the tree head a query answer was computed at, tied to a trusted checkpoint."""
        data = note.encode("utf-8")
        try:
            verified = self._verify_note(data)
        except PolicyError:
            checkpoint = verify_checkpoint(data, self._log, origin=self.trust.origin)
            trusted = self._last
            if trusted is None or trusted.size < checkpoint.size:
                trusted = self._cosigned(checkpoint.size)
            self._consistency(checkpoint, trusted.checkpoint)
            return checkpoint
        self._advance(verified, latest=False)
        return verified.checkpoint

    def _load_state(self, path: Path) -> VerifiedCheckpoint:
        try:
            data = loads_object(path.read_bytes(), what="client state file")
        except OSError as exc:
            raise MalformedInput(f"cannot read the client state file {path}: {exc}") from exc
        note = _get(data, "note", str).encode("utf-8")
        # Our own file, and still checked: a corrupted or foreign one must not become the anchor.
        checkpoint = verify_checkpoint(note, self._log, origin=self.trust.origin)
        return VerifiedCheckpoint(checkpoint, note.decode("utf-8"), ())

    @staticmethod
    def _save_state(path: Path, checkpoint: VerifiedCheckpoint) -> None:
        root = b64encode_std(checkpoint.root)
        record = {"v": 1, "size": checkpoint.size, "root": root, "note": checkpoint.note}
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        os.replace(temporary, path)  # atomic: a crash leaves the old or the new file

    # ------------------------------------------------------------------ HTTP

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._send(method, path, self._http.build_request(method, self._prefix + path, **kwargs))

    def _send(self, method: str, path: str, request: httpx.Request) -> httpx.Response:
        try:
            response = self._http.send(request)
        except httpx.HTTPError as exc:
            raise RemoteError(f"the registry could not be reached ({method} {path}): {exc}") from exc
        if response.status_code >= 400:
            if response.headers.get("content-type", "").startswith("application/problem+json"):
                try:
                    problem = loads_object(response.content, what="problem document")
                except MalformedInput:
                    problem = {}
                raise error_from_problem(problem)
            raise RemoteError(f"the registry answered HTTP {response.status_code} to {method} {path}")
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return loads_object(self._request(method, path, **kwargs).content, what="registry answer")

    # ------------------------------------------------------------------ entries

    def submit(self, envelope: Mapping[str, Any], *, prove: bool = True) -> Receipt:
        """Append one entry; with ``prove``, verify it is included in a trusted checkpoint."""
        leaf = entry_bytes(envelope)
        answer = self._json("POST", "/entries", content=leaf, headers={"content-type": "application/json"})
        receipt = self._receipt(answer, leaf_hash(leaf))
        return self._prove_receipts([receipt])[0] if prove else receipt

    def submit_batch(
        self, envelopes: Sequence[Mapping[str, Any]], *, prove: bool = True
    ) -> list[Receipt | AkashiError]:
        """Append entries in one request: a receipt or the refusal of each, in order."""
        leaves = [entry_bytes(e) for e in envelopes]
        body = b'{"entries":[' + b",".join(leaves) + b"]}"
        params = {"prove": "true"} if prove else None
        answer = self._json(
            "POST", "/entries", content=body, headers={"content-type": "application/json"}, params=params
        )
        results = _get(answer, "results", list)
        if len(results) != len(leaves):
            raise MalformedInput("the registry answered a batch with the wrong number of results")
        outcomes: list[Receipt | AkashiError] = []
        for result, leaf in zip(results, leaves, strict=True):
            if isinstance(result, dict) and isinstance(result.get("problem"), dict):
                outcomes.append(error_from_problem(result["problem"]))
            else:
                accepted = _get(result if isinstance(result, dict) else {}, "accepted", dict)
                outcomes.append(self._receipt(accepted, leaf_hash(leaf)))
        receipts = [o for o in outcomes if isinstance(o, Receipt)]
        if prove and receipts and isinstance(answer.get("checkpoint"), str):
            inline = self._inline_proofs(answer, results, outcomes)
            if inline is not None:
                return inline
        if prove and receipts:
            proven = iter(self._prove_receipts(receipts))
            outcomes = [next(proven) if isinstance(o, Receipt) else o for o in outcomes]
        return outcomes

    def _inline_proofs(
        self, answer: Mapping[str, Any], results: list[Any], outcomes: list[Receipt | AkashiError]
    ) -> list[Receipt | AkashiError] | None:
        """Receipts proven by the proofs the node sent with its answer (verified here like any
        other: the checkpoint against the policy and the last one seen, each proof against it);
        None if the answer lacks a proof, so the caller fetches them."""
        try:
            trusted = self._verify_note(answer["checkpoint"].encode("utf-8"))
        except PolicyError:
            return None  # not cosigned yet: fall back to waiting for the witnesses
        self._advance(trusted, latest=True)
        proven: list[Receipt | AkashiError] = []
        for outcome, result in zip(outcomes, results, strict=True):
            if not isinstance(outcome, Receipt):
                proven.append(outcome)
                continue
            raw = result.get("accepted", {}).get("inclusion_proof") if isinstance(result, dict) else None
            if raw is None:
                return None
            proof = parse_inclusion_proof(json.dumps(raw))
            if (proof.leaf_index, proof.tree_size) != (outcome.index, trusted.size):
                raise _mismatch("an inclusion proof for another leaf or tree size")
            proof.verify(outcome.leaf_hash, trusted.root)
            proven.append(replace(outcome, proof=proof, checkpoint=trusted))
        return proven

    @staticmethod
    def _receipt(answer: Mapping[str, Any], expected: bytes) -> Receipt:
        if b64url_decode(_get(answer, "leaf_hash", str), what="leaf_hash") != expected:
            raise _mismatch("the accepted leaf is not the entry submitted")
        index, size = _get(answer, "index", int), _get(answer, "tree_size", int)
        return Receipt(index, expected, size, _get(answer, "duplicate", bool))

    def _prove_receipts(self, receipts: list[Receipt]) -> list[Receipt]:
        trusted = self._cosigned(max(r.index for r in receipts) + 1)
        head = trusted.checkpoint
        return [
            replace(r, proof=self._inclusion(r.index, r.leaf_hash, head), checkpoint=trusted)
            for r in receipts
        ]

    def _inclusion(self, index: int, leaf: bytes, head: Checkpoint) -> InclusionProof:
        answer = self._request("GET", "/proofs/inclusion", params={"index": index, "tree_size": head.size})
        proof = parse_inclusion_proof(answer.content)
        if (proof.leaf_index, proof.tree_size) != (index, head.size):
            raise _mismatch("an inclusion proof for another leaf or tree size")
        proof.verify(leaf, head.root_hash)  # 4
        return proof

    def entry(self, index: int) -> ProvenEntry:
        """The entry at ``index``, with its inclusion proof verified against a trusted checkpoint."""
        return self._entry_under(index, self._cosigned(index + 1).checkpoint)

    def _entry_under(self, index: int, head: Checkpoint) -> ProvenEntry:
        """:meth:`entry`, proven in the trusted tree head ``head`` (which covers ``index``)."""
        answer = self._json("GET", f"/entries/{int(index)}")
        if _get(answer, "index", int) != index:
            raise _mismatch(f"asked for entry {index}, got another")
        envelope = parse_envelope(_get(answer, "entry", dict))
        leaf = leaf_hash(entry_bytes(envelope))
        return ProvenEntry(index, envelope, leaf, self._inclusion(index, leaf, head), head)

    def _proven_entry(self, obj: Any, head: Checkpoint) -> ProvenEntry:
        """Rule 4 for an entry embedded in an answer, with its body checked against its schema."""
        if not isinstance(obj, dict):
            raise MalformedInput("the registry's answer holds an entry that is not an object")
        envelope = parse_envelope(_get(obj, "entry", dict))
        validate(envelope["body"], "entry-" + envelope["type"])
        leaf = leaf_hash(entry_bytes(envelope))
        if b64url_decode(_get(obj, "leaf_hash", str), what="leaf_hash") != leaf:
            raise _mismatch("an entry's leaf hash is not the hash of the entry")
        proof = parse_inclusion_proof(_get(obj, "inclusion_proof", dict))
        if (proof.leaf_index, proof.tree_size) != (_get(obj, "index", int), head.size):
            raise _mismatch("an inclusion proof for another leaf or tree size")
        proof.verify(leaf, head.root_hash)  # 4
        return ProvenEntry(proof.leaf_index, envelope, leaf, proof, head)

    # ------------------------------------------------------------------ DIDs and state

    def resolve_did(self, did: str) -> ResolvedDid:
        """A did:akashi's document, recomputed from its proven key event log (rules 3-5)."""
        answer = self._json("GET", "/dids/" + quote(did, safe=":"))
        if _get(answer, "did", str) != did:
            raise _mismatch(f"asked for {did}, got another DID")
        head = self._answer_checkpoint(_get(answer, "checkpoint", str))
        events = tuple(self._proven_entry(e, head) for e in _get(answer, "key_event_log", list))
        indexes = [e.index for e in events]
        if indexes != sorted(set(indexes)) or any(not e.envelope["type"].startswith("did.") for e in events):
            raise _mismatch("the key event log is not a sequence of DID entries")
        state = replay([e.envelope["body"] for e in events], did=did)  # 5
        document = None if state.deactivated else resolve_did_akashi(state)
        if answer.get("did_document") != document or answer.get("deactivated") is not state.deactivated:
            raise _mismatch(f"the DID document served for {did} is not the one its key events give")
        return ResolvedDid(did, document, state, events)

    def _record(self, kind: str, path: str) -> tuple[dict[str, Any], ProvenEntry | None]:
        return self._record_in(kind, self._json("GET", path))

    def _record_in(self, kind: str, answer: Mapping[str, Any]) -> tuple[dict[str, Any], ProvenEntry | None]:
        """The record of ``kind`` in a lookup answer (schema-checked), and its entry proven (3-4)."""
        record = _get(answer, kind, dict)
        validate(record, RECORD_SCHEMAS[kind])
        head = self._answer_checkpoint(_get(answer, "checkpoint", str))
        entry = answer.get("entry")
        return record, None if entry is None else self._proven_entry(entry, head)

    @staticmethod
    def _changed_by(
        entry: ProvenEntry | None, types: set[str], what: str
    ) -> tuple[ProvenEntry, dict[str, Any]]:
        if entry is None:
            raise _mismatch(f"no entry proves the {what}")
        if entry.envelope["type"] not in types:
            raise _mismatch(f"the {what} was not set by a {' or '.join(sorted(types))} entry")
        return entry, entry.envelope["body"]

    def attestation(self, digest: str) -> Proven[Attestation]:
        """An anchored attestation, equal to its proven ``attestation.anchor`` entry (rule 6)."""
        record, proven = self._record(ATTESTATION, "/attestations/" + quote(digest, safe=""))
        attestation = Attestation.from_json(record)
        entry, body = self._changed_by(proven, {"attestation.anchor"}, "attestation")
        if attestation.digest != digest or Attestation.from_json(body) != attestation:
            raise _mismatch("the attestation record differs from its anchor entry")
        return Proven(attestation, entry)

    def consent(self, digest: str) -> Proven[Consent]:
        """A consent, agreeing with its proven grant or, once revoked, its revocation (rule 6)."""
        record, proven = self._record(CONSENT, "/consents/" + quote(digest, safe=""))
        consent = Consent.from_json(record)
        if consent.revoked_at is None:
            entry, body = self._changed_by(proven, {"consent.grant"}, "consent")
            granted = {f: getattr(consent, f) for f in ("holder", "verifier", "purpose_id", "granted_at",
                                                         "expires_at", "updates_allowed")}
            agrees = {f: body.get(f) for f in granted} == granted
        else:
            entry, body = self._changed_by(proven, {"consent.revoke"}, "revoked consent")
            agrees = body["revoked_at"] == consent.revoked_at
        signer = split_signer(entry.envelope["signer"])[0]
        same_consent = digest == body["receipt_digest"] == consent.digest and signer == consent.holder
        if not (agrees and same_consent):
            raise _mismatch("the consent record differs from its entry")
        return Proven(consent, entry)

    def notice(self, digest: str) -> ProvenNotice:
        """A mailbox notice by its entry digest, agreeing with its proven ``mailbox.notice`` or,
        once acknowledged, with the recipient's proven ``mailbox.ack`` (rule 6); with the node's
        unproven ``held`` and ``delivered_at`` (:class:`ProvenNotice`)."""
        answer = self._json("GET", "/notices/" + quote(digest, safe=""))
        record, proven = self._record_in(NOTICE, answer)
        notice = Notice.from_json(record)
        held, delivered_at = _delivery(_get(answer, "mailbox", dict))
        if notice.digest != digest:
            raise _mismatch(f"asked for notice {digest}, got another")
        if notice.ack_status is None:
            entry, body = self._changed_by(proven, {"mailbox.notice"}, "notice")
            sent = {f: getattr(notice, f) for f in ("recipient", "consent", "ciphertext_digest", "sent_at")}
            # The entry digest ties the entry to the notice asked for; its body, to the record.
            same_notice = b64url_encode(entry_digest(entry.envelope)) == digest
            agrees = same_notice and {f: body.get(f) for f in sent} == sent
        else:
            entry, body = self._changed_by(proven, {"mailbox.ack"}, "acknowledged notice")
            signer = split_signer(entry.envelope["signer"])[0]
            acked = (body["notice"], body["status"], body["acked_at"], signer)
            agrees = acked == (digest, notice.ack_status, notice.acked_at, notice.recipient)
        if not agrees:
            raise _mismatch("the notice record differs from its entry")
        return ProvenNotice(notice, entry, held, delivered_at)

    def member(self, did: str) -> Proven[Member]:
        """A trust-registry member, agreeing with its proven member entry or the genesis (rule 6)."""
        record, proven = self._record(MEMBER, "/members/" + quote(did, safe=":"))
        member = Member.from_json(record)
        if member.did != did:
            raise _mismatch(f"asked for member {did}, got another")
        if proven is None and member in self.trust.genesis_members:
            return Proven(member, None)
        entry, body = self._changed_by(proven, {"member.add", "member.update", "member.remove"}, "member")
        stated = body["member"]
        if entry.envelope["type"] == "member.remove":
            agrees = not member.active and (stated["did"], stated["version"]) == (did, member.version)
        else:
            agrees = Member.from_body(stated) == member
        if not agrees:
            raise _mismatch("the member record differs from its entry")
        return Proven(member, entry)

    def members(self) -> list[Proven[Member]]:
        """Every member the node lists, each proven as by :meth:`member` (completeness is not provable)."""
        listed = _get(self._json("GET", "/members"), "members", list)
        proven: list[Proven[Member]] = []
        for obj in listed:
            if not isinstance(obj, dict):
                raise MalformedInput("the registry's member list holds a non-object")
            validate(obj, RECORD_SCHEMAS[MEMBER])
            one = self.member(Member.from_json(obj).did)
            if one.record != Member.from_json(obj):
                raise _mismatch("the member list differs from the member's own record")
            proven.append(one)
        return proven

    # ------------------------------------------------------------------ mailbox

    def send_update(
        self, notice: Mapping[str, Any], ciphertext: bytes, *, prove: bool = True
    ) -> MailboxReceipt:
        """Post a sealed update with its signed ``mailbox.notice`` (POST /mailbox/messages); with
        ``prove``, verify the notice is included in a trusted checkpoint. The ledger rules
        may refuse the notice (:class:`RejectedByRules` with the rule's id)."""
        leaf = entry_bytes(notice)
        body = b'{"notice":' + leaf + b',"ciphertext":"' + b64url_encode(ciphertext).encode("ascii") + b'"}'
        answer = self._json(
            "POST", "/mailbox/messages", content=body, headers={"content-type": "application/json"}
        )
        validate(answer, "mailbox-post-response")
        if answer["id"] != b64url_encode(entry_digest(notice)):
            raise _mismatch("the mailbox answered for another notice")
        receipt = self._receipt(answer, leaf_hash(leaf))
        if prove:
            receipt = self._prove_receipts([receipt])[0]
        return MailboxReceipt(answer["id"], answer["held"], receipt)

    def send_updates(
        self, items: Sequence[tuple[Mapping[str, Any], bytes]], *, prove: bool = True
    ) -> list[MailboxReceipt | AkashiError]:
        """Post sealed updates with their signed notices in batches of up to 100 (one holder's
        update fanned out to many operators: one ledger commit per batch); for each, in order,
        its receipt or why the node refused it (e.g. :class:`RejectedByRules`). With ``prove``,
        each notice is shown included in a trusted checkpoint (from the proofs the node sends
        with its answer, or fetched)."""
        outcomes: list[MailboxReceipt | AkashiError] = []
        for start in range(0, len(items), MAILBOX_BATCH):
            outcomes += self._send_batch(items[start : start + MAILBOX_BATCH], prove=prove)
        return outcomes

    def _send_batch(
        self, items: Sequence[tuple[Mapping[str, Any], bytes]], *, prove: bool
    ) -> list[MailboxReceipt | AkashiError]:
        leaves = [entry_bytes(notice) for notice, _ in items]
        messages = [
            b'{"notice":' + leaf + b',"ciphertext":"' + b64url_encode(ciphertext).encode("ascii") + b'"}'
            for leaf, (_, ciphertext) in zip(leaves, items, strict=True)
        ]
        answer = self._json(
            "POST", "/mailbox/messages", content=b'{"messages":[' + b",".join(messages) + b"]}",
            headers={"content-type": "application/json"}, params={"prove": "true"} if prove else None,
        )  # fmt: skip
        validate(answer, "mailbox-post-batch-response")
        results = answer["results"]
        if len(results) != len(items):
            raise MalformedInput("the mailbox answered a batch with the wrong number of results")
        outcomes: list[Receipt | AkashiError] = []
        ids: list[str | None] = []
        for result, leaf, (notice, _) in zip(results, leaves, items, strict=True):
            if "problem" in result:
                outcomes.append(error_from_problem(result["problem"]))
                ids.append(None)
                continue
            posted = result["posted"]
            if posted["id"] != b64url_encode(entry_digest(notice)):
                raise _mismatch("the mailbox answered for another notice")
            outcomes.append(self._receipt(posted, leaf_hash(leaf)))
            ids.append(posted["id"])
        if prove and any(isinstance(o, Receipt) for o in outcomes):
            shaped = [{"accepted": {"inclusion_proof": r.get("inclusion_proof")}} for r in results]
            inline = None
            if isinstance(answer.get("checkpoint"), str) and all(
                r.get("inclusion_proof") is not None for r in results if "posted" in r
            ):
                inline = self._inline_proofs(answer, shaped, outcomes)
            if inline is None:
                proven = iter(self._prove_receipts([o for o in outcomes if isinstance(o, Receipt)]))
                inline = [next(proven) if isinstance(o, Receipt) else o for o in outcomes]
            outcomes = inline
        return [
            MailboxReceipt(str(message_id), result["posted"]["held"], outcome)
            if isinstance(outcome, Receipt) else outcome
            for outcome, message_id, result in zip(outcomes, ids, results, strict=True)
        ]  # fmt: skip

    def fetch_messages(
        self,
        signer_key: Ed25519PrivateKey,
        keyid: str,
        after: str | None = None,
        wait: int = 0,
        *,
        verify: bool = True,
    ) -> tuple[list[MailboxMessage], str]:
        """The messages addressed to ``keyid``'s DID after cursor ``after`` (GET /mailbox/messages,
        signed with ``signer_key``, a key of the DID's ``authentication``), waiting up to ``wait``
        seconds for one; and the cursor to pass next time. With ``verify`` (the default), each
        message is checked against its proven notice (registry/mailbox_client.py rules 1-3)."""
        recipient = parse_did_url(keyid, what="keyid").did
        params: dict[str, str | int] = {"wait": wait}
        if parse_cursor(after) is not None:
            params["after"] = str(after)
        request = self._http.build_request(
            "GET", self._prefix + "/mailbox/messages", params=params, timeout=self._timeout + wait
        )
        now = int(self._clock())
        signed = signed_fetch_headers(target_uri=str(request.url), key=signer_key, keyid=keyid, now=now)
        request.headers.update(signed)
        answer = loads_object(self._send("GET", "/mailbox/messages", request).content, what="mailbox answer")
        validate(answer, "mailbox-messages")  # 1
        cursor = answer["cursor"]
        if after is not None and int(cursor) < int(after):
            raise _mismatch("the mailbox cursor went back")
        objs = answer["messages"]
        if not verify:
            return [
                MailboxMessage(o["id"], o["notice_index"], b64url_decode(o["ciphertext"]), o["sent_at"])
                for o in objs
            ], cursor
        if not objs:
            return [], cursor
        inline = isinstance(answer.get("checkpoint"), str) and all("notice" in o for o in objs)
        if inline:  # the node sent each notice with its proof: check them here, no round trips
            head = self._answer_checkpoint(answer["checkpoint"])
        else:
            head = self._cosigned(max(o["notice_index"] for o in objs) + 1).checkpoint
        messages: list[MailboxMessage] = []
        for obj in objs:
            if inline:
                proven = self._proven_entry(obj["notice"], head)  # 2
                if proven.index != obj["notice_index"]:
                    raise _mismatch("a message came with another leaf than its notice's")
            else:
                proven = self._entry_under(obj["notice_index"], head)  # 2
            ciphertext = check_message(obj, recipient, proven.envelope)  # 3
            message = MailboxMessage(obj["id"], obj["notice_index"], ciphertext, obj["sent_at"], proven)
            messages.append(message)
        return messages, cursor

    def ack_message(self, ack: Mapping[str, Any], *, prove: bool = True) -> Receipt:
        """Append the recipient's signed ``mailbox.ack`` (see
        :func:`registry.mailbox_client.mailbox_ack_entry`); once it is on the ledger the node
        has deleted the ciphertext, in the same transaction."""
        if ack.get("type") != "mailbox.ack":
            raise MalformedInput("ack_message takes a mailbox.ack entry")
        return self.submit(ack, prove=prove)
