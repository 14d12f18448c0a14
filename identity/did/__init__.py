"""Decentralized identifiers: did:key, did:akashi and reading DID documents.

- :mod:`~identity.did.did_key` — ``did:key`` (Ed25519): people's pairwise
  identifiers and holder-binding keys. A DID is its key; it never changes.
- :mod:`~identity.did.key_events` and :mod:`~identity.did.akashi` —
  ``did:akashi:<SCID>``: long-lived identifiers (organisations, a wallet's
  root) whose keys live in a KERI-style key event log on the ledger. The SCID
  is the digest of the inception event; every rotation is signed by keys whose
  digests the event before committed to (pre-rotation), so a stolen current key
  cannot rotate and a lost one is recovered with a next key kept offline.
  :func:`replay` verifies a log; :func:`resolve_did_akashi` turns the result
  into a DID document.
- :mod:`~identity.did.document` — finding verification methods and Ed25519 /
  X25519 keys in a DID document (Multikey or JWK).
- :mod:`~identity.did.url` — DID and ``did#fragment`` syntax, the form in which
  akashi names a signing key (ledger envelope ``signer``, JWS ``kid``).
- :mod:`~identity.did.multikey` — the ``z6Mk…`` / ``z6LS…`` key encoding.
"""

from identity.did.akashi import apply_event, replay, resolve_did_akashi
from identity.did.did_key import did_key_from_public_key, public_key_from_did_key, resolve_did_key
from identity.did.document import (
    find_verification_method,
    key_agreement_key,
    key_agreement_keys,
    public_key_of,
    signing_key,
    signing_keys,
)
from identity.did.key_events import (
    DEFAULT_LIMITS,
    KelLimits,
    KeyState,
    add_signatures,
    deactivate,
    event_digest,
    incept,
    key_digest,
    parse_event,
    rotate,
    serialize_event,
    sign_event,
    update,
)
from identity.did.url import DidUrl, did_url, parse_did, parse_did_url

__all__ = [
    "DEFAULT_LIMITS",
    "DidUrl",
    "KelLimits",
    "KeyState",
    "add_signatures",
    "apply_event",
    "deactivate",
    "did_key_from_public_key",
    "did_url",
    "event_digest",
    "find_verification_method",
    "incept",
    "key_agreement_key",
    "key_agreement_keys",
    "key_digest",
    "parse_did",
    "parse_did_url",
    "parse_event",
    "public_key_from_did_key",
    "public_key_of",
    "replay",
    "resolve_did_akashi",
    "resolve_did_key",
    "rotate",
    "serialize_event",
    "sign_event",
    "signing_key",
    "signing_keys",
    "update",
]
