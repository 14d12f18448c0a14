"""The wallet engine against live registry, issuer and verifier on loopback: receive a KYC
credential by OpenID4VCI, show a verifier's request in plain words, present exactly what it
asks with an anchored consent receipt, see the customer verified, revoke the consent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from services_world import PERSONAL, PURPOSES, Services

from holder_app.store import WalletStore
from holder_app.wallet import Wallet, create_wallet
from identity.crypto.passphrase import TEST_PARAMS
from identity.errors import PolicyError


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    world = Services(tmp_path_factory.mktemp("services"))
    yield world
    world.close()


@pytest.fixture
def wallet(services: Services, tmp_path: Path) -> Iterator[Wallet]:
    store = WalletStore.create(tmp_path / "wallet.db", "correct horse battery staple", params=TEST_PARAMS)
    ledger = services.new_ledger_client()
    create_wallet(store, ledger)
    engine = Wallet(store, ledger)
    yield engine
    engine.close()
    ledger.close()
    store.close()


def test_the_root_identity_is_on_the_ledger_with_a_precommitted_next_key(
    wallet: Wallet, services: Services
) -> None:
    identity = wallet.store.identity()
    assert identity is not None
    resolved = services.ledger.resolve_did(identity.did)
    assert resolved.document is not None
    assert len(wallet.store.keys("next")) == 1


def test_receive_verifies_and_stores_copies_bound_to_distinct_keys(
    wallet: Wallet, services: Services
) -> None:
    [credential] = wallet.receive(services.jpki_offer())
    assert credential.issuer == services.issuer.identity.did
    assert len(credential.copies) >= 2
    assert len({c.holder_key_id for c in credential.copies}) == len(credential.copies)
    assert all(
        c.anchor is not None and c.anchor["entry"]["type"] == "attestation.anchor" for c in credential.copies
    )
    log = wallet.store.history()
    assert log[-1].kind == "issuance" and log[-1].outcome == "completed"
    text = repr([entry.to_json() for entry in log])
    assert all(secret not in text for secret in PERSONAL)  # claim names, never values


def test_present_to_space_sharing_discloses_only_what_was_asked_and_revoke_ends_it(
    wallet: Wallet, services: Services
) -> None:
    wallet.receive(services.jpki_offer())
    request = wallet.open_request(services.request_url("space-sharing"))
    assert request.legal_name == "株式会社テストシェア" and request.corporate_number == "2120901007402"
    assert request.purpose_id == "space-sharing" and request.purpose_text == "スペース利用者の本人・年齢確認"
    labels = [c.label_en for c in request.claims]
    assert "whether you are over 18 (yes/no only)" in labels
    assert not any("family name" in label or "address" in label for label in labels)

    approval = wallet.approve(request)
    assert approval.consent is not None and approval.consent.status == "active"
    customers = services.verifier.customers.customers()
    mine = [c for c in customers if c.status == "verified"]
    assert mine, customers
    record = services.verifier.customers.kyc_status(mine[-1].customer)
    assert record.status == "verified"
    stored = services.verifier.customers.path
    assert all(secret.encode() not in Path(stored).read_bytes() for secret in PERSONAL)
    grant = services.ledger.consent(approval.consent.digest)
    assert grant.record.verifier == services.verifier.identity.did and grant.record.revoked_at is None

    revoked = wallet.revoke(approval.consent.id)
    assert revoked.status == "revoked"
    assert services.ledger.consent(approval.consent.digest).record.revoked_at is not None
    kinds = [(e.kind, e.outcome) for e in wallet.store.history(services.verifier.identity.did)]
    assert ("presentation", "completed") in kinds and ("revocation", "completed") in kinds


def test_two_verifiers_never_see_the_same_key(wallet: Wallet, services: Services) -> None:
    wallet.receive(services.jpki_offer())
    first = wallet.approve(wallet.open_request(services.request_url("space-sharing")))
    again = wallet.approve(wallet.open_request(services.request_url("space-sharing")))
    assert first.consent is not None and again.consent is not None
    holders = {c.receipt for c in (first.consent, again.consent)}
    assert len(holders) == 2
    used = {c.used_by for credential in wallet.store.credentials() for c in credential.copies if c.used_by}
    assert used == {services.verifier.identity.did}  # the same verifier keeps its one slot


def test_a_request_for_an_unregistered_purpose_is_refused_with_the_reason(
    tmp_path: Path, wallet: Wallet
) -> None:
    other = Services(tmp_path / "other", verifier_purposes=PURPOSES[:1])  # car-sharing only
    try:
        wallet.ledger = other.new_ledger_client()
        with pytest.raises(PolicyError, match="did not register the purpose 'space-sharing'"):
            wallet.open_request(other.request_url("space-sharing"))
        last = wallet.store.history()[-1]
        assert (last.kind, last.outcome) == ("presentation", "refused") and "space-sharing" in (
            last.reason or ""
        )
    finally:
        wallet.ledger.close()
        other.close()


def test_the_person_can_refuse_and_nothing_is_disclosed(wallet: Wallet, services: Services) -> None:
    wallet.receive(services.jpki_offer())
    request = wallet.open_request(services.request_url("space-sharing"))
    before = len(services.verifier.customers.customers())
    wallet.refuse(request)
    assert len(services.verifier.customers.customers()) == before
    assert wallet.store.consents() == []
    assert wallet.store.history()[-1].outcome == "refused"


def test_car_sharing_gets_kyc_over_20_a_valid_licence_name_and_address_under_an_anchored_consent(
    wallet: Wallet, services: Services
) -> None:
    received = wallet.receive(services.licence_offer())
    assert len(received) == 2  # the KYC credential (method ヘ) and the licence credential
    request = wallet.open_request(services.request_url("car-sharing"))
    assert request.receipt_required and request.updates_allowed
    labels = {c.label_en for c in request.claims}
    wanted = {
        "whether you are over 20 (yes/no only)",
        "address",
        "licence categories you may drive (e.g. ordinary)",
    }
    assert wanted <= labels
    assert "licence number" not in labels  # the licence number is not asked for, so not shown
    approval = wallet.approve(request)
    assert approval.consent is not None
    grant = services.ledger.consent(approval.consent.digest).record
    assert grant.updates_allowed and grant.purpose_id == "car-sharing"
    customer = services.verifier.customers.customers()[-1]
    assert customer.status == "verified" and customer.policy == "car-sharing"
    # Both credentials were shown with one key: the customer's pairwise DID at this operator.
    used = [c for credential in wallet.store.credentials() for c in credential.copies if c.used_by]
    assert len({c.holder_key_id for c in used}) == 1
