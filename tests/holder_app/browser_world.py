"""Headless Chromium for the wallet's UI tests: Debian's browser driven by Playwright, a phone-sized
page, and screenshots kept as the test run's artefacts.

`make test` installs what this needs: Debian's ``chromium`` and ``fonts-noto-cjk``, and Playwright
in the venv. Playwright never downloads a browser here: it launches ``CHROMIUM``. A missing browser
or Japanese font fails the test with a message saying so; it is never skipped, as a skipped UI test
would hide a missing install.

One browser per ``with chromium()`` block; Playwright's sync API allows one such block at a time in
a thread, so share a browser between the tests of a module through a fixture rather than nesting.
"""

from __future__ import annotations

import functools
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "PHONE",
    "SCREENSHOTS",
    "TIMEOUT_MS",
    "BrowserMissing",
    "chromium",
    "phone_page",
    "png_size",
    "screenshot",
]

REPO = Path(__file__).resolve().parents[2]

#: The browser binary: Debian's ``chromium`` unless ``AKASHI_CHROMIUM`` names another.
CHROMIUM = Path(os.environ.get("AKASHI_CHROMIUM") or "/usr/bin/chromium")

#: Where ``screenshot`` writes: ``build/screenshots`` unless ``AKASHI_SCREENSHOTS`` names another folder.
SCREENSHOTS = Path(os.environ.get("AKASHI_SCREENSHOTS") or REPO / "build" / "screenshots")

#: Headless without a display, sandbox or GPU, and silent on the network: without the
#: background-networking, component-update and sync flags Chromium calls its own services, whose
#: connections the closed network refuses. (Playwright passes several of these itself; they are
#: repeated so the list stands alone, and it gives each launch a fresh empty --user-data-dir.)
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

#: The phone the pages are made for: CSS pixels, one device pixel each.
PHONE = {"width": 360, "height": 780}

#: A short default wait for every action and navigation, so a failing UI test fails quickly.
TIMEOUT_MS = 10_000


class BrowserMissing(RuntimeError):
    """Chromium or a Japanese font is not installed."""


@functools.cache
def _check_install() -> None:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        raise BrowserMissing(
            f"no Chromium at {CHROMIUM}: run `make test` (it installs Debian's chromium and "
            "fonts-noto-cjk), or set AKASHI_CHROMIUM to a Chromium binary"
        )
    fc_list = shutil.which("fc-list")
    families = ""
    if fc_list:
        families = subprocess.run(
            [fc_list, ":lang=ja", "family"], capture_output=True, text=True, check=False
        ).stdout
    if not families.strip():
        raise BrowserMissing(
            "no Japanese font: screenshots would show empty boxes; run `make test` "
            "(it installs Debian's fonts-noto-cjk)"
        )


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium (``CHROMIUM`` with ``CHROMIUM_ARGS``), closed when the block ends."""
    _check_install()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def phone_page(browser: Browser, *, locale: str = "ja-JP") -> Page:
    """A new page in a fresh context (no cookies, no storage) shaped like a phone: 360×780 CSS
    pixels at scale 1, mobile with touch, in ``locale`` (``navigator.language`` and the
    Accept-Language header follow it), with a ``TIMEOUT_MS`` default timeout."""
    context = browser.new_context(
        viewport={"width": PHONE["width"], "height": PHONE["height"]},
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        locale=locale,
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context.new_page()


def screenshot(page: Page, name: str) -> Path:
    """Save what ``page`` shows (its viewport: 360×780 for a ``phone_page``) as
    ``SCREENSHOTS/<name>.png``, creating the folder; return the file's path."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"a screenshot name is a plain file name without .png: {name!r}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=False, animations="disabled", caret="hide")
    return path


def png_size(path: Path) -> tuple[int, int]:
    """A PNG's width and height in pixels, read from its IHDR chunk."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG")
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)
