"""C2SP signed notes: public vectors, syntax rules, trust rules, byte flips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.crypto.encoding import b64encode_std
from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import (
    AkashiError,
    InvalidSignature,
    MalformedInput,
    UnknownKey,
    UnsupportedAlgorithm,
)
from identity.ledger.note import (
    ED25519,
    Ed25519NoteSigner,
    Ed25519NoteVerifier,
    NoteLimits,
    add_signatures,
    format_vkey,
    key_id,
    parse_note_unverified,
    parse_signer_key,
    parse_vkey,
    sign_note,
    verify_note,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "vectors" / "signed-note" / "signed-notes.json").read_text()
)
C2SP = VECTORS["c2sp_signed_note_example"]
GO = VECTORS["go_sumdb_note_two_signers"]
SUMDB = VECTORS["sum_golang_org_checkpoint"]

PETER = Ed25519NoteVerifier.from_vkey(GO["vkeys"][0])
ENOCH = Ed25519NoteVerifier.from_vkey(GO["vkeys"][1])
GO_TEXT = GO["note"].split("\n\n")[0] + "\n"


def _signer(name: str, seed: int) -> Ed25519NoteSigner:
    return Ed25519NoteSigner(name, Ed25519PrivateKey.from_seed(bytes([seed]) * 32))


# --- public vectors ---------------------------------------------------------


def test_c2sp_example_verifies() -> None:
    verifier = Ed25519NoteVerifier.from_vkey(C2SP["vkey"])
    note = verify_note(C2SP["note"], [verifier])
    assert note.text == "This is an example message.\n"
    assert [s.verifier for s in note.verified] == [verifier]
    assert note.unverified == ()


def test_go_signer_key_reproduces_peter_signature_byte_for_byte() -> None:
    signer = parse_signer_key(GO["skey_peter_TEST_ONLY"])
    assert signer.verifier() == PETER
    assert signer.verifier().vkey == GO["vkeys"][0]
    signed = sign_note(GO_TEXT, [signer])
    assert signed == GO["note"].split("— EnochRoot")[0]


def test_go_two_signers_unknown_signer_is_ignored() -> None:
    note = verify_note(GO["note"], [PETER])
    assert note.signed_by(PETER) and not note.signed_by(ENOCH)
    assert [s.name for s in note.unverified] == ["EnochRoot"]
    both = verify_note(GO["note"], [PETER, ENOCH])
    assert both.signed_by(PETER) and both.signed_by(ENOCH) and both.unverified == ()


def test_go_note_without_a_trusted_key_is_refused() -> None:
    with pytest.raises(UnknownKey):
        verify_note(GO["note"], [])
    stranger = _signer("PeterNeumann", 9).verifier()  # same name, other key (and key ID)
    with pytest.raises(UnknownKey):
        verify_note(GO["note"], [stranger])


def test_sum_golang_org_key_has_plus_in_its_base64() -> None:
    assert SUMDB["vkey"].count("+") > 2
    verifier = Ed25519NoteVerifier.from_vkey(SUMDB["vkey"])
    assert verifier.name == "sum.golang.org"
    assert verifier.vkey == SUMDB["vkey"]
    note = verify_note(SUMDB["note"], [verifier])
    assert note.text.startswith("go.sum database tree\n6476701\n")


def test_key_id_is_derived_as_the_spec_says() -> None:
    parsed = parse_vkey(C2SP["vkey"])
    assert parsed.sig_type == ED25519
    assert parsed.key_id.hex() == "530d903a"
    assert key_id(parsed.name, ED25519, parsed.key) == parsed.key_id


# --- verifier and signer keys -----------------------------------------------


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "example.com/foo",
        "example.com/foo+530d903a",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # empty name
        "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # upper-case hex
        "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # wrong key ID
        "example.com/fo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # other name
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",  # bad base64
        "example.com/foo+530d903a+AQ==",  # no key
        "exa mple.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(MalformedInput):
        Ed25519NoteVerifier.from_vkey(vkey)


def test_verifier_key_of_another_type_is_unsupported() -> None:
    key = _signer("w", 3).key.public_key.raw
    with pytest.raises(UnsupportedAlgorithm):
        Ed25519NoteVerifier.from_vkey(format_vkey("w", 0x04, key))


@pytest.mark.parametrize(
    "skey",
    [
        "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",  # wrong ID
        "PRIVATE+KEY+EnochRoot+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",  # other name
        "PUBLIC+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        GO["vkeys"][0],
    ],
)
def test_malformed_signer_keys_are_refused(skey: str) -> None:
    with pytest.raises(MalformedInput):
        parse_signer_key(skey)


def test_signer_repr_hides_the_key() -> None:
    signer = parse_signer_key(GO["skey_peter_TEST_ONLY"])
    assert "AYEKFALV" not in repr(signer) and signer.key.seed.hex() not in repr(signer)


# --- syntax -----------------------------------------------------------------

PETER_LINE = GO["note"].split("\n\n")[1].split("\n")[0] + "\n"


@pytest.mark.parametrize(
    ("note", "why"),
    [
        (GO_TEXT + PETER_LINE, "text without blank line + sig"),
        (GO_TEXT + "\n" + PETER_LINE[:-1], "sig line missing final newline"),
        ("\x01" + GO["note"], "leading 0x01 byte"),
        (GO["note"].replace("— PeterNeumann", "— Peter Neumann"), "key name containing a space"),
        (GO["note"] + "extra\n", "extra non-signature line after signatures"),
        (GO["note"].replace("— PeterNeumann", "— Peter+Neumann"), "key name containing a plus"),
        (GO["note"].replace("— PeterNeumann", "— Peter\u00a0Neumann"), "no-break space in name"),
        (GO["note"].replace("— PeterNeumann", "—  PeterNeumann"), "two spaces"),
        (GO["note"].replace("— PeterNeumann", "- PeterNeumann"), "hyphen, not em dash"),
        (GO["note"].replace("— PeterNeumann ", "— "), "no name"),
        (GO["note"].replace("\n— PeterNeumann", "\n— PeterNeumann\t"), "tab"),
        (GO_TEXT + "\n", "no signatures at all"),
        ("\n\n" + PETER_LINE, "empty text"),
        (GO_TEXT + "\n— PeterNeumann AAAAAA==\n", "signature of four bytes: a key ID only"),
        (GO_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/Sff\n", "unpadded base64"),
        (GO["note"].replace("\n", "\r\n"), "CRLF"),
        ("", "empty"),
    ],
)
def test_malformed_notes_are_refused(note: str, why: str) -> None:
    with pytest.raises(MalformedInput):
        parse_note_unverified(note)
    with pytest.raises(MalformedInput):
        verify_note(note, [PETER, ENOCH])


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(MalformedInput):
        verify_note(b"\xff" + GO["note"].encode(), [PETER])
    with pytest.raises(MalformedInput):
        verify_note("\ud800" + GO["note"], [PETER])


def test_text_may_hold_blank_lines_the_last_one_separates() -> None:
    signer = _signer("example.test/k", 1)
    text = "first\n\nsecond\n\n"
    note = sign_note(text, [signer])
    assert verify_note(note, [signer.verifier()]).text == text


def test_size_and_signature_count_limits() -> None:
    signers = [_signer(f"example.test/w{i}", i) for i in range(1, 17)]
    many = sign_note("hello\n", signers)
    # The spec requires accepting 16 signatures.
    assert len(verify_note(many, [s.verifier() for s in signers]).verified) == 16
    with pytest.raises(MalformedInput):
        verify_note(many, [signers[0].verifier()], limits=NoteLimits(max_signatures=15))
    with pytest.raises(MalformedInput):
        verify_note(many, [signers[0].verifier()], limits=NoteLimits(max_bytes=len(many) - 1))
    too_many = "hello\n\n" + "".join(PETER_LINE for _ in range(101))
    with pytest.raises(MalformedInput):
        verify_note(too_many, [PETER])


# --- trust ------------------------------------------------------------------


def test_a_bad_signature_from_a_known_key_refuses_the_whole_note() -> None:
    forged = GO["note"].replace("If you think", "If you thought")
    with pytest.raises(InvalidSignature):
        verify_note(forged, [PETER])
    # Even when another known key's signature is fine.
    enoch_bad = GO["note"].replace("rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX", "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeY")
    with pytest.raises(InvalidSignature):
        verify_note(enoch_bad, [PETER, ENOCH])
    assert verify_note(enoch_bad, [PETER]).signed_by(PETER)  # Enoch unknown: ignored


def test_same_name_other_key_id_is_just_unknown() -> None:
    other = _signer("PeterNeumann", 5)
    note = add_signatures(GO["note"], [other])
    assert verify_note(note, [PETER]).signed_by(PETER)
    assert verify_note(note, [other.verifier()]).signed_by(other.verifier())


def test_ambiguous_known_keys_are_a_configuration_error() -> None:
    class Impostor:
        name = PETER.name
        key_id = PETER.key_id
        public_key = ENOCH.public_key

        def verify(self, text: bytes, signature: bytes) -> None:
            raise AssertionError("never called")

    with pytest.raises(ValueError):
        verify_note(GO["note"], [PETER, Impostor()])


def test_add_signatures_keeps_existing_lines_and_replaces_own() -> None:
    signer = parse_signer_key(GO["skey_peter_TEST_ONLY"])
    again = add_signatures(GO["note"], [signer])
    lines = again.split("\n\n")[1].splitlines()
    assert [line.split()[1] for line in lines] == ["EnochRoot", "PeterNeumann"]
    assert verify_note(again, [PETER, ENOCH]).text == GO_TEXT


def test_sign_note_refuses_bad_text() -> None:
    signer = _signer("k", 1)
    for text in ["", "\n", "no newline", "bell\x07\n"]:
        with pytest.raises(MalformedInput):
            sign_note(text, [signer])
    with pytest.raises(MalformedInput):
        Ed25519NoteSigner("bad name", signer.key)


# --- byte flips -------------------------------------------------------------

SIGNERS = [_signer("log.example/a", 7), _signer("witness.example/b", 8)]
TEXT = "log.example/a\n42\n" + b64encode_std(bytes(32)) + "\n"
ONE = sign_note(TEXT, SIGNERS[:1]).encode()
TWO = sign_note(TEXT, SIGNERS).encode()
KNOWN = [s.verifier() for s in SIGNERS]


def _flip(data: bytes, at: int, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[at % len(data)] ^= 1 << bit
    return bytes(flipped)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(at=st.integers(0, len(ONE) - 1), bit=st.integers(0, 7))
def test_any_flipped_byte_is_rejected(at: int, bit: int) -> None:
    with pytest.raises(AkashiError) as info:
        verify_note(_flip(ONE, at, bit), KNOWN)
    assert isinstance(info.value, (MalformedInput, InvalidSignature, UnknownKey))


@settings(max_examples=300, derandomize=True, deadline=None)
@given(at=st.integers(0, len(TWO) - 1), bit=st.integers(0, 7))
def test_a_flipped_byte_never_leaves_both_signatures_verified(at: int, bit: int) -> None:
    # A flip inside one key's name or key ID makes that signature *unknown*,
    # which the spec says to ignore: the note may still verify by the other
    # key, but never again by both.
    try:
        note = verify_note(_flip(TWO, at, bit), KNOWN)
    except (MalformedInput, InvalidSignature, UnknownKey):
        return
    assert len({v.verifier.name for v in note.verified}) == 1
    assert len(note.unverified) == 1
