"""did:akashi key event logs: rotation and recovery scenarios, chain rules, limits, wire format.

The scenario table follows python-tuf's tests/test_updater_key_rotations.py: one
named row per story, with the error replay must raise (None: the log is valid)
and, for valid logs, the keys that end up current.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity import errors
from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey, X25519PrivateKey
from identity.did.akashi import apply_event, replay, resolve_did_akashi
from identity.did.document import key_agreement_key, signing_key
from identity.did.key_events import (
    KelLimits,
    KeyState,
    add_signatures,
    deactivate,
    digest,
    event_digest,
    incept,
    key_digest,
    parse_event,
    rotate,
    scid_of,
    serialize_event,
    sign_event,
    update,
)
from identity.did.multikey import encode_multikey
from identity.errors import (
    AkashiError,
    InvalidSignature,
    KeyStateError,
    MalformedInput,
    SchemaViolation,
    UnknownKey,
)
from identity.schemas import validate

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
NAMES = ("device", "paper", "device2", "new1", "new2", "new3", "thief", "org1", "org2", "org3")
KEYS = {n: Ed25519PrivateKey.from_seed(sha256(b"did-akashi-test:" + n.encode())) for n in NAMES}
X1 = X25519PrivateKey(sha256(b"x1")).public_key
X2 = X25519PrivateKey(sha256(b"x2")).public_key
MAILBOX = {"id": "#mailbox", "type": "AkashiMailbox", "serviceEndpoint": "https://r.example/mb"}


def pub(*names: str) -> list[Ed25519PublicKey]:
    return [KEYS[n].public_key for n in names]


def priv(*names: str) -> list[Ed25519PrivateKey]:
    return [KEYS[n] for n in names]


def forge(event: dict[str, Any], *sigs: tuple[str, int]) -> dict[str, Any]:
    """A signed event whose signatures are made by any key, at any index."""
    message = canonicalize(event)
    return {
        "event": event,
        "sigs": [{"key": i, "sig": b64url_encode(KEYS[n].sign(message))} for n, i in sigs],
    }


class Log:
    """An honest history under construction; ``bad`` events are appended without applying."""

    def __init__(
        self,
        keys: tuple[str, ...] = ("device",),
        next_keys: tuple[str, ...] = ("paper", "device2"),
        *,
        kt: int = 1,
        nt: int = 1,
    ) -> None:
        icp = incept(pub(*keys), pub(*next_keys), kt=kt, nt=nt, key_agreement=[X1], services=[MAILBOX])
        self.events: list[dict[str, Any]] = [sign_event(icp, priv(*keys))]
        self.state = apply_event(None, self.events[0])

    def add(self, signed: dict[str, Any]) -> Log:
        self.events.append(signed)
        self.state = apply_event(self.state, signed)
        return self

    def bad(self, signed: dict[str, Any]) -> Log:
        self.events.append(signed)
        return self

    def rot(self, reveal: tuple[str, ...], next_keys: tuple[str, ...], **kw: int) -> Log:
        event = rotate(self.state, pub(*reveal), pub(*next_keys), **kw)
        return self.add(sign_event(event, priv(*reveal)))

    def upd(self, *signers: str) -> Log:
        event = update(self.state, key_agreement=[X2], services=[MAILBOX])
        return self.add(sign_event(event, priv(*signers), state=self.state))

    def dea(self, *reveal: str) -> Log:
        return self.add(sign_event(deactivate(self.state, pub(*reveal)), priv(*reveal)))

    def wire(self) -> list[bytes]:
        return [serialize_event(e) for e in self.events]


def org() -> Log:
    """An organisation: 2-of-3 current keys, 2-of-3 next keys."""
    return Log(("org1", "org2", "org3"), ("new1", "new2", "new3"), kt=2, nt=2)


def recommitted(event: dict[str, Any]) -> dict[str, Any]:
    """An inception changed on purpose, with its SCID recomputed so only the change matters."""
    return {**event, "id": "did:akashi:" + scid_of(event)}


@dataclasses.dataclass(frozen=True)
class Case:
    build: Callable[[], list[dict[str, Any]] | Log]
    error: type[AkashiError] | None
    keys: tuple[str, ...] = ()  # the current keys after a valid log


def _stolen_key_re_reveals_itself() -> Log:
    log = Log()
    return log.bad(sign_event(rotate(log.state, pub("device"), pub("thief")), priv("device")))


def _stolen_key_rotates_to_thief() -> Log:
    log = Log()
    return log.bad(sign_event(rotate(log.state, pub("thief"), pub("thief")), priv("thief")))


def _next_key_revealed_but_current_key_signs() -> Log:
    log = Log()
    return log.bad(forge(rotate(log.state, pub("paper"), pub("new1")), ("device", 0)))


def _wrong_next_key() -> Log:
    log = Log()
    return log.bad(sign_event(rotate(log.state, pub("new1"), pub("new2")), priv("new1")))


def _org_rotation(*signers: str) -> Callable[[], Log]:
    def build() -> Log:
        log = org()
        event = rotate(log.state, pub("new1", "new2", "new3"), pub("org1", "org2"), kt=2, nt=1)
        return log.bad(sign_event(event, priv(*signers)))

    return build


def _duplicate_signatures() -> Log:
    log = org()
    event = rotate(log.state, pub("new1", "new2"), pub("org1"), kt=2)
    signed = sign_event(event, priv("new1"))
    return log.bad(add_signatures(signed, priv("new1")))  # the same key, twice


def _org_update_by_one() -> Log:
    log = org()
    return log.bad(sign_event(update(log.state, key_agreement=[X2]), priv("org1"), state=log.state))


def _inception_below_threshold() -> list[dict[str, Any]]:
    icp = incept(pub("org1", "org2"), pub("new1"), kt=2)
    return [sign_event(icp, priv("org1"))]


def _threshold_above_key_count() -> list[dict[str, Any]]:
    icp = recommitted({**incept(pub("org1", "org2"), pub("new1")), "kt": 3})
    return [sign_event(icp, priv("org1", "org2"))]


def _retired_key_updates_after_recovery() -> Log:
    log = Log().rot(("paper",), ("new1", "new2"))
    return log.bad(forge(update(log.state, key_agreement=[X2]), ("device", 0)))


def _second_rotation_by_dropped_key() -> Log:
    # device2 was committed at inception, but the first rotation committed only to new1.
    log = Log().rot(("paper",), ("new1",))
    return log.bad(sign_event(rotate(log.state, pub("device2"), pub("new2")), priv("device2")))


def _after_deactivation() -> Log:
    log = Log().dea("paper")
    revived = dataclasses.replace(log.state, deactivated=False)  # builders refuse a dead DID
    return log.bad(sign_event(rotate(revived, pub("new1"), pub("new2")), priv("new1")))


def _deactivation_by_stolen_current_key() -> Log:
    log = Log()
    return log.bad(sign_event(deactivate(log.state, pub("device")), priv("device")))


def _reordered() -> list[dict[str, Any]]:
    events = Log().upd("device").upd("device").events
    return [events[0], events[2], events[1]]


def _missing() -> list[dict[str, Any]]:
    events = Log().upd("device").upd("device").events
    return [events[0], events[2]]


def _duplicated() -> list[dict[str, Any]]:
    events = Log().upd("device").events
    return [events[0], events[1], events[1]]


def _tampered_prev() -> Log:
    log = Log().upd("device")
    event = update(log.state, key_agreement=[X1])
    event["prev"] = event_digest(log.events[0]["event"])  # skips the update
    return log.bad(sign_event(event, priv("device"), state=log.state))


def _wrong_sequence_number() -> Log:
    log = Log()
    event = {**update(log.state, key_agreement=[X1]), "seq": 2}
    return log.bad(sign_event(event, priv("device"), state=log.state))


def _scid_mismatch() -> list[dict[str, Any]]:
    icp = incept(pub("device"), pub("paper", "device2"))
    icp["next"] = [key_digest(KEYS["thief"].public_key)]  # changed after the SCID was computed
    return [sign_event(icp, priv("device"))]


def _event_for_another_did() -> Log:
    log = Log()
    other = Log(("org1",), ("org2",))
    event = {**update(log.state, key_agreement=[X2]), "id": other.state.did}
    return log.bad(sign_event(event, priv("device"), state=log.state))


def _second_inception() -> list[dict[str, Any]]:
    first = Log().events[0]
    return [first, first]


def _starts_with_rotation() -> list[dict[str, Any]]:
    log = Log().rot(("paper",), ("new1",))
    return log.events[1:]


def _index_out_of_range() -> Log:
    log = Log()
    return log.bad(forge(update(log.state, key_agreement=[X2]), ("device", 3)))


def _changed_after_signing() -> Log:
    log = Log()
    signed = sign_event(update(log.state, key_agreement=[X2]), priv("device"), state=log.state)
    signed["event"]["keyAgreement"] = [encode_multikey(X1)]
    return log.bad(signed)


CASES: dict[str, Case] = {
    "normal rotation to a pre-committed key": Case(
        lambda: Log().rot(("paper",), ("new1",)), None, ("paper",)
    ),
    "rotation with a key that was never committed": Case(_wrong_next_key, KeyStateError),
    "stolen current key rotates to the thief's key": Case(_stolen_key_rotates_to_thief, KeyStateError),
    "stolen current key re-reveals itself": Case(_stolen_key_re_reveals_itself, KeyStateError),
    "next key revealed, but only the stolen current key signs": Case(
        _next_key_revealed_but_current_key_signs, InvalidSignature
    ),
    "recovery 1-of-2 with the paper key (phone lost)": Case(
        lambda: Log().rot(("paper",), ("new1", "new2")), None, ("paper",)
    ),
    "recovery 1-of-2 with the second device": Case(
        lambda: Log().rot(("device2",), ("new1",)), None, ("device2",)
    ),
    "recovery with both next keys": Case(
        lambda: Log().rot(("paper", "device2"), ("new1",), kt=2), None, ("paper", "device2")
    ),
    "retired device key cannot update after recovery": Case(
        _retired_key_updates_after_recovery, InvalidSignature
    ),
    "org 2-of-3 rotation signed by two": Case(_org_rotation("new1", "new3"), None),
    "org 2-of-3 rotation signed by one: below threshold": Case(_org_rotation("new2"), KeyStateError),
    "org rotation with one key signing twice counts once": Case(_duplicate_signatures, KeyStateError),
    "org 2-of-3 update signed by one: below threshold": Case(_org_update_by_one, KeyStateError),
    "org 2-of-3 update signed by two": Case(lambda: org().upd("org1", "org3"), None),
    "inception below its own threshold": Case(_inception_below_threshold, KeyStateError),
    "threshold larger than the key list": Case(_threshold_above_key_count, KeyStateError),
    "update then rotate": Case(lambda: Log().upd("device").rot(("device2",), ("new1",)), None, ("device2",)),
    "rotate twice (second rotation uses the newly committed key)": Case(
        lambda: Log().rot(("paper",), ("new1",)).rot(("new1",), ("new2",)), None, ("new1",)
    ),
    "rotate twice, the second by a key the first one dropped": Case(
        _second_rotation_by_dropped_key, KeyStateError
    ),
    "deactivation by a next key": Case(lambda: Log().dea("paper"), None, ()),
    "deactivation by the stolen current key": Case(_deactivation_by_stolen_current_key, KeyStateError),
    "anything after deactivation": Case(_after_deactivation, KeyStateError),
    "events reordered": Case(_reordered, KeyStateError),
    "an event missing": Case(_missing, KeyStateError),
    "an event duplicated": Case(_duplicated, KeyStateError),
    "wrong sequence number": Case(_wrong_sequence_number, KeyStateError),
    "tampered prior digest": Case(_tampered_prev, KeyStateError),
    "SCID mismatch": Case(_scid_mismatch, KeyStateError),
    "event of another DID spliced in": Case(_event_for_another_did, KeyStateError),
    "second inception": Case(_second_inception, KeyStateError),
    "log starting with a rotation": Case(_starts_with_rotation, KeyStateError),
    "signature names a key index out of range": Case(_index_out_of_range, UnknownKey),
    "event changed after signing": Case(_changed_after_signing, InvalidSignature),
}


def _events(case: Case) -> list[dict[str, Any]]:
    built = case.build()
    return built.events if isinstance(built, Log) else built


@pytest.mark.parametrize("name", list(CASES))
def test_key_rotation_scenarios(name: str) -> None:
    case = CASES[name]
    events = _events(case)
    wire = [serialize_event(e) for e in events]
    if case.error is None:
        state = replay(wire)
        assert replay(events) == state  # parsed objects replay the same as bytes
        if case.keys or state.deactivated:
            assert state.keys == tuple(pub(*case.keys))
    else:
        with pytest.raises(case.error):
            replay(wire)
        with pytest.raises(case.error):
            replay(events)


def test_state_after_update_and_recovery() -> None:
    log = Log().upd("device").rot(("paper",), ("new1", "new2"), nt=2)
    state = replay(log.wire(), did=log.state.did)
    assert state == log.state
    assert state.seq == 2
    assert state.keys == tuple(pub("paper"))
    assert state.next_digests == (key_digest(pub("new1")[0]), key_digest(pub("new2")[0]))
    assert (state.kt, state.nt) == (1, 2)
    assert state.key_agreement == (X2,)
    assert state.last_digest == event_digest(log.events[-1]["event"])
    assert not state.deactivated


def test_replay_for_the_wrong_did() -> None:
    other = Log(("org1",), ("org2",)).state.did
    with pytest.raises(KeyStateError):
        replay(Log().wire(), did=other)


def test_deactivated_state_has_no_keys_and_no_document() -> None:
    state = Log().dea("paper", "device2").state
    assert state.deactivated and state.keys == () and state.next_digests == ()
    with pytest.raises(KeyStateError):
        resolve_did_akashi(state)
    with pytest.raises(ValueError):  # builders refuse too
        update(state)


def test_did_document_of_a_state() -> None:
    log = Log().rot(("paper",), ("new1",))
    document = resolve_did_akashi(log.state)
    validate(document, "did-document")
    did = log.state.did
    kid = f"{did}#{encode_multikey(pub('paper')[0])}"
    assert document["id"] == did
    assert signing_key(document, kid) == pub("paper")[0]
    assert signing_key(document, kid, relationship="capabilityInvocation") == pub("paper")[0]
    assert key_agreement_key(document) == X1
    assert document["service"] == [{**MAILBOX, "id": did + "#mailbox"}]


def test_scid_construction() -> None:
    icp = Log().events[0]["event"]
    did = icp["id"]
    assert did.startswith("did:akashi:Qm") and len(did) == len("did:akashi:") + 46
    placeholder = {**icp, "id": "did:akashi:{SCID}"}
    assert did == "did:akashi:" + digest(canonicalize(placeholder))


def test_digest_is_the_did_webvh_entry_hash_construction() -> None:
    vector = json.loads((VECTORS / "didwebvh" / "entry-hash-example.json").read_text())
    assert digest(canonicalize(vector["preliminary_entry"])) == vector["expected_entryHash"]


# --- limits, wire format, schema ----------------------------------------------------------


def test_limits_are_checked_first() -> None:
    wire = Log().upd("device").upd("device").wire()
    with pytest.raises(MalformedInput, match="more than 2 events"):
        replay(wire, KelLimits(max_events=2))
    with pytest.raises(MalformedInput, match="exceed"):
        log = Log().upd("device")
        apply_event(log.state, Log().wire()[0], KelLimits(max_events=2))
    with pytest.raises(MalformedInput, match="bytes"):
        replay(wire, KelLimits(max_event_bytes=100))
    with pytest.raises(MalformedInput, match="keys"):
        replay(org().wire(), KelLimits(max_keys=2))
    with pytest.raises(MalformedInput, match="services"):
        replay(wire, KelLimits(max_services=0))
    with pytest.raises(KeyStateError):
        replay([])


def test_wire_form_is_canonical_json_only() -> None:
    wire = Log().wire()[0]
    assert parse_event(wire) == json.loads(wire)
    for spelling in (
        json.dumps(json.loads(wire), indent=1).encode(),  # whitespace
        wire.replace(b'"kt":1', b'"kt":1.0'),  # another spelling of a number
        wire[:-1] + b',"event":{}}',  # a duplicate member
        wire.replace(b"{", b"\xff", 1),  # not UTF-8
    ):
        with pytest.raises(MalformedInput):
            parse_event(spelling)
    with pytest.raises(MalformedInput):
        parse_event(json.loads(wire))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda s: s["event"].update(kt=0), "/event/kt"),
        (lambda s: s["event"].update(extra=1), "/event"),
        (lambda s: s["event"].update(keys=["z6LS" + "1" * 44]), "/event/keys/0"),
        (lambda s: s["sigs"][0].update(key=-1), "/sigs/0/key"),
        (lambda s: s["sigs"].clear(), "/sigs"),
        (lambda s: s["event"].update(type="xyz"), "/event/type"),
        (
            lambda s: s["event"]["service"][0].update(serviceEndpoint="ftp://x"),
            "/event/service/0/serviceEndpoint",
        ),
    ],
)
def test_schema_names_the_bad_field(change: Callable[[dict[str, Any]], None], field: str) -> None:
    signed = json.loads(Log().wire()[0])
    validate(signed, "did-key-event")
    change(signed)
    with pytest.raises(SchemaViolation) as info:
        replay([serialize_event(signed)])
    assert info.value.path == field


def test_every_event_type_validates() -> None:
    log = Log().upd("device").rot(("paper",), ("new1",)).dea("new1")
    for signed in log.events:
        validate(signed, "did-key-event")


def test_builders_refuse_misuse() -> None:
    with pytest.raises(ValueError):
        incept(pub("device"), pub("paper"), kt=2)
    with pytest.raises(ValueError):
        incept(pub("device"), [], nt=1)
    state = Log().state
    with pytest.raises(ValueError):  # the thief is not an authorising key
        sign_event(update(state), priv("thief"), state=state)
    with pytest.raises(ValueError):  # an update needs the state to find its keys
        sign_event(update(state), priv("device"))


# --- generated vectors --------------------------------------------------------------------

GENERATED = VECTORS / "generated" / "did-akashi"


def test_generated_vectors_are_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("make_did_akashi", GENERATED / "make_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, text in module.build().items():
        assert (GENERATED / name).read_text(encoding="utf-8") == text, name


def test_generated_valid_log() -> None:
    vector = json.loads((GENERATED / "valid-log.json").read_text())
    state = replay([e.encode() for e in vector["events"]], did=vector["state"]["did"])
    assert [encode_multikey(k) for k in state.keys] == vector["state"]["keys"]
    assert state.last_digest == vector["state"]["lastDigest"]
    assert resolve_did_akashi(state) == vector["didDocument"]


@pytest.mark.parametrize(
    "case",
    json.loads((GENERATED / "invalid-logs.json").read_text())["cases"],
    ids=lambda c: c["name"],
)
def test_generated_invalid_logs(case: dict[str, Any]) -> None:
    with pytest.raises(getattr(errors, case["error"])):
        replay([e.encode() for e in case["events"]])


# --- properties ---------------------------------------------------------------------------

FLIP_LOG = Log().upd("device").rot(("paper", "device2"), ("new1",), kt=2).wire()


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.data())
def test_any_flipped_byte_is_rejected(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(FLIP_LOG) - 1))
    position = data.draw(st.integers(0, len(FLIP_LOG[index]) - 1))
    mask = data.draw(st.integers(1, 255))
    flipped = bytearray(FLIP_LOG[index])
    flipped[position] ^= mask
    log = list(FLIP_LOG)
    log[index] = bytes(flipped)
    with pytest.raises(AkashiError):
        replay(log)


@settings(max_examples=25, derandomize=True, deadline=None)
@given(
    st.lists(st.binary(min_size=32, max_size=32), min_size=2, max_size=6, unique=True),
    st.data(),
)
def test_rotation_round_trip(seeds: list[bytes], data: st.DataObject) -> None:
    keys = [Ed25519PrivateKey.from_seed(s) for s in seeds]
    split = data.draw(st.integers(1, len(keys) - 1))
    current, following = keys[:split], keys[split:]
    kt = data.draw(st.integers(1, len(current)))
    nt = data.draw(st.integers(1, len(following)))
    icp = sign_event(
        incept([k.public_key for k in current], [k.public_key for k in following], kt=kt, nt=nt),
        current[:kt],
    )
    state = replay([serialize_event(icp)])
    rot = sign_event(
        rotate(state, [k.public_key for k in following], [current[0].public_key]),
        following[:nt],
    )
    final = replay([serialize_event(icp), serialize_event(rot)])
    assert final.keys == tuple(k.public_key for k in following)
    assert final.next_digests == (key_digest(current[0].public_key),)
    assert isinstance(final, KeyState)
