"""C2SP tlog-cosignature v1 (Ed25519): the generated cross-check vector and the rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.crypto.encoding import b64decode_std, b64encode_std
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import (
    InvalidSignature,
    MalformedInput,
    UnknownKey,
    UnsupportedAlgorithm,
)
from identity.ledger.checkpoint import parse_checkpoint_body, sign_checkpoint
from identity.ledger.cosignature import (
    COSIGNATURE_V1,
    CosignatureSigner,
    CosignatureVerifier,
    cosign,
    cosignature_message,
    cosignature_timestamp,
)
from identity.ledger.note import (
    Ed25519NoteSigner,
    Ed25519NoteVerifier,
    NoteSignature,
    add_signatures,
    format_vkey,
    key_id,
    sign_note,
    verify_note,
)

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
GENERATED = json.loads((VECTORS / "cosignature-generated" / "cosigned-checkpoint.json").read_text())
TIMESTAMP_ONLY = json.loads((VECTORS / "signed-note" / "signed-notes.json").read_text())[
    "cosignature_timestamp_only"
]

LOG_KEY = Ed25519PrivateKey.from_seed(b"\x01" * 32)
WITNESS_KEY = Ed25519PrivateKey.from_seed(b"\x02" * 32)
LOG = Ed25519NoteVerifier.from_vkey(GENERATED["log_vkey"])
WITNESS = CosignatureVerifier.from_vkey(GENERATED["witness_vkey"])


def test_generated_vector_verifies() -> None:
    note = verify_note(GENERATED["note"], [LOG, WITNESS])
    assert note.signed_by(LOG) and note.signed_by(WITNESS)
    (cosig,) = [s for s in note.verified if s.verifier == WITNESS]
    assert cosignature_timestamp(cosig.signature) == GENERATED["timestamp"]
    assert parse_checkpoint_body(note.text).size == 700


def test_we_reproduce_the_generated_vector_byte_for_byte_from_its_seeds() -> None:
    assert LOG.public_key == LOG_KEY.public_key and WITNESS.public_key == WITNESS_KEY.public_key
    checkpoint = parse_checkpoint_body(GENERATED["note"].split("\n\n")[0] + "\n")
    signed = sign_checkpoint(checkpoint, Ed25519NoteSigner("example.test/log", LOG_KEY))
    cosigned = cosign(signed, "witness.test/w1", WITNESS_KEY, timestamp=GENERATED["timestamp"])
    assert cosigned == GENERATED["note"]


def test_key_id_uses_signature_type_0x04() -> None:
    raw = WITNESS_KEY.public_key.raw
    assert WITNESS.key_id == key_id("witness.test/w1", COSIGNATURE_V1, raw)
    assert WITNESS.key_id != key_id("witness.test/w1", 0x01, raw)
    assert WITNESS.vkey == GENERATED["witness_vkey"]
    assert GENERATED["witness_vkey"].split("+", 2)[1] == WITNESS.key_id.hex()


def test_signed_message_is_header_time_line_and_checkpoint_text() -> None:
    text = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert cosignature_message(text, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + text
    )
    with pytest.raises(MalformedInput):
        cosignature_message(text, 2**63)


def test_timestamp_only_vector_layout() -> None:
    raw = b64decode_std(TIMESTAMP_ONLY["signature_base64"])
    assert len(raw) == 76
    assert raw[:4].hex() == "646846b9"
    assert cosignature_timestamp(raw[4:]) == 1727964367


def test_a_plain_ed25519_signature_under_a_cosigner_key_id_is_refused() -> None:
    text = GENERATED["note"].split("\n\n")[0] + "\n"
    plain = WITNESS_KEY.sign(text.encode())  # 64 bytes: no timestamp
    line = NoteSignature("witness.test/w1", WITNESS.key_id, plain).line()
    with pytest.raises(InvalidSignature):
        verify_note(text + "\n" + line, [WITNESS])
    with pytest.raises(MalformedInput):
        cosignature_timestamp(plain)


def test_timestamp_beyond_2_63_is_refused() -> None:
    text = b"o\n1\n" + b64encode_std(bytes(32)).encode() + b"\n"
    signature = WITNESS_KEY.sign(b"cosignature/v1\ntime %d\n" % 2**63 + text)
    with pytest.raises(InvalidSignature):
        WITNESS.verify(text, (2**63).to_bytes(8, "big") + signature)
    with pytest.raises(MalformedInput):
        CosignatureSigner("w", WITNESS_KEY, 2**63)


def test_the_timestamp_is_signed() -> None:
    text = GENERATED["note"].split("\n\n")[0] + "\n"
    sig = CosignatureSigner("witness.test/w1", WITNESS_KEY, 1700000000).sign(text.encode())
    WITNESS.verify(text.encode(), sig)
    moved = (1700000001).to_bytes(8, "big") + sig[8:]
    with pytest.raises(InvalidSignature):
        WITNESS.verify(text.encode(), moved)


def test_cosign_refuses_a_note_that_is_not_a_checkpoint() -> None:
    note = Ed25519NoteSigner("k", LOG_KEY)
    with pytest.raises(MalformedInput):
        cosign(sign_note("hello\n", [note]), "w", WITNESS_KEY, timestamp=1)


def test_verifier_key_types_are_kept_apart() -> None:
    with pytest.raises(UnsupportedAlgorithm):
        CosignatureVerifier.from_vkey(GENERATED["log_vkey"])
    with pytest.raises(UnsupportedAlgorithm):
        Ed25519NoteVerifier.from_vkey(GENERATED["witness_vkey"])
    wrong_id = format_vkey("witness.test/w1", 0x01, WITNESS_KEY.public_key.raw)
    forged = "witness.test/w1+" + wrong_id.split("+")[1] + "+" + GENERATED["witness_vkey"].split("+", 2)[2]
    with pytest.raises(MalformedInput):
        CosignatureVerifier.from_vkey(forged)


def test_a_cosignature_is_not_a_log_signature() -> None:
    # The same Ed25519 key as a type-0x01 log key does not accept a cosignature line.
    same_key_as_log = Ed25519NoteVerifier("witness.test/w1", WITNESS_KEY.public_key)
    with pytest.raises(UnknownKey):
        verify_note(GENERATED["note"], [same_key_as_log])


SIGNED = GENERATED["note"].encode()
_LOG_LINE_START = SIGNED.index("— example.test/log".encode())
_LOG_LINE = range(_LOG_LINE_START, SIGNED.index(b"\n", _LOG_LINE_START) + 1)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(at=st.integers(0, len(SIGNED) - 1), bit=st.integers(0, 7))
def test_flipped_bytes_never_leave_the_cosignature_verified(at: int, bit: int) -> None:
    flipped = bytearray(SIGNED)
    flipped[at] ^= 1 << bit
    # Only the witness is known. A flip in the log's line touches a signature
    # the verifier ignores (c2sp.org/signed-note); any other flip is refused.
    try:
        verify_note(bytes(flipped), [WITNESS])
    except (MalformedInput, InvalidSignature, UnknownKey):
        return
    assert at in _LOG_LINE and flipped[at] not in b"\n"


def test_add_signatures_replaces_an_older_cosignature_by_the_same_witness() -> None:
    newer = add_signatures(
        GENERATED["note"], [CosignatureSigner("witness.test/w1", WITNESS_KEY, 1700000600)]
    )
    note = verify_note(newer, [LOG, WITNESS])
    stamps = [cosignature_timestamp(s.signature) for s in note.verified if s.verifier == WITNESS]
    assert stamps == [1700000600]
