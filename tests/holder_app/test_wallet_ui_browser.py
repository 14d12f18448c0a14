"""The whole story on the phone-sized page, in headless Chromium (Debian's, driven by
Playwright), against live processes: a registry node, an issuer and a verifier started by
their CLIs, and the wallet's own `akashi-wallet ui`. Nothing but the browser touches the
wallet: create it (passphrase, recovery kit), receive a credential, approve a car-sharing
request shown as a QR page by the verifier, see it verified there, update the address and see
it applied, revoke the consent, export the audit record (checked offline). Each screen is saved at 360×780
(build/screenshots/, the run's artefacts; docs/wallet-app.md shows them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_world import chromium, phone_page, png_size, screenshot
from playwright.sync_api import Browser, Page, expect
from processes_world import VERIFIER_NAME, World, environment, running_services

from akashi_demo.loopback import free_port

PASSPHRASE = "correct horse battery staple"
# Assertions wait for the page for up to 15 s: the full suite shares two cores with the services.
expect.set_options(timeout=15_000)
NEW_ADDRESS = "大阪府大阪市北区中之島1-3-20"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_services(tmp_path_factory.mktemp("browser")) as services:
        yield services


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def start_wallet_app(world: World, folder: Path, *, init: bool) -> str:
    """`akashi-wallet ui` as its own process (after `akashi-wallet init` if ``init``; else the
    page creates the wallet, with the registry settings given to `ui`): its URL."""
    if init:
        env = environment(AKASHI_WALLET_PASSPHRASE=PASSPHRASE)
        world.processes.run(
            "holder_app.cli", "init", *world.ledger_args(), "--data", folder, "--json", env=env
        )
    port = str(free_port())
    url = f"http://127.0.0.1:{port}"
    world.processes.start(
        f"wallet-ui-{folder.name}", "holder_app.cli", "ui", "--data", folder, "--port", port,
        *([] if init else world.ledger_args()), probe=url + "/unlock",
    )  # fmt: skip
    return url


def tab(page: Page, name: str) -> None:
    """Tap a tab of the bottom menu."""
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()


def shot(page: Page, name: str) -> None:
    """Save the screen, after checking it fits 360 px: nothing to scroll sideways."""
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, f"{name} is wider than the phone"
    assert png_size(screenshot(page, name)) == (360, 780)


def test_a_person_does_the_whole_story_on_the_phone_sized_page(
    world: World, browser: Browser, tmp_path: Path
) -> None:
    app = start_wallet_app(world, tmp_path / "me", init=False)
    phone = phone_page(browser, locale="ja-JP")

    # Her wallet is made on the page: a passphrase, then the recovery kit, shown once.
    phone.goto(app + "/")
    expect(phone.get_by_role("heading", name="ウォレットを作る")).to_be_visible()
    phone.get_by_label("パスフレーズ", exact=True).fill(PASSPHRASE)
    phone.get_by_label("もう一度パスフレーズ").fill(PASSPHRASE)
    shot(phone, "00-create")
    phone.get_by_role("button", name="作る").click()
    expect(phone.locator("[data-kit]")).to_contain_text("AKASHI-KIT1-", timeout=30_000)
    shot(phone, "00-recovery-kit")
    phone.locator("[data-kit-done]").click()
    expect(phone.get_by_role("heading", name="わたしの証明書")).to_be_visible()

    # Locked, and unlocked again.
    phone.get_by_role("button", name="閉じる").click()
    expect(phone.get_by_role("heading", name="ウォレットを開く")).to_be_visible()
    shot(phone, "01-unlock")
    phone.get_by_label("パスフレーズ").fill(PASSPHRASE)
    phone.get_by_role("button", name="開く").click()
    expect(phone.get_by_role("heading", name="わたしの証明書")).to_be_visible()

    # Receive the KYC credential her My Number card's check at the counter offered.
    offer = world.counter("jpki", "--card", world.testca / "card")["offer_url"]
    tab(phone, "受け取る")
    phone.get_by_label("発行のリンク").fill(offer)
    shot(phone, "02-receive")
    phone.get_by_role("button", name="受け取る", exact=True).click()
    expect(phone.locator("[data-received]")).to_have_attribute("data-received", "1")
    # ... and her driving licence, read at the counter (a licence credential and a KYC one).
    licence = world.counter("licence", "--licence", world.licence, "--face-compared")["offer_url"]
    tab(phone, "受け取る")
    phone.get_by_label("発行のリンク").fill(licence)
    phone.get_by_role("button", name="受け取る", exact=True).click()
    expect(phone.locator("[data-received]")).to_have_attribute("data-received", "2")
    tab(phone, "証明書")
    expect(phone.get_by_text("本人確認済みの証明 (犯罪収益移転防止法)")).to_have_count(2)
    expect(phone.get_by_text("運転免許の証明")).to_be_visible()
    shot(phone, "03-credentials")

    # The car-sharing operator shows its request as a QR code and a link, on a page of its own.
    request = world.processes.run(
        "verifier.cli", "request", "car-sharing", "--data", world.verifier_data, "--json"
    )
    counter_screen = phone_page(browser, locale="ja-JP")
    counter_screen.goto(request["page"])
    expect(counter_screen.locator("svg")).to_be_visible()
    link = counter_screen.locator('a[href^="openid4vp:"]').first.get_attribute("href")
    assert link == request["url"]
    shot(counter_screen, "20-verifier-request")

    # The consent screen: who asks (from the trust registry), why, what will and will not be shared.
    tab(phone, "提示する")
    phone.get_by_label("提示のリンク").fill(link)
    phone.get_by_role("button", name="内容を確認する").click()
    expect(phone.locator("[data-legal-name]")).to_have_text(VERIFIER_NAME)
    expect(phone.locator("[data-corporate-number]")).to_have_text("2120901007402")
    expect(phone.locator("[data-share]")).to_contain_text("住所")
    expect(phone.locator("[data-withheld]")).to_contain_text("生年月日")
    shot(phone, "04-consent")
    phone.locator("[data-approve]").click()
    expect(phone.locator("[data-presented]")).to_have_attribute("data-presented", "approved")
    shot(phone, "05-shared")

    # ... and the operator's page turns to verified by itself.
    expect(counter_screen.locator("[data-status]")).to_have_attribute(
        "data-status", "verified", timeout=15_000
    )
    shot(counter_screen, "21-verifier-verified")

    # She moves: who will and will not receive it, then send.
    tab(phone, "住所変更")
    phone.get_by_label("新しい住所").fill(NEW_ADDRESS)
    phone.get_by_role("button", name="送り先を確認する").click()
    expect(phone.locator("[data-receive]")).to_contain_text(VERIFIER_NAME)
    shot(phone, "06-update-plan")
    phone.locator("[data-send]").click()
    expect(phone.locator("[data-status]").first).to_have_attribute("data-status", "sent")

    # The operator's inbox applies it and acknowledges on the ledger; her activity shows it.
    inbox = world.processes.run("verifier.cli", "inbox", "--data", world.verifier_data, "--json")
    assert [m["status"] for m in inbox["messages"]] == ["applied"]
    phone.reload()
    expect(phone.locator("[data-status]").first).to_have_attribute("data-status", "applied")
    expect(phone.get_by_text("反映済み")).to_be_visible()
    shot(phone, "07-activity")

    # Revoke the consent, with one confirmation.
    tab(phone, "同意")
    expect(phone.locator('[data-state="active"]')).to_have_count(1)
    shot(phone, "08-consents")
    phone.locator("[data-revoke]").click()
    shot(phone, "09-revoke-confirm")
    phone.locator("[data-confirm-revoke]").click()
    expect(phone.locator("[data-revoked]")).to_be_visible()
    expect(phone.locator('[data-state="revoked"]')).to_have_count(1)

    # Export the audit record, and check it offline with the CLI.
    tab(phone, "履歴")
    with phone.expect_download() as download:
        phone.locator("[data-export]").click()
    audit = tmp_path / "audit.jsonl"
    download.value.save_as(audit)
    checked = world.processes.run(
        "holder_app.cli", "audit", "verify", audit, "--genesis", world.genesis, "--witness", world.witness,
        "--k", "1", "--json",
    )  # fmt: skip
    assert checked["ok"] is True and checked["events"] == 5  # consent, presentation, update, ack, revoke

    # The same app in English, by the switch.
    phone.get_by_role("link", name="English").click()
    expect(phone.get_by_role("heading", name="Activity")).to_be_visible()
    tab(phone, "Credentials")
    shot(phone, "10-credentials-en")


def test_an_english_browser_gets_english_and_a_locked_wallet_asks_again(
    world: World, browser: Browser, tmp_path: Path
) -> None:
    app = start_wallet_app(world, tmp_path / "other", init=True)
    phone = phone_page(browser, locale="en-US")
    phone.goto(app + "/credentials")
    expect(phone.get_by_role("heading", name="Unlock your wallet")).to_be_visible()
    phone.get_by_label("Passphrase").fill("not the passphrase")
    phone.get_by_role("button", name="Unlock").click()
    expect(phone.get_by_role("alert")).to_contain_text("does not open this wallet")
    # By keyboard only: the passphrase field has the focus; Enter submits.
    expect(phone.get_by_label("Passphrase")).to_be_focused()
    phone.keyboard.type(PASSPHRASE)
    phone.keyboard.press("Enter")
    expect(phone.get_by_role("heading", name="My credentials")).to_be_visible()
    phone.keyboard.press("Tab")  # the first stop is the skip link, to the page's content
    expect(phone.get_by_role("link", name="Skip to content")).to_be_focused()
    phone.get_by_role("button", name="Lock").click()
    expect(phone.get_by_role("alert")).to_contain_text("locked")
    phone.goto(app + "/consents")
    expect(phone.get_by_role("heading", name="Unlock your wallet")).to_be_visible()
    assert json.loads(phone.evaluate("JSON.stringify(document.documentElement.lang)")) == "en"
