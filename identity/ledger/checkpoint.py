"""C2SP tlog-checkpoint v1.0.0: a log's signed tree head as a signed note.

::

    <origin>
    <tree size>
    <base64 root hash>
    [<extension line>…]

Body rules (section "Note text"), checked by :func:`parse_checkpoint_body`:

1. At least three lines, each non-empty, the text ending in a newline.
2. The origin (line 1) is any non-empty text; clients must not assume it is
   a URL. It must not differ from the origin the caller expects (rule 6).
3. The tree size (line 2) is ASCII decimal without leading zeroes, below 2**64.
4. The root hash (line 3) is the canonical standard base64 of 32 bytes.
5. Further lines are opaque extension lines, each non-empty.

Trust (section "Signatures"), checked by :func:`verify_checkpoint`:

6. The note verifies under the log's key (c2sp.org/signed-note; unknown
   signatures, e.g. witness cosignatures, are ignored), and only then is the
   body parsed. The key name SHOULD match the origin, so by default the
   origin must equal the log key's name; a caller that knows a log whose
   origin differs (sum.golang.org's is "go.sum database tree") says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from identity.crypto.encoding import b64decode_std, b64encode_std
from identity.errors import KeyStateError, MalformedInput, PolicyError
from identity.ledger.merkle import HASH_SIZE, MAX_TREE_SIZE
from identity.ledger.note import (
    DEFAULT_LIMITS,
    NoteLimits,
    NoteSigner,
    NoteVerifier,
    VerifiedNote,
    sign_note,
    verify_note,
)

__all__ = [
    "Checkpoint",
    "format_checkpoint",
    "parse_checkpoint_body",
    "sign_checkpoint",
    "verify_checkpoint",
    "verify_checkpoint_note",
]

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: who (origin), how many leaves (size), and the root hash."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for line, what in [(self.origin, "origin"), *((e, "extension line") for e in self.extensions)]:
            if not line or any(ch < " " for ch in line):  # 1, 2, 5
                raise MalformedInput(f"checkpoint {what} must be one non-empty line")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise MalformedInput("checkpoint tree size must be an integer")
        if not 0 <= self.size <= MAX_TREE_SIZE:  # 3
            raise MalformedInput("checkpoint tree size must be from 0 to 2**64-1")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:  # 4
            raise MalformedInput(f"checkpoint root hash must be {HASH_SIZE} bytes")


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Parse the text of a checkpoint note (rules 1–5); the signature is not checked here."""
    if not text.endswith("\n"):  # 1
        raise MalformedInput("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(line == "" for line in lines):
        raise MalformedInput("checkpoint must have at least three non-empty lines")
    origin, size_line, root_line, *extensions = lines
    if _DECIMAL.fullmatch(size_line) is None:  # 3
        raise MalformedInput("checkpoint tree size must be decimal without leading zeroes")
    size = int(size_line)
    root = b64decode_std(root_line, what="checkpoint root hash")  # 4
    return Checkpoint(origin, size, root, tuple(extensions))  # 2, 3, 4, 5 in __post_init__


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """The note text of ``checkpoint``."""
    lines = [
        checkpoint.origin,
        str(checkpoint.size),
        b64encode_std(checkpoint.root_hash),
        *checkpoint.extensions,
    ]
    return "\n".join(lines) + "\n"


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The signed checkpoint note, signed by the log's ``signer``."""
    return sign_note(format_checkpoint(checkpoint), [signer])


def verify_checkpoint(
    note: bytes | str,
    log: NoteVerifier,
    *,
    origin: str | None = None,
    limits: NoteLimits = DEFAULT_LIMITS,
) -> Checkpoint:
    """Verify the log's signature on a checkpoint note, then parse it (rules 1–6).

    ``origin`` is the origin line expected; by default the log key's name.
    Raises :class:`~identity.errors.UnknownKey` if the log did not sign it,
    :class:`~identity.errors.InvalidSignature` if its signature is bad,
    :class:`~identity.errors.KeyStateError` for another log's origin.
    """
    checkpoint, _ = verify_checkpoint_note(note, [log], log, origin=origin, limits=limits)
    return checkpoint


def verify_checkpoint_note(
    note: bytes | str,
    known: list[NoteVerifier],
    log: NoteVerifier,
    *,
    origin: str | None = None,
    limits: NoteLimits = DEFAULT_LIMITS,
) -> tuple[Checkpoint, VerifiedNote]:
    """Verify a checkpoint note against all ``known`` keys, requiring the ``log`` key.

    The building block of cosigner policies: returns the checkpoint and the
    verified note, whose signatures the policy then counts. Raises
    :class:`~identity.errors.PolicyError` if the log's key did not sign.
    """
    verified = verify_note(note, known, limits=limits)  # 6: signatures first
    if not verified.signed_by(log):
        raise PolicyError("checkpoint is not signed by the log's key")
    checkpoint = parse_checkpoint_body(verified.text)
    expected = log.name if origin is None else origin
    if checkpoint.origin != expected:
        raise KeyStateError(f"checkpoint is for the log {checkpoint.origin!r}, not {expected!r}")
    return checkpoint, verified
