"""The public page of a presentation request (verifier/request_page.py): the QR code and the
openid4vp:// link a person scans or taps, the operator and purpose, and the status the page
polls — waiting, then verified once a wallet answers (or failed, or expired) — with the
headers a browser needs (HTML, a Content-Security-Policy allowing only the page's own style
and script, no caching); unknown ids are 404 pages; everything variable is escaped. Walked
in process (TestClient), over loopback with the akashi wallet, and in headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_contract import OpenApiContract
from test_verifier_cli import init_args, run
from test_verifier_service import FORM, T, World

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "holder_app"))

from browser_world import PHONE, chromium, phone_page
from services_world import Services, open_wallet

from akashi_demo.loopback import LoopbackRegistry
from holder_app.wallet import Wallet
from verifier.request_page import (
    CONTENT_SECURITY_POLICY,
    STATUS_TEXTS,
    RequestView,
    render_request_page,
)
from verifier.requests import REQUEST_STATUSES, RequestStore

CONTRACT = OpenApiContract("verifier-openapi.json")
PAGE, STATUS = "/requests/{tid}", "/requests/{tid}/status"
VERIFIED_JA = "本人確認が完了しました"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("request-page"))
    yield w
    w.verifier.close()
    w.setup.close()


def open_request(world: World, policy: str = "space-sharing") -> dict[str, Any]:
    response = world.http.post("/admin/requests", json={"policy": policy}, headers=world.admin)
    assert response.status_code == 201, response.text
    opened: dict[str, Any] = CONTRACT.conforms(response, "/admin/requests", "post")
    return opened


def page_path(opened: dict[str, Any], world: World) -> str:
    page: str = opened["page"]
    assert page == f"{world.verifier.url}/requests/{opened['id']}"
    return page.removeprefix(world.verifier.url)


def status_of(world: World, tid: str) -> str:
    response = world.http.get(f"/requests/{tid}/status")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    status: str = CONTRACT.conforms(response, STATUS, "get")["status"]
    return status


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def qr_path(svg: str) -> str:
    """The modules of a segno QR code (its dark path's ``d``), whatever its size and wrapping."""
    found = re.search(r'<path[^>]*stroke="#000"[^>]*d="([^"]+)"', svg)
    assert found, svg[:300]
    return found.group(1)


# ---------------------------------------------------------------- the page


def test_the_page_of_a_new_request_shows_its_qr_code_link_and_purpose(world: World) -> None:
    opened = open_request(world)
    response = world.http.get(page_path(opened, world))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    page = CONTRACT.conforms(response, PAGE, "get")
    assert '<html lang="ja">' in page and '<meta charset="utf-8">' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page

    # The operator as the trust registry names it; the policy's purpose in both languages.
    assert '<p class="operator">株式会社カーシェア</p>' in page
    policy = world.verifier.policies["space-sharing"]
    assert f"<p>{html.escape(policy.purpose_ja)}</p>" in page
    assert f'<p lang="en">{html.escape(policy.purpose_en)}</p>' in page

    # The openid4vp:// URL as a link, as selectable text, and as the QR code the operator API
    # serves for the same request (the same modules: the same content).
    url = html.escape(opened["url"])
    assert f'<a class="open" href="{url}">' in page and f'<code class="url">{url}</code>' in page
    svg = page[page.index("<svg") : page.index("</svg>") + 6]
    assert svg.startswith('<svg role="img" aria-label="') and "<title>" in svg
    admin_svg = world.http.get(opened["qr_svg"], headers=world.admin).text
    assert qr_path(svg) == qr_path(admin_svg)

    # Waiting: the status element the script updates, and a reload for browsers without it.
    assert re.search(r'<p id="status" [^>]*aria-live="polite"[^>]*data-status="waiting"', page)
    assert STATUS_TEXTS["waiting"][0] in page
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page
    assert status_of(world, opened["id"]) == "waiting"


def test_the_page_fetches_nothing_and_its_csp_allows_only_its_own_style_and_script(world: World) -> None:
    response = world.http.get(page_path(open_request(world), world))
    page, csp = response.text, response.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'" and directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["base-uri"] == "'none'"
    # Exactly the inline <style> and <script> of the page, by hash; nothing inline else.
    [style] = re.findall(r"<style>(.*?)</style>", page, re.S)
    [script] = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert directives["style-src"] == csp_hash(style)
    assert directives["script-src"] == csp_hash(script)
    assert "unsafe" not in csp
    # No external asset: no src at all, links only to the wallet and to the page itself.
    assert " src=" not in page and "<link" not in page and "@import" not in page and "url(" not in style
    for link in re.findall(r'href="([^"]*)"', page):
        assert link.startswith("openid4vp://") or "/" not in link, link


def test_an_unknown_request_is_a_404_page(world: World) -> None:
    response = world.http.get("/requests/AAAAAAAAAAAAAAAAAAAAAA")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page = CONTRACT.conforms(response, PAGE, "get")
    assert "リクエストが見つかりません" in page and "Request not found" in page
    assert "Traceback" not in page and "<svg" not in page and "<script" not in page
    missing = world.http.get("/requests/AAAAAAAAAAAAAAAAAAAAAA/status")
    assert missing.status_code == 404
    assert CONTRACT.conforms(missing, STATUS, "get")["type"].endswith("/not-found")


def test_a_broken_page_is_a_500_page_without_details(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> str:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(world.verifier, "operator_name", broken)
    response = world.http.get(page_path(open_request(world), world))
    assert response.status_code == 500
    page = CONTRACT.conforms(response, PAGE, "get")
    assert "disk on fire" not in page and "Something went wrong" in page


# ---------------------------------------------------------------- the status


def test_the_status_goes_from_waiting_to_verified_when_a_wallet_answers(world: World) -> None:
    opened = open_request(world)
    assert status_of(world, opened["id"]) == "waiting"
    assert world.wallet_answer(opened["url"]).status_code == 200
    assert status_of(world, opened["id"]) == "verified"
    page = CONTRACT.conforms(world.http.get(page_path(opened, world)), PAGE, "get")
    assert 'data-status="verified"' in page and VERIFIED_JA in page and ">Verified<" in page
    # Answered: its request object is gone, so no QR code or link to it, and nothing to poll.
    assert "<svg" not in page and "openid4vp://" not in page
    assert "<script" not in page and 'http-equiv="refresh"' not in page


def test_a_refusal_and_a_failed_check_are_failed(world: World) -> None:
    refused = open_request(world)
    assert world.wallet_answer(refused["url"], refuse=True).status_code == 200
    assert status_of(world, refused["id"]) == "failed"
    # A response whose presentation fails the checks closes its request without a record.
    failing = open_request(world)
    state = world.verifier.requests.get(failing["id"]).state
    body = httpx.QueryParams({"vp_token": json.dumps({"kyc": ["not-an-sd-jwt"]}), "state": state})
    answer = world.http.post("/oid4vp/response", content=str(body), headers=FORM)
    assert answer.status_code in {400, 422}, answer.text
    assert status_of(world, failing["id"]) == "failed"
    page = world.http.get(page_path(failing, world)).text
    assert 'data-status="failed"' in page and STATUS_TEXTS["failed"][0] in page and "<svg" not in page


def test_a_request_past_its_lifetime_is_expired(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = open_request(world)
    monkeypatch.setattr(world.verifier, "clock", lambda: opened["expires_at"])
    assert status_of(world, opened["id"]) == "waiting"  # answerable until the second it expires
    monkeypatch.setattr(world.verifier, "clock", lambda: opened["expires_at"] + 1)
    assert status_of(world, opened["id"]) == "expired"
    page = CONTRACT.conforms(world.http.get(page_path(opened, world)), PAGE, "get")
    assert 'data-status="expired"' in page and "<svg" not in page and "openid4vp://" not in page


def test_every_status_is_documented_and_worded() -> None:
    documented = CONTRACT.document["components"]["schemas"]["RequestStatus"]["properties"]["status"]
    assert documented["enum"] == list(REQUEST_STATUSES) == list(STATUS_TEXTS)
    assert STATUS_TEXTS["verified"] == (VERIFIED_JA, "Verified")


def test_a_transactions_table_from_before_gets_its_record_column(tmp_path: Path) -> None:
    """Rule 5 keeps the verification record's id with the close; an older table gains the
    column, its open request waits, its request closed back then reads failed."""
    conn = sqlite3.connect(tmp_path / "old.db")
    columns = (
        "id, state, nonce, policy_id, client_id, response_uri, dcql_query, request_uri_path,"
        " request_object, url, created_at, expires_at, consumed_at"
    )
    conn.execute(f"CREATE TABLE transactions ({columns})")
    for tid, consumed in (("open", None), ("closed", T)):
        conn.execute(
            f"INSERT INTO transactions ({columns}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (tid, "s-" + tid, "n", "space-sharing", "c", "r", "{}", "/p", "o", "u", T, T + 600, consumed),
        )
    conn.commit()
    conn.close()
    store = RequestStore(tmp_path / "old.db", lambda: float(T), durable=False)
    again = RequestStore(tmp_path / "old.db", lambda: float(T), durable=False)  # a second worker
    try:
        assert (store.status("open"), store.status("closed")) == ("waiting", "failed")
        assert store.consume("s-open", record_id="rec-1").record_id == "rec-1"
        assert again.status("open") == "verified"
    finally:
        store.close()
        again.close()


# ---------------------------------------------------------------- escaping


def test_the_purpose_text_is_escaped(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    policy = replace(world.verifier.policies["space-sharing"], purpose_ja=hostile, purpose_en=hostile)
    monkeypatch.setitem(world.verifier.policies, "space-sharing", policy)
    page = world.http.get(page_path(open_request(world), world)).text
    assert hostile not in page and "<img" not in page and page.count("<script>") == 1
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x") == 2


def test_render_escapes_every_variable_part() -> None:
    view = RequestView(
        transaction_id='t"><x',
        operator="<b>株式会社</b>",
        purpose_ja="目的 <i>",
        purpose_en="purpose </p><script>",
        url='openid4vp://?client_id=a&request_uri="><script>alert(1)</script>',
        status="waiting",
        expires_at=T,
    )
    page = render_request_page(view)
    for raw in ("<b>", "<i>", "</p><script>", '"><script>', 't"><x'):
        assert raw not in page
    assert '<p class="operator">&lt;b&gt;株式会社&lt;/b&gt;</p>' in page
    assert 'href="openid4vp://?client_id=a&amp;request_uri=&quot;&gt;&lt;script&gt;' in page
    assert 'data-status-url="t%22%3E%3Cx/status"' in page
    with pytest.raises(ValueError, match="unknown request status"):
        render_request_page(replace(view, status="<bad>"))


# ---------------------------------------------------------------- reaching the page


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackRegistry]:
    node = LoopbackRegistry(tmp_path_factory.mktemp("registry"))
    yield node
    node.stop()


def test_the_cli_prints_the_page(
    registry: LoopbackRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "verifier"
    code, _, err = run(capsys, *init_args(registry, data, "https://verifier.example/"))
    assert code == 0, err
    code, out, _ = run(capsys, "request", "space-sharing", "--data", data, "--json")
    answer = json.loads(out)
    assert code == 0 and {"id", "policy", "url", "expires_at", "qr", "page"} <= set(answer)
    assert answer["page"] == f"https://verifier.example/requests/{answer['id']}"
    code, out, _ = run(capsys, "request", "space-sharing", "--data", data)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("openid4vp://")  # the URL stays the first line
    assert re.fullmatch(r"page \(QR code and link\): https://verifier\.example/requests/[\w-]{22}", lines[1])


# ---------------------------------------------------------------- the akashi wallet over loopback


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    s = Services(tmp_path_factory.mktemp("services"))
    yield s
    s.close()


@pytest.fixture
def wallet(services: Services, tmp_path: Path) -> Iterator[Wallet]:
    with open_wallet(services, tmp_path) as w:
        w.receive(services.jpki_offer())
        yield w


def test_the_akashi_wallet_answers_and_the_page_says_verified(services: Services, wallet: Wallet) -> None:
    transaction = services.verifier.new_request("space-sharing")
    page_url = services.verifier.request_page_url(transaction.id)
    with httpx.Client(timeout=30) as browser:
        page = browser.get(page_url)
        assert page.status_code == 200 and '<p class="operator">株式会社テストシェア</p>' in page.text
        assert html.escape(transaction.url) in page.text
        assert browser.get(page_url + "/status").json() == {"status": "waiting"}
        wallet.approve(wallet.open_request(transaction.url))
        assert browser.get(page_url + "/status").json() == {"status": "verified"}
        assert 'data-status="verified"' in browser.get(page_url).text


def test_in_chromium_the_page_fits_a_phone_and_turns_verified(services: Services, wallet: Wallet) -> None:
    """The script runs under the page's CSP (no violation), polls, and flips ``data-status``."""
    transaction = services.verifier.new_request("space-sharing")
    with chromium() as browser:
        page = phone_page(browser)
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.goto(services.verifier.request_page_url(transaction.id))
        page.wait_for_selector('#status[data-status="waiting"]')
        qr = page.locator("svg.qr").bounding_box()
        assert qr is not None and 200 <= qr["width"] <= 320
        # Nothing wider than the phone: no sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        wallet.approve(wallet.open_request(transaction.url))
        page.wait_for_selector('#status[data-status="verified"]', timeout=8_000)  # polled every 2 s
        assert VERIFIED_JA in page.locator("#status").inner_text()
        assert page.locator("#request").is_hidden()
        assert not [m for m in console if "Content Security Policy" in m or "Refused" in m], console
