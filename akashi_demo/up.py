"""``akashi-up`` (``make up``): the demo's services, left running for a person to try by hand.

Everything runs in this process, on loopback, at fixed ports so that the URLs stay the same
from one run to the next (``--base-port`` shifts them all):

====================  ======  =================================================================
registry node         +0      genesis, witness at ``/witness``; ``/checkpoint``
issuer                +1      accredited for JPKI and licence IC checks
verifier              +2      株式会社アカシモビリティ, policy car-sharing
verifier              +3      株式会社スペースシェア, policy space-sharing
verifier              +4      株式会社パーセルロッカー, policy parcel-locker
wallet app            +10     phone-sized; the first page creates the wallet
counter page          +11     new credential offers and new presentation requests
====================  ======  =================================================================

At start the issuer's counter checks the test person's (山田 花子) test My Number card and
driving licence, and each operator makes one presentation request; their links are printed.
Offers and requests are single use and expire (10 minutes, the services' defaults), so the
counter page makes new ones on demand.

Every port is bound before anything else happens: a port in use is one line on stderr and
exit status 1. Ctrl-C (SIGINT) or SIGTERM stops every server, closes every store and removes
the data folder unless ``--keep`` or ``--data`` was given; the exit status is then 0.
"""

from __future__ import annotations

import argparse
import html
import json
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, cast
from urllib.parse import quote

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from akashi_demo.counter import check_card, check_licence
from holder_app.folder import LedgerSettings
from holder_app.web.app import LOOPBACK_HOSTS
from holder_app.web.app import create_app as create_wallet_app
from identity.errors import AkashiError
from issuer.app import create_app as create_issuer_app
from issuer.config import IssuerConfig
from issuer.evidence import JpkiTrust, LicenceTrust
from issuer.evidence.testca import (
    HANAKO_CARD,
    IssuedKey,
    JpkiTestCa,
    create_jpki_ca,
    create_licence_authority,
)
from issuer.identity import create_identity as create_issuer_identity
from issuer.service import Issuer
from registry.app import create_app as create_registry_app
from registry.client import ClientTrust, RegistryClient
from registry.config import RegistryConfig
from registry.genesis import sign_member_entry
from registry.service import Service, init_data_dir, open_service, read_private_key
from registry.state import Member, Purpose
from registry.witness_app import create_witness_app
from verifier.app import create_app as create_verifier_app
from verifier.config import VerifierConfig
from verifier.identity import create_identity as create_verifier_identity
from verifier.policies import default_policies, parse_policies, registered_purposes
from verifier.service import Verifier
from verifier.setup import HttpStatusFetcher

__all__ = ["OPERATORS", "PORT_OFFSETS", "main"]

#: Offsets from ``--base-port`` of each server, in the order they are bound.
PORT_OFFSETS = {
    "registry": 0,
    "issuer": 1,
    "car-sharing": 2,
    "space-sharing": 3,
    "parcel-locker": 4,
    "wallet": 10,
    "counter": 11,
}
DEFAULT_BASE_PORT = 8470
#: (policy, legal name, 法人番号): each operator registers the purposes of its one policy.
OPERATORS = (
    ("car-sharing", "株式会社アカシモビリティ", "2120901007402"),
    ("space-sharing", "株式会社スペースシェア", "7010001888888"),
    ("parcel-locker", "株式会社パーセルロッカー", "7010001999999"),  # as in the demo (made up, valid)
)
#: The names the services may be reached by: the wallet and its protocols allow plain http on
#: loopback only, and the issuer's status-list URLs take no IPv6 literal, so no ``::1``.
HOSTS = ("127.0.0.1", "localhost")
#: How long a server may take to come up, or to stop.
START_SECONDS = 10.0
STOP_SECONDS = 10.0


class PortTaken(Exception):
    """A port of ours is in use (one line, for the person)."""


class Stopped(Exception):
    """SIGINT or SIGTERM arrived while the services were starting."""


# ---------------------------------------------------------------------------- servers


def bind_ports(base: int) -> dict[str, socket.socket]:
    """A listening socket on 127.0.0.1 for every server in :data:`PORT_OFFSETS`, from port
    ``base``; :class:`PortTaken` names the first port that cannot be had (nothing stays bound)."""
    bound: dict[str, socket.socket] = {}
    for name, offset in PORT_OFFSETS.items():
        port = base + offset
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # As uvicorn does: a port left in TIME_WAIT by the previous run is free to take again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(128)  # listening at once: no one else can take the port until we stop
        except OSError as error:
            sock.close()
            for other in bound.values():
                other.close()
            raise PortTaken(
                f"port {port} ({name}) on 127.0.0.1 is not available ({error.strerror or error}); "
                "stop what uses it or choose other ports with --base-port"
            ) from None
        bound[name] = sock
    return bound


class Served:
    """One ASGI app served by uvicorn in a daemon thread, on a socket bound beforehand."""

    def __init__(self, name: str, app: Starlette, sock: socket.socket) -> None:
        host, port = sock.getsockname()[:2]
        self.name = name
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host=host, port=port, log_level="warning", access_log=False,
                # A browser's keep-alive connection must not hold Ctrl-C up for long.
                timeout_graceful_shutdown=3,
            )
        )  # fmt: skip
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name=f"uvicorn:{name}", daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + START_SECONDS
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.stop()
                sock.close()
                raise RuntimeError(f"the {name} server on port {port} did not start")
            time.sleep(0.01)

    def ask_to_stop(self) -> None:
        """Tell the server to finish (it stops within its graceful-shutdown timeout)."""
        self.server.should_exit = True

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        self.ask_to_stop()
        self.thread.join(timeout=STOP_SECONDS)


def url_of(host: str, port: int) -> str:
    """The base URL of a server of ours."""
    return f"http://{host}:{port}"


# ---------------------------------------------------------------------------- the counter


@dataclass(frozen=True, slots=True)
class Offer:
    """A credential offer the counter made: what it holds and its by-reference URL."""

    label: str
    url: str


@dataclass(frozen=True, slots=True)
class TestDocuments:
    """山田 花子's test My Number card and licence, and the test authorities behind them."""

    ca: JpkiTestCa
    card: IssuedKey
    authority: IssuedKey
    when: datetime

    @classmethod
    def create(cls, when: datetime) -> TestDocuments:
        """A fresh test JPKI CA with her card, and a test licence authority."""
        ca = create_jpki_ca(when)
        return cls(ca, ca.issue_card(HANAKO_CARD, when), create_licence_authority(when), when)

    def jpki_trust(self) -> JpkiTrust:
        """The issuer's JPKI trust: the test root, with CRLs good for 30 days (the default is
        one day, after which every card check would fail as "revocation status unknown")."""
        return JpkiTrust(
            roots=(self.ca.root.certificate,),
            crls=tuple(self.ca.crls(self.when, next_update=timedelta(days=30))),
        )

    def licence_trust(self) -> LicenceTrust:
        """The issuer's licence trust: the test licence authority."""
        return LicenceTrust((self.authority.certificate,))


class Counter:
    """The identity provider's counter: checks her card and licence through the issuer's
    admin API over HTTP, as the demo does, and returns the offers the issuer makes."""

    def __init__(self, issuer_url: str, admin_token: str, documents: TestDocuments) -> None:
        self.documents = documents
        self.client = httpx.Client(
            base_url=issuer_url, timeout=30, headers={"authorization": "Bearer " + admin_token}
        )

    def offers(self) -> list[Offer]:
        """Check her My Number card (JPKI signature over a fresh challenge) and her licence's
        IC data (face compared): one offer each."""
        jpki = _answer(check_card(self.client, self.documents.card, operator="akashi-up counter"))
        licence = _answer(check_licence(self.client, self.documents.authority, operator="akashi-up counter"))
        return [
            Offer(_offer_label(jpki, "My Number card (JPKI)"), jpki["offer_url_by_reference"]),
            Offer(_offer_label(licence, "driving licence (IC)"), licence["offer_url_by_reference"]),
        ]

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()


#: Plain names of the issuer's credential configurations.
CREDENTIAL_NAMES = {"akashi_kyc": "KYC credential", "akashi_licence": "driving-licence credential"}


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The issuer's JSON answer to a counter check (a refusal stops ``make up`` with its reason)."""
    if response.status_code not in (200, 201):
        path, said = response.request.url.path, response.text[:200]
        raise RuntimeError(f"the issuer refused {path}: {response.status_code} {said}")
    return cast(dict[str, Any], response.json())


def _offer_label(answer: dict[str, Any], evidence: str) -> str:
    """``"<evidence> → <credentials offered>"`` from the issuer's answer."""
    ids = answer.get("credential_offer", {}).get("credential_configuration_ids", [])
    return f"{evidence} → {' + '.join(CREDENTIAL_NAMES.get(str(i), str(i)) for i in ids)}"


PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:1rem auto;padding:0 1rem;line-height:1.5}"
    "code{word-break:break-all;background:#f3f3f3;padding:.1rem .2rem}"
    "form{margin:.5rem 0}button{font-size:1rem;padding:.4rem .8rem}li{margin:.5rem 0}"
)


@dataclass(frozen=True, slots=True)
class Operator:
    """A running operator, as the counter page lists it."""

    policy: str
    legal_name: str
    verifier: Verifier


def create_counter_app(
    counter: Counter, operators: list[Operator], wallet_url: str, allowed_hosts: frozenset[str]
) -> Starlette:
    """The counter page: new offers for 山田 花子, and a new request from each operator.

    Only for this loopback demo; still, as the wallet app does, it answers only to its own
    host names (DNS rebinding) and refuses a POST a browser marks as cross-site.
    """
    by_policy = {o.policy: o for o in operators}
    # form-action governs redirects after a POST too: the operators' pages must be allowed.
    origins = " ".join(sorted({o.verifier.url for o in operators}))
    csp = f"{PAGE_CSP}; form-action 'self' {origins}"

    def page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
        document = (
            '<!doctype html><html lang="ja"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{PAGE_STYLE}</style></head><body>{body}</body></html>"
        )
        headers = {
            "content-security-policy": csp,
            "cache-control": "no-store",
            "referrer-policy": "no-referrer",
        }
        return HTMLResponse(document, status_code=status_code, headers=headers)

    def refused(request: Request) -> Response | None:
        if (request.url.hostname or "") not in allowed_hosts:
            return Response("unknown host", status_code=421, media_type="text/plain")
        if request.method == "POST" and request.headers.get("sec-fetch-site", "same-origin") not in (
            "same-origin",
            "none",
        ):
            return Response("cross-site request refused", status_code=403, media_type="text/plain")
        return None

    async def home(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        forms = "".join(
            f'<li><form method="post" action="/requests/{quote(o.policy)}"><button>'
            f"{html.escape(o.legal_name)} — {html.escape(o.policy)}</button></form></li>"
            for o in operators
        )
        wallet = html.escape(wallet_url + "/")
        body = (
            "<h1>akashi 窓口 / counter (test)</h1>"
            f'<p>ウォレット / Wallet app: <a href="{wallet}">{wallet}</a></p>'
            "<h2>本人確認 / Identity check</h2>"
            "<p>テスト用の 山田 花子 のマイナンバーカードと運転免許証を確認し、クレデンシャルの"
            "オファーを2件発行します。<br>Checks the test person 山田 花子's My Number card and "
            "driving licence and makes two credential offers (each works once, within 10 minutes).</p>"
            '<form method="post" action="/offers"><button>確認する / Check her documents</button></form>'
            "<h2>事業者からの依頼 / A new request from an operator</h2>"
            "<p>Each request can be answered once, within 10 minutes.</p>"
            f"<ul>{forms}</ul>"
        )
        return page("akashi counter", body)

    async def offers(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        try:
            made = await _in_thread(counter.offers)
        except (httpx.HTTPError, RuntimeError, AkashiError) as error:
            return page("akashi counter", f"<p>The check failed: {html.escape(str(error))}</p>", 502)
        items = "".join(
            f"<li>{html.escape(o.label)}<br><code>{html.escape(o.url)}</code><br>"
            f'<a href="{html.escape(wallet_url)}/receive?offer={quote(o.url, safe="")}">'
            "ウォレットで受け取る / Receive in the wallet</a> (unlock the wallet first)</li>"
            for o in made
        )
        body = (
            "<h1>オファー / Credential offers</h1>"
            "<p>Paste a link on the wallet's Receive page, or follow its wallet link. "
            "Each works once, within 10 minutes.</p>"
            f'<ol>{items}</ol><p><a href="/">戻る / Back</a></p>'
        )
        return page("akashi offers", body, 201)

    async def new_request(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        operator = by_policy.get(request.path_params["policy"])
        if operator is None:
            return page("akashi counter", "<p>No such operator.</p>", 404)
        transaction = await _in_thread(lambda: operator.verifier.new_request(operator.policy))
        return RedirectResponse(operator.verifier.request_page_url(transaction.id), status_code=303)

    return Starlette(
        routes=[
            Route("/", home, methods=["GET"]),
            Route("/offers", offers, methods=["POST"]),
            Route("/requests/{policy}", new_request, methods=["POST"]),
        ]
    )


async def _in_thread(work: Callable[[], Any]) -> Any:
    """``work()`` in starlette's thread pool (it blocks: HTTP calls, SQLite)."""
    return await run_in_threadpool(work)


# ---------------------------------------------------------------------------- the consortium


class Consortium:
    """Every service of ``make up``, started on the given sockets; :meth:`close` stops them all.

    ``check_stop`` is called between steps: starting takes a few seconds (keys, databases),
    and a Ctrl-C meanwhile should stop at the next step, not after everything came up.
    """

    def __init__(
        self, folder: Path, host: str, sockets: dict[str, socket.socket], check_stop: Callable[[], None]
    ) -> None:
        self._cleanup = ExitStack()
        self.servers: list[Served] = []
        try:
            self._start(folder, host, sockets, check_stop)
        except BaseException:
            self.close()
            raise

    def _serve(self, name: str, app: Starlette, sockets: dict[str, socket.socket]) -> Served:
        served = Served(name, app, sockets.pop(name))
        self.servers.append(served)
        return served

    def _start(
        self, folder: Path, host: str, sockets: dict[str, socket.socket], check_stop: Callable[[], None]
    ) -> None:
        ports = {name: int(sock.getsockname()[1]) for name, sock in sockets.items()}

        def port(name: str) -> int:
            return ports[name]

        # The registry node: genesis with 3 governance keys (2 needed), its witness beside it.
        config = RegistryConfig(data_dir=folder / "registry", admission_workers=0)
        made = init_data_dir(config, origin="akashi.up/registry", governance_keys=3, threshold=2)
        governance = [read_private_key(p) for p in made.governance_key_files][:2]
        service: Service = open_service(config)
        self._cleanup.callback(service.close)
        registry_app = create_registry_app(
            service.node, extra_routes=[Mount("/witness", app=create_witness_app(service.witness))]
        )
        self.registry_url = url_of(host, port("registry"))
        self._serve("registry", registry_app, sockets)
        witness = service.witness_verifier.vkey
        trust = ClientTrust.from_genesis(service.genesis, [witness], 1)

        def ledger() -> RegistryClient:
            client = RegistryClient(self.registry_url, trust=trust)
            self._cleanup.callback(client.close)
            return client

        governance_ledger = ledger()
        check_stop()

        # The identity provider: accredited for JPKI and licence IC checks by two governance keys.
        documents = TestDocuments.create(datetime.now(UTC))
        self.issuer_url = url_of(host, port("issuer"))
        issuer_folder = folder / "issuer"
        identity, admin_token = create_issuer_identity(issuer_folder)
        issuer_config = IssuerConfig(
            data_dir=issuer_folder, host=host, port=port("issuer"), url=self.issuer_url,
            registry_url=self.registry_url, status_list_size=4096,
        )  # fmt: skip
        issuer = Issuer(
            issuer_config,
            identity,
            jpki_trust=documents.jpki_trust(),
            licence_trust=documents.licence_trust(),
            ledger=ledger(),
        )
        self._cleanup.callback(issuer.close)
        governance_ledger.submit(identity.did_create_entry())
        member = Member(
            identity.did, "issuer", "株式会社デモ本人確認", "4010001234567", 1,
            evidence_methods=("jpki", "drivers_licence_ic"),
        )  # fmt: skip
        governance_ledger.submit(sign_member_entry("member.add", member.to_body(), governance))
        self._serve("issuer", create_issuer_app(issuer), sockets)
        check_stop()

        # The operators: each a trust-registry member with the purposes of its one policy.
        all_policies = parse_policies(default_policies())
        self.operators: list[Operator] = []
        for policy, legal_name, number in OPERATORS:
            vfolder = folder / "verifiers" / policy
            videntity, _token = create_verifier_identity(vfolder)  # the token stays in admin.token
            policies = {policy: all_policies[policy]}
            purposes = tuple(Purpose.from_json(p) for p in registered_purposes(policies))
            governance_ledger.submit(videntity.did_create_entry())
            vmember = Member(videntity.did, "verifier", legal_name, number, 1, purposes=purposes)
            governance_ledger.submit(sign_member_entry("member.add", vmember.to_body(), governance))
            fetcher = HttpStatusFetcher()
            self._cleanup.callback(fetcher.close)
            verifier = Verifier(
                VerifierConfig(
                    data_dir=vfolder, host=host, port=port(policy), url=url_of(host, port(policy))
                ),
                videntity,
                ledger=ledger(),
                policies=policies,
                issuers=[self.issuer_url],
                fetch_status_list=fetcher,
            )
            self._cleanup.callback(verifier.close)
            self._serve(policy, create_verifier_app(verifier), sockets)
            self.operators.append(Operator(policy, legal_name, verifier))
            check_stop()

        # The wallet app over a folder with no wallet yet: its first page creates one.
        genesis = json.loads(config.genesis_file.read_text(encoding="utf-8"))
        settings = LedgerSettings(self.registry_url, genesis, (witness,), 1)
        self.wallet_folder = folder / "wallet"
        self.wallet_url = url_of(host, port("wallet"))
        wallet_app = create_wallet_app(self.wallet_folder, new_wallet=settings, allowed_hosts=LOOPBACK_HOSTS)
        self._serve("wallet", wallet_app, sockets)

        # The counter: her documents checked once now (the offers printed), again on its page.
        self.counter = Counter(self.issuer_url, admin_token, documents)
        self._cleanup.callback(self.counter.close)
        self.counter_url = url_of(host, port("counter"))
        counter_app = create_counter_app(self.counter, self.operators, self.wallet_url, LOOPBACK_HOSTS)
        self._serve("counter", counter_app, sockets)
        check_stop()
        self.offers = self.counter.offers()
        self.requests = [
            (o, o.verifier.request_page_url(o.verifier.new_request(o.policy).id)) for o in self.operators
        ]

    def close(self) -> None:
        """Stop every server (all asked at once, then awaited), then close every store and client."""
        for served in self.servers:
            served.ask_to_stop()
        for served in self.servers:
            served.stop()
        self.servers.clear()
        self._cleanup.close()  # in reverse: the counter, the verifiers, the issuer, the registry


# ---------------------------------------------------------------------------- the command


class _Signals:
    """SIGINT and SIGTERM set a flag (no exception in the middle of a database write)."""

    def __init__(self) -> None:
        self.received: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    def check(self) -> None:
        """Raise :class:`Stopped` if a signal came."""
        if self.received is not None:
            raise Stopped

    @contextmanager
    def installed(self) -> Iterator[None]:
        """The handlers for the duration of the block."""
        previous = {sig: signal.signal(sig, self) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def describe(up: Consortium, host: str, folder: Path, removed: bool) -> str:
    """What ``make up`` prints once everything answers."""
    width = max(len(o.legal_name) for o in up.operators)
    lines = [
        f"akashi is up on {host}: a registry node, an issuer, three operators' verifiers, the wallet app.",
        f"Data: {folder}" + (" (removed when you stop)" if removed else " (kept)"),
        "",
        "ウォレット / Wallet app (phone-sized: a narrow window or your browser's device mode suits it)",
        f"  {up.wallet_url}/",
        "  First visit: create your wallet (a passphrase of at least 10 characters, twice);",
        "  it shows your recovery kit once.",
        "",
        "クレデンシャル / Credentials for the test person 山田 花子 (her test card and licence were",
        "just checked at the counter). Paste each link on the wallet's Receive page:",
    ]
    for offer in up.offers:
        lines += [f"  {offer.label}", f"    {offer.url}"]
    lines += [
        "  Each works once, within 10 minutes. New ones: the counter page below.",
        "",
        "事業者からの依頼 / Operators asking for proof: open a page, then copy its link into the",
        "wallet's Present page:",
    ]
    for operator, url in up.requests:
        lines.append(f"  {operator.legal_name.ljust(width, '　')}  {operator.policy}")
        lines.append(f"    {url}")
    lines += [
        "  Each request can be answered once, within 10 minutes. New ones: the counter page.",
        "",
        f"窓口 / Counter page (new offers, new requests): {up.counter_url}/",
        f"Registry node: {up.registry_url}/checkpoint   Issuer: {up.issuer_url}",
        "",
        "Ready. Press Ctrl-C to stop everything.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``akashi-up`` (``make up``)."""
    parser = argparse.ArgumentParser(
        prog="akashi-up",
        description="Start akashi's services on loopback with the wallet app, print their URLs, "
        "and run until Ctrl-C.",
    )
    parser.add_argument(
        "--data", type=Path, default=None,
        help="folder for every service's data (new or empty; kept). Default: a temporary folder, "
        "removed on exit unless --keep",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder on exit")
    parser.add_argument(
        "--host", choices=HOSTS, default=HOSTS[0],
        help="the name the URLs use; the servers listen on 127.0.0.1 either way (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--base-port", type=int, default=DEFAULT_BASE_PORT,
        help="registry port; the others follow it: issuer +1, verifiers +2..+4, wallet app +10, "
        "counter page +11 (default %(default)s)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not 1 <= args.base_port <= 65535 - max(PORT_OFFSETS.values()):
        parser.error(f"--base-port must be between 1 and {65535 - max(PORT_OFFSETS.values())}")
    if args.data is not None and args.data.exists() and (not args.data.is_dir() or any(args.data.iterdir())):
        print(f"akashi-up: {args.data} is not an empty folder; give a new or empty one", file=sys.stderr)
        return 1
    try:
        sockets = bind_ports(args.base_port)  # before anything is made
    except PortTaken as error:
        print(f"akashi-up: {error}", file=sys.stderr)
        return 1
    signals = _Signals()
    with signals.installed():
        return _run(args, sockets, signals)


def _run(args: argparse.Namespace, sockets: dict[str, socket.socket], signals: _Signals) -> int:
    removed = args.data is None and not args.keep
    folder = args.data or Path(tempfile.mkdtemp(prefix="akashi-up-"))
    folder.mkdir(parents=True, exist_ok=True)
    up: Consortium | None = None
    try:
        try:
            up = Consortium(folder, args.host, sockets, signals.check)
        except Stopped:
            print("akashi-up: stopped while starting", file=sys.stderr)
            return 0
        except (AkashiError, RuntimeError, OSError, httpx.HTTPError) as error:
            print(f"akashi-up: could not start: {error}", file=sys.stderr)
            return 1
        print(describe(up, args.host, folder, removed), flush=True)
        # Signal handlers run between bytecodes; a short sleep keeps the wait responsive
        # without a lock a handler could deadlock on.
        while signals.received is None:
            time.sleep(0.2)
        print("\nStopping…", flush=True)
        return 0
    finally:
        if up is not None:
            up.close()
        for sock in sockets.values():  # those no server took (a failed start)
            sock.close()
        if removed:
            shutil.rmtree(folder, ignore_errors=True)
        elif up is not None:
            print(f"Stopped. The data is in {folder}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
