"""The issuer's own identity and secrets in its data folder.

* ``signing.jwk`` — the current key of its did:akashi (signs credentials, status
  lists and ledger entries); ``next.jwk`` — the pre-committed next key (keep it
  offline in production: it is what rotates a stolen current key away);
* ``did.json`` — the signed inception event (the ``did.create`` body);
* ``data.key`` — 32 bytes sealing offers and the AML verification records;
* ``nonce.key`` — 32 bytes for stateless ``c_nonce`` values;
* ``admin.sha256`` — the SHA-256 of the operator's bearer token for the admin API
  (the token itself is shown once by ``init`` and written to ``admin.token``).

Every secret file is created readable by its owner only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PrivateKey, RandomSource
from identity.did.key_events import incept, sign_event
from identity.did.multikey import encode_multikey
from identity.errors import MalformedInput
from identity.jose.jwk import private_key_from_jwk, private_key_to_jwk
from identity.ledger.envelope import Envelope, sign_envelope
from identity.protocols.oid4vci.token import new_secret

__all__ = ["IssuerIdentity", "create_identity", "load_identity"]


@dataclass(frozen=True, slots=True)
class IssuerIdentity:
    """What the issuer signs with and seals with."""

    did: str
    signing_key: Ed25519PrivateKey
    inception: dict[str, Any]
    data_key: bytes
    nonce_key: bytes
    admin_token_hash: bytes

    @property
    def kid(self) -> str:
        """The key id of the signing key: ``<did>#<multikey>``."""
        return f"{self.did}#{encode_multikey(self.signing_key.public_key)}"

    def did_create_entry(self) -> Envelope:
        """The ``did.create`` ledger entry that puts this issuer's DID on the ledger."""
        return sign_envelope("did.create", self.inception, self.kid, self.signing_key)


def _write(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _key_bytes(key: Ed25519PrivateKey) -> bytes:
    return json.dumps(private_key_to_jwk(key)).encode()


def _read_key(path: Path) -> Ed25519PrivateKey:
    key = private_key_from_jwk(json.loads(path.read_text(encoding="utf-8")))
    if not isinstance(key, Ed25519PrivateKey):
        raise MalformedInput(f"{path} does not hold an Ed25519 key")
    return key


def create_identity(folder: Path, *, random: RandomSource = os.urandom) -> tuple[IssuerIdentity, str]:
    """Create the issuer's keys and secrets in ``folder``; the identity and the admin token."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "did.json").exists():
        raise MalformedInput(f"{folder} already holds an issuer; refusing to overwrite it")
    current, following = Ed25519PrivateKey.generate(random), Ed25519PrivateKey.generate(random)
    inception = sign_event(incept([current.public_key], [following.public_key]), [current])
    token = new_secret(random)
    _write(folder / "signing.jwk", _key_bytes(current))
    _write(folder / "next.jwk", _key_bytes(following))
    _write(folder / "data.key", random(32))
    _write(folder / "nonce.key", random(32))
    _write(folder / "admin.token", token.encode() + b"\n")
    (folder / "admin.sha256").write_text(sha256(token.encode()).hex() + "\n", encoding="ascii")
    (folder / "did.json").write_text(json.dumps(inception, indent=2) + "\n", encoding="utf-8")
    return load_identity(folder), token


def load_identity(folder: Path) -> IssuerIdentity:
    """Read the identity :func:`create_identity` wrote."""
    try:
        inception = json.loads((folder / "did.json").read_text(encoding="utf-8"))
        return IssuerIdentity(
            did=inception["event"]["id"],
            signing_key=_read_key(folder / "signing.jwk"),
            inception=inception,
            data_key=(folder / "data.key").read_bytes(),
            nonce_key=(folder / "nonce.key").read_bytes(),
            admin_token_hash=bytes.fromhex((folder / "admin.sha256").read_text(encoding="ascii").strip()),
        )
    except (OSError, ValueError, KeyError) as exc:
        raise MalformedInput(f"{folder} does not hold a readable issuer identity: {exc}") from exc
