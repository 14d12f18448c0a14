"""Tracking what became of an update (issue 7): per operator, sent → delivered → applied or
rejected, read from the ledger's proven acknowledgements; the wallet keeps it across backups
and older files, and the audit export carries every notice and acknowledgement, verifiable
offline."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from services_world import Services, car_sharing_consent, services_and_wallet

from holder_app.audit import verify_audit, write_audit_jsonl
from holder_app.audit_events import events_from_store
from holder_app.records import WalletContents
from holder_app.store import WalletStore
from holder_app.updates import plan_update, refresh_updates, send_update
from holder_app.wallet import Wallet
from identity.crypto.passphrase import TEST_PARAMS
from verifier.inbox import receive_updates

NEW_ADDRESS = "大阪府大阪市北区中之島1-3-20"
PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Services, Wallet]]:
    with services_and_wallet(tmp_path) as pair:
        yield pair


def car_sharing_and_space_sharing(services: Services, wallet: Wallet) -> tuple[str, str]:
    cars = car_sharing_consent(services, wallet)
    spaces = wallet.approve(wallet.open_request(services.request_url("space-sharing"))).consent
    assert spaces is not None
    return cars.id, spaces.id


def send_address(wallet: Wallet) -> None:
    send_update(wallet, plan_update(wallet, "address"), {"formatted": NEW_ADDRESS}, date(2026, 12, 1))


def test_an_update_goes_from_sent_to_delivered_to_applied_with_the_operators_proven_ack(
    world: tuple[Services, Wallet],
) -> None:
    services, wallet = world
    cars_id, _ = car_sharing_and_space_sharing(services, wallet)
    send_address(wallet)

    [sent] = wallet.store.updates()  # only the consent that covers the address got it
    assert (sent.consent_id, sent.status, sent.kind) == (cars_id, "sent", "address")
    assert sent.verifier == services.verifier.identity.did
    assert sent.value == {"formatted": NEW_ADDRESS} and sent.notice_anchor is not None
    assert refresh_updates(wallet) == [sent]  # nothing happened yet

    identity = services.verifier.identity
    services.ledger.fetch_messages(identity.signing_key, identity.kid)  # the operator fetches it ...
    [delivered] = refresh_updates(wallet)
    assert delivered.status == "delivered" and delivered.delivered_at is not None

    [result] = receive_updates(services.verifier)  # ... applies it and acknowledges on the ledger
    assert result.status == "applied"
    [applied] = refresh_updates(wallet)
    assert (applied.status, applied.reason, applied.delivered_at) == ("applied", None, delivered.delivered_at)
    assert applied.acked_at is not None and applied.ack_anchor is not None
    ack = applied.ack_anchor["entry"]
    assert ack["type"] == "mailbox.ack" and ack["body"]["notice"] == applied.notice
    assert ack["signer"].startswith(identity.did + "#")
    assert wallet.store.updates() == [applied]  # kept, and settled: not asked again
    assert refresh_updates(wallet) == [applied]


def test_a_rejected_update_shows_the_operators_reason(
    world: tuple[Services, Wallet], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, wallet = world
    cars_id, _ = car_sharing_and_space_sharing(services, wallet)
    send_address(wallet)
    verifier = services.verifier
    fetch = verifier.ledger.fetch_messages

    def fetch_then_revoke(*args: Any, **kwargs: Any) -> Any:
        answer = fetch(*args, **kwargs)
        if answer[0]:
            wallet.revoke(cars_id)  # revoked after the fetch, before the operator applies it
        return answer

    monkeypatch.setattr(verifier.ledger, "fetch_messages", fetch_then_revoke)
    receive_updates(verifier)
    [rejected] = refresh_updates(wallet)
    assert (rejected.status, rejected.reason) == ("rejected", "consent-inactive")


def test_a_send_the_ledger_refuses_is_kept_as_failed_with_why(world: tuple[Services, Wallet]) -> None:
    services, wallet = world
    cars_id, _ = car_sharing_and_space_sharing(services, wallet)
    stale = plan_update(wallet, "address")
    wallet.revoke(cars_id)
    send_update(wallet, stale, {"formatted": NEW_ADDRESS}, date(2026, 12, 1))
    [failed] = refresh_updates(wallet)
    assert failed.status == "failed" and failed.notice is None
    assert failed.reason is not None and "revoked" in failed.reason


def test_the_audit_export_holds_each_notice_and_ack_and_verifies_offline(
    world: tuple[Services, Wallet], tmp_path: Path
) -> None:
    services, wallet = world
    car_sharing_and_space_sharing(services, wallet)
    send_address(wallet)
    receive_updates(services.verifier)
    [applied] = refresh_updates(wallet)

    events = events_from_store(wallet.store)
    updates = [e for e in events if e.kind in ("update", "update-ack")]
    assert [(e.kind, e.outcome, e.counterpart) for e in updates] == [
        ("update", None, applied.verifier),
        ("update-ack", "applied", applied.verifier),
    ]
    assert updates[1].at == applied.acked_at
    path = tmp_path / "audit.jsonl"
    identity = wallet.store.identity()
    assert identity is not None
    written = write_audit_jsonl(events, path, wallet_did=identity.did, log_vkey=services.trust.log_key)
    witnesses = [services.registry.service.witness_verifier.vkey]
    report = verify_audit(path, witness_vkeys=witnesses, k=1)
    assert report.ok and report.head == written.head
    assert NEW_ADDRESS not in path.read_text(encoding="utf-8")  # claim names, never values

    # An acknowledgement moved to another operator's name no longer verifies.
    lines = path.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines) if '"kind":"update-ack"' in line)
    lines[number] = lines[number].replace(applied.verifier, "did:akashi:someoneelse")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert not verify_audit(path, witness_vkeys=witnesses, k=1).ok


def test_updates_survive_a_backup_and_an_older_backup_or_wallet_still_opens(
    world: tuple[Services, Wallet], tmp_path: Path
) -> None:
    services, wallet = world
    car_sharing_and_space_sharing(services, wallet)
    send_address(wallet)
    [sent] = wallet.store.updates()
    wallet.store.export_backup(tmp_path / "backup", PASSPHRASE, params=TEST_PARAMS)
    with WalletStore.restore(
        tmp_path / "backup", PASSPHRASE, tmp_path / "restored", params=TEST_PARAMS
    ) as copy:
        assert copy.updates() == [sent]

    older = wallet.store.contents().to_json()
    del older["updates"]  # what a backup written before updates were tracked holds
    assert WalletContents.from_json(older).updates == ()

    path = wallet.store.path
    wallet.store.close()
    with sqlite3.connect(path) as conn:  # a wallet file from before the updates table
        conn.execute("DROP TABLE updates")
    with WalletStore.open(path, PASSPHRASE) as reopened:
        assert reopened.updates() == []
        assert json.dumps(reopened.contents().to_json()["updates"]) == "[]"
