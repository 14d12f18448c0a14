"""The verifier's own identity in its data folder: a did:akashi whose current key signs
request objects and ledger entries, whose next key is pre-committed, and whose X25519
key agreement key receives sealed customer-data updates; and the operator's token.

Files (secrets readable by the owner only): ``signing.jwk``, ``next.jwk``,
``agreement.jwk`` (X25519), ``did.json`` (the signed inception), ``admin.token`` and
``admin.sha256``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PrivateKey, RandomSource, X25519PrivateKey
from identity.did.key_events import incept, sign_event
from identity.did.multikey import encode_multikey
from identity.errors import MalformedInput
from identity.jose.jwk import private_key_from_jwk, private_key_to_jwk
from identity.ledger.envelope import Envelope, sign_envelope
from identity.protocols.oid4vci.token import new_secret
from identity.protocols.oid4vp import client_id_for_did

__all__ = ["VerifierIdentity", "create_identity", "load_identity"]


@dataclass(frozen=True, slots=True)
class VerifierIdentity:
    """What the verifier signs with, and where sealed updates to it can be opened."""

    did: str
    signing_key: Ed25519PrivateKey
    agreement_key: X25519PrivateKey
    inception: dict[str, Any]
    admin_token_hash: bytes

    @property
    def kid(self) -> str:
        """``<did>#<multikey>`` of the signing key."""
        return f"{self.did}#{encode_multikey(self.signing_key.public_key)}"

    @property
    def client_id(self) -> str:
        """The OpenID4VP client identifier: the DID with its prefix."""
        return client_id_for_did(self.did)

    def did_create_entry(self) -> Envelope:
        """The ``did.create`` ledger entry for this verifier."""
        return sign_envelope("did.create", self.inception, self.kid, self.signing_key)


def _write(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def create_identity(folder: Path, *, random: RandomSource = os.urandom) -> tuple[VerifierIdentity, str]:
    """Create the verifier's keys in ``folder``; the identity and the operator token."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "did.json").exists():
        raise MalformedInput(f"{folder} already holds a verifier; refusing to overwrite it")
    current, following = Ed25519PrivateKey.generate(random), Ed25519PrivateKey.generate(random)
    agreement = X25519PrivateKey.generate(random)
    event = incept([current.public_key], [following.public_key], key_agreement=[agreement.public_key])
    inception = sign_event(event, [current])
    token = new_secret(random)
    for name, key in (("signing.jwk", current), ("next.jwk", following), ("agreement.jwk", agreement)):
        _write(folder / name, json.dumps(private_key_to_jwk(key)).encode())
    _write(folder / "admin.token", token.encode() + b"\n")
    (folder / "admin.sha256").write_text(sha256(token.encode()).hex() + "\n", encoding="ascii")
    (folder / "did.json").write_text(json.dumps(inception, indent=2) + "\n", encoding="utf-8")
    return load_identity(folder), token


def load_identity(folder: Path) -> VerifierIdentity:
    """Read what :func:`create_identity` wrote."""
    try:
        inception = json.loads((folder / "did.json").read_text(encoding="utf-8"))
        signing = private_key_from_jwk(json.loads((folder / "signing.jwk").read_text(encoding="utf-8")))
        agreement = private_key_from_jwk(json.loads((folder / "agreement.jwk").read_text(encoding="utf-8")))
        token_hash = bytes.fromhex((folder / "admin.sha256").read_text(encoding="ascii").strip())
    except (OSError, ValueError, KeyError) as exc:
        raise MalformedInput(f"{folder} does not hold a readable verifier identity: {exc}") from exc
    if not isinstance(signing, Ed25519PrivateKey) or not isinstance(agreement, X25519PrivateKey):
        raise MalformedInput(f"{folder} holds keys of the wrong types")
    return VerifierIdentity(inception["event"]["id"], signing, agreement, inception, token_hash)
