"""C2SP tlog-witness ``add-checkpoint``: cosign a log's checkpoint once it is shown consistent.

Request body (section "add-checkpoint"), parsed by :func:`parse_add_checkpoint_request`:

a. At most :attr:`WitnessLimits.max_body_bytes` long (checked first).
b. ``old <size>\\n``: ASCII decimal without leading zeroes, below 2**64.
c. Zero to 63 consistency proof lines, each the standard base64 of one 32-byte hash.
d. An empty line, then the checkpoint, a signed note (c2sp.org/signed-note).

Checks of :meth:`Witness.add_checkpoint`, in the order the spec states them,
with the HTTP status a failure answers:

1. The body parses and its note holds a checkpoint — else 400.
2. The checkpoint's origin is a log this witness knows — else 404.
3. A signature by the log's key verifies; unknown signatures are ignored, a bad
   one by the log's key fails the note — else 403.
4. The old size is at most the checkpoint size — else 400.
5. The old size is the size of the latest checkpoint cosigned for the origin
   (0 if none) — else 409, body ``<stored size>\\n``, type ``text/x.tlog.size``.
6. From old size 0 the proof is empty (and a size-0 checkpoint has the
   empty-tree root, as the editor's draft adds) — else 422.
7. For ``0 < old < size``, the proof is an RFC 9162 consistency proof from the
   stored root to the new root — else 422.
8. For ``old == size`` the proof is empty (else 422) and the root hashes are
   identical — else 409 (plain text: a fork, not a stale size).
9. The new checkpoint is persisted by compare-and-update on the old size
   before answering; a request that lost a race gets the 409 of rule 5.
10. 200 with one cosignature line (c2sp.org/tlog-cosignature), timestamped
    by the injected clock.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from identity.crypto.encoding import b64decode_std, b64encode_std
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import MalformedInput, ProofMismatch, VerificationError
from identity.ledger.checkpoint import Checkpoint, parse_checkpoint_body, verify_checkpoint
from identity.ledger.cosignature import CosignatureSigner, CosignatureVerifier
from identity.ledger.merkle import EMPTY_ROOT, HASH_SIZE, MAX_TREE_SIZE, verify_consistency
from identity.ledger.note import (
    DEFAULT_LIMITS,
    NoteLimits,
    NoteSignature,
    NoteVerifier,
    check_key_name,
    parse_note_unverified,
)
from registry.witness_store import StoredCheckpoint, WitnessStore

__all__ = [
    "DEFAULT_WITNESS_LIMITS",
    "MAX_PROOF_LINES",
    "SIZE_CONTENT_TYPE",
    "AddCheckpointRequest",
    "Witness",
    "WitnessLimits",
    "WitnessResponse",
    "format_add_checkpoint_request",
    "format_size_response",
    "parse_add_checkpoint_request",
    "parse_size_response",
]

#: The ``Content-Type`` of a 409 answer carrying the witness's size, exactly as the spec names it.
SIZE_CONTENT_TYPE = "text/x.tlog.size"
#: Clients must not send more consistency proof lines than this.
MAX_PROOF_LINES = 63
_TEXT = "text/plain; charset=utf-8"
_OLD_LINE = re.compile(rb"old (0|[1-9][0-9]*)")
_SIZE_LINE = re.compile(rb"(0|[1-9][0-9]*)\n")


@dataclass(frozen=True, slots=True)
class WitnessLimits:
    """Limits checked before any signature or proof work."""

    max_body_bytes: int = 64 * 1024
    note: NoteLimits = DEFAULT_LIMITS


DEFAULT_WITNESS_LIMITS = WitnessLimits()


@dataclass(frozen=True, slots=True)
class AddCheckpointRequest:
    """A parsed, *unverified* add-checkpoint body: old size, proof hashes, the note."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str


@dataclass(frozen=True, slots=True)
class WitnessResponse:
    """What the witness answers: HTTP status, body, and its exact ``Content-Type``."""

    status: int
    body: bytes
    content_type: str


def parse_add_checkpoint_request(
    body: bytes, *, limits: WitnessLimits = DEFAULT_WITNESS_LIMITS
) -> AddCheckpointRequest:
    """Split an add-checkpoint body into old size, proof and note (rules a–d); syntax only."""
    if len(body) > limits.max_body_bytes:  # a
        raise MalformedInput(f"request body is longer than {limits.max_body_bytes} bytes")
    first, sep, rest = body.partition(b"\n")
    match = _OLD_LINE.fullmatch(first)  # b
    if not sep or match is None:
        raise MalformedInput("request must start with 'old <size>' and a newline")
    old_size = int(match.group(1))
    if old_size > MAX_TREE_SIZE:
        raise MalformedInput("old size must be below 2**64")
    proof: list[bytes] = []
    while True:  # c: proof lines up to the first empty line
        line, sep, rest = rest.partition(b"\n")
        if not sep:
            raise MalformedInput("request has no empty line before the checkpoint")
        if not line:
            break  # d
        if len(proof) == MAX_PROOF_LINES:
            raise MalformedInput(f"request has more than {MAX_PROOF_LINES} proof lines")
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError as exc:
            raise MalformedInput("proof line is not base64") from exc
        digest = b64decode_std(text, what="proof line")
        if len(digest) != HASH_SIZE:
            raise MalformedInput(f"proof line must hold a {HASH_SIZE}-byte hash")
        proof.append(digest)
    parse_note_unverified(rest, limits=limits.note)  # d: UTF-8, signed-note syntax
    return AddCheckpointRequest(old_size, tuple(proof), rest.decode("utf-8"))


def format_add_checkpoint_request(old_size: int, proof: Sequence[bytes], note: bytes | str) -> bytes:
    """The add-checkpoint body a client (the log) sends."""
    if isinstance(old_size, bool) or not 0 <= old_size <= MAX_TREE_SIZE:
        raise ValueError("old size must be an integer from 0 to 2**64-1")
    if len(proof) > MAX_PROOF_LINES or any(len(h) != HASH_SIZE for h in proof):
        raise ValueError(f"a proof is at most {MAX_PROOF_LINES} hashes of {HASH_SIZE} bytes")
    raw = note.encode("utf-8") if isinstance(note, str) else note
    lines = [f"old {old_size}\n", *(b64encode_std(h) + "\n" for h in proof), "\n"]
    return "".join(lines).encode("ascii") + raw


def format_size_response(size: int) -> bytes:
    """The body of a 409 answer: the stored size in decimal, then a newline."""
    return b"%d\n" % size


def parse_size_response(body: bytes) -> int:
    """The size in a ``text/x.tlog.size`` body; raise :class:`MalformedInput` if it is not one."""
    match = _SIZE_LINE.fullmatch(body)
    if match is None or int(match.group(1)) > MAX_TREE_SIZE:
        raise MalformedInput("witness size response must be a decimal size and a newline")
    return int(match.group(1))


class _Refused(Exception):
    """An answer other than 200, raised inside :meth:`Witness.add_checkpoint` only."""

    def __init__(self, status: int, message: str, content_type: str = _TEXT) -> None:
        super().__init__(message)
        self.response = WitnessResponse(status, message.encode("utf-8"), content_type)


class Witness:
    """A witness: its cosigning key and name, the logs it follows, and its store.

    ``logs`` maps each log's origin line to the log's note verifier key.
    ``clock`` returns POSIX seconds; it timestamps cosignatures.
    """

    def __init__(
        self,
        name: str,
        signing_key: Ed25519PrivateKey,
        logs: Mapping[str, NoteVerifier],
        store: WitnessStore,
        clock: Callable[[], float] = time.time,
        *,
        limits: WitnessLimits = DEFAULT_WITNESS_LIMITS,
    ) -> None:
        self._name = check_key_name(name)
        self._key = signing_key
        self._logs = dict(logs)
        if any(v.public_key == signing_key.public_key for v in self._logs.values()):
            raise ValueError("a witness must not use a log's key")
        self._store = store
        self._clock = clock
        self._limits = limits

    @property
    def name(self) -> str:
        """The cosigner name on this witness's signature lines."""
        return self._name

    @property
    def verifier(self) -> CosignatureVerifier:
        """The key clients use to check this witness's cosignatures."""
        return CosignatureVerifier(self._name, self._key.public_key)

    def latest(self, origin: str) -> StoredCheckpoint | None:
        """The latest checkpoint this witness cosigned for ``origin``."""
        return self._store.latest(origin)

    def add_checkpoint(self, request_body: bytes) -> WitnessResponse:
        """Answer one add-checkpoint request (rules 1–10); never raises for bad input.

        Raises :class:`~registry.witness_store.WitnessStoreError` only if the
        store fails: the checkpoint is then neither stored nor cosigned.
        """
        try:
            text = self._check(request_body)
        except _Refused as refused:
            return refused.response
        timestamp = int(self._clock())  # 10
        signer = CosignatureSigner(self._name, self._key, timestamp)
        line = NoteSignature(self._name, signer.key_id, signer.sign(text.encode("utf-8"))).line()
        return WitnessResponse(200, line.encode("utf-8"), _TEXT)

    def _check(self, body: bytes) -> str:
        """Rules 1–9; the checkpoint text to cosign, or :class:`_Refused`."""
        try:  # 1
            request = parse_add_checkpoint_request(body, limits=self._limits)
            text = parse_note_unverified(request.note, limits=self._limits.note).text
            claimed = parse_checkpoint_body(text)
        except MalformedInput as exc:
            raise _Refused(400, f"malformed request: {exc.message}") from exc
        log = self._logs.get(claimed.origin)  # 2: the unverified origin only picks the key
        if log is None:
            raise _Refused(404, "unknown log origin")
        try:  # 3
            checkpoint = verify_checkpoint(
                request.note, log, origin=claimed.origin, limits=self._limits.note
            )
        except (VerificationError, MalformedInput) as exc:
            raise _Refused(403, "checkpoint is not validly signed by the log") from exc
        old_size, proof = request.old_size, list(request.proof)
        if old_size > checkpoint.size:  # 4
            raise _Refused(400, "old size is larger than the checkpoint size")
        stored = self._store.latest(checkpoint.origin)
        stored_size = stored.size if stored is not None else 0
        if old_size != stored_size:  # 5
            raise _Refused(409, format_size_response(stored_size).decode(), SIZE_CONTENT_TYPE)
        if old_size == 0:  # 6
            if proof:
                raise _Refused(422, "the proof from old size 0 must be empty")
            if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
                raise _Refused(422, "a checkpoint of size 0 must have the empty tree's root")
        else:
            if stored is None:
                # 5 made stored_size == old_size > 0, so a row exists.
                raise RuntimeError("store returned no checkpoint for a non-zero size")
            self._check_consistency(stored, checkpoint, proof)  # 7, 8
        new = StoredCheckpoint(checkpoint.origin, checkpoint.size, checkpoint.root_hash, request.note)
        # 9: keyed on the size alone, which is enough: stored sizes only grow, and a
        # row keeps its size only through rule 8, which demands the same root.
        if not self._store.compare_and_update(old_size, new):
            now = self._store.latest(checkpoint.origin)
            size = now.size if now is not None else 0
            raise _Refused(409, format_size_response(size).decode(), SIZE_CONTENT_TYPE)
        return text  # the exact bytes the log's signature verified over

    @staticmethod
    def _check_consistency(stored: StoredCheckpoint, new: Checkpoint, proof: list[bytes]) -> None:
        if stored.size == new.size:  # 8
            if proof:
                raise _Refused(422, "the proof between equal sizes must be empty")
            if not hmac.compare_digest(stored.root_hash, new.root_hash):
                raise _Refused(409, "checkpoint has the stored size but a different root hash")
            return
        try:  # 7
            verify_consistency(stored.size, new.size, proof, stored.root_hash, new.root_hash)
        except (ProofMismatch, MalformedInput) as exc:
            raise _Refused(422, "consistency proof does not verify") from exc
