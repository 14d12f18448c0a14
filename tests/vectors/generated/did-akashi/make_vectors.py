"""Generate the did:akashi key event log vectors beside this script.

    PYTHONPATH=. .venv/bin/python tests/vectors/generated/did-akashi/make_vectors.py

Everything is deterministic: keys come from fixed seeds (SHA-256 of a name) and
Ed25519 signatures are deterministic, so running this again rewrites the same
bytes. tests/identity/did/test_did_akashi.py checks that it still does.

valid-log.json    a wallet root's life: inception (1 current key, 1-of-2 next:
                  a paper key and a second device), an update of its
                  keyAgreement key, a recovery rotation with the paper key, a
                  2-of-2 rotation; with the key state and DID document it yields.
invalid-logs.json logs that must be refused, each with the error class expected.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey, X25519PrivateKey
from identity.did.akashi import apply_event, resolve_did_akashi
from identity.did.key_events import (
    KeyState,
    deactivate,
    incept,
    rotate,
    serialize_event,
    sign_event,
    update,
)
from identity.did.multikey import encode_multikey

HERE = Path(__file__).resolve().parent
NAMES = ("device", "paper", "device2", "new1", "new2", "thief")


def seed(name: str) -> bytes:
    """The 32-byte seed of the named test key: SHA-256 of ``akashi-test-key:<name>``."""
    return sha256(b"akashi-test-key:" + name.encode("ascii"))


KEYS = {name: Ed25519PrivateKey.from_seed(seed(name)) for name in NAMES}
X1 = X25519PrivateKey(seed("x25519-1")).public_key
X2 = X25519PrivateKey(seed("x25519-2")).public_key
MAILBOX = {
    "id": "#mailbox",
    "type": "AkashiMailbox",
    "serviceEndpoint": "https://registry.example/mailbox",
}


def _text(signed: dict[str, Any]) -> str:
    return serialize_event(signed).decode("utf-8")


def _state_json(state: KeyState) -> dict[str, Any]:
    return {
        "did": state.did,
        "seq": state.seq,
        "keys": [encode_multikey(k) for k in state.keys],
        "kt": state.kt,
        "next": list(state.next_digests),
        "nt": state.nt,
        "keyAgreement": [encode_multikey(k) for k in state.key_agreement],
        "service": [dict(s) for s in state.services],
        "deactivated": state.deactivated,
        "lastDigest": state.last_digest,
    }


def valid_log() -> tuple[list[dict[str, Any]], KeyState]:
    """The signed events of the valid log and the state they end in."""
    k = KEYS
    signed = [
        sign_event(
            incept(
                [k["device"].public_key],
                [k["paper"].public_key, k["device2"].public_key],
                nt=1,
                key_agreement=[X1],
                services=[MAILBOX],
            ),
            [k["device"]],
        )
    ]
    state = apply_event(None, signed[-1])
    signed.append(
        sign_event(update(state, key_agreement=[X2], services=[MAILBOX]), [k["device"]], state=state)
    )
    state = apply_event(state, signed[-1])
    # The phone is lost: the paper key (committed at inception) takes over.
    rot = rotate(state, [k["paper"].public_key], [k["new1"].public_key, k["new2"].public_key], nt=2)
    signed.append(sign_event(rot, [k["paper"]]))
    state = apply_event(state, signed[-1])
    rot = rotate(
        state,
        [k["new1"].public_key, k["new2"].public_key],
        [k["device2"].public_key],
        kt=2,
    )
    signed.append(sign_event(rot, [k["new1"], k["new2"]]))
    state = apply_event(state, signed[-1])
    return signed, state


def invalid_logs() -> list[dict[str, Any]]:
    """Named logs that replay must refuse, with the error class it raises."""
    k = KEYS
    good, _ = valid_log()
    first = apply_event(None, good[0])
    cases: list[dict[str, Any]] = []

    def case(name: str, events: list[dict[str, Any]], error: str) -> None:
        cases.append({"name": name, "events": [_text(e) for e in events], "error": error})

    stolen = sign_event(rotate(first, [k["thief"].public_key], [k["thief"].public_key]), [k["thief"]])
    case("rotation by a stolen current key to the thief's key", [good[0], stolen], "KeyStateError")
    forged = rotate(first, [k["paper"].public_key], [k["new1"].public_key])
    sig = b64url_encode(k["device"].sign(canonicalize(forged)))
    case(
        "paper key revealed, but signed by the current key",
        [good[0], {"event": forged, "sigs": [{"key": 0, "sig": sig}]}],
        "InvalidSignature",
    )
    case("events out of order", [good[0], good[2], good[1]], "KeyStateError")
    case("an event missing", [good[0], good[2]], "KeyStateError")
    case("an event twice", [good[0], good[1], good[1]], "KeyStateError")
    icp = dict(good[0]["event"], kt=1, nt=2)  # changed after the SCID was computed
    case("SCID does not match the inception", [sign_event(icp, [k["device"]])], "KeyStateError")
    dead = sign_event(deactivate(first, [k["paper"].public_key]), [k["paper"]])
    after = apply_event(first, dead)
    revived = dataclasses.replace(after, deactivated=False)  # the builder refuses a dead DID
    more = sign_event(rotate(revived, [k["new1"].public_key], [k["new2"].public_key]), [k["new1"]])
    case("an event after deactivation", [good[0], dead, more], "KeyStateError")
    return cases


def build() -> dict[str, str]:
    """File name -> file text of every vector file."""
    signed, state = valid_log()
    valid = {
        "description": "A did:akashi key event log that replays; see make_vectors.py.",
        "keySeeds": {name: seed(name).hex() for name in NAMES},
        "events": [_text(e) for e in signed],
        "state": _state_json(state),
        "didDocument": resolve_did_akashi(state),
    }
    invalid = {
        "description": "did:akashi key event logs that must be refused; see make_vectors.py.",
        "keySeeds": {name: seed(name).hex() for name in NAMES},
        "cases": invalid_logs(),
    }
    return {
        "valid-log.json": json.dumps(valid, indent=2, ensure_ascii=False) + "\n",
        "invalid-logs.json": json.dumps(invalid, indent=2, ensure_ascii=False) + "\n",
    }


def main() -> None:
    for name, text in build().items():
        (HERE / name).write_text(text, encoding="utf-8")
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
