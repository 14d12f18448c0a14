"""C2SP tlog-checkpoint: the real sum.golang.org checkpoint, syntax, and log signatures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.crypto.encoding import b64decode_std
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import (
    AkashiError,
    InvalidSignature,
    KeyStateError,
    MalformedInput,
    UnknownKey,
)
from identity.ledger.checkpoint import (
    Checkpoint,
    format_checkpoint,
    parse_checkpoint_body,
    sign_checkpoint,
    verify_checkpoint,
)
from identity.ledger.cosignature import cosign
from identity.ledger.merkle import root_from_leaves
from identity.ledger.note import Ed25519NoteSigner, Ed25519NoteVerifier

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
SUMDB = json.loads((VECTORS / "signed-note" / "signed-notes.json").read_text())[
    "sum_golang_org_checkpoint"
]
SUMDB_KEY = Ed25519NoteVerifier.from_vkey(SUMDB["vkey"])

LOG = Ed25519NoteSigner("akashi.example/log", Ed25519PrivateKey.from_seed(b"\x11" * 32))
ROOT = root_from_leaves([b"a", b"b", b"c"])
CHECKPOINT = Checkpoint("akashi.example/log", 3, ROOT)


def test_real_sum_golang_org_checkpoint() -> None:
    checkpoint = verify_checkpoint(SUMDB["note"], SUMDB_KEY, origin=SUMDB["origin"])
    assert checkpoint.origin == "go.sum database tree"
    assert checkpoint.size == 6476701
    assert checkpoint.root_hash == b64decode_std("mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=")
    assert checkpoint.extensions == ()
    # Round trip: our formatting of the parsed body is the signed text itself.
    assert SUMDB["note"].startswith(format_checkpoint(checkpoint) + "\n")


def test_origin_must_match_the_log_key_name_unless_told_otherwise() -> None:
    with pytest.raises(KeyStateError):
        verify_checkpoint(SUMDB["note"], SUMDB_KEY)
    with pytest.raises(KeyStateError):
        verify_checkpoint(SUMDB["note"], SUMDB_KEY, origin="another log")


def test_sign_and_verify_round_trip_with_extensions() -> None:
    checkpoint = Checkpoint("akashi.example/log", 3, ROOT, ("ext one", "ext two"))
    note = sign_checkpoint(checkpoint, LOG)
    assert note.startswith("akashi.example/log\n3\n")
    assert verify_checkpoint(note, LOG.verifier()) == checkpoint


def test_witness_signatures_are_ignored_by_plain_verification() -> None:
    note = cosign(
        sign_checkpoint(CHECKPOINT, LOG), "w.example", Ed25519PrivateKey.from_seed(b"\x12" * 32),
        timestamp=1_700_000_000,
    )
    assert verify_checkpoint(note, LOG.verifier()) == CHECKPOINT


def test_another_key_or_a_bad_signature_is_refused() -> None:
    note = sign_checkpoint(CHECKPOINT, LOG)
    other = Ed25519NoteSigner("akashi.example/log", Ed25519PrivateKey.from_seed(b"\x13" * 32))
    with pytest.raises(UnknownKey):
        verify_checkpoint(note, other.verifier())
    with pytest.raises(InvalidSignature):
        verify_checkpoint(note.replace("\n3\n", "\n4\n"), LOG.verifier())


@pytest.mark.parametrize(
    "body",
    [
        "akashi.example/log\n3\n",  # two lines
        "akashi.example/log\n03\n" + "A" * 43 + "=\n",  # leading zero
        "akashi.example/log\n-3\n" + "A" * 43 + "=\n",
        "akashi.example/log\n+3\n" + "A" * 43 + "=\n",
        "akashi.example/log\n3 \n" + "A" * 43 + "=\n",
        "akashi.example/log\n١\n" + "A" * 43 + "=\n",  # a non-ASCII digit
        "akashi.example/log\n18446744073709551616\n" + "A" * 43 + "=\n",  # 2**64
        "akashi.example/log\n3\n" + "A" * 42 + "==\n",  # 31 bytes
        "akashi.example/log\n3\n" + "A" * 43 + "B\n",  # not padded / 33 bytes
        "akashi.example/log\n3\n" + "_" * 43 + "=\n",  # base64url, not base64
        "akashi.example/log\n3\n" + "A" * 42 + "B=\n",  # non-canonical last character
        "akashi.example/log\n3\n" + "A" * 43 + "=\n\n",  # empty extension line
        "\n3\n" + "A" * 43 + "=\n",  # empty origin
        "akashi.example/log\n3\n" + "A" * 43 + "=",  # no final newline
    ],
)
def test_malformed_bodies_are_refused(body: str) -> None:
    with pytest.raises(MalformedInput):
        parse_checkpoint_body(body)


def test_largest_size_and_empty_tree() -> None:
    big = parse_checkpoint_body("l\n18446744073709551615\n" + "A" * 43 + "=\n")
    assert big.size == 2**64 - 1
    assert parse_checkpoint_body("l\n0\n" + "A" * 43 + "=\n").size == 0


def test_checkpoint_values_are_checked_when_built() -> None:
    for bad in [
        dict(origin="", size=1, root_hash=ROOT),
        dict(origin="a\nb", size=1, root_hash=ROOT),
        dict(origin="a", size=-1, root_hash=ROOT),
        dict(origin="a", size=2**64, root_hash=ROOT),
        dict(origin="a", size=1, root_hash=ROOT[:31]),
        dict(origin="a", size=1, root_hash=ROOT, extensions=("",)),
    ]:
        with pytest.raises(MalformedInput):
            Checkpoint(**bad)  # type: ignore[arg-type]


SIGNED = sign_checkpoint(CHECKPOINT, LOG).encode()


@settings(max_examples=200, derandomize=True, deadline=None)
@given(at=st.integers(0, len(SIGNED) - 1), bit=st.integers(0, 7))
def test_any_flipped_byte_is_rejected(at: int, bit: int) -> None:
    flipped = bytearray(SIGNED)
    flipped[at] ^= 1 << bit
    with pytest.raises(AkashiError) as info:
        verify_checkpoint(bytes(flipped), LOG.verifier())
    assert isinstance(info.value, (MalformedInput, InvalidSignature, UnknownKey, KeyStateError))
