"""k-of-n witness policy: one named case per row, with the error a client sees."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from identity.crypto.keys import Ed25519PrivateKey
from identity.errors import (
    AkashiError,
    InvalidSignature,
    KeyStateError,
    PolicyError,
    UnknownKey,
)
from identity.ledger.checkpoint import Checkpoint, sign_checkpoint
from identity.ledger.cosignature import CosignatureSigner, CosignatureVerifier, cosign
from identity.ledger.merkle import root_from_leaves
from identity.ledger.note import Ed25519NoteSigner, add_signatures, sign_note
from identity.ledger.policy import WitnessPolicy, verify_cosigned_checkpoint

NOW = 1_750_000_000
LOG = Ed25519NoteSigner("akashi.example/log", Ed25519PrivateKey.from_seed(b"\x20" * 32))
W = [Ed25519PrivateKey.from_seed(bytes([0x30 + i]) * 32) for i in range(4)]
WITNESSES = [CosignatureVerifier(f"w{i}.example", k.public_key) for i, k in enumerate(W)]
CHECKPOINT = Checkpoint("akashi.example/log", 5, root_from_leaves([b"1", b"2", b"3", b"4", b"5"]))
SIGNED = sign_checkpoint(CHECKPOINT, LOG)


def by(*who: int, at: int = NOW) -> str:
    note = SIGNED
    for i in who:
        note = cosign(note, f"w{i}.example", W[i], timestamp=at)
    return note


def stranger_cosigned() -> str:
    return cosign(by(0), "stranger.example", Ed25519PrivateKey.from_seed(b"\x40" * 32), timestamp=NOW)


def same_key_two_names() -> str:
    # Witness 0's key, also under another name: still one witness.
    return cosign(by(0), "alias.example", W[0], timestamp=NOW)


BODY, SIGNATURES = SIGNED.split("\n\n")
BODY += "\n"


def witness_but_no_log() -> str:
    return sign_note(
        BODY, [CosignatureSigner("w0.example", W[0], NOW), CosignatureSigner("w1.example", W[1], NOW)]
    )


def strangers_only() -> str:
    stranger = Ed25519PrivateKey.from_seed(b"\x41" * 32)
    return sign_note(BODY, [CosignatureSigner("stranger.example", stranger, NOW)])


def bad_cosignature() -> str:
    good = by(0, 1)
    lines = good.split("\n")
    # Replace w1's signature with w0's bytes under w1's name and key ID.
    w0 = next(line for line in lines if line.startswith("— w0.example "))
    w1 = next(line for line in lines if line.startswith("— w1.example "))
    forged = "— w1.example " + w1.split(" ")[2][:8] + w0.split(" ")[2][8:]
    return good.replace(w1, forged)


def mixed_fresh_and_stale() -> str:
    return cosign(by(0, 1), "w2.example", W[2], timestamp=NOW - 7200)


@dataclass(frozen=True)
class Case:
    name: str
    note: Callable[[], str]
    k: int
    error: type[AkashiError] | None
    max_age: int | None = 3600


CASES = [
    Case("log and k witnesses", lambda: by(0, 1), 2, None),
    Case("more witnesses than needed", lambda: by(0, 1, 2, 3), 2, None),
    Case("one witness short", lambda: by(0), 2, PolicyError),
    Case("log only", lambda: SIGNED, 1, PolicyError),
    Case("unknown cosigner does not count", stranger_cosigned, 2, PolicyError),
    Case("one key under two names counts once", same_key_two_names, 2, PolicyError),
    Case("witnesses without the log", witness_but_no_log, 2, PolicyError),
    Case("a known witness with a bad signature", bad_cosignature, 1, InvalidSignature),
    Case("stale cosignature does not count", lambda: by(0, 1, at=NOW - 3601), 1, PolicyError),
    Case("cosignature exactly max_age old counts", lambda: by(0, at=NOW - 3600), 1, None),
    Case("cosignature from the future does not count", lambda: by(0, at=NOW + 301), 1, PolicyError),
    Case("small clock skew is tolerated", lambda: by(0, at=NOW + 300), 1, None),
    Case("only fresh ones count", mixed_fresh_and_stale, 3, PolicyError),
    Case("fresh ones suffice", mixed_fresh_and_stale, 2, None),
    Case("no max_age: any past time counts", lambda: by(0, at=1), 1, None, None),
    Case("log signature moved onto other text", lambda: "x\n\n" + SIGNATURES, 1, InvalidSignature),
    Case("signed by strangers only", strangers_only, 1, UnknownKey),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_policy(case: Case) -> None:
    def run() -> Checkpoint:
        return verify_cosigned_checkpoint(
            case.note(), LOG.verifier(), WITNESSES, case.k, now=NOW, max_age=case.max_age
        )

    if case.error is None:
        assert run() == CHECKPOINT
    else:
        with pytest.raises(case.error):
            run()


def test_without_now_timestamps_are_not_judged() -> None:
    assert verify_cosigned_checkpoint(by(0, at=0), LOG.verifier(), WITNESSES, 1) == CHECKPOINT


def test_origin_of_another_log_is_refused() -> None:
    other = sign_checkpoint(Checkpoint("other.example/log", 1, CHECKPOINT.root_hash), LOG)
    note = cosign(other, "w0.example", W[0], timestamp=NOW)
    with pytest.raises(KeyStateError):
        verify_cosigned_checkpoint(note, LOG.verifier(), WITNESSES, 1)
    policy = WitnessPolicy(LOG.verifier(), tuple(WITNESSES), 1, origin="other.example/log")
    assert policy.verify(note).origin == "other.example/log"


def test_plain_note_signatures_by_witness_keys_cannot_show_freshness() -> None:
    plain = Ed25519NoteSigner("w0.example", W[0])
    note = add_signatures(SIGNED, [plain])
    witnesses = [plain.verifier()]
    assert verify_cosigned_checkpoint(note, LOG.verifier(), witnesses, 1, now=NOW) == CHECKPOINT
    with pytest.raises(PolicyError):
        verify_cosigned_checkpoint(note, LOG.verifier(), witnesses, 1, now=NOW, max_age=60)


@pytest.mark.parametrize(
    ("k", "witnesses"),
    [
        (0, WITNESSES),
        (5, WITNESSES),
        (2, [WITNESSES[0], CosignatureVerifier("alias.example", W[0].public_key)]),
        (1, [CosignatureVerifier("log-as-witness", LOG.key.public_key)]),
    ],
)
def test_unsound_policies_are_configuration_errors(
    k: int, witnesses: list[CosignatureVerifier]
) -> None:
    with pytest.raises(ValueError):
        verify_cosigned_checkpoint(by(0, 1), LOG.verifier(), witnesses, k)


def test_max_age_needs_now() -> None:
    with pytest.raises(ValueError):
        verify_cosigned_checkpoint(by(0), LOG.verifier(), WITNESSES, 1, max_age=60)
