"""The phone-sized web app (holder_app/web) over HTTP, without a browser: the whole story
through its forms against live loopback services, and its guards — unlock, CSRF, other
sites, other host names, the idle lock, errors as pages — and the two languages.
(tests/holder_app/test_wallet_ui_browser.py walks the same story in Chromium.)"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from services_world import Services
from starlette.testclient import TestClient

from holder_app.audit import verify_audit
from holder_app.folder import WALLET_FILE, LedgerSettings
from holder_app.recovery_kit import parse_kit
from holder_app.store import WalletStore
from holder_app.wallet import create_wallet
from holder_app.web.app import LOOPBACK_HOSTS, create_app
from identity.crypto.passphrase import TEST_PARAMS
from verifier.inbox import receive_updates

PASSPHRASE = "correct horse battery staple"
NEW_ADDRESS = "大阪府大阪市北区中之島1-3-20"


def make_wallet_folder(services: Services, folder: Path) -> Path:
    """A wallet folder as `akashi-wallet init` leaves it (test KDF parameters)."""
    genesis = json.loads(services.registry.config.genesis_file.read_text(encoding="utf-8"))
    settings = LedgerSettings(
        services.registry.url, genesis, (services.registry.service.witness_verifier.vkey,), 1
    )
    folder.mkdir(parents=True)
    settings.write(folder)
    with WalletStore.create(folder / WALLET_FILE, PASSPHRASE, params=TEST_PARAMS) as store:
        ledger = settings.client(folder)
        try:
            create_wallet(store, ledger)
        finally:
            ledger.close()
    return folder


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Services, TestClient, Clock, Path]]:
    services = Services(tmp_path / "services")
    clock = Clock()
    folder = make_wallet_folder(services, tmp_path / "wallet")
    app = create_app(folder, idle_seconds=300, clock=clock, allowed_hosts=LOOPBACK_HOSTS | {"testserver"})
    try:
        with TestClient(app, headers={"accept-language": "ja-JP,ja;q=0.9"}) as client:
            yield services, client, clock, folder
    finally:
        services.close()


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found is not None, html
    return found.group(1)


def unlock(client: TestClient, passphrase: str = PASSPHRASE) -> Any:
    form = client.get("/unlock")
    return client.post(
        "/unlock", data={"csrf": csrf(form.text), "passphrase": passphrase}, follow_redirects=False
    )


def test_the_whole_story_through_the_forms(
    world: tuple[Services, TestClient, Clock, Path], tmp_path: Path
) -> None:
    services, client, _, _ = world
    assert client.get("/", follow_redirects=False).headers["location"] == "/unlock"
    unlocked = unlock(client)
    assert unlocked.status_code == 303
    cookie = unlocked.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    page = client.get("/credentials")
    assert "まだ証明書がありません" in page.text
    token = csrf(page.text)

    received = client.post("/receive", data={"csrf": token, "offer": services.licence_offer()})
    assert received.status_code == 200 and 'data-received="2"' in received.text
    assert "運転免許の証明" in received.text and "本人確認済みの証明" in received.text
    assert "株式会社テスト本人確認" in received.text  # the issuer by its registered name

    asked = client.post("/present", data={"csrf": token, "request": services.request_url("car-sharing")})
    assert asked.status_code == 200
    assert "data-legal-name>株式会社テストシェア<" in asked.text  # from the trust registry
    assert "data-corporate-number>2120901007402<" in asked.text
    share = re.search(r"data-share>(.*?)</ul>", asked.text, re.S)
    withheld = re.search(r"data-withheld>(.*?)</ul>", asked.text, re.S)
    assert share and withheld
    assert "住所" in share.group(1) and "20歳以上" in share.group(1)
    assert "免許証の番号" in withheld.group(1)  # held in the licence credential, not asked for
    rid = re.search(r'action="/present/([0-9a-f]+)/approve"', asked.text)
    assert rid is not None
    done = client.post(f"/present/{rid.group(1)}/approve", data={"csrf": token})
    assert 'data-presented="approved"' in done.text
    [customer] = services.verifier.customers.customers()
    assert customer.status == "verified"

    plan = client.post(
        "/update/plan", data={"csrf": token, "address": NEW_ADDRESS, "effective": "2026-12-01"}
    )
    assert "data-send" in plan.text and NEW_ADDRESS in plan.text
    sent = client.post(
        "/update/send",
        data={"csrf": token, "address": NEW_ADDRESS, "effective": "2026-12-01"},
        follow_redirects=False,
    )
    assert sent.headers["location"] == "/activity"
    [result] = receive_updates(services.verifier)
    assert result.status == "applied"
    activity = client.get("/activity")
    assert 'data-status="applied"' in activity.text and "反映済み" in activity.text

    consents = client.get("/consents")
    consent_id = re.search(r'data-consent="(consent_[0-9a-f]+)" data-state="active"', consents.text)
    assert consent_id is not None
    confirm = client.get(f"/consents/{consent_id.group(1)}/revoke")
    assert "data-confirm-revoke" in confirm.text
    revoked = client.post(f"/consents/{consent_id.group(1)}/revoke", data={"csrf": token})
    assert "data-revoked" in revoked.text and 'data-state="revoked"' in revoked.text

    exported = client.get("/audit.jsonl")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    audit = tmp_path / "audit.jsonl"
    audit.write_bytes(exported.content)
    report = verify_audit(audit, witness_vkeys=[services.registry.service.witness_verifier.vkey], k=1)
    assert report.ok and report.events == 5  # consent, presentation, update, its ack, revocation
    assert NEW_ADDRESS not in exported.text


def test_a_wrong_passphrase_is_one_sentence_and_opens_nothing(
    world: tuple[Services, TestClient, Clock, Path],
) -> None:
    _, client, _, folder = world
    before = (folder / WALLET_FILE).read_bytes()
    refused = unlock(client, "not the passphrase")
    assert refused.status_code == 401 and "パスフレーズが違います" in refused.text
    assert client.get("/credentials", follow_redirects=False).headers["location"] == "/unlock"
    assert (folder / WALLET_FILE).read_bytes() == before


def test_forms_without_the_sessions_token_or_from_another_site_change_nothing(
    world: tuple[Services, TestClient, Clock, Path],
) -> None:
    services, client, _, _ = world
    unlock(client)
    token = csrf(client.get("/credentials").text)
    offer = services.licence_offer()
    no_token = client.post("/receive", data={"offer": offer})
    assert no_token.status_code == 422 and "data-error" in no_token.text
    other_site = client.post(
        "/receive", data={"csrf": token, "offer": offer}, headers={"origin": "http://evil.example"}
    )
    assert other_site.status_code == 403
    fetched = client.post(
        "/receive", data={"csrf": token, "offer": offer}, headers={"sec-fetch-site": "cross-site"}
    )
    assert fetched.status_code == 403
    assert "まだ証明書がありません" in client.get("/credentials").text
    unlock_without_cookie = TestClient(client.app).post(
        "/unlock", data={"csrf": "0" * 64, "passphrase": PASSPHRASE}
    )
    assert unlock_without_cookie.status_code == 403


def test_another_host_name_is_refused(world: tuple[Services, TestClient, Clock, Path]) -> None:
    _, client, _, _ = world
    assert client.get("/unlock", headers={"host": "attacker.example:8480"}).status_code == 421


def test_an_idle_wallet_locks_itself(world: tuple[Services, TestClient, Clock, Path]) -> None:
    _, client, clock, _ = world
    unlock(client)
    assert client.get("/credentials").status_code == 200
    clock.now += 299
    assert client.get("/credentials").status_code == 200  # used: the idle clock restarts
    clock.now += 301
    locked = client.get("/credentials", follow_redirects=False)
    assert locked.headers["location"] == "/unlock?idle=1"
    assert "しばらく操作がなかった" in client.get("/unlock?idle=1").text


def test_every_page_is_guarded_and_phone_sized(world: tuple[Services, TestClient, Clock, Path]) -> None:
    _, client, _, _ = world
    unlock(client)
    for path in ("/unlock", "/credentials", "/receive", "/present", "/consents", "/update", "/activity"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
        assert '<html lang="ja">' in page.text
        labels = set(re.findall(r'<label for="([^"]+)"', page.text))
        inputs = set(re.findall(r'<(?:input|textarea) id="([^"]+)"', page.text))
        assert inputs <= labels, f"{path}: an input without its label"


def test_the_language_follows_the_browser_and_the_switch(
    world: tuple[Services, TestClient, Clock, Path],
) -> None:
    _, client, _, _ = world
    english = client.get("/unlock", headers={"accept-language": "en-GB,en;q=0.8"})
    assert '<html lang="en">' in english.text and "Unlock your wallet" in english.text
    switched = client.get("/lang/en?next=/unlock")
    assert switched.status_code == 200 and "Unlock your wallet" in switched.text
    assert "Unlock your wallet" in client.get("/unlock").text  # the cookie overrides the browser
    assert client.get("/lang/ja?next=//evil.example", follow_redirects=False).headers["location"] == "/"


def test_a_refused_step_is_a_page_that_says_why(world: tuple[Services, TestClient, Clock, Path]) -> None:
    _, client, _, _ = world
    unlock(client)
    token = csrf(client.get("/present").text)
    bad = client.post("/present", data={"csrf": token, "request": "openid4vp://?client_id=nobody"})
    assert bad.status_code == 422 and "data-error" in bad.text and "Traceback" not in bad.text


def test_every_word_the_pages_look_up_exists_in_both_languages() -> None:
    from holder_app.records import LOG_KINDS, OUTCOMES, UPDATE_STATUSES
    from holder_app.web.i18n import TEXTS

    wanted = (
        {f"log_{k}" for k in LOG_KINDS}
        | {f"out_{o}" for o in OUTCOMES}
        | {f"st_{s}" for s in UPDATE_STATUSES}
    )
    templates = Path(__file__).resolve().parents[2] / "holder_app" / "web" / "templates"
    for template in templates.glob("*.html"):
        wanted |= set(re.findall(r"\bt\.([a-z_]+)", template.read_text(encoding="utf-8")))
    assert wanted - set(TEXTS) == set()
    assert all(ja and en for ja, en in TEXTS.values())


def test_a_new_wallet_is_made_on_the_page_and_its_kit_shown_once(tmp_path: Path) -> None:
    services = Services(tmp_path / "services")
    try:
        genesis = json.loads(services.registry.config.genesis_file.read_text(encoding="utf-8"))
        witness = services.registry.service.witness_verifier.vkey
        settings = LedgerSettings(services.registry.url, genesis, (witness,), 1)
        folder = tmp_path / "new"
        app = create_app(
            folder, new_wallet=settings, kdf_params=TEST_PARAMS, allowed_hosts=LOOPBACK_HOSTS | {"testserver"}
        )
        with TestClient(app, headers={"accept-language": "en"}) as client:
            assert client.get("/credentials", follow_redirects=False).headers["location"] == "/create"
            form = client.get("/create")
            token = csrf(form.text)
            short = client.post("/create", data={"csrf": token, "passphrase": "short", "again": "short"})
            assert short.status_code == 422 and not (folder / WALLET_FILE).exists()
            differ = client.post(
                "/create", data={"csrf": token, "passphrase": PASSPHRASE, "again": PASSPHRASE + "!"}
            )
            assert differ.status_code == 422 and not (folder / WALLET_FILE).exists()
            made = client.post("/create", data={"csrf": token, "passphrase": PASSPHRASE, "again": PASSPHRASE})
            assert made.status_code == 200
            kit = re.search(r"data-kit>(AKASHI-KIT1-[0-9A-Z-]+)<", made.text)
            did = re.search(r"data-did>(did:akashi:[^<]+)<", made.text)
            assert kit and did and 'src="data:image/svg+xml;base64,' in made.text
            assert client.get("/credentials").status_code == 200  # unlocked by the creation
            assert client.get("/create", follow_redirects=False).headers["location"] == "/unlock"
        with WalletStore.open(folder / WALLET_FILE, PASSPHRASE) as store:
            identity = store.identity()
            assert identity is not None and identity.did == did.group(1)
            assert store.keys("next", active_only=False) == []  # the kit is the only copy
        assert services.ledger.resolve_did(did.group(1)).document is not None
        assert parse_kit(kit.group(1)).did == did.group(1)
    finally:
        services.close()


def test_lock_closes_the_wallet_and_unlocking_again_works(
    world: tuple[Services, TestClient, Clock, Path],
) -> None:
    _, client, _, _ = world
    unlock(client)
    token = csrf(client.get("/credentials").text)
    locked = client.post("/lock", data={"csrf": token})
    assert locked.status_code == 200 and "ウォレットを閉じました" in locked.text
    assert client.get("/credentials", follow_redirects=False).headers["location"] == "/unlock"
    assert unlock(client).status_code == 303
    assert client.get("/credentials").status_code == 200
