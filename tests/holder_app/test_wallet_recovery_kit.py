"""The recovery kit: its text survives the way people copy it, every single typo is
caught and located, and a kit only recovers the DID whose next key it holds."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from wallet_world import ROOT_DID, key

from holder_app.recovery_kit import RecoveryKit, format_kit, kit_qr_png, kit_qr_svg, parse_kit, verify_kit
from identity.crypto.keys import Ed25519PrivateKey
from identity.did.akashi import apply_event, replay
from identity.did.key_events import digest, incept, rotate, sign_event
from identity.errors import KeyStateError, MalformedInput, UnsupportedVersion

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
KIT = RecoveryKit(ROOT_DID, key("next").seed)
TEXT = format_kit(KIT)
GROUPS = TEXT.split("-")[2:]


def test_text_form_and_round_trip() -> None:
    assert TEXT.startswith("AKASHI-KIT1-")
    assert len(GROUPS) == 28 and all(len(g) == 5 and set(g) <= set(ALPHABET) for g in GROUPS)
    kit = parse_kit(TEXT)
    assert kit == KIT and kit.did == ROOT_DID and kit.key == key("next")
    assert key("next").seed.hex() not in repr(kit)


@pytest.mark.parametrize(
    "typed",
    [
        TEXT.lower(),
        "AKASHI-KIT1-" + "".join(GROUPS),  # no hyphens
        "AKASHI-KIT1\n" + "\n".join(" ".join(GROUPS[i : i + 4]) for i in range(0, 28, 4)),  # as printed
        TEXT.replace("0", "O").replace("1", "l"),  # letters people confuse with digits
    ],
    ids=["lowercase", "no-hyphens", "lines-and-spaces", "O-for-0-l-for-1"],
)
def test_the_ways_people_copy_a_kit_all_read_back(typed: str) -> None:
    assert parse_kit(typed) == KIT


def test_every_single_mistyped_character_is_caught_and_its_group_named() -> None:
    for number, group in enumerate(GROUPS, start=1):
        for position, char in enumerate(group):
            for other in ALPHABET.replace(char, ""):
                typo = group[:position] + other + group[position + 1 :]
                groups = [*GROUPS[: number - 1], typo, *GROUPS[number:]]
                with pytest.raises(MalformedInput, match=f"group {number} .* mistyped character"):
                    parse_kit("AKASHI-KIT1-" + "-".join(groups))


def test_two_groups_swapped_are_caught_by_the_checksum() -> None:
    swapped = [GROUPS[1], GROUPS[0], *GROUPS[2:]]
    with pytest.raises(MalformedInput, match="checksum does not match"):
        parse_kit("AKASHI-KIT1-" + "-".join(swapped))


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("AKASHI-KIT1-" + "-".join(GROUPS[:-1]), "27 groups|135 characters"),
        ("AKASHI-KIT1-" + "-".join([GROUPS[0][:4], *GROUPS[1:]]), "group 1 .* has 4 characters"),
        ("AKASHI-KIT1-" + "-".join([GROUPS[0][:4] + "U", *GROUPS[1:]]), "group 1 .* 'U', which is never"),
        ("AKASHI-KIT1-" + "-".join([*GROUPS, "00000"]), "145 characters"),
        ("BITCOIN-" + "-".join(GROUPS), "not an akashi recovery kit"),
        ("AKASHI-KIT0-" + "-".join(GROUPS), "version 0 does not exist"),
    ],
)
def test_kits_that_cannot_be_read_say_what_is_wrong(typed: str, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        parse_kit(typed)


def test_a_kit_of_a_newer_version_is_refused_clearly() -> None:
    with pytest.raises(UnsupportedVersion, match="version 2, made by a newer akashi"):
        parse_kit("AKASHI-KIT2-" + "-".join(GROUPS))


@pytest.mark.parametrize(
    ("did", "seed"),
    [
        ("did:key:z6Mk", bytes(32)),
        ("did:akashi:Qm0OIl", bytes(32)),
        ("did:akashi:" + digest(b"x"), bytes(31)),
    ],
)
def test_a_kit_holds_a_did_akashi_and_a_32_byte_seed(did: str, seed: bytes) -> None:
    with pytest.raises(MalformedInput):
        RecoveryKit(did, seed)


def test_qr_codes_carry_the_kit() -> None:
    svg = kit_qr_svg(KIT)
    assert ET.fromstring(svg).tag.endswith("svg") and "akashi recovery kit" in svg
    assert kit_qr_png(KIT).startswith(b"\x89PNG\r\n\x1a\n")


def test_a_kit_recovers_only_the_did_that_committed_to_its_key() -> None:
    device, paper = key("device"), key("paper")
    inception = incept([device.public_key], [paper.public_key])
    state = replay([sign_event(inception, [device])])
    kit = RecoveryKit(state.did, paper.seed)
    assert verify_kit(kit, state) == paper

    with pytest.raises(KeyStateError, match=r"is for .*, not for"):
        verify_kit(RecoveryKit(ROOT_DID, paper.seed), state)  # another wallet's kit
    with pytest.raises(KeyStateError, match="not the one committed"):
        verify_kit(RecoveryKit(state.did, device.seed), state)  # the current key is not the next one

    # recovery: the kit's key signs the rotation, committing to a new paper key; the old kit is spent
    new_paper = Ed25519PrivateKey.from_seed(bytes(range(32)))
    rotation = rotate(state, [paper.public_key], [new_paper.public_key])
    rotated = apply_event(state, sign_event(rotation, [paper]))
    with pytest.raises(KeyStateError, match=r"outdated .* or was already used"):
        verify_kit(kit, rotated)
    assert verify_kit(RecoveryKit(state.did, new_paper.seed), rotated) == new_paper
