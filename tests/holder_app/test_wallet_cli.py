"""``akashi-wallet`` as a person uses it, against a registry, an issuer and a verifier served on
loopback: init (recovery kit), receive, present (shown in plain words, approved), consents,
history, audit export and offline verify (an edited line found), revoke, backup and restore,
and the refusals a person meets, each in one line with a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from services_world import PERSONAL, PURPOSES, Services

from holder_app.cli import PASSPHRASE_VARIABLE, main
from holder_app.recovery_kit import parse_kit
from holder_app.store import WalletStore
from verifier.inbox import receive_updates

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    world = Services(tmp_path_factory.mktemp("services"))
    yield world
    world.close()


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_VARIABLE, "correct horse battery staple")


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def car_sharing_customer(services: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A wallet made with the CLI in ``tmp_path/wallet``, its licence received and shown to the
    car-sharing operator (a consent that allows updates): the wallet's folder."""
    data = tmp_path / "wallet"
    assert run(capsys, "init", "--data", data, *ledger_args(services))[0] == 0
    assert run(capsys, "receive", "--data", data, services.licence_offer())[0] == 0
    assert run(capsys, "present", "--data", data, services.request_url("car-sharing"), "--yes")[0] == 0
    return data


def ledger_args(services: Services) -> list[str | Path]:
    return [
        "--registry", services.registry.url, "--genesis", services.registry.config.genesis_file,
        "--witness", services.registry.service.witness_verifier.vkey, "--k", "1",
    ]  # fmt: skip


def test_from_nothing_to_a_verified_customer_and_back(
    services: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "wallet"
    code, out, err = run(
        capsys, "init", "--data", data, *ledger_args(services), "--kit-qr", tmp_path / "kit.svg"
    )
    assert code == 0, err
    assert "RECOVERY KIT" in out
    kit = parse_kit(next(line for line in out.splitlines() if line.startswith("AKASHI-KIT1-")))
    assert services.ledger.resolve_did(kit.did).document is not None
    assert (tmp_path / "kit.svg").read_text().lstrip().startswith(("<?xml", "<svg"))

    code, out, err = run(capsys, "receive", "--data", data, services.jpki_offer(), "--json")
    assert code == 0, err
    [credential] = json.loads(out)["credentials"]
    assert credential["issuer"] == services.issuer.identity.did and credential["copies"] >= 2

    # The person sees who asks, why, and each claim in plain words, then approves.
    code, out, err = run(capsys, "present", "--data", data, services.request_url("space-sharing"), "--yes")
    assert code == 0, err
    assert "株式会社テストシェア (法人番号 2120901007402)" in out
    registered = next(p for p in PURPOSES if p.id == "space-sharing")
    assert "18歳以上かどうか" in out and f"purpose: {registered.text}" in out
    assert services.verifier.customers.customers()[-1].status == "verified"

    code, out, _ = run(capsys, "consents", "--data", data, "--json")
    [consent] = json.loads(out)["consents"]
    assert consent["state"] == "active" and consent["purpose"] == "space-sharing"
    assert "age_over_18" in consent["claims"]

    code, out, _ = run(capsys, "history", "--data", data, "--lang", "en")
    assert "presentation" in out and "whether you are over 18" in out
    assert all(secret not in out for secret in PERSONAL)

    audit = tmp_path / "audit.jsonl"
    code, out, err = run(
        capsys, "audit", "export", "--data", data, audit, "--csv", tmp_path / "audit.csv", "--json"
    )
    assert code == 0, err
    head = json.loads(out)["head"]
    assert head.startswith("sha256:")  # never "-…", which --head would read as an option
    witness = services.registry.service.witness_verifier.vkey
    verify_args = ["audit", "verify", audit, "--genesis", services.registry.config.genesis_file,
                   "--witness", witness, "--k", "1", "--head", head]  # fmt: skip
    code, out, err = run(capsys, *verify_args)
    assert code == 0, err
    assert out.startswith("OK: 2 events")

    # Offline means offline: the check runs in a process with no wallet and no network settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    checked = subprocess.run(
        [sys.executable, "-m", "holder_app.cli", *map(str, verify_args), "--json"],
        capture_output=True, text=True, env={**env, "PYTHONPATH": str(ROOT)}, cwd=tmp_path,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["ok"] is True

    edited = tmp_path / "edited.jsonl"
    edited.write_text(audit.read_text().replace("age_over_18", "age_over_20", 1))
    code, out, _ = run(capsys, *["audit", "verify", edited, *verify_args[3:]])
    assert code == 1 and "line" in out

    code, out, err = run(capsys, "revoke", "--data", data, consent["id"])
    assert code == 0, err
    assert services.ledger.consent(consent_digest(data, capsys)).record.revoked_at is not None
    code, out, _ = run(capsys, "consents", "--data", data, "--all", "--json")
    assert json.loads(out)["consents"][0]["state"] == "revoked"
    code, out, err = run(capsys, "audit", "export", "--data", data, audit, "--json")
    assert code == 0, err
    code, out, err = run(capsys, *["audit", "verify", audit, *verify_args[3:-2]])
    assert code == 0 and out.startswith("OK: 3 events"), out + err

    backup = tmp_path / "wallet.backup"
    assert run(capsys, "backup", "--data", data, backup)[0] == 0
    restored = tmp_path / "restored"
    code, _, err = run(capsys, "restore", "--data", restored, backup, *ledger_args(services))
    assert code == 0, err
    code, out, _ = run(capsys, "credentials", "--data", restored, "--json")
    assert [c["id"] for c in json.loads(out)["credentials"]] == [credential["id"]]


def consent_digest(data: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code, out, _ = run(capsys, "consents", "--data", data, "--all", "--json")
    assert code == 0
    wallet_consents = json.loads(out)["consents"]

    with WalletStore.open(data / "wallet.db", os.environ[PASSPHRASE_VARIABLE]) as store:
        return store.consent(wallet_consents[0]["id"]).digest


def test_refusals_are_one_line_and_change_nothing(
    services: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "wallet"
    code, _, err = run(capsys, "credentials", "--data", data)
    assert code == 1 and err.startswith("akashi-wallet: ") and err.count("\n") == 1 and "init" in err
    assert run(capsys, "init", "--data", data, *ledger_args(services))[0] == 0
    before = (data / "wallet.db").read_bytes()
    monkeypatch.setenv(PASSPHRASE_VARIABLE, "not my passphrase")
    code, _, err = run(capsys, "credentials", "--data", data)
    assert code == 1 and "passphrase" in err and err.count("\n") == 1
    assert (data / "wallet.db").read_bytes() == before
    monkeypatch.setenv(PASSPHRASE_VARIABLE, "correct horse battery staple")
    code, _, err = run(capsys, "receive", "--data", data, "openid-credential-offer://?nonsense")
    assert code == 1 and err.count("\n") == 1
    code, _, err = run(capsys, "init", "--data", data, *ledger_args(services))
    assert code == 1 and "already holds a wallet" in err
    # Declining shares nothing and is remembered.
    assert run(capsys, "receive", "--data", data, services.jpki_offer())[0] == 0
    customers = len(services.verifier.customers.customers())
    code, out, _ = run(capsys, "present", "--data", data, services.request_url("space-sharing"), "--refuse")
    assert code == 0 and "nothing was shared" in out
    assert len(services.verifier.customers.customers()) == customers
    code, out, _ = run(capsys, "history", "--data", data, "--json")
    assert json.loads(out)["history"][-1]["outcome"] == "refused"


def test_an_offer_with_a_transaction_code_needs_it(
    services: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "wallet"
    assert run(capsys, "init", "--data", data, *ledger_args(services))[0] == 0
    check = services.jpki_check(tx_code=True)
    assert check["tx_code"]
    code, _, err = run(capsys, "receive", "--data", data, check["offer_url_by_reference"])
    assert code == 1 and "--tx-code" in err and err.count("\n") == 1
    code, _, err = run(
        capsys, "receive", "--data", data, check["offer_url_by_reference"], "--tx-code", "000000"
    )
    assert code == 1 and err.count("\n") == 1  # a wrong code is the issuer's refusal, in one line
    code, out, err = run(capsys, "receive", "--data", data, check["offer_url"], "--tx-code", check["tx_code"])
    assert code == 0, err
    assert "verified and anchored on the ledger" in out


def _kit(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("AKASHI-KIT1-"))


def test_rotate_and_recover_need_the_kit_which_the_wallet_does_not_keep(
    services: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "phone"
    code, out, err = run(capsys, "init", "--data", data, *ledger_args(services))
    assert code == 0, err
    first_kit = _kit(out)
    with WalletStore.open(data / "wallet.db", os.environ[PASSPHRASE_VARIABLE]) as store:
        assert store.keys("next", active_only=False) == []  # a thief with the phone cannot rotate
    code, _, err = run(capsys, "rotate", "--data", data)
    assert code == 1 and "--kit" in err and err.count("\n") == 1

    code, out, err = run(capsys, "rotate", "--data", data, "--kit", first_kit)
    assert code == 0, err
    second_kit = _kit(out)
    assert second_kit != first_kit and "old kit and the old device key are void" in out
    code, _, err = run(capsys, "rotate", "--data", data, "--kit", first_kit)
    assert code == 1 and "recovery kit" in err and err.count("\n") == 1  # a used kit is dead

    # The phone is lost; a backup and the kit bring the identity back on a new one.
    assert run(capsys, "receive", "--data", data, services.jpki_offer())[0] == 0
    assert run(capsys, "present", "--data", data, services.request_url("space-sharing"), "--yes")[0] == 0
    backup = tmp_path / "phone.backup"
    assert run(capsys, "backup", "--data", data, backup)[0] == 0
    new = tmp_path / "new-phone"
    code, out, err = run(
        capsys, "recover", "--data", new, backup, "--kit", second_kit, *ledger_args(services), "--json"
    )
    assert code == 0, err
    answer = json.loads(out)
    assert len(answer["revoked_consents"]) == 1 and answer["untrusted_credentials"]
    # The issuer revoked every copy the lost phone holds: a thief can present none of them.
    assert answer["revoked_credentials"] == answer["untrusted_credentials"]
    assert answer["unrevoked_credentials"] == []
    did = parse_kit(answer["recovery_kit"]).did
    assert services.ledger.resolve_did(did).document is not None
    # The lost phone can no longer rotate: its kit is used and its keys are dead.
    code, _, err = run(capsys, "rotate", "--data", data, "--kit", second_kit)
    assert code == 1 and err.count("\n") == 1
    code, out, _ = run(capsys, "consents", "--data", new, "--all", "--json")
    assert [c["state"] for c in json.loads(out)["consents"]] == ["revoked"]


def test_update_says_who_will_and_will_not_receive_it_then_sends(
    services: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = car_sharing_customer(services, tmp_path, capsys)
    assert run(capsys, "present", "--data", data, services.request_url("space-sharing"), "--yes")[0] == 0
    code, _, err = run(capsys, "update", "--data", data, "address", "大阪府大阪市北区中之島1-3-20")
    assert code == 1 and "--yes" in err  # no terminal, no confirmation: nothing sent
    code, out, err = run(
        capsys,
        "update",
        "--data",
        data,
        "address",
        "大阪府大阪市北区中之島1-3-20",
        "--effective",
        "2026-12-01",
        "--yes",
    )
    assert code == 0, err
    assert "will receive it:" in out and "will NOT receive it:" in out and "does not allow updates" in out
    assert "sent to " in out
    code, out, _ = run(capsys, "history", "--data", data, "--json")
    assert json.loads(out)["history"][-1]["kind"] == "update"

    # The person follows it: sent, then applied once the operator has acknowledged it.
    code, out, _ = run(capsys, "updates", "--data", data, "--json")
    [sent] = json.loads(out)["updates"]
    operator = services.verifier.identity.did
    assert (sent["kind"], sent["status"], sent["verifier"]) == ("address", "sent", operator)
    assert sent["legal_name"] and sent["effective_date"] == "2026-12-01"
    [result] = receive_updates(services.verifier)
    assert result.status == "applied"
    code, out, _ = run(capsys, "updates", "--data", data)
    assert code == 0 and "APPLIED" in out and "address (effective 2026-12-01)" in out
    code, out, _ = run(capsys, "updates", "--data", data, "--offline", "--json")
    assert json.loads(out)["updates"][0]["status"] == "applied"


def test_request_erasure_reaches_an_operator_after_the_consent_is_revoked(
    services: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = car_sharing_customer(services, tmp_path, capsys)
    code, out, _ = run(capsys, "consents", "--data", data, "--json")
    [consent] = json.loads(out)["consents"]
    assert run(capsys, "revoke", "--data", data, consent["id"])[0] == 0
    verifier = services.verifier.identity.did
    code, _, err = run(capsys, "request", "--data", data, "erasure", "--verifier", verifier)
    assert code == 1 and "--yes" in err  # no terminal, no confirmation: nothing sent
    code, out, err = run(
        capsys, "request", "--data", data, "erasure", "--verifier", verifier, "--yes", "--json"
    )
    assert code == 0, err
    [sent] = json.loads(out)["sent"]
    assert sent["verifier"] == verifier and sent["error"] is None and sent["notice_index"] is not None
    code, _, err = run(capsys, "request", "--data", data, "stop", "--verifier", "did:akashi:nobody", "--yes")
    assert code == 1 and "no consent" in err
    receive_updates(services.verifier)
    code, out, _ = run(capsys, "updates", "--data", data, "--json")
    [request] = json.loads(out)["updates"]
    assert (request["kind"], request["status"], request["reason"]) == ("erasure", "applied", None)


def test_an_address_update_backed_by_a_re_checked_card(
    services: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = car_sharing_customer(services, tmp_path, capsys)
    code, _, err = run(capsys, "update", "--data", data, "address", "--yes")
    assert code == 1 and "--attested" in err  # neither a value nor an attestation
    moved = services.jpki_offer(services.moved_card("大阪府大阪市北区中之島1-3-20"))
    assert run(capsys, "receive", "--data", data, moved)[0] == 0
    code, out, err = run(capsys, "update", "--data", data, "address", "--attested", "--yes", "--json")
    assert code == 0, err
    [sent] = json.loads(out)["sent"]
    assert sent["error"] is None
    [result] = receive_updates(services.verifier)
    assert (result.status, result.reason) == ("applied", None)
    receipts = services.verifier.customers.update_receipt_rows()  # the operator is shared by the tests
    [receipt] = [r for r in receipts if r["update"]["update_id"] == result.update_id]
    assert receipt["update"]["attestation"]["methods"] == ["jpki"]


def test_a_chain_head_whose_hash_starts_with_a_dash_is_still_one_argument(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.jsonl"
    code, _, err = run(capsys, "audit", "verify", missing, "--k", "1", "--head", "sha256:-x")
    assert code == 1 and "expected one argument" not in err and err.count("\n") == 1
