"""The browser install works from `make test`: Debian's Chromium, driven by Playwright, opens a
Japanese page served on loopback in a phone-sized view, runs its script on a click, follows the
locale, and takes a 360×780 screenshot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_world import PHONE, chromium, phone_page, png_size, screenshot
from playwright.sync_api import Browser
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from akashi_demo.loopback import serve_in_thread

_PAGE = """<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>あかし — smoke</title>
<style>
  body {{ font-family: sans-serif; margin: 16px; }}
  button {{ font-size: 18px; padding: 12px 20px; }}
</style>
</head>
<body>
<h1 id="greeting">こんにちは、あかしです</h1>
<p>Accept-Language: <span id="accept">{accept}</span></p>
<button id="go" type="button">確認する / Confirm</button>
<script>
  document.getElementById("go").addEventListener("click", () => {{
    document.getElementById("greeting").textContent = "確認しました — confirmed";
  }});
</script>
</body>
</html>
"""


async def _home(request: Request) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(accept=request.headers.get("accept-language", "")))


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = serve_in_thread(Starlette(routes=[Route("/", _home)]))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def test_a_phone_page_runs_its_script_and_is_screenshot(site: str, browser: Browser) -> None:
    page = phone_page(browser)
    page.goto(site)
    assert page.locator("#greeting").text_content() == "こんにちは、あかしです"
    assert page.evaluate("navigator.language") == "ja-JP"
    assert page.locator("#accept").text_content() == "ja-JP"
    assert page.evaluate("[innerWidth, innerHeight, devicePixelRatio]") == [360, 780, 1]
    assert page.evaluate("matchMedia('(pointer: coarse)').matches") is True

    page.locator("#go").click()
    assert page.locator("#greeting").text_content() == "確認しました — confirmed"

    path = screenshot(page, "smoke-ja")
    assert path.name == "smoke-ja.png"
    assert png_size(path) == (PHONE["width"], PHONE["height"]) == (360, 780)
    page.context.close()


def test_the_locale_follows_the_context(site: str, browser: Browser) -> None:
    page = phone_page(browser, locale="en-US")
    page.goto(site)
    assert page.evaluate("navigator.language") == "en-US"
    assert page.locator("#accept").text_content() == "en-US"
    page.context.close()
