"""The wallet's whole story against live OS processes, each started and driven only through its
command line, as an operator and a person would: a registry node, an issuer and a verifier served
on loopback, governance approving both organisations with ``akashi-registry member add``, then
``akashi-wallet`` from ``init`` to an offline check of its audit record. No object of ours is
shared with a service: only ports, files and printed JSON (test_wallet_cli.py tells the same
story in process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes_world import VERIFIER_NAME, World, environment, running_services

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_services(tmp_path_factory.mktemp("processes")) as services:
        yield services


def test_a_person_goes_from_no_wallet_to_a_verified_customer_and_back_with_only_the_clis(
    world: World, tmp_path: Path
) -> None:
    run = world.processes.run
    me = tmp_path / "me"
    wallet_env = environment(AKASHI_WALLET_PASSPHRASE=PASSPHRASE)

    def wallet(*argv: str | Path) -> Any:
        return run("holder_app.cli", *argv, "--data", me, "--json", env=wallet_env)

    created = wallet("init", *world.ledger_args())
    assert created["did"].startswith("did:akashi:") and created["recovery_kit"].startswith("AKASHI-KIT1-")

    # At the issuer's counter: the My Number card, then the driving licence (face compared).
    jpki = world.counter("jpki", "--card", world.testca / "card")
    [kyc] = wallet("receive", jpki["offer_url"])["credentials"]
    assert kyc["issuer"] == world.issuer_did and kyc["copies"] >= 2
    licence = world.counter("licence", "--licence", world.licence, "--face-compared")
    received = wallet("receive", licence["offer_url"])["credentials"]
    assert len(received) == 2 and {c["issuer"] for c in received} == {world.issuer_did}

    # The car-sharing operator asks; the person sees who and why, and approves.
    request = run("verifier.cli", "request", "car-sharing", "--data", world.verifier_data, "--json")
    shared = wallet("present", request["url"], "--yes")
    assert shared["approved"] is True and shared["consent"] is not None
    shown = shared["request"]
    assert shown["verifier"] == {
        "did": world.verifier_did, "legal_name": VERIFIER_NAME, "corporate_number": "2120901007402",
    }  # fmt: skip
    assert shown["purpose"]["id"] == "car-sharing" and shown["updates_allowed"] is True
    asked = {c["path"].rsplit(".", 1)[-1] for c in shown["claims"]}
    assert {"family_name", "given_name", "address", "age_over_20"} <= asked, asked

    customers = run("verifier.cli", "customers", "--data", world.verifier_data, "--json")["customers"]
    [customer] = customers
    assert (customer["status"], customer["policy"]) == ("verified", "car-sharing")
    assert customer["methods"] and set(customer["methods"]) <= {"jpki", "drivers_licence_ic"}

    # She moves: the update reaches the operator, which applies and acknowledges it on the ledger.
    new_address = "大阪府大阪市北区中之島1-3-20"
    [sent] = wallet("update", "address", new_address, "--yes")["sent"]
    assert sent["verifier"] == world.verifier_did and sent["error"] is None
    [applied] = run("verifier.cli", "inbox", "--data", world.verifier_data, "--json")["messages"]
    assert (applied["status"], applied["kind"], applied["acked"]) == ("applied", "address", True)
    [tracked] = wallet("updates")["updates"]
    assert (tracked["status"], tracked["legal_name"]) == ("applied", VERIFIER_NAME)

    consent = shared["consent"]["id"]
    revoked = wallet("revoke", consent)
    assert (revoked["id"], revoked["state"]) == (consent, "revoked")
    [listed] = wallet("consents", "--all")["consents"]
    assert listed["state"] == "revoked" and listed["purpose"] == "car-sharing"

    audit = tmp_path / "audit.jsonl"
    exported = wallet("audit", "export", audit)
    assert exported["events"] == 5  # the consent, the presentation, the update, its ack, the revocation
    # Offline: a process with no wallet, no passphrase and no registry URL, in another folder.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    checked = run(
        "holder_app.cli", "audit", "verify", audit, "--genesis", world.genesis, "--witness", world.witness,
        "--k", "1", "--head", exported["head"], "--json", env=environment(), cwd=elsewhere,
    )  # fmt: skip
    assert checked["ok"] is True and checked["events"] == 5 and checked["wallet"] == created["did"]
