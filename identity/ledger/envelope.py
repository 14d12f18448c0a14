"""Ledger entry envelopes: the signed unit every ledger leaf holds.

::

    {"v": 1, "type": "did.rotate", "body": {…},
     "signer": "did:akashi:Qm…#key-1", "sig": "<base64url Ed25519 signature>"}

The shape is ``specs/ledger-envelope.schema.json``. Rules:

1. The envelope is a JSON object without duplicate names, at most
   ``max_bytes`` long, and satisfies the schema (``v`` is 1, ``type`` one of
   the entry types, ``body`` an object, ``signer`` a DID URL with a fragment
   naming the key, ``sig`` unpadded base64url).
2. ``sig`` decodes to exactly 64 bytes.
3. The signature is Ed25519 over the RFC 8785 (JCS) bytes of the envelope
   *without* ``sig`` — that is ``v``, ``type``, ``body`` and ``signer``. The
   architecture brief names only type and body; binding ``v`` and ``signer``
   too means nobody can relabel a signed entry (change its version or claimed
   key) and so mint a second, different leaf from one signature.
4. The key is the signer's: the caller passes it, or a resolver (a mapping
   or a callable) from the ``signer`` string to the key, which raises
   :class:`~identity.errors.UnknownKey` (or another akashi error) when it has
   none. Whether that key may sign this entry *here* is for the ledger rules.
5. The leaf of the Merkle tree is the JCS of the whole envelope
   (:func:`entry_bytes`); leaf bytes read back from a log must be exactly
   canonical (:func:`parse_entry`), so one entry has one leaf.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypedDict, cast

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.jcs import canonicalize
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey
from identity.crypto.strict_json import loads_object
from identity.errors import MalformedInput, UnknownKey
from identity.schemas import validate

__all__ = [
    "ENTRY_TYPES",
    "MAX_ENTRY_BYTES",
    "SCHEMA",
    "VERSION",
    "Envelope",
    "KeySource",
    "entry_bytes",
    "entry_digest",
    "parse_entry",
    "parse_envelope",
    "sign_envelope",
    "signing_input",
    "signing_input_from_entry",
    "split_signer",
    "verify_envelope",
    "verify_parsed_envelope",
]

SCHEMA = "ledger-envelope"
VERSION = 1
MAX_ENTRY_BYTES = 64 * 1024
_SIG_LEN = 64

#: The entry types of the architecture brief; the schema's enum is the authority.
ENTRY_TYPES = frozenset(
    {
        "did.create",
        "did.rotate",
        "did.update",
        "did.deactivate",
        "attestation.anchor",
        "status.publish",
        "consent.grant",
        "consent.revoke",
        "mailbox.notice",
        "mailbox.ack",
        "member.add",
        "member.update",
        "member.remove",
    }
)


class Envelope(TypedDict):
    """A ledger entry envelope (see the module docstring)."""

    v: int
    type: str
    body: dict[str, Any]
    signer: str
    sig: str


#: The signer's key, or where to look it up by the ``signer`` string.
KeySource = Ed25519PublicKey | Mapping[str, Ed25519PublicKey] | Callable[[str], Ed25519PublicKey]


def signing_input(envelope: Mapping[str, Any]) -> bytes:
    """The bytes the envelope's signature covers (rule 3)."""
    return canonicalize({name: envelope[name] for name in ("v", "type", "body", "signer")})


def sign_envelope(
    entry_type: str, body: Mapping[str, Any], signer: str, key: Ed25519PrivateKey
) -> Envelope:
    """A new envelope of ``entry_type`` with ``body``, signed by ``key`` as ``signer``."""
    unsigned = {"v": VERSION, "type": entry_type, "body": dict(body), "signer": signer}
    signature = key.sign(signing_input(unsigned))
    envelope = {**unsigned, "sig": b64url_encode(signature)}
    validate(envelope, SCHEMA)  # refuse to produce what others would refuse to read
    return cast(Envelope, envelope)


_SIGNER = re.compile(r"did:[a-z0-9]+:[A-Za-z0-9._%-]+(?::[A-Za-z0-9._%-]+)*#[A-Za-z0-9._~-]{1,128}")
_SIG = re.compile(r"[A-Za-z0-9_-]{86}")
_MEMBERS = frozenset({"v", "type", "body", "signer", "sig"})


def _has_envelope_shape(obj: Mapping[str, Any]) -> bool:
    """The envelope schema, written out: the ledger checks every entry it receives, and
    this is many times faster than the general validator. A property test holds the
    two equal; when this says no, the schema is asked, to say precisely why."""
    v, signer, sig = obj.get("v"), obj.get("signer"), obj.get("sig")
    return (
        obj.keys() == _MEMBERS
        and type(v) in (int, float)
        and v == 1
        and obj["type"] in ENTRY_TYPES
        and type(obj["body"]) is dict
        and type(signer) is str
        and len(signer) <= 512
        and _SIGNER.fullmatch(signer) is not None
        and type(sig) is str
        and _SIG.fullmatch(sig) is not None
    )


def parse_envelope(
    data: bytes | str | Mapping[str, Any],
    *,
    max_bytes: int = MAX_ENTRY_BYTES,
    check_jcs: bool = True,
) -> Envelope:
    """Check an envelope's shape (rules 1–2) without checking its signature.

    ``check_jcs=False`` skips checking that JCS can write the envelope, for a
    caller that canonicalises it next anyway (and so meets the same error there).
    """
    if isinstance(data, Mapping):
        obj = dict(data)
    else:
        if len(data) > max_bytes:  # 1: before parsing
            raise MalformedInput(f"ledger entry is longer than {max_bytes} bytes")
        obj = loads_object(data, what="ledger entry")
    if not _has_envelope_shape(obj):  # 1
        validate(obj, SCHEMA)
        raise MalformedInput("ledger entry does not have the shape of an envelope")
    _signature(obj)  # 2
    if check_jcs:
        # JCS must be able to write the body (I-JSON numbers), or no leaf exists.
        canonicalize(obj)
    return cast(Envelope, obj)


def signing_input_from_entry(data: bytes, envelope: Mapping[str, Any]) -> bytes:
    """:func:`signing_input`, cut out of the envelope's JCS bytes ``data`` (rule 5) instead
    of canonicalising again.

    In JCS the members sort as body, sig, signer, type, v: removing ``,"sig":"…"``
    leaves exactly the JCS of the other four. The last occurrence is the envelope's
    own: what follows it (signer, type, v) cannot contain that text.
    """
    member = b',"sig":"' + envelope["sig"].encode("ascii") + b'"'
    at = data.rfind(member)
    if at < 0 or not data.startswith(b'{"body":'):
        raise MalformedInput("ledger entry bytes do not hold its signature")
    return data[:at] + data[at + len(member) :]


def parse_entry(data: bytes, *, max_bytes: int = MAX_ENTRY_BYTES) -> Envelope:
    """Parse leaf bytes from a log: a valid envelope in exactly its JCS form (rule 5)."""
    envelope = parse_envelope(data, max_bytes=max_bytes)
    if entry_bytes(envelope) != data:
        raise MalformedInput("ledger entry bytes are not in canonical (JCS) form")
    return envelope


def verify_envelope(
    envelope: bytes | str | Mapping[str, Any],
    key: KeySource,
    *,
    max_bytes: int = MAX_ENTRY_BYTES,
) -> Envelope:
    """The envelope, if its signature verifies under the signer's key (rules 1–4).

    Raises :class:`~identity.errors.MalformedInput` (or its subclass
    ``SchemaViolation``) for a bad shape, :class:`~identity.errors.UnknownKey`
    when a resolver knows no key for the signer and
    :class:`~identity.errors.InvalidSignature` when the signature is wrong.
    """
    parsed = parse_envelope(envelope, max_bytes=max_bytes)
    public_key = _resolve(key, parsed["signer"])  # 4
    public_key.verify(_signature(parsed), signing_input(parsed))  # 3
    return parsed


def verify_parsed_envelope(
    envelope: Mapping[str, Any], key: KeySource, *, data: bytes | None = None
) -> Mapping[str, Any]:
    """Rules 3-4 for an envelope that :func:`parse_envelope` or :func:`parse_entry`
    already returned (so its shape is not checked twice). ``data``, the envelope's
    JCS bytes when the caller has them, saves canonicalising it again."""
    public_key = _resolve(key, envelope["signer"])  # 4
    message = signing_input(envelope) if data is None else signing_input_from_entry(data, envelope)
    public_key.verify(_signature(envelope), message)  # 3
    return envelope


def entry_bytes(envelope: Mapping[str, Any]) -> bytes:
    """The JCS bytes of the whole envelope: the Merkle leaf data (rule 5)."""
    return canonicalize(dict(envelope))


def entry_digest(envelope: Mapping[str, Any]) -> bytes:
    """SHA-256 of :func:`entry_bytes`: the entry's identity (e.g. for de-duplication)."""
    return sha256(entry_bytes(envelope))


def split_signer(signer: str) -> tuple[str, str]:
    """``(did, key fragment)`` of a ``signer`` value ``<did>#<key>``."""
    did, sep, fragment = signer.partition("#")
    if not sep or not did or not fragment:
        raise MalformedInput("signer must be <did>#<key>")
    return did, fragment


def _signature(envelope: Mapping[str, Any]) -> bytes:
    signature = b64url_decode(envelope["sig"], what="ledger entry signature")
    if len(signature) != _SIG_LEN:  # 2
        raise MalformedInput("ledger entry signature must be 64 bytes")
    return signature


def _resolve(key: KeySource, signer: str) -> Ed25519PublicKey:
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, Mapping):
        try:
            found = key[signer]
        except KeyError as exc:
            raise UnknownKey("no key is known for the entry's signer") from exc
    else:
        found = key(signer)
    if not isinstance(found, Ed25519PublicKey):
        raise TypeError("a key resolver must return an Ed25519PublicKey")
    return found
