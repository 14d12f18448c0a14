"""The public page of one presentation request: its QR code and link, and whether it was answered.

A person at the operator's counter (or on its website) opens ``GET /requests/{tid}``: the
operator's name, the policy's purpose in Japanese and English, the ``openid4vp://`` URL as
a QR code (to scan with the wallet on their phone) and as a link (to tap on that phone, or
to copy into a wallet), and the request's status (:mod:`verifier.requests`, rule 5). The
page asks ``{tid}/status`` every 2 seconds and says when the customer was verified;
without JavaScript it reloads itself while the request waits.

Rules, numbered for the comments:

1. The page is public: the transaction id is 128 random bits, and knowing it is what lets
   one see the page (the same bits are in the QR code). It shows nothing about the
   customer, only the request and its outcome.
2. Everything variable is escaped (``html.escape``): the purpose texts and the operator's
   name come from files and the trust registry, not from this code.
3. Nothing is fetched from elsewhere: inline CSS and one inline script, each allowed by its
   hash in the ``Content-Security-Policy``, which allows nothing else but reading the
   status from this origin (no other scripts, styles, images, frames, forms or ``<base>``).
4. The QR code and the link are shown only while the request waits for its answer: once
   answered or expired, its Request Object is no longer served (rule 3 of
   :mod:`verifier.requests`), so a code scanned then would only lead to an error.
5. Phone first: the viewport is the device's width, the QR code scales to the page (at
   most 320 px), text wraps at 360 px, colours have at least 7:1 contrast.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from verifier.requests import REQUEST_STATUSES, qr_svg_element
from verifier.service import Verifier

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "PAGE_HEADERS",
    "STATUS_TEXTS",
    "RequestView",
    "render_error_page",
    "render_not_found_page",
    "render_request_page",
    "request_view",
]

_JST = timezone(timedelta(hours=9))
#: What the page says for each status of :data:`verifier.requests.REQUEST_STATUSES`: (ja, en).
STATUS_TEXTS: dict[str, tuple[str, str]] = {
    "waiting": ("ウォレットからの回答を待っています", "Waiting for the wallet's answer"),
    "verified": ("本人確認が完了しました", "Verified"),
    "failed": (
        "本人確認は完了しませんでした（お断り、または確認の失敗）",
        "Not verified: the request was declined or a check failed",
    ),
    "expired": (
        "このリクエストは有効期限が切れました。新しいリクエストをお求めください",
        "This request has expired; please ask for a new one",
    ),
}
if set(STATUS_TEXTS) != set(REQUEST_STATUSES):  # a new status needs its words here
    raise RuntimeError("STATUS_TEXTS does not cover verifier.requests.REQUEST_STATUSES")
_QR_LABEL = "ウォレットで読み取るQRコード / QR code to scan with your wallet"
_POLL_MS = 2000
_NOSCRIPT_REFRESH_S = 5  # a whole page (and its QR code) per reload: less often than the script asks

_STYLE = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:#fff;color:#1a1a1a;font:16px/1.6 system-ui,-apple-system,"Hiragino Sans",
"Noto Sans JP",Meiryo,sans-serif;overflow-wrap:anywhere}
main{max-width:40rem;margin:0 auto;padding:1rem}
.operator{margin:0;font-weight:600;color:#333}
h1{font-size:1.4rem;line-height:1.3;margin:.25rem 0 1rem}
h2{font-size:1.05rem;margin:1rem 0 .25rem}
.en{display:block;font-size:.9em;font-weight:400;color:#333}
.status .en,a.open .en{color:inherit}
.purpose p{margin:.25rem 0}
.status{margin:1rem 0;padding:.75rem 1rem;border:2px solid #595959;border-radius:.5rem;
background:#f2f2f2;font-weight:600}
.status[data-status=verified]{border-color:#0b5e20;background:#e6f4ea;color:#0b3d17}
.status[data-status=failed]{border-color:#8a1c1c;background:#fdecea;color:#6b1010}
.status[data-status=expired]{border-color:#6b5600;background:#fff4cc;color:#4a3b00}
figure{margin:1rem 0;text-align:center}
svg.qr{display:block;width:100%;max-width:320px;height:auto;margin:0 auto;border:1px solid #595959}
a.open{display:block;margin:1rem 0;padding:.85rem 1rem;border-radius:.5rem;background:#0b4fa8;
color:#fff;text-align:center;font-weight:600;text-decoration:none}
a.open:focus-visible{outline:3px solid #1a1a1a;outline-offset:2px}
.url{display:block;padding:.5rem;border:1px solid #595959;border-radius:.25rem;background:#f7f7f7;
font:.85rem/1.5 ui-monospace,Menlo,Consolas,monospace;word-break:break-all;user-select:all;
-webkit-user-select:all}
.small{font-size:.9rem;color:#333}
"""

# The status texts come from STATUS_TEXTS (one source for the server's and the script's words);
# the script is the same on every page, so its hash in the CSP is fixed (rule 3).
_SCRIPT_TEMPLATE = """
(function () {
  "use strict";
  var TEXTS = @TEXTS@;
  var box = document.getElementById("status");
  var request = document.getElementById("request");
  if (!box || box.getAttribute("data-status") !== "waiting") return;
  if (!window.fetch) { setTimeout(function () { location.reload(); }, @RELOAD@); return; }
  function show(status) {
    if (!Object.prototype.hasOwnProperty.call(TEXTS, status)) return;
    if (status !== box.getAttribute("data-status")) {
      box.setAttribute("data-status", status);
      box.querySelector(".ja").textContent = TEXTS[status][0];
      box.querySelector(".en").textContent = TEXTS[status][1];
    }
    if (status !== "waiting" && request) request.hidden = true;
  }
  function ask() {
    fetch(box.getAttribute("data-status-url"), {cache: "no-store", headers: {accept: "application/json"}})
      .then(function (r) { return r.status === 404 ? {status: "expired"} : r.ok ? r.json() : null; })
      .then(function (answer) { if (answer) show(answer.status); })
      .catch(function () {})
      .then(function () { if (box.getAttribute("data-status") === "waiting") setTimeout(ask, @POLL@); });
  }
  setTimeout(ask, @POLL@);
})();
"""
_TEXTS_JSON = json.dumps(STATUS_TEXTS, ensure_ascii=False)
_SCRIPT = (
    _SCRIPT_TEMPLATE.replace("@TEXTS@", _TEXTS_JSON)
    .replace("@POLL@", str(_POLL_MS))
    .replace("@RELOAD@", str(_NOSCRIPT_REFRESH_S * 1000))  # a browser without fetch: as without JS
)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


#: Rule 3: only this page's style and script, and its status read from this origin.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src {_csp_hash(_STYLE)}; script-src {_csp_hash(_SCRIPT)};"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: Headers of every page this module renders.
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",  # the status changes; a cached page would show the old one
    "Referrer-Policy": "no-referrer",  # the page's URL is its capability (rule 1)
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True, slots=True)
class RequestView:
    """What the page of one presentation request shows."""

    transaction_id: str
    operator: str
    purpose_ja: str
    purpose_en: str
    #: The ``openid4vp://`` URL (the QR code's content).
    url: str
    #: One of :data:`verifier.requests.REQUEST_STATUSES`.
    status: str
    expires_at: int


def request_view(verifier: Verifier, transaction_id: str) -> RequestView:
    """What the page of ``transaction_id`` shows; :class:`NotFound` for an unknown (or purged)
    request. Reads the request store and, now and then, the trust registry (the operator's name)."""
    transaction = verifier.requests.get(transaction_id)
    policy = verifier.policies.get(transaction.policy_id)
    # A policy removed from policies.json since the request was opened: its id still says what it was.
    ja, en = (policy.purpose_ja, policy.purpose_en) if policy is not None else (transaction.policy_id,) * 2
    return RequestView(
        transaction.id,
        verifier.operator_name(),
        ja,
        en,
        transaction.url,
        transaction.status_at(verifier.clock()),
        transaction.expires_at,
    )


def _page(title: str, body: str, *, head: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="ja">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n{head}</head>\n"
        f"<body>\n<main>\n{body}</main>\n</body>\n</html>\n"
    )


def _both(ja: str, en: str) -> str:
    """Japanese, then English marked as such (screen readers switch voices)."""
    return f'<span class="ja">{html.escape(ja)}</span> <span class="en" lang="en">{html.escape(en)}</span>'


def render_request_page(view: RequestView) -> str:
    """The page of one request (rules 1-5), a complete HTML document."""
    if view.status not in STATUS_TEXTS:
        raise ValueError(f"unknown request status {view.status!r}")
    waiting = view.status == "waiting"
    tid = quote(view.transaction_id, safe="")
    url = html.escape(view.url)
    # Relative URLs: the page works behind a proxy that serves the verifier under a prefix.
    status_url = html.escape(f"{tid}/status")
    ja, en = STATUS_TEXTS[view.status]
    expires = datetime.fromtimestamp(view.expires_at, _JST).strftime("%Y-%m-%d %H:%M")
    parts = [
        f'<p class="operator">{html.escape(view.operator)}</p>\n',
        f"<h1>{_both('本人確認のお願い', 'Identity verification request')}</h1>\n",
        '<section class="purpose" aria-labelledby="purpose">\n',
        f'<h2 id="purpose">{_both("利用目的", "Purpose")}</h2>\n',
        f"<p>{html.escape(view.purpose_ja)}</p>\n",
        f'<p lang="en">{html.escape(view.purpose_en)}</p>\n</section>\n',
        f'<p id="status" class="status" role="status" aria-live="polite" data-status="{view.status}"'
        f' data-status-url="{status_url}">{_both(ja, en)}</p>\n',
    ]
    if waiting:  # rule 4
        parts += [
            '<section id="request" aria-labelledby="how">\n',
            f'<h2 id="how">{_both("ウォレットで回答する", "Answer with your wallet")}</h2>\n',
            "<p>",
            _both(
                "スマートフォンのウォレットアプリでQRコードを読み取ってください。"
                "このスマートフォンでご覧の場合は、下のボタンを押してください。",
                "Scan the QR code with the wallet app on your phone. "
                "If you are reading this on that phone, tap the button below.",
            ),
            "</p>\n<figure>\n",
            qr_svg_element(view.url, label=_QR_LABEL),
            "\n</figure>\n",
            f'<p><a class="open" href="{url}">{_both("ウォレットで開く", "Open in wallet")}</a></p>\n',
            f"<h2>{_both('リンク（ウォレットに貼り付け）', 'Link (to paste into a wallet)')}</h2>\n",
            f'<p><code class="url">{url}</code></p>\n',
            f'<p class="small">{_both(f"有効期限: {expires} JST", f"Valid until {expires} JST")}</p>\n',
            "</section>\n",
            # Without JavaScript the <meta> refresh in <head> reloads the page; this says so.
            f'<noscript><p class="small"><a href="{html.escape(tid)}">'
            f"{_both('再読み込みして状態を確認', 'Reload to see the status')}</a></p></noscript>\n",
            f"<script>{_SCRIPT}</script>\n",
        ]
    refresh = f'<noscript><meta http-equiv="refresh" content="{_NOSCRIPT_REFRESH_S}"></noscript>\n'
    head = refresh if waiting else ""
    return _page("本人確認のお願い / Identity verification request", "".join(parts), head=head)


def render_not_found_page() -> str:
    """The page for an unknown request id (or one purged a day after it expired)."""
    body = (
        f"<h1>{_both('リクエストが見つかりません', 'Request not found')}</h1>\n"
        "<p>"
        + _both(
            "このリンクのリクエストはありません（期限切れで削除された可能性があります）。"
            "新しいリクエストをお求めください。",
            "There is no request at this link (it may have expired and been removed). "
            "Please ask for a new one.",
        )
        + "</p>\n"
    )
    return _page("見つかりません / Not found", body)


def render_error_page() -> str:
    """The page for a failure of the verifier itself (the details are in its log only)."""
    body = (
        f"<h1>{_both('エラーが発生しました', 'Something went wrong')}</h1>\n"
        f"<p>{_both('しばらくしてから再読み込みしてください。', 'Please reload in a moment.')}</p>\n"
    )
    return _page("エラー / Error", body)
