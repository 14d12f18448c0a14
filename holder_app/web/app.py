"""``akashi-wallet ui``: the wallet's phone-sized web app, served on loopback.

Every page reads or acts through the wallet engine; what is decided (whom a request comes
from, what it may ask, who receives an update) is decided there, as for the CLI. This module
adds what a browser needs, and guards it:

1. Served on a loopback address only (the CLI refuses another); a request whose ``Host`` is
   not one of the app's own names is refused (DNS rebinding).
2. Nothing but the unlock page without a session; a session comes only from the right
   passphrase (:mod:`holder_app.web.sessions`) and is locked when idle.
3. Every POST carries the session's CSRF token in its form (the unlock form a per-browser
   one, double-submitted in a cookie), and a browser's ``Origin`` / ``Sec-Fetch-Site``, when
   sent, must be this site.
4. Responses are not cached and carry a Content-Security-Policy allowing only this app's own
   style sheet, script and inline images (QR codes), and no framing.
5. Errors are a page in the person's language with one plain sentence, never a traceback;
   a wrong passphrase, a refused request or a ledger refusal leaves the wallet as it was.
"""

from __future__ import annotations

import base64
import hmac
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from holder_app.audit import write_audit_jsonl
from holder_app.audit_events import events_from_store
from holder_app.claim_text import KNOWN_CLAIMS, claim_label, dotted, has_claim
from holder_app.folder import WALLET_FILE, LedgerSettings, create_wallet_folder, open_wallet_folder
from holder_app.records import Consent, StoredCredential
from holder_app.recovery_kit import RecoveryKit, format_kit, kit_qr_svg
from holder_app.updates import plan_update, refresh_updates, send_update
from holder_app.wallet import Wallet
from holder_app.web.i18n import LANGUAGES, choose_language, reason_text, translator
from holder_app.web.sessions import Session, Sessions
from identity.credentials.sdjwt import parse_claims_unverified
from identity.crypto.passphrase import DEFAULT_PARAMS, KdfParams
from identity.errors import AkashiError, MalformedInput, NotFound, WrongPassphrase

__all__ = ["LOOPBACK_HOSTS", "create_app"]

HERE = Path(__file__).resolve().parent
#: The names this app answers to (rule 1); tests add their client's.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SESSION_COOKIE = "akashi_session"
UNLOCK_COOKIE = "akashi_unlock"
LANG_COOKIE = "akashi_lang"
MAX_FORM_BYTES = 64 * 1024
#: The shortest passphrase a new wallet takes (Argon2id slows guessing; length still matters).
MIN_PASSPHRASE = 10
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

Handler = Callable[[Request, "Page"], Awaitable[Response]]


class Page:
    """What a handler needs to answer: the language, the session, and the renderer."""

    def __init__(self, app: _App, request: Request, session: Session | None) -> None:
        self.app = app
        self.request = request
        self.session = session
        self.lang = choose_language(request.headers.get("accept-language"), request.cookies.get(LANG_COOKIE))
        self.t = translator(self.lang)

    @property
    def wallet(self) -> Wallet:
        """The unlocked wallet (handlers that need one are only reached with a session)."""
        assert self.session is not None
        return self.session.wallet

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        """The page ``template`` in the person's language."""
        html = self.app.templates.get_template(template).render(
            t=self.t, lang=self.lang, other_lang="en" if self.lang == "ja" else "ja",
            csrf=self.session.csrf if self.session else "", path=self.request.url.path,
            label=lambda path: claim_label(path, self.lang), when=_when, **context,
        )  # fmt: skip
        return HTMLResponse(html, status_code=status_code)

    def error(self, message: str, status_code: int = 400) -> HTMLResponse:
        """The error page, saying ``message``."""
        return self.render("error.html", status_code=status_code, message=message)


class _App:
    def __init__(
        self, data: Path, sessions: Sessions, allowed_hosts: frozenset[str], templates: Environment
    ) -> None:
        self.data = data
        self.sessions = sessions
        self.allowed_hosts = allowed_hosts
        self.templates = templates
        self.names: dict[str, str] = {}  # DID -> legal name, from the trust registry

    def legal_name(self, wallet: Wallet, did: str) -> str:
        """The registered legal name of ``did`` (the DID itself if the registry has none)."""
        if did not in self.names:
            try:
                self.names[did] = wallet.ledger.member(did).record.legal_name
            except AkashiError:
                return did
        return self.names[did]


def create_app(
    data: Path,
    *,
    idle_seconds: float = 300,
    clock: Callable[[], float] = time.time,
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS,
    open_wallet: Callable[[str], AbstractContextManager[Wallet]] | None = None,
    new_wallet: LedgerSettings | None = None,
    kdf_params: KdfParams = DEFAULT_PARAMS,
) -> Starlette:
    """The web app over the wallet folder ``data`` (see the module docstring). A folder with
    no wallet yet needs ``new_wallet``, the registry settings the person's wallet will use: the
    first page then creates it (passphrase twice, then the recovery kit, shown once)."""
    if not (data / WALLET_FILE).exists() and new_wallet is None:
        raise NotFound(f"{data} holds no wallet: run `akashi-wallet init`, or give the registry settings")
    if new_wallet is None:
        LedgerSettings.read(data)  # a broken folder is refused now, not at the first unlock
    opener = open_wallet or (lambda passphrase: open_wallet_folder(data, passphrase))
    sessions = Sessions(opener, idle_seconds=idle_seconds, clock=clock)
    templates = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True)
    )
    app = _App(data, sessions, allowed_hosts, templates)

    def page(handler: Handler, *, locked_ok: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if (request.url.hostname or "") not in app.allowed_hosts:  # 1
                return Response("unknown host", status_code=421, media_type="text/plain")
            session, idle = sessions.get(request.cookies.get(SESSION_COOKIE))
            view = Page(app, request, session)
            try:
                if request.method == "POST" and not _same_site(request):  # 3
                    response: Response = view.error("cross-site request refused", 403)
                elif not (data / WALLET_FILE).exists() and handler not in (create_form, create):
                    response = RedirectResponse("/create", status_code=303)
                elif session is None and not locked_ok:  # 2
                    response = RedirectResponse("/unlock" + ("?idle=1" if idle else ""), status_code=303)
                else:
                    response = await handler(request, view)
            except AkashiError as error:  # 5
                response = view.error(error.message, 422)
            return _guarded(response)

        return endpoint

    async def create_form(request: Request, view: Page) -> Response:
        if (data / WALLET_FILE).exists():
            return RedirectResponse("/unlock", status_code=303)
        return _before_session(view, "create.html")

    async def create(request: Request, view: Page) -> Response:
        form = await _form(request)
        if not _before_session_token_ok(request, form):  # 3
            return view.error("the form expired: reload the page", 403)
        if (data / WALLET_FILE).exists() or new_wallet is None:
            return RedirectResponse("/unlock", status_code=303)
        passphrase = form.get("passphrase", "")
        if len(passphrase) < MIN_PASSPHRASE or passphrase != form.get("again", ""):
            return _before_session(view, "create.html", 422, view.t["passphrase_rules"])
        shown: list[RecoveryKit] = []
        await run_in_threadpool(
            lambda: create_wallet_folder(
                data, new_wallet, passphrase, params=kdf_params, show_kit=shown.append
            )
        )
        session = await run_in_threadpool(sessions.unlock, passphrase)
        view.session = session
        [kit] = shown
        qr = "data:image/svg+xml;base64," + base64.b64encode(kit_qr_svg(kit).encode("utf-8")).decode("ascii")
        response = view.render("kit.html", kit=format_kit(kit), did=kit.did, qr=qr)
        response.set_cookie(SESSION_COOKIE, session.token, httponly=True, samesite="strict")
        response.delete_cookie(UNLOCK_COOKIE)
        return response

    async def home(request: Request, view: Page) -> Response:
        return RedirectResponse("/credentials", status_code=303)

    async def unlock_form(request: Request, view: Page) -> Response:
        if view.session is not None:
            return RedirectResponse("/credentials", status_code=303)
        notice = view.t["locked_idle"] if request.query_params.get("idle") else None
        if request.query_params.get("locked"):
            notice = view.t["locked"]
        return _before_session(view, "unlock.html", notice=notice)

    async def unlock(request: Request, view: Page) -> Response:
        form = await _form(request)
        if not _before_session_token_ok(request, form):  # 3
            return view.error("the form expired: reload the page", 403)
        try:
            session = await run_in_threadpool(sessions.unlock, form.get("passphrase", ""))
        except WrongPassphrase:
            return _before_session(view, "unlock.html", 401, view.t["wrong_passphrase"])
        response = RedirectResponse("/credentials", status_code=303)
        response.set_cookie(SESSION_COOKIE, session.token, httponly=True, samesite="strict")
        response.delete_cookie(UNLOCK_COOKIE)
        return response

    async def lock(request: Request, view: Page) -> Response:
        await _checked_form(request, view)
        sessions.lock(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/unlock?locked=1", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    async def language(request: Request, view: Page) -> Response:
        chosen = request.path_params["lang"]
        target = request.query_params.get("next", "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        response = RedirectResponse(target, status_code=303)
        if chosen in LANGUAGES:
            response.set_cookie(LANG_COOKIE, chosen, samesite="strict", max_age=365 * 86400)
        return response

    async def credentials(request: Request, view: Page) -> Response:
        wallet = view.wallet
        listed = await run_in_threadpool(wallet.store.credentials)
        cards = [_credential_card(app, wallet, c, view.lang) for c in listed]
        return view.render("credentials.html", nav="credentials", cards=cards)

    async def receive_form(request: Request, view: Page) -> Response:
        return view.render("receive.html", nav="receive", offer=request.query_params.get("offer", ""))

    async def receive(request: Request, view: Page) -> Response:
        form = await _checked_form(request, view)
        offer = form.get("offer", "").strip()
        if not offer:
            raise MalformedInput(view.t["offer"])
        tx_code = form.get("tx_code", "").strip() or None
        received = await run_in_threadpool(lambda: view.wallet.receive(offer, tx_code=tx_code))
        cards = [_credential_card(app, view.wallet, c, view.lang) for c in received]
        return view.render("received.html", nav="receive", cards=cards)

    async def present_form(request: Request, view: Page) -> Response:
        return view.render("present.html", nav="present", link=request.query_params.get("request", ""))

    async def present(request: Request, view: Page) -> Response:
        form = await _checked_form(request, view)
        link = form.get("request", "").strip()
        if not link:
            raise MalformedInput(view.t["request_link"])
        opened = await run_in_threadpool(view.wallet.open_request, link)
        withheld = await run_in_threadpool(view.wallet.withheld, opened)
        assert view.session is not None
        rid = os.urandom(16).hex()
        view.session.requests = {rid: opened}  # one open request at a time: the latest
        return view.render("request.html", nav="present", rid=rid, request=opened, withheld=withheld)

    async def decide(request: Request, view: Page) -> Response:
        await _checked_form(request, view)
        assert view.session is not None
        opened = view.session.requests.pop(request.path_params["rid"], None)
        if opened is None:
            raise NotFound("that request is no longer open: scan or paste it again")
        if request.path_params["decision"] == "refuse":
            await run_in_threadpool(view.wallet.refuse, opened)
            return view.render("presented.html", nav="present", request=opened, approved=False, consent=None)
        approval = await run_in_threadpool(view.wallet.approve, opened)
        consent = approval.consent
        leaf = None if consent is None or consent.grant_anchor is None else consent.grant_anchor["index"]
        return view.render(
            "presented.html", nav="present", request=opened, approved=True, consent=consent, leaf=leaf
        )

    async def consents(request: Request, view: Page) -> Response:
        wallet = view.wallet
        now = int(time.time())
        listed = await run_in_threadpool(wallet.store.consents)
        rows = [_consent_row(app, wallet, c, now) for c in reversed(listed)]
        return view.render("consents.html", nav="consents", rows=rows)

    async def revoke_form(request: Request, view: Page) -> Response:
        consent = await run_in_threadpool(view.wallet.store.consent, request.path_params["cid"])
        row = _consent_row(app, view.wallet, consent, int(time.time()))
        return view.render("revoke.html", nav="consents", row=row)

    async def revoke(request: Request, view: Page) -> Response:
        await _checked_form(request, view)
        consent = await run_in_threadpool(view.wallet.revoke, request.path_params["cid"])
        row = _consent_row(app, view.wallet, consent, int(time.time()))
        return view.render("revoked.html", nav="consents", row=row)

    async def update_form(request: Request, view: Page) -> Response:
        return view.render("update.html", nav="update", today=date.today().isoformat())

    async def update_plan(request: Request, view: Page) -> Response:
        form = await _checked_form(request, view)
        address, effective = _address_form(form)
        plan = await run_in_threadpool(plan_update, view.wallet, "address")
        receive = [(c, app.legal_name(view.wallet, c.verifier)) for c in plan.recipients]
        excluded = [
            (c, app.legal_name(view.wallet, c.verifier), reason_text(why, view.lang))
            for c, why in plan.excluded
        ]
        return view.render(
            "update_plan.html", nav="update", address=address, effective=effective.isoformat(),
            receive=receive, excluded=excluded,
        )  # fmt: skip

    async def update_send(request: Request, view: Page) -> Response:
        form = await _checked_form(request, view)
        address, effective = _address_form(form)
        wallet = view.wallet

        def send() -> None:
            plan = plan_update(wallet, "address")
            if plan.recipients:
                send_update(wallet, plan, {"formatted": address}, effective)

        await run_in_threadpool(send)
        return RedirectResponse("/activity", status_code=303)

    async def activity(request: Request, view: Page) -> Response:
        wallet = view.wallet
        updates = await run_in_threadpool(refresh_updates, wallet)
        batches: dict[str, list[Any]] = {}
        for update in reversed(updates):
            batches.setdefault(update.batch, []).append((update, app.legal_name(wallet, update.verifier)))
        history = list(reversed(await run_in_threadpool(wallet.store.history)))[:50]
        return view.render("activity.html", nav="activity", batches=list(batches.values()), history=history)

    async def audit(request: Request, view: Page) -> Response:
        wallet = view.wallet

        def export() -> bytes:
            identity = wallet.store.identity()
            if identity is None:
                raise NotFound("this wallet has no identity yet")
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "audit.jsonl"
                write_audit_jsonl(
                    events_from_store(wallet.store), path, wallet_did=identity.did,
                    log_vkey=wallet.ledger.trust.log_key,
                )  # fmt: skip
                return path.read_bytes()

        body = await run_in_threadpool(export)
        name = f"akashi-audit-{datetime.now(UTC).strftime('%Y%m%d')}.jsonl"
        return Response(
            body, media_type="application/jsonl",
            headers={"content-disposition": f"attachment; filename={quote(name)}"},
        )  # fmt: skip

    routes = [
        Route("/", page(home), methods=["GET"]),
        Route("/create", page(create_form, locked_ok=True), methods=["GET"]),
        Route("/create", page(create, locked_ok=True), methods=["POST"]),
        Route("/unlock", page(unlock_form, locked_ok=True), methods=["GET"]),
        Route("/unlock", page(unlock, locked_ok=True), methods=["POST"]),
        Route("/lock", page(lock), methods=["POST"]),
        Route("/lang/{lang}", page(language, locked_ok=True), methods=["GET"]),
        Route("/credentials", page(credentials), methods=["GET"]),
        Route("/receive", page(receive_form), methods=["GET"]),
        Route("/receive", page(receive), methods=["POST"]),
        Route("/present", page(present_form), methods=["GET"]),
        Route("/present", page(present), methods=["POST"]),
        Route("/present/{rid}/{decision:str}", page(decide), methods=["POST"]),
        Route("/consents", page(consents), methods=["GET"]),
        Route("/consents/{cid}/revoke", page(revoke_form), methods=["GET"]),
        Route("/consents/{cid}/revoke", page(revoke), methods=["POST"]),
        Route("/update", page(update_form), methods=["GET"]),
        Route("/update/plan", page(update_plan), methods=["POST"]),
        Route("/update/send", page(update_send), methods=["POST"]),
        Route("/activity", page(activity), methods=["GET"]),
        Route("/audit.jsonl", page(audit), methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        sessions.lock_all()  # stopping the app locks every wallet

    starlette = Starlette(routes=routes, lifespan=lifespan)
    starlette.state.sessions = sessions
    return starlette


# ---------------------------------------------------------------------------- helpers


def _guarded(response: Response) -> Response:
    """Rule 4's headers."""
    response.headers["content-security-policy"] = CSP
    response.headers["cache-control"] = "no-store"
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["referrer-policy"] = "same-origin"  # "no-referrer" makes forms send Origin: null
    return response


def _same_site(request: Request) -> bool:
    """Rule 3's browser check: no ``Origin`` or ``Sec-Fetch-Site`` saying another site."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    return origin is None or origin == own


async def _form(request: Request) -> dict[str, str]:
    """A URL-encoded form (at most :data:`MAX_FORM_BYTES`), one value per name."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise MalformedInput("the form is too large")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise MalformedInput("the form is not UTF-8") from None
    return {name: values[-1] for name, values in fields.items()}


async def _checked_form(request: Request, view: Page) -> dict[str, str]:
    """The form, if it carries this session's CSRF token (rule 3)."""
    form = await _form(request)
    if view.session is None or not view.session.csrf_ok(form.get("csrf")):
        raise MalformedInput("the form expired: go back and try again")
    return form


def _before_session(view: Page, template: str, status_code: int = 200, notice: str | None = None) -> Response:
    """The unlock or create form, with the per-browser token it must send back (rule 3:
    there is no session yet, so the token is double-submitted in a cookie)."""
    token = view.request.cookies.get(UNLOCK_COOKIE) or os.urandom(32).hex()
    response = view.render(template, status_code=status_code, unlock_csrf=token, notice=notice)
    response.set_cookie(UNLOCK_COOKIE, token, httponly=True, samesite="strict")
    return response


def _before_session_token_ok(request: Request, form: Mapping[str, str]) -> bool:
    """Whether the unlock or create form came back with this browser's token."""
    cookie = request.cookies.get(UNLOCK_COOKIE) or ""
    return bool(cookie) and hmac.compare_digest(form.get("csrf", ""), cookie)


def _address_form(form: Mapping[str, str]) -> tuple[str, date]:
    address = form.get("address", "").strip()
    if not address:
        raise MalformedInput("write the new address")
    try:
        effective = date.fromisoformat(form.get("effective", "") or date.today().isoformat())
    except ValueError:
        raise MalformedInput("the date is YYYY-MM-DD") from None
    return address, effective


def _when(at: int | None) -> str:
    return "-" if at is None else time.strftime("%Y-%m-%d", time.localtime(at))


def _credential_card(app: _App, wallet: Wallet, credential: StoredCredential, lang: str) -> dict[str, Any]:
    """What the credentials screen shows of one credential: what it proves, who issued it,
    until when, and how many unused copies are left."""
    claims = parse_claims_unverified(credential.copies[0].sd_jwt) if credential.copies else {}
    proves = [claim_label(path, lang) for path in KNOWN_CLAIMS if has_claim(claims, path)]
    kind = "kyc_credential" if credential.vct.endswith("/vct/kyc") else "licence_credential"
    expired = credential.expires_at is not None and credential.expires_at <= time.time()
    return {
        "id": credential.id, "kind": kind, "proves": proves,
        "issuer": app.legal_name(wallet, credential.issuer), "issued_at": credential.issued_at,
        "expires_at": credential.expires_at, "expired": expired,
        "unused": sum(1 for copy in credential.copies if copy.used_by is None),
        "copies": len(credential.copies),
    }  # fmt: skip


def _consent_row(app: _App, wallet: Wallet, consent: Consent, now: int) -> dict[str, Any]:
    return {
        "consent": consent, "state": consent.state(now), "name": app.legal_name(wallet, consent.verifier),
        "claims": [tuple(path) for path in consent.claims], "dotted": [dotted(p) for p in consent.claims],
    }  # fmt: skip
