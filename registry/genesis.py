"""The genesis file of a registry log, and the governance that signs the trust registry.

The genesis is the one thing every node of a consortium must share before the
first entry (``specs/genesis.schema.json``)::

    {"v": 1,
     "origin": "akashi.example/registry",             the log's name (checkpoint line 1)
     "log_key": "akashi.example/registry+1a2b3c4d+AX…", its C2SP signed-note verifier key
     "governance": {"keys": ["z6Mk…", …], "threshold": 2},
     "members": [{did, role, legal_name, …, "version": 1}, …],   optional
     "created_at": 1767225600}

Rules of :func:`parse_genesis`, after the schema:

1. ``log_key`` is an Ed25519 verifier key whose name is the origin (the key name
   SHOULD match the origin, c2sp.org/tlog-checkpoint; akashi requires it).
2. Every governance key is a valid Ed25519 Multikey, and 1 <= threshold <= keys.
3. Initial members are sound (:func:`registry.state.check_member`), at version 1,
   one per DID. They are applied before the first entry as if governance had
   added them (:func:`genesis_changes`).

Governance approves ``member.*`` entries: each approval is an Ed25519 signature by
one governance key over the JCS bytes of ``{"type": <entry type>, "member": <member>}``
(:func:`approval_message`). The member's ``version`` is inside what is signed, and
each change must raise it by one, so an old approval can never be replayed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey
from identity.crypto.strict_json import loads_object
from identity.did.did_key import did_key_from_public_key
from identity.did.multikey import ed25519_from_multikey, encode_multikey
from identity.errors import MalformedInput, RejectedByRules
from identity.ledger.envelope import Envelope, sign_envelope
from identity.ledger.note import ED25519, Ed25519NoteVerifier, format_vkey
from identity.schemas import validate
from registry.state import MEMBER, Member, StateChange, check_member

__all__ = [
    "MAX_GENESIS_BYTES",
    "SCHEMA",
    "Genesis",
    "Governance",
    "approval_message",
    "approve",
    "create_genesis",
    "dump_genesis",
    "genesis_changes",
    "governance_signer",
    "load_genesis",
    "parse_genesis",
    "sign_member_entry",
]

SCHEMA = "genesis"
VERSION = 1
MAX_GENESIS_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Governance:
    """The keys that approve trust-registry changes, and how many distinct ones must."""

    keys: tuple[str, ...]  # Ed25519 Multikeys
    threshold: int

    def public_key(self, multikey: str) -> Ed25519PublicKey | None:
        """The governance key ``multikey`` names, or None if it is not one."""
        return ed25519_from_multikey(multikey) if multikey in self.keys else None

    def to_json(self) -> dict[str, Any]:
        """``{keys, threshold}``."""
        return {"keys": list(self.keys), "threshold": self.threshold}


@dataclass(frozen=True, slots=True)
class Genesis:
    """A parsed, checked genesis (build one with :func:`parse_genesis` or :func:`create_genesis`)."""

    origin: str
    log_key: str
    governance: Governance
    members: tuple[Member, ...]
    created_at: int

    def to_json(self) -> dict[str, Any]:
        """The genesis file's JSON object."""
        return {
            "v": VERSION,
            "origin": self.origin,
            "log_key": self.log_key,
            "governance": self.governance.to_json(),
            "members": [member.to_body() for member in self.members],
            "created_at": self.created_at,
        }

    @property
    def digest(self) -> str:
        """base64url SHA-256 of the JCS genesis: nodes compare it to know they share one."""
        return b64url_encode(sha256(canonicalize(self.to_json())))

    def log_verifier(self) -> Ed25519NoteVerifier:
        """The note verifier of the log's checkpoints."""
        return Ed25519NoteVerifier.from_vkey(self.log_key)


def parse_genesis(obj: Mapping[str, Any]) -> Genesis:
    """Check a genesis object (schema, rules 1-3) and return it."""
    validate(dict(obj), SCHEMA)
    verifier = Ed25519NoteVerifier.from_vkey(obj["log_key"])
    if verifier.name != obj["origin"]:  # 1
        raise MalformedInput(f"genesis log_key is named {verifier.name!r}, not the origin {obj['origin']!r}")
    keys = tuple(obj["governance"]["keys"])
    for multikey in keys:  # 2
        ed25519_from_multikey(multikey, what="governance key")
    threshold = obj["governance"]["threshold"]
    if threshold > len(keys):
        raise MalformedInput(f"governance threshold {threshold} exceeds its {len(keys)} keys")
    members = tuple(_initial_member(index, member) for index, member in enumerate(obj.get("members", [])))
    dids = [member.did for member in members]
    if len(set(dids)) != len(dids):  # 3
        raise MalformedInput("genesis lists a member DID twice")
    return Genesis(obj["origin"], obj["log_key"], Governance(keys, threshold), members, obj["created_at"])


def _initial_member(index: int, obj: Mapping[str, Any]) -> Member:
    if obj["version"] != 1:
        raise MalformedInput(f"genesis member {index} must be at version 1")
    try:
        return check_member(obj)  # 3
    except RejectedByRules as exc:
        raise MalformedInput(f"genesis member {index}: {exc.message}") from exc


def load_genesis(data: bytes | str) -> Genesis:
    """Parse a genesis file's bytes (strict JSON, at most :data:`MAX_GENESIS_BYTES`)."""
    if len(data) > MAX_GENESIS_BYTES:
        raise MalformedInput(f"genesis file is longer than {MAX_GENESIS_BYTES} bytes")
    return parse_genesis(loads_object(data, what="genesis"))


def dump_genesis(genesis: Genesis) -> bytes:
    """The genesis file: indented UTF-8 JSON for people to read, ending in a newline."""
    text = json.dumps(genesis.to_json(), indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def create_genesis(
    *,
    origin: str,
    log_key: Ed25519PublicKey,
    governance_keys: Sequence[Ed25519PublicKey],
    threshold: int,
    created_at: int,
    members: Sequence[Member] = (),
) -> Genesis:
    """A new genesis for a log named ``origin`` signed by ``log_key`` (checked like a loaded one)."""
    obj = {
        "v": VERSION,
        "origin": origin,
        "log_key": format_vkey(origin, ED25519, log_key.raw),
        "governance": {"keys": [encode_multikey(k) for k in governance_keys], "threshold": threshold},
        "members": [member.to_body() for member in members],
        "created_at": created_at,
    }
    return parse_genesis(obj)


def genesis_changes(genesis: Genesis) -> list[StateChange]:
    """The state changes of the initial members, applied before the log's first entry."""
    return [StateChange(MEMBER, member.did, member.to_json()) for member in genesis.members]


# --- governance approvals -------------------------------------------------------------------


def approval_message(entry_type: str, member: Mapping[str, Any]) -> bytes:
    """The bytes a governance key signs to approve ``entry_type`` for ``member``."""
    return canonicalize({"type": entry_type, "member": dict(member)})


def approve(entry_type: str, member: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, str]:
    """One approval ``{key, sig}`` by governance key ``key``."""
    signature = key.sign(approval_message(entry_type, member))
    return {"key": encode_multikey(key.public_key), "sig": b64url_encode(signature)}


def governance_signer(key: Ed25519PublicKey) -> str:
    """The envelope ``signer`` of a governance key: its did:key and Multikey fragment."""
    did = did_key_from_public_key(key)
    return f"{did}#{did.removeprefix('did:key:')}"


def sign_member_entry(
    entry_type: str,
    member: Mapping[str, Any],
    approvers: Sequence[Ed25519PrivateKey],
    *,
    submitter: Ed25519PrivateKey | None = None,
) -> Envelope:
    """A ``member.*`` entry approved by each of ``approvers``, signed by ``submitter``
    (default: the first approver) as a governance key."""
    if not approvers:
        raise ValueError("a member entry needs at least one approval")
    approvals = sorted((approve(entry_type, member, key) for key in approvers), key=lambda a: a["key"])
    signer = submitter or approvers[0]
    body = {"member": dict(member), "approvals": approvals}
    return sign_envelope(entry_type, body, governance_signer(signer.public_key), signer)
