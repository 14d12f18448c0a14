"""A registry service with the rules scenario on its ledger, for the mailbox tests: real keys,
DIDs, consents, sealed updates (identity/credentials/updates.py) and RFC 9421 signed fetches.

The node is a full :class:`~registry.service.Service` over a data folder (own witness,
SQLite in WAL mode), served in process by Starlette's TestClient with one event loop for
every request (so long-polls and posts meet), and a clock the tests move.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

from rules_world import GOVERNANCE, NEW_ADDRESS, T0, Holder, Org, World, base, counter_random, mk
from starlette.testclient import TestClient

from identity.credentials.updates import new_customer_update, seal_update, sign_update
from identity.crypto.encoding import b64url_encode
from identity.crypto.keys import Ed25519PrivateKey
from identity.http.content_digest import content_digest
from identity.http.message_signatures import format_http_date, sign_request
from identity.ledger.envelope import Envelope, sign_envelope
from registry.app import create_app
from registry.client import ClientTrust, RegistryClient
from registry.config import RegistryConfig
from registry.mailbox_auth import COVERED, MAILBOX_TAG
from registry.service import Service, init_data_dir, open_service

START = T0 + 500
SERVER = "http://testserver"
PATH = "/mailbox/messages"


class Clock:
    """A clock the test sets."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class MailboxNode:
    """A node whose ledger holds the scenario (issuers, the verifier, hanako's consent allowing
    updates), its HTTP app in process, and the verifier's registry client."""

    def __init__(self, folder: Path, **config: Any) -> None:
        self.folder = folder
        self.clock = Clock(START)
        settings = {"admission_workers": 0, "max_clock_skew": 10**9, **config}
        self.config = RegistryConfig(data_dir=folder, **settings)
        init_data_dir(
            self.config, origin="akashi.test/registry", governance_keys=3, threshold=2,
            governance_public=GOVERNANCE, now=T0 - 86400,
        )  # fmt: skip
        scenario = base()
        self.world: World = scenario.world
        self.consent = scenario.consent  # hanako -> verifier, updates allowed, until T0 + 1 year
        self.open()
        outcomes = self.client.submit_batch(self.world.history[:-1], prove=False)  # all but its notice
        assert all(not isinstance(o, Exception) for o in outcomes), outcomes

    def open(self) -> None:
        """Start the service (again) on the data folder."""
        self.service: Service = open_service(self.config, clock=self.clock)
        self.http = TestClient(create_app(self.service.node), raise_server_exceptions=False)
        self.http.__enter__()
        trust = ClientTrust.from_genesis(self.service.genesis, [self.service.witness_verifier.vkey], 1)
        self.client = RegistryClient(client=self.http, trust=trust, clock=self.clock)

    def close(self) -> None:
        """Stop the service and close its files."""
        self.http.__exit__(None, None, None)
        self.service.close()

    def restart(self) -> None:
        """Close everything and open the data folder again."""
        self.close()
        self.open()

    @property
    def verifier(self) -> Org:
        return self.world.verifier

    def keyid(self, org: Org, index: int = 0) -> str:
        """The DID URL of ``org``'s key ``index``."""
        return f"{org.did}#{mk(org.keys[index])}"

    def held(self, recipient: str | None = None) -> int:
        """How many ciphertexts the node keeps (for ``recipient``)."""
        return self.service.storage.mailbox.count(recipient)

    def database_bytes(self) -> bytes:
        """Every byte of every file in the node's data folder (database, WAL, witness)."""
        return b"".join(p.read_bytes() for p in sorted(self.folder.rglob("*")) if p.is_file())

    def post(self, notice: Envelope, ciphertext: bytes) -> Any:
        """POST /mailbox/messages, raw."""
        return self.http.post(PATH, json={"notice": notice, "ciphertext": b64url_encode(ciphertext)})

    def get(self, headers: dict[str, str], query: str = "?wait=0") -> Any:
        """GET /mailbox/messages with ``headers``, raw."""
        return self.http.get(PATH + query, headers=headers)


def sealed_update(
    world: World,
    holder: Holder,
    consent: str,
    *,
    sent_at: int,
    value: str = NEW_ADDRESS,
    recipient: str | None = None,
    purpose: str | None = None,
) -> tuple[Envelope, bytes]:
    """A real address update from ``holder``, signed and sealed to the verifier's X25519 key,
    and its signed mailbox.notice: ``(notice, ciphertext)``. With ``purpose="appi-request"``,
    an erasure request of the address instead, announced as such."""
    appi = purpose == "appi-request"
    change = new_customer_update(
        holder.key.public_key, kind="erasure" if appi else "address",
        value={"claims": ["address"]} if appi else {"formatted": value},
        effective_date=date(2026, 2, 1), issued_at=sent_at, recipient=world.verifier.did,
        consent_digest=consent, random=counter_random(f"mailbox:{holder.name}:{sent_at}:{value}:{purpose}"),
    )  # fmt: skip
    assert world.verifier.x25519 is not None
    sealed = seal_update(sign_update(change, holder.key), world.verifier.x25519.public_key)
    body = {
        "consent": consent,
        "recipient": recipient or world.verifier.did,
        "ciphertext_digest": sealed.digest,
        "sent_at": sent_at,
    }
    if purpose is not None:
        body["purpose"] = purpose
    return sign_envelope("mailbox.notice", body, holder.signer, holder.key), sealed.ciphertext


def signed_headers(
    key: Ed25519PrivateKey,
    keyid: str,
    now: int,
    *,
    query: str = "?wait=0",
    authority: str = SERVER,
    components: tuple[str, ...] = COVERED,
    nonce: str | None = "default",
    tag: str | None = MAILBOX_TAG,
    digest_of: bytes = b"",
    date_at: int | None = None,
) -> dict[str, str]:
    """RFC 9421 headers of a mailbox GET, with every knob a refusal test turns."""
    headers = {
        "Date": format_http_date(now if date_at is None else date_at),
        "Content-Digest": content_digest(digest_of),
    }
    signature = sign_request(
        method="GET", target_uri=authority + PATH + query, headers=headers, key=key, keyid=keyid,
        created=now, components=components, tag=tag,
        nonce=b64url_encode(os.urandom(18)) if nonce == "default" else nonce,
    )  # fmt: skip
    return {**headers, **signature}
