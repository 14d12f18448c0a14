"""``akashi-verifier``: run a sharing-economy operator's verifier service.

Commands: ``init``, ``register``, ``serve``, ``request <policy>``, ``customers``,
``recheck``, ``export``, ``inbox``. Every command takes ``--data DIR`` (default
``$AKASHI_VERIFIER_DATA_DIR`` or ``verifier-data``). Exit status 0 ok, 1 refused or a
failed verification, 2 usage; errors are one line on stderr; ``--json`` prints one JSON
document on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from identity.errors import AkashiError
from verifier.config import VerifierConfig, from_sources
from verifier.export import verify_export
from verifier.identity import create_identity, load_identity
from verifier.monitoring import Change
from verifier.policies import (
    DEFAULT_POLICIES_FILE,
    load_policies,
    registered_purposes,
    write_default_policies,
)
from verifier.requests import qr_png, qr_svg
from verifier.service import Verifier
from verifier.setup import (
    close_verifier,
    ledger_client,
    open_verifier,
    registry_trust,
    save_issuers,
    save_registry,
    save_url,
    saved_url,
)

__all__ = ["main"]


def _config(args: argparse.Namespace) -> VerifierConfig:
    flags = {
        "data_dir": args.data,
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "url": getattr(args, "url", None),
    }
    # The URL given at init, below a flag or AKASHI_VERIFIER_URL: the request_uri printed by
    # `request` must be the one `serve` answers.
    folder = from_sources(flags).data_dir
    return from_sources(flags, saved={"url": saved_url(folder)})


def _emit(args: argparse.Namespace, document: dict[str, Any], human: str) -> None:
    print(json.dumps(document, ensure_ascii=False) if args.json else human)


def _with_verifier(args: argparse.Namespace, work: Callable[[Verifier], int]) -> int:
    verifier = open_verifier(_config(args))
    try:
        return work(verifier)
    finally:
        close_verifier(verifier)


def cmd_init(args: argparse.Namespace) -> int:
    config = _config(args)
    if not args.issuer:
        raise ValueError("name at least one trusted credential issuer with --issuer URL")
    identity, token = create_identity(config.data_dir)
    policies_file = write_default_policies(config.path(DEFAULT_POLICIES_FILE))
    issuers = save_issuers(config, args.issuer)
    if args.url:
        save_url(config, args.url)
    if args.genesis:
        save_registry(config, args.registry, args.genesis, args.witness, args.k)
    policies = load_policies(policies_file)
    purposes = registered_purposes(policies)
    member = {
        "did": identity.did,
        "role": "verifier",
        "legal_name": args.legal_name,
        "corporate_number": args.corporate_number,
        "version": 1,
        "purposes": purposes,
    }
    human = "\n".join(
        [
            f"verifier initialised in {config.data_dir}",
            f"DID:             {identity.did}",
            f"operator token:  {token}   (also in {config.path('admin.token')}; keep it secret)",
            f"policies:        {', '.join(policies)} (edit {policies_file})",
            f"issuers:         {', '.join(issuers)}",
            "ask the consortium's governance to approve this member (member.add):",
            json.dumps(member, ensure_ascii=False),
            "then run `akashi-verifier register` to put the DID on the ledger",
        ]
    )
    document = {"did": identity.did, "admin_token": token, "member": member, "policies": list(policies)}
    _emit(args, document, human)
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    config = _config(args)
    identity = load_identity(config.data_dir)
    with ledger_client(config) as ledger:
        receipt = ledger.submit(identity.did_create_entry())
    _emit(
        args,
        {"did": identity.did, "index": receipt.index},
        f"{identity.did} is on the ledger at leaf {receipt.index}",
    )
    return 0


def _recheck_loop(verifier: Verifier, every: float, stop: threading.Event) -> None:
    """Re-check the status lists every ``every`` seconds until ``stop`` (issue 5: monitoring)."""
    while not stop.wait(every):
        try:
            for change in verifier.recheck():
                print(f"recheck: {_change_line(change)}", file=sys.stderr, flush=True)
        except Exception as error:  # a background thread must survive a bad run
            print(f"recheck failed: {error}", file=sys.stderr, flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from verifier.app import create_app

    config = _config(args)
    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    # This process's verifier checks the folder before anything listens, and runs the
    # rechecks: once for the service, not once per worker.
    verifier = open_verifier(config)
    stop = threading.Event()
    if args.recheck_every > 0:
        threading.Thread(
            target=_recheck_loop, args=(verifier, args.recheck_every, stop), name="recheck", daemon=True
        ).start()
    workers = f" with {args.workers} worker processes" if args.workers > 1 else ""
    print(f"akashi-verifier {verifier.identity.did} serving {config.public_url}{workers}", flush=True)
    try:
        if args.workers == 1:
            app = create_app(verifier)
            uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False)
        else:
            # Worker processes open the same folder (SQLite in WAL mode is shared safely;
            # single use of a request's state is a database transaction, not process memory).
            os.environ.update(_environment(config))
            uvicorn.run(
                "verifier.cli:worker_app",
                factory=True,
                workers=args.workers,
                host=config.host,
                port=config.port,
                log_level="warning",
                access_log=False,  # warnings only: not even a log record per answer
            )
    finally:
        stop.set()
        close_verifier(verifier)
    return 0


def _environment(config: VerifierConfig) -> dict[str, str]:
    """``config`` as the ``AKASHI_VERIFIER_*`` variables :func:`from_sources` reads back."""
    return {
        "AKASHI_VERIFIER_" + name.upper(): str(getattr(config, name))
        for name in VerifierConfig.__dataclass_fields__
    }


def worker_app() -> Starlette:
    """The app of one worker process of ``serve --workers N``: its own verifier over the
    folder the supervising ``serve`` named in the environment."""
    from verifier.app import create_app

    verifier = open_verifier(from_sources())
    return create_app(verifier, on_close=lambda: close_verifier(verifier))


def cmd_request(args: argparse.Namespace) -> int:
    def work(verifier: Verifier) -> int:
        transaction = verifier.new_request(args.policy)
        qr: Path | None = args.qr
        if qr is not None:
            suffix = qr.suffix.lower()
            if suffix == ".svg":
                qr.write_text(qr_svg(transaction.url), encoding="utf-8")
            elif suffix == ".png":
                qr.write_bytes(qr_png(transaction.url))
            else:
                raise ValueError(f"--qr needs a .svg or .png file name, not {qr.name}")
        document = {
            "id": transaction.id,
            "policy": args.policy,
            "url": transaction.url,
            "expires_at": transaction.expires_at,
            "qr": None if qr is None else str(qr),
            "page": verifier.request_page_url(transaction.id),
        }
        # The URL stays the first line (scripts read it); the page shows it as a QR code too.
        human = transaction.url + (f"\nQR code written to {qr}" if qr is not None else "")
        human += f"\npage (QR code and link): {document['page']}"
        _emit(args, document, human)
        return 0

    return _with_verifier(args, work)


def cmd_customers(args: argparse.Namespace) -> int:
    def work(verifier: Verifier) -> int:
        rows = [status.to_json() for status in verifier.customers.customers()]
        lines = [
            f"{r['customer']}  {r['status']:12s}  {r['policy'] or '-'}  {', '.join(r['methods']) or '-'}"
            + (f"  ({'; '.join(r['reasons'])})" if r["reasons"] else "")
            for r in rows
        ]
        _emit(args, {"customers": rows}, "\n".join(lines) or "no customers recorded")
        return 0

    return _with_verifier(args, work)


def _change_line(change: Change) -> str:
    who = ", ".join(change.customers) or "no customer"
    return f"{change.digest}  {change.previous} -> {change.status}  ({change.reason}; {who})"


def cmd_recheck(args: argparse.Namespace) -> int:
    def work(verifier: Verifier) -> int:
        changes = verifier.recheck()
        document = {
            "changes": [
                {
                    "digest": c.digest,
                    "customers": list(c.customers),
                    "previous": c.previous,
                    "status": c.status,
                    "reason": c.reason,
                }
                for c in changes
            ]
        }
        _emit(args, document, "\n".join(_change_line(c) for c in changes) or "no status changed")
        return 0

    return _with_verifier(args, work)


def cmd_inbox(args: argparse.Namespace) -> int:
    from verifier.inbox import receive_updates

    if args.wait < 0:
        raise ValueError("--wait is a number of seconds, 0 or more")

    def work(verifier: Verifier) -> int:
        results = receive_updates(verifier, wait=args.wait)
        lines = [
            f"{r.message}  {r.status:8s}  {r.kind or '-'}  {r.customer or '-'}"
            + (f"  ({r.reason})" if r.reason else "")
            + ("" if r.acked else "  [ack pending]")
            for r in results
        ]
        _emit(args, {"messages": [r.to_json() for r in results]}, "\n".join(lines) or "no new messages")
        return 0

    return _with_verifier(args, work)


def _verify_file(args: argparse.Namespace) -> int:
    trust = registry_trust(_config(args))
    report = verify_export(
        args.verify, log_key_vkey=trust.log_key, witness_vkeys=trust.witnesses, k=trust.k, origin=trust.origin
    )
    failures = [{"line": f.line, "row": f.row, "code": f.code, "error": f.error} for f in report.failures]
    if args.json:
        print(json.dumps({"ok": report.ok, "rows": report.rows, "failures": failures}, ensure_ascii=False))
    elif report.ok:
        print(f"ok: {report.rows} rows, every ledger proof verified offline")
    else:
        for f in report.failures:
            row = f"row {f.row}" if f.row is not None else "unreadable row"
            print(f"{args.verify}:{f.line}: {row}: {f.code}: {f.error}")
        print(f"FAILED: {len(report.failures)} of {report.rows} rows did not verify")
    return 0 if report.ok else 1


def cmd_export(args: argparse.Namespace) -> int:
    if args.verify is not None:
        if args.out is not None:
            raise ValueError("export takes either --out FILE or --verify FILE, not both")
        return _verify_file(args)
    if args.out is None:
        raise ValueError("export needs --out FILE (or --verify FILE)")

    def work(verifier: Verifier) -> int:
        write = verifier.customers.export_jsonl if args.format == "jsonl" else verifier.customers.export_csv
        rows = write(args.out)
        _emit(
            args,
            {"rows": rows, "format": args.format, "out": str(args.out)},
            f"{rows} APPI receipt records written to {args.out} ({args.format})",
        )
        return 0

    return _with_verifier(args, work)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="akashi-verifier", description="A sharing-economy operator's verifier service."
    )
    parser.add_argument("--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--data", type=Path, default=None, help="the verifier's data folder")
        p.add_argument("--json", action="store_true", help="print one JSON document")
        p.set_defaults(handler=handler)
        return p

    p = command("init", cmd_init, "create keys, the operator token and the default policies")
    p.add_argument("--url", default=None, help="public base URL (response_uri and request_uri live under it)")
    p.add_argument("--registry", default="http://127.0.0.1:8470")
    p.add_argument("--genesis", type=Path, default=None, help="the consortium's genesis file")
    p.add_argument("--witness", action="append", default=[], help="a witness cosignature key (repeatable)")
    p.add_argument("--k", type=int, default=1, help="cosignatures required on checkpoints")
    p.add_argument(
        "--issuer", action="append", default=[], help="a trusted credential issuer URL (repeatable)"
    )
    p.add_argument("--legal-name", default="株式会社アカシモビリティ")
    p.add_argument("--corporate-number", default="2120901007402")
    command("register", cmd_register, "put the verifier's DID on the ledger")
    p = command("serve", cmd_serve, "serve OpenID4VP and the operator API")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--url", default=None)
    p.add_argument(
        "--recheck-every", type=float, default=3600.0, help="seconds between status rechecks (0: never)"
    )
    p.add_argument(
        "--workers", type=int, default=1, help="processes answering HTTP (one per core is a good start)"
    )
    p = command(
        "request", cmd_request, "open a presentation request for a policy; print its URL and its page's URL"
    )
    p.add_argument("policy", help="a policy id of policies.json")
    p.add_argument("--qr", type=Path, default=None, help="also write the QR code (FILE.svg or FILE.png)")
    p.add_argument("--url", default=None)
    command("customers", cmd_customers, "list customers and their KYC status")
    command("recheck", cmd_recheck, "re-check the status lists of every stored credential now")
    p = command("inbox", cmd_inbox, "receive customer-data updates from the mailbox: apply, ack")
    p.add_argument("--wait", type=int, default=0, help="seconds to wait for a message when there is none")
    p = command("export", cmd_export, "export the APPI receipt records, or verify an export offline")
    p.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    p.add_argument("--out", type=Path, default=None, help="the file to write")
    p.add_argument("--verify", type=Path, default=None, help="a JSON Lines export to check offline")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``akashi-verifier``."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (AkashiError, ValueError, OSError) as error:
        print(
            f"akashi-verifier: {error.message if isinstance(error, AkashiError) else error}", file=sys.stderr
        )
        if args.verbose:
            raise
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
