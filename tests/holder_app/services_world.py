"""Live services on loopback for wallet tests: a registry node, an issuer trusting a test JPKI
CA, and a verifier with the default policies — each over real HTTP, as a wallet meets them."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

from akashi_demo.loopback import LoopbackIssuer, LoopbackRegistry, free_port, serve_in_thread
from holder_app.records import Consent
from holder_app.store import WalletStore
from holder_app.wallet import Wallet, create_wallet
from identity.crypto.passphrase import TEST_PARAMS
from issuer.evidence import LicenceTrust
from issuer.evidence.testca import (
    HANAKO_CARD,
    HANAKO_LICENCE,
    create_jpki_ca,
    create_licence_authority,
    sign_challenge,
    sign_licence,
)
from registry.client import ClientTrust, RegistryClient
from registry.genesis import sign_member_entry
from registry.state import Member, Purpose
from verifier.app import create_app
from verifier.config import VerifierConfig
from verifier.identity import create_identity
from verifier.policies import default_policies, parse_policies, registered_purposes
from verifier.service import Verifier
from verifier.setup import HttpStatusFetcher

PERSONAL = ["花子", "1998-07-15", "霞が関", "千代田区", "301234567890"]
#: The purposes the verifier registers: those of its default policies, with the claims each covers.
PURPOSES = tuple(Purpose.from_json(p) for p in registered_purposes(parse_policies(default_policies())))


class Services:
    """Registry, issuer and verifier on loopback; ``ledger`` is a client trusting the genesis."""

    def __init__(
        self,
        folder: Path,
        *,
        verifier_purposes: tuple[Purpose, ...] = PURPOSES,
        register_verifier: bool = True,
    ) -> None:
        self.now = time.time()
        self.registry = LoopbackRegistry(folder / "registry")
        self.trust = ClientTrust.from_genesis(
            self.registry.genesis, [self.registry.service.witness_verifier.vkey], 1
        )
        self.ledger = self.new_ledger_client()
        when = datetime.fromtimestamp(self.now, UTC)
        self.ca = create_jpki_ca(when)
        self.card = self.ca.issue_card(HANAKO_CARD, when)
        self.authority = create_licence_authority(when)
        self.issuer = LoopbackIssuer(
            folder / "issuer",
            jpki_trust=self.ca.trust(when),
            licence_trust=LicenceTrust((self.authority.certificate,)),
            ledger=self.ledger,
        )
        governance = self.registry.governance[:2]
        self.ledger.submit(self.issuer.identity.did_create_entry())
        member = Member(
            self.issuer.identity.did, "issuer", "株式会社テスト本人確認", "4010001234567", 1,
            evidence_methods=("jpki", "drivers_licence_ic"),
        )  # fmt: skip
        self.ledger.submit(sign_member_entry("member.add", member.to_body(), governance))
        identity, self.verifier_token = create_identity(folder / "verifier")
        self.ledger.submit(identity.did_create_entry())
        verifier_member = Member(
            identity.did, "verifier", "株式会社テストシェア", "2120901007402", 1, purposes=verifier_purposes
        )
        if register_verifier:
            self.ledger.submit(sign_member_entry("member.add", verifier_member.to_body(), governance))
        port = free_port()
        self.fetcher = HttpStatusFetcher()
        self.verifier = Verifier(
            VerifierConfig(data_dir=folder / "verifier", port=port),
            identity,
            ledger=self.new_ledger_client(),
            policies=parse_policies(default_policies()),
            issuers=[self.issuer.url],
            fetch_status_list=self.fetcher,
        )
        self._verifier_server = serve_in_thread(create_app(self.verifier), port)

    def new_ledger_client(self) -> RegistryClient:
        return RegistryClient(self.registry.url, trust=self.trust)

    def jpki_offer(self, card: Any = None) -> str:
        """Hanako's My Number card (or ``card``) checked at the issuer's counter: the offer URL
        for her wallet."""
        return str(self.jpki_check(card=card)["offer_url"])

    def moved_card(self, address: str) -> Any:
        """Her My Number card after she registered a move: a new certificate with ``address``."""
        when = datetime.fromtimestamp(self.now, UTC)
        return self.ca.issue_card(replace(HANAKO_CARD, address=address), when)

    def jpki_check(self, *, tx_code: bool = False, card: Any = None) -> dict[str, Any]:
        """The counter's JPKI check, as the issuer's admin API answers it (offer URLs, tx code)."""
        card = card or self.card
        admin = {"authorization": "Bearer " + self.issuer.admin_token}
        with httpx.Client(base_url=self.issuer.url, timeout=30) as counter:
            challenge = counter.post("/admin/challenges", headers=admin).json()
            signature = sign_challenge(
                cast(rsa.RSAPrivateKey, card.key), base64.urlsafe_b64decode(challenge["challenge"])
            )
            check = counter.post(
                "/admin/checks/jpki",
                headers=admin,
                json={
                    "challenge_id": challenge["id"],
                    "certificate": base64.b64encode(
                        card.certificate.public_bytes(Encoding.DER)
                    ).decode(),
                    "signature": base64.b64encode(signature).decode(),
                    "operator": "counter-1",
                    "tx_code": tx_code,
                },
            )
        assert check.status_code == 201, check.text
        answer: dict[str, Any] = check.json()
        return answer

    def licence_offer(self) -> str:
        """Hanako's driving licence read at the counter (IC chip signature, face compared): the
        offer of a KYC credential (method ヘ) and a licence credential."""
        data, signature = sign_licence(self.authority, HANAKO_LICENCE)
        body = {
            "data": base64.b64encode(data).decode(),
            "signature": base64.b64encode(signature).decode(),
            "face_compared": True,
            "operator": "counter-2",
        }
        admin = {"authorization": "Bearer " + self.issuer.admin_token}
        answer = httpx.post(self.issuer.url + "/admin/checks/licence", json=body, headers=admin, timeout=30)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["offer_url"])

    def request_url(self, policy: str) -> str:
        return self.verifier.new_request(policy).url

    def close(self) -> None:
        self._verifier_server.stop()
        self.verifier.close()
        self.verifier.ledger.close()
        self.fetcher.close()
        self.issuer.stop()
        self.ledger.close()
        self.registry.stop()


@contextmanager
def open_wallet(services: Services, folder: Path) -> Iterator[Wallet]:
    """A new wallet in ``folder`` (test KDF parameters) with its identity on ``services``'
    ledger, closed afterwards."""
    store = WalletStore.create(folder / "wallet.db", "correct horse battery staple", params=TEST_PARAMS)
    ledger = services.new_ledger_client()
    try:
        create_wallet(store, ledger)
        wallet = Wallet(store, ledger)
        try:
            yield wallet
        finally:
            wallet.close()
    finally:
        ledger.close()
        store.close()


@contextmanager
def services_and_wallet(folder: Path) -> Iterator[tuple[Services, Wallet]]:
    """:class:`Services` in ``folder/services`` and a new wallet in ``folder`` (see
    :func:`open_wallet`), all closed afterwards."""
    services = Services(folder / "services")
    try:
        with open_wallet(services, folder) as wallet:
            yield services, wallet
    finally:
        services.close()


def car_sharing_consent(services: Services, wallet: Wallet) -> Consent:
    """Her licence received and shown to the car-sharing operator: the consent she gave it
    (it allows updates and covers her address)."""
    wallet.receive(services.licence_offer())
    consent = wallet.approve(wallet.open_request(services.request_url("car-sharing"))).consent
    assert consent is not None
    return consent
