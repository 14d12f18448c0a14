"""The verifier's side of issue 7 (verifier/inbox.py): a holder's address change, sent by the
wallet through the registry's mailbox, is fetched, opened, checked against its consent,
applied to the customer's record with its APPI receipt record, and acknowledged on the
ledger — exactly once, across restarts; under a consent revoked in flight it is rejected."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "holder_app"))

from services_world import Services, car_sharing_consent, services_and_wallet

from holder_app import updates
from holder_app.updates import plan_update, send_update
from holder_app.wallet import Wallet
from identity.credentials.updates import verify_update_ack
from registry.state import NOTICE, Notice
from verifier.cli import main
from verifier.config import VerifierConfig
from verifier.inbox import InboxStore, receive_updates
from verifier.policies import DEFAULT_POLICIES_FILE, write_default_policies
from verifier.setup import save_issuers, save_registry

NEW_ADDRESS = "大阪府大阪市北区中之島1-3-20"
OTHER_ADDRESS = "福岡県福岡市中央区天神1-8-1"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Services, Wallet]]:
    with services_and_wallet(tmp_path) as pair:
        yield pair


def customer_with_car_sharing(services: Services, wallet: Wallet) -> tuple[str, str, str]:
    """Hanako verified for car sharing (a consent allowing updates): (consent id, digest, her DID)."""
    cars = car_sharing_consent(services, wallet)
    [customer] = [c.customer for c in services.verifier.customers.customers()]
    return cars.id, cars.digest, customer


def send_address(wallet: Wallet, address: str) -> None:
    plan = plan_update(wallet, "address")
    [delivery] = send_update(wallet, plan, {"formatted": address}, date(2026, 12, 1))
    assert delivery.error is None and delivery.notice_index is not None


def notices(services: Services) -> list[Notice]:
    return [Notice.from_json(obj) for _, _, obj in services.registry.service.storage.state_items(NOTICE)]


def held(services: Services) -> int:
    count: int = services.registry.service.storage.mailbox.count(services.verifier.identity.did)
    return count


def test_an_address_change_is_applied_once_with_its_receipt_and_acked_on_the_ledger(
    world: tuple[Services, Wallet],
) -> None:
    services, wallet = world
    _, digest, customer = customer_with_car_sharing(services, wallet)
    send_address(wallet, NEW_ADDRESS)
    assert held(services) == 1

    verifier = services.verifier
    [result] = receive_updates(verifier)
    assert (result.status, result.reason, result.kind) == ("applied", None, "address")
    assert result.customer == customer
    assert result.acked and result.ack_index is not None and result.consent == digest

    [update] = verifier.customers.customer_updates(customer)
    assert update["value"] == {"formatted": NEW_ADDRESS} and update["effective_date"] == "2026-12-01"
    assert update["consent"] == digest and update["message"] == result.message
    current = verifier.customers.current_value
    assert current(customer, "address", date(2026, 12, 1)) == {"formatted": NEW_ADDRESS}
    assert current(customer, "address", date(2026, 11, 30)) is None
    [receipt] = verifier.customers.update_receipt_rows()
    assert receipt["customer"] == customer and receipt["items"] == ["address"]
    assert receipt["consent"]["receipt_digest"] == digest and receipt["provider"] == {"holder": customer}
    assert receipt["notice"]["proof"]["entry"]["type"] == "mailbox.notice"

    [notice] = notices(services)
    assert (notice.digest, notice.ack_status) == (result.message, "applied")
    assert held(services) == 0  # the ack deleted the ciphertext at the node

    [row] = InboxStore(verifier.database).rows()
    ack = verify_update_ack(
        row["ack_token"], verifier.identity.signing_key.public_key, now=int(verifier.clock()),
        verifier=verifier.identity.did, update_id=update["update_id"],
    )  # fmt: skip
    assert ack.status == "applied" and ack.holder == customer

    assert receive_updates(verifier) == []  # exactly once
    assert len(verifier.customers.customer_updates(customer)) == 1


def test_a_restarted_verifier_does_not_reprocess_and_the_cli_receives_what_is_new(
    world: tuple[Services, Wallet], capsys: pytest.CaptureFixture[str]
) -> None:
    services, wallet = world
    _, _, customer = customer_with_car_sharing(services, wallet)
    send_address(wallet, NEW_ADDRESS)
    [first] = receive_updates(services.verifier)

    # The same data folder opened by the command line: a new Verifier, a new ledger client.
    folder = services.verifier.config.data_dir
    config = VerifierConfig(data_dir=folder)
    write_default_policies(config.path(DEFAULT_POLICIES_FILE))
    save_issuers(config, [services.issuer.url])
    witness = services.registry.service.witness_verifier.vkey
    save_registry(config, services.registry.url, services.registry.config.genesis_file, [witness], 1)

    def inbox() -> dict[str, Any]:
        code = main(["inbox", "--data", str(folder), "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        document: dict[str, Any] = json.loads(out)
        return document

    assert inbox() == {"messages": []}  # restarted: nothing processed again
    send_address(wallet, OTHER_ADDRESS)
    [second] = inbox()["messages"]
    assert (second["status"], second["kind"], second["acked"]) == ("applied", "address", True)
    assert second["message"] != first.message
    assert receive_updates(services.verifier) == []  # the first instance does not take it again
    values = [u["value"]["formatted"] for u in services.verifier.customers.customer_updates(customer)]
    assert values == [NEW_ADDRESS, OTHER_ADDRESS]
    assert sorted(n.ack_status or "" for n in notices(services)) == ["applied", "applied"]
    assert held(services) == 0


def test_an_update_whose_consent_is_revoked_in_flight_is_rejected_and_acked_rejected(
    world: tuple[Services, Wallet], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, wallet = world
    consent_id, _, customer = customer_with_car_sharing(services, wallet)
    send_address(wallet, NEW_ADDRESS)
    verifier = services.verifier
    fetch = verifier.ledger.fetch_messages

    def fetch_then_revoke(*args: Any, **kwargs: Any) -> Any:
        answer = fetch(*args, **kwargs)  # fetched while the consent was active ...
        if answer[0]:
            wallet.revoke(consent_id)  # ... and revoked before the verifier applies it
        return answer

    monkeypatch.setattr(verifier.ledger, "fetch_messages", fetch_then_revoke)
    [result] = receive_updates(verifier)
    assert (result.status, result.reason, result.customer) == ("rejected", "consent-inactive", customer)
    assert result.acked and result.kind == "address"
    assert verifier.customers.customer_updates(customer) == []
    assert verifier.customers.update_receipt_rows() == []
    [notice] = notices(services)
    assert (notice.digest, notice.ack_status) == (result.message, "rejected")
    assert receive_updates(verifier) == []


def test_an_appi_request_notice_must_carry_an_erasure_or_stop_request(
    world: tuple[Services, Wallet], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, wallet = world
    _, _, customer = customer_with_car_sharing(services, wallet)
    verifier = services.verifier
    # a wallet that marks an address change as an APPI request (so the ledger lets it through)
    monkeypatch.setattr(updates, "APPI_KINDS", frozenset({"address", "erasure", "stop"}))
    plan = plan_update(wallet, "address", [verifier.identity.did])
    [delivery] = send_update(wallet, plan, {"formatted": NEW_ADDRESS}, date(2026, 12, 1))
    assert delivery.error is None
    [result] = receive_updates(verifier)
    assert (result.status, result.reason, result.kind) == ("rejected", "not-an-appi-request", "address")
    assert result.acked and verifier.customers.customer_updates(customer) == []
    [notice] = notices(services)
    assert notice.ack_status == "rejected"
