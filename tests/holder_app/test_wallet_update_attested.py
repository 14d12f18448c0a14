"""An address update backed by the identity provider (issue 7): after she registers her
move, the issuer re-checks her My Number card (whose certificate now carries the new
address) and issues a new KYC credential; her update carries, for each operator, a
presentation of the copy bound to that operator's key, disclosing only the address and how
it was verified. The operator applies the update only if the attestation holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from services_world import Services, car_sharing_consent, services_and_wallet

from holder_app import updates
from holder_app.records import StoredCredential
from holder_app.updates import plan_update, refresh_updates, send_update
from holder_app.wallet import Wallet
from identity.credentials.sdjwt import parse_claims_unverified
from identity.errors import PolicyError
from verifier.inbox import receive_updates

NEW_ADDRESS = "大阪府大阪市北区中之島1-3-20"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Services, Wallet]]:
    with services_and_wallet(tmp_path) as pair:
        yield pair


def moved(services: Services, wallet: Wallet) -> tuple[str, StoredCredential]:
    """Hanako, a car-sharing customer, moves; the issuer re-checks her card: (her pairwise
    DID at the operator, the new KYC credential)."""
    car_sharing_consent(services, wallet)
    [customer] = [c.customer for c in services.verifier.customers.customers()]
    [credential] = wallet.receive(services.jpki_offer(services.moved_card(NEW_ADDRESS)))
    return customer, credential


def address_of(credential: StoredCredential) -> Any:
    return parse_claims_unverified(credential.copies[0].sd_jwt)["verified_claims"]["claims"]["address"]


def test_an_attested_address_is_applied_and_its_issuer_recorded(world: tuple[Services, Wallet]) -> None:
    services, wallet = world
    customer, credential = moved(services, wallet)
    address = address_of(credential)
    assert NEW_ADDRESS in str(address)

    [delivery] = send_update(
        wallet, plan_update(wallet, "address"), None, date(2026, 12, 1), attest_with=credential.id
    )
    assert delivery.error is None
    [result] = receive_updates(services.verifier)
    assert (result.status, result.reason) == ("applied", None)
    assert services.verifier.customers.current_value(customer, "address", date(2026, 12, 1)) == address
    [receipt] = services.verifier.customers.update_receipt_rows()
    attestation = receipt["update"]["attestation"]
    assert receipt["update"]["attested"] is True
    assert attestation["issuer"] == services.issuer.identity.did and attestation["methods"] == ["jpki"]
    assert [u.status for u in refresh_updates(wallet)] == ["applied"]
    shown = [c for c in wallet.store.credential(credential.id).copies if c.used_by is not None]
    assert [c.used_by for c in shown] == [services.verifier.identity.did]  # the operator's slot only


def test_a_value_other_than_the_attested_one_is_refused_before_sending(
    world: tuple[Services, Wallet],
) -> None:
    services, wallet = world
    _, credential = moved(services, wallet)
    with pytest.raises(PolicyError):
        send_update(
            wallet, plan_update(wallet, "address"), {"formatted": "福岡県福岡市中央区天神1-8-1"},
            date(2026, 12, 1), attest_with=credential.id,
        )  # fmt: skip
    assert wallet.store.updates() == []


def test_an_attestation_that_does_not_back_the_value_is_rejected(
    world: tuple[Services, Wallet], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, wallet = world
    customer, credential = moved(services, wallet)
    monkeypatch.setattr(
        updates, "_attested_value", lambda *args: {"formatted": "福岡県福岡市中央区天神1-8-1"}
    )
    send_update(wallet, plan_update(wallet, "address"), None, date(2026, 12, 1), attest_with=credential.id)
    [result] = receive_updates(services.verifier)
    assert (result.status, result.reason) == ("rejected", "attestation-mismatch")
    assert services.verifier.customers.customer_updates(customer) == []
    assert [(u.status, u.reason) for u in refresh_updates(wallet)] == [("rejected", "attestation-mismatch")]


def test_an_attestation_bound_to_another_key_is_rejected(
    world: tuple[Services, Wallet], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, wallet = world
    customer, credential = moved(services, wallet)
    mine = updates._copy_bound_to

    def another_slots_copy(wallet: Wallet, credential: StoredCredential, key: Any) -> Any:
        own = mine(wallet, credential, key)
        return next(c for c in credential.copies if c.holder_key_id != own.holder_key_id)

    monkeypatch.setattr(updates, "_copy_bound_to", another_slots_copy)
    send_update(wallet, plan_update(wallet, "address"), None, date(2026, 12, 1), attest_with=credential.id)
    [result] = receive_updates(services.verifier)
    assert (result.status, result.reason) == ("rejected", "attestation-invalid")  # its KB-JWT fails
    assert services.verifier.customers.customer_updates(customer) == []
