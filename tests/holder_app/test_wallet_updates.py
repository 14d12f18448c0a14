"""The wallet's side of issue 7: an address change goes, sealed, to exactly the consents that
allow updates and cover the address; the operator opens it with its own key; the registry
holds ciphertext only; the ledger refuses a notice under a revoked consent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from services_world import Services, car_sharing_consent, services_and_wallet

from holder_app.claim_text import dotted
from holder_app.updates import plan_update, recipients_text, send_update
from holder_app.wallet import Wallet
from identity.credentials.updates import open_update
from identity.did.did_key import did_key_from_public_key
from identity.errors import NotFound
from identity.jose.jws import parse_compact_unverified
from registry.state import NOTICE, Notice
from verifier.inbox import receive_updates

NEW_ADDRESS = "大阪府大阪市北区中之島1-3-20"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Services, Wallet]]:
    with services_and_wallet(tmp_path) as pair:
        yield pair


def test_an_address_change_reaches_only_the_consent_that_covers_it_sealed_to_its_operator(
    world: tuple[Services, Wallet],
) -> None:
    services, wallet = world
    wallet.receive(services.licence_offer())
    cars = wallet.approve(wallet.open_request(services.request_url("car-sharing"))).consent
    spaces = wallet.approve(wallet.open_request(services.request_url("space-sharing"))).consent
    assert cars is not None and spaces is not None

    plan = plan_update(wallet, "address")
    assert [c.id for c in plan.recipients] == [cars.id]
    assert [(c.id, why) for c, why in plan.excluded] == [(spaces.id, "the consent does not allow updates")]
    assert any(line.startswith("will NOT receive it") for line in recipients_text(plan))

    [delivery] = send_update(wallet, plan, {"formatted": NEW_ADDRESS}, date(2026, 12, 1))
    assert delivery.error is None and delivery.notice_index is not None

    # The operator fetches its mail with its own DID key and opens it with its own X25519 key.
    identity = services.verifier.identity
    messages, _ = services.ledger.fetch_messages(identity.signing_key, identity.kid)
    [message] = messages
    holder = parse_compact_unverified(cars.receipt).payload_json()["holder"]
    key = next(
        k.key.public_key
        for k in wallet.store.keys("holder")
        if did_key_from_public_key(k.key.public_key) == holder
    )
    update = open_update(
        message.ciphertext, identity.agreement_key, key, recipient=identity.did, now=int(time.time()),
        consent_digest=cars.digest,
    )  # fmt: skip
    assert update.kind == "address" and update.value == {"formatted": NEW_ADDRESS}

    stored = b"".join(p.read_bytes() for p in services.registry.database_files)
    assert NEW_ADDRESS.encode() not in stored  # the registry holds ciphertext only
    assert wallet.store.history()[-1].kind == "update"


def test_after_a_revoke_the_ledger_refuses_the_notice_even_if_the_wallet_still_sends(
    world: tuple[Services, Wallet],
) -> None:
    services, wallet = world
    cars = car_sharing_consent(services, wallet)
    stale_plan = plan_update(wallet, "address")  # made before the revoke: out of date
    wallet.revoke(cars.id)
    assert plan_update(wallet, "address").recipients == ()
    [delivery] = send_update(wallet, stale_plan, {"formatted": NEW_ADDRESS}, date(2026, 12, 1))
    assert delivery.error is not None and "revoked" in delivery.error
    identity = services.verifier.identity
    messages, _ = services.ledger.fetch_messages(identity.signing_key, identity.kid)
    assert messages == []
    assert wallet.store.history()[-1].outcome == "failed"


def test_after_a_revoke_an_erasure_request_still_reaches_the_operator_and_is_applied(
    world: tuple[Services, Wallet],
) -> None:
    services, wallet = world
    cars = car_sharing_consent(services, wallet)
    verifier = services.verifier
    [customer] = [c.customer for c in verifier.customers.customers()]
    stale_plan = plan_update(wallet, "address")  # made before the revoke: out of date
    wallet.revoke(cars.id)

    # an address update under the revoked consent is still refused by the ledger
    assert plan_update(wallet, "address", [cars.verifier]).recipients == ()
    [refused] = send_update(wallet, stale_plan, {"formatted": NEW_ADDRESS}, date(2026, 12, 1))
    assert refused.error is not None and "revoked" in refused.error
    assert plan_update(wallet, "erasure").recipients == ()  # nobody asked: active consents only

    plan = plan_update(wallet, "erasure", [cars.verifier])
    assert [c.id for c in plan.recipients] == [cars.id]
    [delivery] = send_update(wallet, plan, None, date(2026, 12, 1))
    assert delivery.error is None and delivery.notice_index is not None

    [result] = receive_updates(verifier)
    assert (result.status, result.reason, result.kind) == ("applied", None, "erasure")
    assert result.customer == customer
    assert result.acked and result.update_id == delivery.update_id
    [restriction] = verifier.customers.restrictions(customer)
    assert restriction["kind"] == "erasure" and restriction["update_id"] == delivery.update_id
    assert restriction["claims"] == [dotted(path) for path in cars.claims]
    [notice] = [
        Notice.from_json(obj)
        for _, key, obj in services.registry.service.storage.state_items(NOTICE)
        if key == delivery.message_id
    ]
    assert notice.ack_status == "applied"
    assert services.registry.service.storage.mailbox.count(verifier.identity.did) == 0
    assert receive_updates(verifier) == []


def test_an_erasure_request_to_an_operator_never_asked_is_refused_before_sending(
    world: tuple[Services, Wallet],
) -> None:
    _, wallet = world
    with pytest.raises(NotFound):
        plan_update(wallet, "erasure", ["did:akashi:nobody"])
