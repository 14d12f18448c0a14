"""The wallet engine against live registry, issuer and verifier on loopback: receive a KYC
credential by OpenID4VCI, show a verifier's request in plain words, present exactly what it
asks with an anchored consent receipt, see the customer verified, revoke the consent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import httpx
import pytest
from services_world import PERSONAL, PURPOSES, Services

from akashi_demo.loopback import LoopbackIssuer
from holder_app.store import WalletStore
from holder_app.wallet import Wallet, create_wallet
from identity.crypto.keys import Ed25519PrivateKey
from identity.crypto.passphrase import TEST_PARAMS
from identity.did.did_key import did_key_from_public_key
from identity.errors import InvalidSignature, NotFound, PolicyError
from identity.jose.jws import parse_compact_unverified
from identity.protocols.oid4vp import build_request_object, parse_request_url
from issuer.evidence import LicenceTrust
from registry.client import RegistryClient
from registry.state import Purpose


def pairwise_did(wallet: Wallet, key_id: str) -> str:
    """The customer id the verifier knows this person by: the did:key of the slot shown to it."""
    return did_key_from_public_key(wallet.store.key(key_id).public_key)


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
    registered = next(p for p in PURPOSES if p.id == "space-sharing")
    assert request.purpose_id == "space-sharing" and request.purpose_text == registered.text
    labels = [c.label_en for c in request.claims]
    assert "whether you are over 18 (yes/no only)" in labels
    assert not any("family name" in label or "address" in label for label in labels)

    approval = wallet.approve(request)
    assert approval.consent is not None and approval.consent.status == "active"
    used = [c for credential in wallet.store.credentials() for c in credential.copies if c.used_by]
    record = services.verifier.customers.kyc_status(pairwise_did(wallet, used[0].holder_key_id))
    assert record.status == "verified" and record.policy == "space-sharing"
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
    # Both credentials were shown with one key: the customer's pairwise DID at this operator.
    used = [c for credential in wallet.store.credentials() for c in credential.copies if c.used_by]
    assert len({c.holder_key_id for c in used}) == 1
    status = services.verifier.customers.kyc_status(pairwise_did(wallet, used[0].holder_key_id))
    assert status.status == "verified" and status.policy == "car-sharing"
    assert set(status.methods) == {"drivers_licence_ic"}


def test_a_verifier_outside_the_trust_registry_is_refused_with_the_reason(
    tmp_path: Path, wallet: Wallet
) -> None:
    other = Services(tmp_path / "other", register_verifier=False)  # its DID is on the ledger, nothing more
    try:
        wallet.ledger = other.new_ledger_client()
        with pytest.raises(PolicyError, match="not in the trust registry"):
            wallet.open_request(other.request_url("space-sharing"))
        assert wallet.store.history()[-1].outcome == "refused"
    finally:
        wallet.ledger.close()
        other.close()


def test_a_request_object_signed_by_a_key_the_verifier_does_not_have_is_refused(
    wallet: Wallet, services: Services
) -> None:
    wallet.receive(services.jpki_offer())
    url = services.request_url("space-sharing")
    reference = parse_request_url(url)
    genuine = httpx.get(reference.request_uri).text
    claims = parse_compact_unverified(genuine).payload_json()
    header = parse_compact_unverified(genuine).header
    # Same kid, same contents, signed by someone else's key: e.g. a phishing copy of the request.
    forged = build_request_object(
        Ed25519PrivateKey.generate(), str(header["kid"]), response_uri="https://attacker.example/collect",
        nonce=claims["nonce"], state=claims["state"], dcql_query=claims["dcql_query"], now=int(time.time()),
        client_metadata=claims["client_metadata"],
    )  # fmt: skip
    forging = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, text=forged)))
    wallet.http = forging
    with pytest.raises(InvalidSignature):
        wallet.open_request(url)
    assert wallet.store.consents() == [] and wallet.store.history()[-1].outcome == "refused"


def test_a_credential_not_anchored_on_the_ledger_is_not_stored(
    wallet: Wallet, services: Services, tmp_path: Path
) -> None:
    # An issuer known on the ledger and accredited, whose credentials never reach the ledger.
    when = datetime.fromtimestamp(services.now, UTC)
    unanchored = LoopbackIssuer(
        tmp_path / "issuer", jpki_trust=services.ca.trust(when),
        licence_trust=LicenceTrust((services.authority.certificate,)), ledger=cast(RegistryClient, None),
    )  # fmt: skip
    try:
        services.ledger.submit(unanchored.identity.did_create_entry())
        original, services.issuer = services.issuer, unanchored
        try:
            offer = services.jpki_offer()
        finally:
            services.issuer = original
        with pytest.raises(NotFound):
            wallet.receive(offer)
        assert wallet.store.credentials() == []
        assert wallet.store.history()[-1].outcome == "failed"
    finally:
        unanchored.stop()


def test_a_request_for_more_than_the_registered_purpose_covers_is_refused(
    tmp_path: Path, wallet: Wallet
) -> None:
    # The operator registered "space-sharing" for the age check only; its policy also asks for KYC.
    narrow = Purpose("space-sharing", "年齢確認のみ", claims=(("age_over_18",),))
    other = Services(tmp_path / "other", verifier_purposes=(narrow,))
    try:
        wallet.ledger = other.new_ledger_client()
        wallet.receive(other.jpki_offer())
        before = len(other.verifier.customers.customers())
        with pytest.raises(PolicyError, match="does not cover"):
            wallet.open_request(other.request_url("space-sharing"))
        assert len(other.verifier.customers.customers()) == before
        assert wallet.store.consents() == []
        assert "the law your identity was verified under" in (wallet.store.history()[-1].reason or "")
    finally:
        wallet.ledger.close()
        other.close()
