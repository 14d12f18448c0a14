"""A filled wallet for the holder_app tests: fixed randomness, a fixed clock, fast KDF."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from random import Random

from holder_app.records import NewCopy
from holder_app.store import WalletStore
from identity.crypto.keys import Ed25519PrivateKey, RandomSource
from identity.crypto.passphrase import TEST_PARAMS
from identity.did.key_events import digest

PASSPHRASE = "correct horse battery staple 馬"
NOW = 1_767_225_600  # 2026-01-01 00:00:00 UTC
ROOT_DID = "did:akashi:" + digest(b"the holder's inception")
ISSUER = "did:akashi:" + digest(b"an identity provider")
CARSHARE = "did:akashi:" + digest(b"a car-sharing operator")
BIKESHARE = "did:akashi:" + digest(b"a bike-sharing operator")
#: Personal values that must never appear in the file's bytes outside a sealed box.
NAME = "YAMADA-HANAKO-山田花子"
ADDRESS = "東京都千代田区霞が関1-1-1"
ANCHOR = {"entry": {"index": 41}, "checkpoint": "example.jp/registry\n42\nAAAA\n"}


def seeded(seed: int) -> RandomSource:
    """A repeatable random source."""
    return Random(seed).randbytes


def key(name: str) -> Ed25519PrivateKey:
    """A fixed key, by name."""
    return Ed25519PrivateKey.from_seed(hashlib.sha256(name.encode()).digest())


def sd_jwt(copy: int) -> str:
    """Stands in for a compact SD-JWT whose disclosures carry personal values."""
    disclosures = f'["s1","name","{NAME}"]~["s2","address","{ADDRESS}"]~'
    return f"eyJhbGciOiJFZERTQSJ9.payload{copy}.sig~{disclosures}"


def new_wallet(path: Path, *, seed: int = 1, passphrase: str = PASSPHRASE) -> WalletStore:
    """An empty wallet with the test KDF parameters."""
    return WalletStore.create(path, passphrase, params=TEST_PARAMS, random=seeded(seed), clock=lambda: NOW)


def open_wallet(path: Path, passphrase: str = PASSPHRASE) -> WalletStore:
    """The wallet at ``path``, with the fixed clock."""
    return WalletStore.open(path, passphrase, random=seeded(99), clock=lambda: NOW)


@dataclass(frozen=True)
class Filled:
    """Ids of what :func:`fill` stored."""

    root: str
    next: str
    holders: tuple[str, ...]
    pairwise: str
    credential: str
    copies: tuple[str, ...]
    consent: str


def fill(store: WalletStore) -> Filled:
    """Store one of everything: keys of every role, the identity, a credential of three
    copies (one shown to the car-sharing operator), a consent and three log lines."""
    root = store.add_key("root", key("root"))
    nxt = store.add_key("next", key("next"))
    holders = tuple(store.add_key("holder", key(f"holder{i}")) for i in range(3))
    pairwise = store.add_key("pairwise", key("pairwise-carshare"), CARSHARE)
    store.set_identity(ROOT_DID, [{"event": {"type": "icp", "id": ROOT_DID}, "sigs": []}])
    credential = store.add_credential(
        vct="https://akashi.example/vct/kyc", issuer=ISSUER,
        issued_at=NOW - 3600, expires_at=NOW + 86400 * 365,
        copies=[NewCopy(sd_jwt(i), holder, f"digest{i}", ANCHOR) for i, holder in enumerate(holders)],
    )
    store.mark_copy_used(credential.copies[0].id, CARSHARE)
    consent = store.add_consent(
        receipt="eyJhbGciOiJFZERTQSJ9.consent.sig", digest="consent-digest", verifier=CARSHARE,
        purpose="kyc-rental", claims=[["verified_claims", "claims", "family_name"], ["age_over_20"]],
        expires_at=NOW + 86400 * 30, updates_allowed=True, anchor=ANCHOR,
    )
    store.log("issuance", outcome="completed", counterpart=ISSUER, claims=[["family_name"], ["address"]])
    store.log("presentation", outcome="completed", counterpart=CARSHARE, claims=[["age_over_20"]])
    store.log("presentation", outcome="refused", counterpart=BIKESHARE, reason="not in the trust registry")
    return Filled(
        root, nxt, holders, pairwise, credential.id, tuple(c.id for c in credential.copies), consent.id
    )
