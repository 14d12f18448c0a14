"""did:akashi: replaying a key event log into a key state, and its DID document.

The events and digests are defined in :mod:`identity.did.key_events`. This is
the verifier: a pure state machine, bytes (or already-parsed objects) in, a
:class:`KeyState` out or a specific error. It follows KERI's rules for
pre-rotation (draft-ssmith-keri, "Pre-rotation"), made small:

Limits (checked before any work)
  L1. The log has at most ``max_events`` events.
  L2. Each event is at most ``max_event_bytes`` and lists at most ``max_keys``
      keys, digests and signatures and ``max_services`` services; then it
      must satisfy ``specs/did-key-event.schema.json``.
Chain
  C1. The first event is the inception (``icp``); no other event is.
  C2. The inception's ``id`` is ``did:akashi:`` + its own SCID (and the DID the
      caller expects, if one was given).
  C3. Every later event names the same DID, the next sequence number and, as
      ``prev``, the digest of the event before it.
  C4. Nothing follows a deactivation.
Keys
  K1. 1 <= ``kt`` <= number of ``keys`` and 1 <= ``nt`` <= number of ``next``.
  K2. A rotation or deactivation reveals keys whose digests are all among the
      previous ``next`` digests: only the pre-committed keys can take over, so a
      stolen current key cannot rotate, and a lost one is replaced with a next
      key kept offline.
Signatures
  S1. Each signature names a key of the authorising list: the event's own
      ``keys`` for ``icp``, ``rot`` and ``dea``; the current keys for ``upd``.
  S2. Every signature verifies over the JCS bytes of the event.
  S3. Distinct signing keys reach the threshold: ``kt`` (``icp``); current
      ``kt`` (``upd``); previous ``nt`` and new ``kt`` (``rot``); previous ``nt``
      (``dea``). A key that signs twice counts once.

Failures of C, K and S3 raise :class:`KeyStateError`; S1 :class:`UnknownKey`;
S2 :class:`InvalidSignature`; L1-L2 :class:`MalformedInput` or
:class:`SchemaViolation`.

Deactivation needs the next keys, like a rotation — not the current ones as a
first sketch had it: otherwise a thief holding only the current key could
destroy the identifier, and that, unlike a forged update, cannot be recovered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from identity.crypto.encoding import b64url_decode
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PublicKey, X25519PublicKey
from identity.did.did_key import DID_CONTEXT, KEY_FORMAT_CONTEXTS, SIGNING_RELATIONSHIPS
from identity.did.did_key import verification_method as _verification_method
from identity.did.key_events import (
    DEFAULT_LIMITS,
    METHOD_PREFIX,
    KelLimits,
    KeyState,
    check_event,
    digest,
    event_digest,
    parse_event,
    scid_of,
)
from identity.did.multikey import ed25519_from_multikey, x25519_from_multikey
from identity.errors import (
    InvalidSignature,
    KeyStateError,
    MalformedInput,
    UnknownKey,
)

__all__ = ["apply_event", "replay", "resolve_did_akashi"]


def replay(
    events: Sequence[bytes | Mapping[str, Any]],
    limits: KelLimits = DEFAULT_LIMITS,
    *,
    did: str | None = None,
) -> KeyState:
    """Verify a whole key event log and return the key state after its last event."""
    if len(events) > limits.max_events:  # L1
        raise MalformedInput(f"key event log has more than {limits.max_events} events")
    if not events:
        raise KeyStateError("key event log is empty")
    state = apply_event(None, events[0], limits, did=did)
    for event in events[1:]:
        state = apply_event(state, event, limits)
    return state


def apply_event(
    state: KeyState | None,
    signed: bytes | Mapping[str, Any],
    limits: KelLimits = DEFAULT_LIMITS,
    *,
    did: str | None = None,
) -> KeyState:
    """Verify one signed event at its position and return the new state.

    ``state`` is None for the inception, which must then be of ``did`` if given.
    """
    if state is not None and state.seq + 1 >= limits.max_events:  # L1, one event at a time
        raise MalformedInput(f"key event log would exceed {limits.max_events} events")
    parsed = _parsed(signed, limits)  # L2
    event, sigs = parsed["event"], parsed["sigs"]
    if state is None:
        return _inception(event, sigs, did)
    _check_chain(state, event)
    if event["type"] == "rot":
        return _rotation(state, event, sigs)
    if event["type"] == "upd":
        return _update(state, event, sigs)
    return _deactivation(state, event, sigs)


def _parsed(signed: bytes | Mapping[str, Any], limits: KelLimits) -> dict[str, Any]:
    if isinstance(signed, bytes):
        return parse_event(signed, limits)
    return check_event(signed, limits)


def _inception(event: dict[str, Any], sigs: list[dict[str, Any]], did: str | None) -> KeyState:
    if event["type"] != "icp":  # C1
        raise KeyStateError("a key event log must start with an inception event")
    expected = METHOD_PREFIX + scid_of(event)
    if event["id"] != expected:  # C2
        raise KeyStateError("inception event id does not match its SCID")
    if did is not None and expected != did:
        raise KeyStateError(f"key event log is for {expected}, not {did}")
    keys = _signing_keys(event["keys"])
    _check_thresholds(event)  # K1
    signers = _verified_signers(event, sigs, keys)  # S1, S2
    _require(signers, event["kt"], "inception")  # S3
    return KeyState(
        did=expected,
        seq=0,
        keys=keys,
        kt=event["kt"],
        next_digests=tuple(event["next"]),
        nt=event["nt"],
        key_agreement=_agreement_keys(event["keyAgreement"]),
        services=tuple(dict(s) for s in event["service"]),
        deactivated=False,
        last_digest=event_digest(event),
    )


def _check_chain(state: KeyState, event: Mapping[str, Any]) -> None:
    if state.deactivated:  # C4
        raise KeyStateError(f"{state.did} is deactivated; no event may follow")
    if event["type"] == "icp":  # C1
        raise KeyStateError("only the first event of a log may be an inception")
    if event["id"] != state.did:  # C3
        raise KeyStateError(f"event names {event['id']}, not {state.did}")
    if event["seq"] != state.seq + 1:
        raise KeyStateError(f"event has sequence number {event['seq']}, expected {state.seq + 1}")
    if event["prev"] != state.last_digest:
        raise KeyStateError("event does not name the digest of the event before it")


def _rotation(state: KeyState, event: dict[str, Any], sigs: list[dict[str, Any]]) -> KeyState:
    _check_precommitted(state, event["keys"])  # K2
    keys = _signing_keys(event["keys"])
    _check_thresholds(event)  # K1
    signers = _verified_signers(event, sigs, keys)  # S1, S2
    _require(signers, state.nt, "rotation (previous next-key threshold)")  # S3
    _require(signers, event["kt"], "rotation (new signing threshold)")
    return _replace(
        state,
        event,
        keys=keys,
        kt=event["kt"],
        next_digests=tuple(event["next"]),
        nt=event["nt"],
    )


def _update(state: KeyState, event: dict[str, Any], sigs: list[dict[str, Any]]) -> KeyState:
    signers = _verified_signers(event, sigs, state.keys)  # S1, S2
    _require(signers, state.kt, "update")  # S3
    return _replace(
        state,
        event,
        key_agreement=_agreement_keys(event["keyAgreement"]),
        services=tuple(dict(s) for s in event["service"]),
    )


def _deactivation(state: KeyState, event: dict[str, Any], sigs: list[dict[str, Any]]) -> KeyState:
    _check_precommitted(state, event["keys"])  # K2
    keys = _signing_keys(event["keys"])
    signers = _verified_signers(event, sigs, keys)  # S1, S2
    _require(signers, state.nt, "deactivation (previous next-key threshold)")  # S3
    # A deactivated state holds no keys at all, so nothing can mistake them for usable.
    return _replace(
        state,
        event,
        keys=(),
        kt=0,
        next_digests=(),
        nt=0,
        key_agreement=(),
        services=(),
        deactivated=True,
    )


def _replace(state: KeyState, event: Mapping[str, Any], **changes: Any) -> KeyState:
    fields = {
        "did": state.did,
        "seq": event["seq"],
        "keys": state.keys,
        "kt": state.kt,
        "next_digests": state.next_digests,
        "nt": state.nt,
        "key_agreement": state.key_agreement,
        "services": state.services,
        "deactivated": False,
        "last_digest": event_digest(event),
    }
    fields.update(changes)
    return KeyState(**fields)


def _signing_keys(multikeys: list[str]) -> tuple[Ed25519PublicKey, ...]:
    return tuple(ed25519_from_multikey(k, what="signing key") for k in multikeys)


def _agreement_keys(multikeys: list[str]) -> tuple[X25519PublicKey, ...]:
    return tuple(x25519_from_multikey(k, what="keyAgreement key") for k in multikeys)


def _check_thresholds(event: Mapping[str, Any]) -> None:
    if event["kt"] > len(event["keys"]):  # K1 (the schema already requires >= 1)
        raise KeyStateError(f"signing threshold {event['kt']} exceeds the number of keys")
    if event["nt"] > len(event["next"]):
        raise KeyStateError(f"next-key threshold {event['nt']} exceeds the number of digests")


def _check_precommitted(state: KeyState, multikeys: list[str]) -> None:
    committed = set(state.next_digests)
    for multikey in multikeys:  # K2: the Multikey text is canonical, so its digest is too
        if digest(multikey.encode("ascii")) not in committed:
            raise KeyStateError("a revealed key does not match the pre-committed next-key digests")


def _verified_signers(
    event: Mapping[str, Any], sigs: list[dict[str, Any]], keys: Sequence[Ed25519PublicKey]
) -> set[int]:
    message = canonicalize(event)
    signers: set[int] = set()
    for sig in sigs:
        index = sig["key"]
        if index >= len(keys):  # S1
            raise UnknownKey(f"signature names key {index}, but only {len(keys)} may sign")
        signature = b64url_decode(sig["sig"], what="key event signature")
        try:
            keys[index].verify(signature, message)  # S2
        except InvalidSignature:
            raise InvalidSignature("key event signature is invalid") from None
        signers.add(index)  # S3 counts distinct keys (the key lists have no duplicates)
    return signers


def _require(signers: set[int], threshold: int, what: str) -> None:
    if len(signers) < threshold:  # S3
        raise KeyStateError(f"{what} is signed by {len(signers)} distinct keys; {threshold} are required")


def resolve_did_akashi(state: KeyState) -> dict[str, Any]:
    """The DID document of a verified key state; a deactivated DID has none."""
    if state.deactivated:
        raise KeyStateError(f"{state.did} is deactivated")
    did = state.did
    signing = [_verification_method(did, key) for key in state.keys]
    agreement = [_verification_method(did, key) for key in state.key_agreement]
    document: dict[str, Any] = {
        "@context": [DID_CONTEXT, KEY_FORMAT_CONTEXTS["Multikey"]],
        "id": did,
        "verificationMethod": signing + agreement,
    }
    for relationship in SIGNING_RELATIONSHIPS:
        document[relationship] = [method["id"] for method in signing]
    if agreement:
        document["keyAgreement"] = [method["id"] for method in agreement]
    if state.services:
        document["service"] = [{**service, "id": did + service["id"]} for service in state.services]
    return document
