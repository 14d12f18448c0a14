"""did:akashi key events: their wire format, their digests and how to make them.

A did:akashi identifier is controlled by a KERI-style key event log (KERI,
draft-ssmith-keri, "key event" and "pre-rotation"); :mod:`identity.did.akashi`
replays it. Every event is a JSON object (schema ``specs/did-key-event.schema.json``)::

    icp  inception    {type, id, seq=0, keys, kt, next, nt, keyAgreement, service}
    rot  rotation     {type, id, seq, prev, keys, kt, next, nt}
    upd  update       {type, id, seq, prev, keyAgreement, service}
    dea  deactivation {type, id, seq, prev, keys}

``keys`` are Ed25519 Multikeys (``z6Mk…``), ``kt`` how many of them must sign;
``next`` are digests of the keys that may sign the *next* rotation and ``nt``
how many of those must; ``keyAgreement`` are X25519 Multikeys (``z6LS…``);
``service`` entries are ``{id: "#name", type, serviceEndpoint}``.

A signed event is ``{"event": {...}, "sigs": [{"key": i, "sig": b64url}, ...]}``:
each signature is Ed25519 over the RFC 8785 (JCS) bytes of ``event``, and ``i``
indexes the event's own ``keys`` (``icp``, ``rot``, ``dea``) or, for ``upd``,
the current keys. Its serialised form is its JCS bytes, and only those: one
spelling per event.

Digests (one construction everywhere, as did:webvh uses for its SCID, entry
hashes and ``nextKeyHashes``): ``digest(b) = base58btc(0x12 0x20 ‖ SHA-256(b))``
— a sha2-256 multihash in bare base58btc, no multibase prefix, so always
``Qm`` and 44 more characters.

- event digest (``prev``) = digest(JCS(event)), signatures excluded;
- next-key digest = digest(UTF-8 of the key's Multikey string);
- SCID = digest(JCS(inception with ``id`` = ``"did:akashi:{SCID}"``)), the
  literal placeholder standing where the SCID will go; the DID is
  ``did:akashi:<SCID>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from identity.crypto.encoding import b64url_encode, multibase_b58_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey, X25519PublicKey
from identity.crypto.strict_json import loads_object
from identity.did.multikey import encode_multikey
from identity.errors import MalformedInput
from identity.schemas import validate

__all__ = [
    "DEFAULT_LIMITS",
    "EVENT_SCHEMA",
    "METHOD_PREFIX",
    "SCID_PLACEHOLDER",
    "KelLimits",
    "KeyState",
    "add_signatures",
    "check_event",
    "deactivate",
    "digest",
    "event_digest",
    "incept",
    "key_digest",
    "parse_event",
    "rotate",
    "scid_of",
    "serialize_event",
    "sign_event",
    "update",
]

METHOD_PREFIX = "did:akashi:"
SCID_PLACEHOLDER = "{SCID}"
EVENT_SCHEMA = "did-key-event"
_MULTIHASH_SHA256 = b"\x12\x20"


@dataclass(frozen=True, slots=True)
class KelLimits:
    """Bounds checked before any work: log length, list sizes, bytes per event."""

    max_events: int = 1000
    max_keys: int = 16  # per list: keys, next, keyAgreement, sigs
    max_services: int = 16
    max_event_bytes: int = 64 * 1024


DEFAULT_LIMITS = KelLimits()


@dataclass(frozen=True, slots=True)
class KeyState:
    """What a did:akashi key event log establishes, after its last event."""

    did: str
    seq: int
    keys: tuple[Ed25519PublicKey, ...]
    kt: int
    next_digests: tuple[str, ...]
    nt: int
    key_agreement: tuple[X25519PublicKey, ...]
    services: tuple[dict[str, str], ...]
    deactivated: bool
    last_digest: str


def digest(data: bytes) -> str:
    """Bare base58btc of the sha2-256 multihash of ``data`` (``Qm…``)."""
    return multibase_b58_encode(_MULTIHASH_SHA256 + sha256(data))[1:]


def key_digest(key: Ed25519PublicKey) -> str:
    """The pre-rotation commitment to ``key``: digest of its Multikey string."""
    return digest(encode_multikey(key).encode("ascii"))


def event_digest(event: Mapping[str, Any]) -> str:
    """The digest a following event names as ``prev``."""
    return digest(canonicalize(event))


def scid_of(inception: Mapping[str, Any]) -> str:
    """The SCID an inception event commits to (its ``id`` replaced by the placeholder)."""
    return digest(canonicalize({**inception, "id": METHOD_PREFIX + SCID_PLACEHOLDER}))


# --- making events (for honest callers: misuse is a ValueError) -------------------------


def _check_threshold(name: str, threshold: int, count: int) -> None:
    if not 1 <= threshold <= count:
        raise ValueError(f"{name} must be between 1 and {count}, not {threshold}")


def _services(services: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    return [dict(service) for service in services]


def incept(
    keys: Sequence[Ed25519PublicKey],
    next_keys: Sequence[Ed25519PublicKey],
    *,
    kt: int = 1,
    nt: int = 1,
    key_agreement: Sequence[X25519PublicKey] = (),
    services: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """An inception event; its ``id`` is the new ``did:akashi:<SCID>``."""
    _check_threshold("kt", kt, len(keys))
    _check_threshold("nt", nt, len(next_keys))
    event: dict[str, Any] = {
        "type": "icp",
        "id": METHOD_PREFIX + SCID_PLACEHOLDER,
        "seq": 0,
        "keys": [encode_multikey(k) for k in keys],
        "kt": kt,
        "next": [key_digest(k) for k in next_keys],
        "nt": nt,
        "keyAgreement": [encode_multikey(k) for k in key_agreement],
        "service": _services(services),
    }
    event["id"] = METHOD_PREFIX + scid_of(event)
    return event


def _following(state: KeyState, kind: str) -> dict[str, Any]:
    if state.deactivated:
        raise ValueError(f"{state.did} is deactivated")
    return {"type": kind, "id": state.did, "seq": state.seq + 1, "prev": state.last_digest}


def rotate(
    state: KeyState,
    keys: Sequence[Ed25519PublicKey],
    next_keys: Sequence[Ed25519PublicKey],
    *,
    kt: int = 1,
    nt: int = 1,
) -> dict[str, Any]:
    """A rotation revealing ``keys`` (committed to by ``state``), committing to ``next_keys``."""
    _check_threshold("kt", kt, len(keys))
    _check_threshold("nt", nt, len(next_keys))
    event = _following(state, "rot")
    event.update(
        keys=[encode_multikey(k) for k in keys],
        kt=kt,
        next=[key_digest(k) for k in next_keys],
        nt=nt,
    )
    return event


def update(
    state: KeyState,
    *,
    key_agreement: Sequence[X25519PublicKey] = (),
    services: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """An update replacing the document's keyAgreement keys and services."""
    event = _following(state, "upd")
    event.update(keyAgreement=[encode_multikey(k) for k in key_agreement], service=_services(services))
    return event


def deactivate(state: KeyState, keys: Sequence[Ed25519PublicKey]) -> dict[str, Any]:
    """A deactivation, revealing (and to be signed by) pre-committed next ``keys``."""
    event = _following(state, "dea")
    event["keys"] = [encode_multikey(k) for k in keys]
    return event


def _authorising_keys(event: Mapping[str, Any], state: KeyState | None) -> list[str]:
    if "keys" in event:
        return list(event["keys"])
    if state is None:
        raise ValueError("an update is signed by the current keys: pass the state")
    return [encode_multikey(k) for k in state.keys]


def add_signatures(
    signed: Mapping[str, Any],
    signers: Sequence[Ed25519PrivateKey],
    *,
    state: KeyState | None = None,
) -> dict[str, Any]:
    """``signed`` with one more signature per signer (for k-of-n signing on several devices)."""
    event = signed["event"]
    keys = _authorising_keys(event, state)
    message = canonicalize(event)
    sigs = [dict(sig) for sig in signed["sigs"]]
    for signer in signers:
        multikey = encode_multikey(signer.public_key)
        if multikey not in keys:
            raise ValueError("signer is not one of the keys that authorise this event")
        sigs.append({"key": keys.index(multikey), "sig": b64url_encode(signer.sign(message))})
    sigs.sort(key=lambda sig: (sig["key"], sig["sig"]))
    return {"event": event, "sigs": sigs}


def sign_event(
    event: Mapping[str, Any],
    signers: Sequence[Ed25519PrivateKey],
    *,
    state: KeyState | None = None,
) -> dict[str, Any]:
    """The signed event: ``event`` with a signature by each of ``signers``."""
    return add_signatures({"event": dict(event), "sigs": []}, signers, state=state)


# --- reading events ----------------------------------------------------------------------


def serialize_event(signed: Mapping[str, Any]) -> bytes:
    """The wire bytes of a signed event: its JCS canonical form."""
    return canonicalize(signed)


def _list_length(obj: Mapping[str, Any], name: str) -> int:
    value = obj.get(name)
    return len(value) if isinstance(value, list) else 0


def check_event(signed: object, limits: KelLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Check a parsed signed event against ``limits``, then its JSON Schema; return it."""
    if not isinstance(signed, dict):
        raise MalformedInput("a signed key event must be a JSON object")
    event = signed.get("event")
    lists = [_list_length(signed, "sigs")]
    if isinstance(event, dict):
        lists += [_list_length(event, name) for name in ("keys", "next", "keyAgreement")]
        if _list_length(event, "service") > limits.max_services:
            raise MalformedInput(f"key event has more than {limits.max_services} services")
    if max(lists) > limits.max_keys:
        raise MalformedInput(f"key event lists more than {limits.max_keys} keys or signatures")
    validate(signed, EVENT_SCHEMA)
    return signed


def parse_event(data: bytes, limits: KelLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Parse the wire bytes of a signed event: size, strict JSON, canonical form, schema."""
    if not isinstance(data, bytes):
        raise MalformedInput("a serialised key event must be bytes")
    if len(data) > limits.max_event_bytes:
        raise MalformedInput(f"key event is larger than {limits.max_event_bytes} bytes")
    signed = loads_object(data, what="key event")
    if canonicalize(signed) != data:
        raise MalformedInput("key event is not in its canonical (JCS) form")
    return check_event(signed, limits)
