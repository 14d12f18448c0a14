"""``akashi-wallet``: the person's wallet on the command line.

Commands: ``init``, ``receive``, ``present``, ``credentials``, ``consents``, ``revoke``,
``history``, ``update``, ``request``, ``rotate``, ``recover``, ``backup``, ``restore``, ``audit export``,
``audit verify``. A wallet lives in
a folder (``--data DIR``, default ``$AKASHI_WALLET_DATA_DIR`` or ``wallet-data``): the
encrypted ``wallet.db`` and ``registry.json`` (which ledger to read and whom to believe;
nothing personal). The passphrase is asked for, or read from ``$AKASHI_WALLET_PASSPHRASE``
for scripts. Output is for people by default and one JSON document with ``--json``;
``--yes`` answers "yes" to the consent question (for scripts and tests). Exit status 0 ok,
1 refused or failed (one line on stderr), 2 usage.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from holder_app.audit import verify_audit, write_audit_csv, write_audit_jsonl
from holder_app.audit_events import events_from_store
from holder_app.claim_text import claim_label, dotted
from holder_app.folder import WALLET_FILE, LedgerSettings, create_wallet_folder, open_wallet_folder
from holder_app.recovery import forget_recovery_keys, recover, rotate
from holder_app.recovery_kit import RecoveryKit, format_kit, kit_qr_svg
from holder_app.store import WalletStore
from holder_app.updates import UpdatePlan, plan_update, recipients_text, refresh_updates, send_update
from holder_app.wallet import Wallet
from identity.errors import AkashiError, MalformedInput, NotFound
from registry.client import ClientTrust

__all__ = ["HEAD_PREFIX", "main"]

#: How the CLI writes an audit file's chain head: the prefix keeps a head that starts with "-"
#: (base64url) from reading as an option when it is passed back with --head.
HEAD_PREFIX = "sha256:"

PASSPHRASE_VARIABLE = "AKASHI_WALLET_PASSPHRASE"


def _data(args: argparse.Namespace) -> Path:
    chosen = args.data or os.environ.get("AKASHI_WALLET_DATA_DIR") or "wallet-data"
    return Path(chosen)


def _passphrase(*, confirm: bool = False) -> str:
    given = os.environ.get(PASSPHRASE_VARIABLE)
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise MalformedInput(f"no passphrase: run in a terminal or set {PASSPHRASE_VARIABLE}")
    first = getpass.getpass("wallet passphrase: ")
    if confirm and getpass.getpass("the same passphrase again: ") != first:
        raise MalformedInput("the two passphrases differ")
    return first


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[Wallet]:
    with open_wallet_folder(_data(args), _passphrase()) as wallet:
        yield wallet


def _emit(args: argparse.Namespace, document: Any, human: str) -> None:
    print(json.dumps(document, ensure_ascii=False, indent=None) if args.json else human)


def _when(at: int | None) -> str:
    return "-" if at is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(at))


def _claims_text(paths: Sequence[Sequence[Any]], lang: str) -> str:
    return ", ".join(claim_label(tuple(p), lang) for p in paths) or "-"


# ---------------------------------------------------------------- commands


def _new_folder(args: argparse.Namespace, advice: str) -> tuple[Path, LedgerSettings]:
    """The folder a new wallet goes in (refused if it holds one) and the ledger settings of the
    command line, checked (a bad genesis or ``k``) before anything is written."""
    data = _data(args)
    if (data / WALLET_FILE).exists():
        raise MalformedInput(f"{data} already holds a wallet; {advice}")
    genesis = json.loads(Path(args.genesis).read_text(encoding="utf-8"))
    settings = LedgerSettings(args.registry, genesis, tuple(args.witness), args.k)
    settings.trust()
    data.mkdir(parents=True, exist_ok=True)
    return data, settings


def cmd_init(args: argparse.Namespace) -> int:
    data, settings = _new_folder(args, "refusing to overwrite it")
    passphrase = _passphrase(confirm=True)
    create_wallet_folder(
        data, settings, passphrase, show_kit=lambda kit: _show_kit(args, kit, f"wallet created in {data}")
    )
    return 0


def _show_kit(
    args: argparse.Namespace, kit: RecoveryKit, headline: str, extra: dict[str, Any] | None = None
) -> None:
    text = format_kit(kit)
    if args.kit_qr:
        Path(args.kit_qr).write_text(kit_qr_svg(kit), encoding="utf-8")
    human = "\n".join(
        [
            headline,
            f"your identifier: {kit.did}",
            "",
            "RECOVERY KIT — write it down or print it, keep it offline, never type it into a website:",
            text,
            *([f"(also as a QR code in {args.kit_qr})"] if args.kit_qr else []),
            "With it and a backup (`akashi-wallet backup`) you can recover this wallet on a new phone;",
            "it is the only way to rotate your identity: the wallet does not keep it.",
        ]
    )
    _emit(args, {"did": kit.did, "recovery_kit": text, "kit_qr": args.kit_qr, **(extra or {})}, human)


def _kit_text(args: argparse.Namespace) -> str:
    if args.kit:
        return str(args.kit)
    if not sys.stdin.isatty():
        raise MalformedInput("give your recovery kit with --kit")
    return input("your recovery kit (AKASHI-KIT1-…): ")


def cmd_rotate(args: argparse.Namespace) -> int:
    with _opened(args) as wallet:
        kit = rotate(wallet.store, wallet.ledger, kit=_kit_text(args))
        _show_kit(args, kit, "identity rotated on the ledger: the old kit and the old device key are void")
        forget_recovery_keys(wallet.store)
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    data, settings = _new_folder(args, "recover into an empty folder")
    with settings.client(data) as ledger:
        recovered = recover(args.backup, _kit_text(args), _passphrase(), data / WALLET_FILE, ledger)
    store = recovered.store
    try:
        settings.write(data)
        extra = {
            "retired_keys": len(recovered.retired_keys),
            "revoked_consents": list(recovered.revoked_consents),
            "unrevoked_consents": [{"id": i, "reason": r} for i, r in recovered.unrevoked_consents],
            "untrusted_credentials": list(recovered.untrusted_credentials),
            "revoked_credentials": list(recovered.revoked_credentials),
            "unrevoked_credentials": [{"id": i, "reason": r} for i, r in recovered.unrevoked_credentials],
        }
        lines = [
            f"wallet recovered in {data}; the lost device's keys are dead on the ledger",
            f"{len(recovered.revoked_consents)} consents revoked (the lost device could have used them)",
            *(f"NOT revoked, retry with `revoke {i}`: {r}" for i, r in recovered.unrevoked_consents),
            f"{len(recovered.revoked_credentials)} credentials revoked at their issuers (the lost device "
            "holds copies of them); ask the issuers for new ones",
            *(f"credential {i} NOT revoked at its issuer: {r}" for i, r in recovered.unrevoked_credentials),
        ]  # fmt: skip
        _show_kit(args, recovered.kit, "\n".join(lines), extra)
        forget_recovery_keys(store)
    finally:
        store.close()
    return 0


def cmd_receive(args: argparse.Namespace) -> int:
    with _opened(args) as wallet:
        tx_code = args.tx_code
        if tx_code is None and wallet.offer_needs_tx_code(args.offer):
            if not sys.stdin.isatty():
                raise MalformedInput("this offer needs the transaction code the issuer gave you: --tx-code")
            tx_code = getpass.getpass("transaction code from the issuer: ")
        received = wallet.receive(args.offer, tx_code=tx_code)
    rows = [
        {"id": c.id, "vct": c.vct, "issuer": c.issuer, "copies": len(c.copies), "expires_at": c.expires_at}
        for c in received
    ]
    human = "\n".join(
        f"received {r['vct']} from {r['issuer']} ({r['copies']} copies; verified and anchored on the ledger)"
        for r in rows
    )
    _emit(args, {"credentials": rows}, human)
    return 0


def cmd_present(args: argparse.Namespace) -> int:
    with _opened(args) as wallet:
        request = wallet.open_request(args.request)
        shown = request.to_json()
        if not args.json:
            print(f"{request.legal_name} (法人番号 {request.corporate_number}) asks for:")
            for claim in request.claims:
                print(f"  - {claim.label_ja} / {claim.label_en}")
            print(f"purpose: {request.purpose_text or 'no purpose stated'}")
            if request.updates_allowed:
                print("it also asks to receive your future updates of these details (you can revoke this)")
            print(f"this consent lasts {request.consent_days} days unless you revoke it")
        if args.refuse:
            approve = False
        elif args.yes:
            approve = True
        elif sys.stdin.isatty():
            approve = input("share exactly these with them? [y/N] ").strip().lower() in {"y", "yes", "はい"}
        else:
            raise MalformedInput("not a terminal: answer with --yes or --refuse")
        if not approve:
            wallet.refuse(request)
            _emit(args, {"request": shown, "approved": False}, "declined: nothing was shared")
            return 0
        approval = wallet.approve(request)
    consent = approval.consent
    document = {
        "request": shown,
        "approved": True,
        "consent": None if consent is None else {"id": consent.id, "digest": consent.digest},
        "redirect_uri": approval.redirect_uri,
    }
    human = f"shared with {request.legal_name}" + (
        f"; consent {consent.id} recorded on the ledger" if consent else ""
    )
    _emit(args, document, human)
    return 0


def _deliver(
    args: argparse.Namespace, make_plan: Callable[[Wallet], UpdatePlan], value: Any, question: str, sent: str
) -> int:
    """Show who will and will not receive the planned message, ask (or take ``--yes``), send it,
    and report each delivery; exit 1 if any was refused."""
    effective = date.fromisoformat(args.effective) if args.effective else date.today()
    with _opened(args) as wallet:
        plan = make_plan(wallet)
        if not args.json:
            print("\n".join(recipients_text(plan)) or "no consents")
        if not plan.recipients:
            _emit(args, {"sent": []}, "nobody to send it to")
            return 0
        if not args.yes:
            if not sys.stdin.isatty():
                raise MalformedInput("not a terminal: confirm with --yes")
            if input(f"{question} [y/N] ").strip().lower() not in {"y", "yes", "はい"}:
                _emit(args, {"sent": []}, "not sent")
                return 0
        attest_with = _newest_kyc(wallet) if getattr(args, "attested", False) else None
        deliveries = send_update(wallet, plan, value, effective, attest_with=attest_with)
    rows = [
        {"verifier": d.verifier, "consent": d.consent_id, "message": d.message_id,
         "notice_index": d.notice_index, "error": d.error}
        for d in deliveries
    ]  # fmt: skip
    lines = [
        f"{sent} {d.verifier} (notice at leaf {d.notice_index})" if d.error is None
        else f"NOT sent to {d.verifier}: {d.error}"
        for d in deliveries
    ]  # fmt: skip
    _emit(args, {"sent": rows}, "\n".join(lines))
    return 0 if all(d.error is None for d in deliveries) else 1


def cmd_update(args: argparse.Namespace) -> int:
    if args.value is None and not args.attested:
        raise MalformedInput("give the new value, or --attested to take it from your newest KYC credential")
    value: dict[str, Any] | None = None if args.value is None else {"formatted": args.value}
    if args.kind == "name":
        if args.attested:
            raise MalformedInput("--attested backs an address update only")
        family, _, given = str(args.value).partition(" ")
        value = {"family_name": family, "given_name": given}
    return _deliver(args, lambda wallet: plan_update(wallet, args.kind), value, "send it to them?", "sent to")


def _newest_kyc(wallet: Wallet) -> str:
    """The id of the newest KYC credential in the wallet (the one a re-check just issued)."""
    kyc = [c for c in wallet.store.credentials() if c.vct.endswith("/vct/kyc")]
    if not kyc:
        raise NotFound("the wallet holds no KYC credential to back the address with")
    return max(kyc, key=lambda c: c.issued_at).id


def cmd_request(args: argparse.Namespace) -> int:
    """``request erasure|stop --verifier DID``: an APPI Art. 35 request to the operators named,
    under every consent given to them (active, expired or revoked), for the claims each shared."""
    question = f"ask them to {_REQUEST_WORDS[args.kind]}?"
    return _deliver(
        args,
        lambda wallet: plan_update(wallet, args.kind, verifiers=args.verifier),
        None,
        question,
        f"{args.kind} request sent to",
    )


_REQUEST_WORDS = {"erasure": "erase what you shared", "stop": "stop using what you shared"}


_STATUS_WORDS = {
    "sent": "sent, waiting",
    "delivered": "delivered",
    "applied": "APPLIED",
    "rejected": "REJECTED",
    "failed": "NOT sent",
}


def cmd_updates(args: argparse.Namespace) -> int:
    """``updates``: every update and APPI request sent, per operator: sent, delivered, applied
    or rejected (asked of the ledger unless ``--offline``)."""
    with _opened(args) as wallet:
        listed = wallet.store.updates() if args.offline else refresh_updates(wallet)
        names = {} if args.offline else _legal_names(wallet, {u.verifier for u in listed})
    rows = [
        {
            "id": u.id, "batch": u.batch, "kind": u.kind, "verifier": u.verifier,
            "legal_name": names.get(u.verifier), "consent": u.consent_id, "status": u.status,
            "reason": u.reason, "sent_at": u.sent_at, "delivered_at": u.delivered_at,
            "acked_at": u.acked_at, "effective_date": u.effective_date, "message": u.notice,
        }
        for u in listed
    ]  # fmt: skip
    lines: list[str] = []
    for batch in dict.fromkeys(u.batch for u in listed):
        group = [u for u in listed if u.batch == batch]
        first = group[0]
        lines.append(f"{_when(first.sent_at)}  {first.kind} (effective {first.effective_date})")
        for u in group:
            when = u.acked_at or u.delivered_at
            who = f"{names[u.verifier]} ({u.verifier})" if u.verifier in names else u.verifier
            lines.append(
                f"    {_STATUS_WORDS[u.status]:14s} {_when(when) if when else '':16s}  {who}"
                + (f" — {u.reason}" if u.reason else "")
            )
    _emit(args, {"updates": rows}, "\n".join(lines) or "no updates sent yet")
    return 0


def _legal_names(wallet: Wallet, dids: set[str]) -> dict[str, str]:
    """The registered legal name of each operator the ledger knows (others are left out)."""
    names: dict[str, str] = {}
    for did in sorted(dids):
        try:
            names[did] = wallet.ledger.member(did).record.legal_name
        except NotFound:
            continue
    return names


def cmd_ui(args: argparse.Namespace) -> int:
    """``ui``: serve the phone-sized web app on loopback, for the wallet in ``--data``."""
    import ipaddress

    import uvicorn

    from holder_app.web.app import create_app

    host = "127.0.0.1" if args.host == "localhost" else args.host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise MalformedInput("the wallet app serves on a loopback address only (127.0.0.1 or ::1)")
    if args.idle <= 0:
        raise MalformedInput("--idle is a number of seconds, more than 0")
    data = _data(args)
    new_wallet = None
    if not (data / WALLET_FILE).exists() and args.genesis is not None:
        genesis = json.loads(Path(args.genesis).read_text(encoding="utf-8"))
        new_wallet = LedgerSettings(args.registry, genesis, tuple(args.witness), args.k)
        new_wallet.trust()  # a bad genesis or k is refused now
    app = create_app(data, idle_seconds=args.idle, new_wallet=new_wallet)
    shown = f"[{host}]" if ":" in host else host
    print(f"akashi-wallet: open http://{shown}:{args.port}/ in your browser (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=host, port=args.port, log_level="warning", access_log=False)
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    with _opened(args) as wallet:
        listed = wallet.store.credentials()
    rows = [
        {
            "id": c.id,
            "vct": c.vct,
            "issuer": c.issuer,
            "issued_at": c.issued_at,
            "expires_at": c.expires_at,
            "copies": len(c.copies),
            "copies_unused": sum(1 for copy in c.copies if copy.used_by is None),
        }
        for c in listed
    ]
    lines = [
        f"{c.id}  {c.vct}  expires {_when(c.expires_at)}  "
        f"{sum(1 for copy in c.copies if copy.used_by is None)}/{len(c.copies)} copies unused"
        for c in listed
    ]
    _emit(args, {"credentials": rows}, "\n".join(lines) or "no credentials yet")
    return 0


def cmd_consents(args: argparse.Namespace) -> int:
    now = int(time.time())
    with _opened(args) as wallet:
        listed = wallet.store.consents()
    rows = [
        {
            "id": c.id,
            "verifier": c.verifier,
            "purpose": c.purpose,
            "claims": [dotted(p) for p in c.claims],
            "state": c.state(now),
            "created_at": c.created_at,
            "expires_at": c.expires_at,
            "revoked_at": c.revoked_at,
            "updates_allowed": c.updates_allowed,
        }
        for c in listed
        if args.all or c.state(now) == "active"
    ]
    shown = {r["id"] for r in rows}
    lines = [
        f"{c.id}  {c.state(now):8s}  {c.purpose}  {c.verifier}\n"
        f"    shared: {_claims_text(c.claims, args.lang)}"
        for c in listed
        if c.id in shown
    ]
    _emit(args, {"consents": rows}, "\n".join(lines) or "no consents")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    with _opened(args) as wallet:
        revoked = wallet.revoke(args.consent)
    _emit(
        args,
        {"id": revoked.id, "state": "revoked", "revoked_at": revoked.revoked_at},
        f"consent {revoked.id} revoked on the ledger: {revoked.verifier} may no longer receive updates"
        " under it",
    )
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    with _opened(args) as wallet:
        entries = wallet.store.history(args.verifier)
    rows = [e.to_json() for e in entries]
    lines = [
        f"{_when(e.at)}  {e.kind:12s} {e.outcome:9s} {e.counterpart or '-'}"
        + (f"  [{_claims_text(e.claims, args.lang)}]" if e.claims else "")
        + (f"  ({e.reason})" if e.reason else "")
        for e in entries
    ]
    _emit(args, {"history": rows}, "\n".join(lines) or "nothing yet")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    with _opened(args) as wallet:
        wallet.store.export_backup(args.file, _passphrase())
        wallet.store.log("backup", outcome="completed")
    _emit(args, {"backup": str(args.file)}, f"encrypted backup written to {args.file}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    data, settings = _new_folder(args, "restore into an empty folder")
    store = WalletStore.restore(args.file, _passphrase(), data / WALLET_FILE)
    store.log("restore", outcome="completed")
    store.close()
    settings.write(data)
    _emit(args, {"restored": str(data)}, f"wallet restored into {data}")
    return 0


def cmd_audit_export(args: argparse.Namespace) -> int:
    data = _data(args)
    settings = LedgerSettings.read(data)
    with _opened(args) as wallet:
        identity = wallet.store.identity()
        if identity is None:
            raise NotFound("this wallet has no identity yet")
        events = events_from_store(wallet.store)
    trust = settings.trust()
    written = write_audit_jsonl(events, args.file, wallet_did=identity.did, log_vkey=trust.log_key)
    if args.csv:
        write_audit_csv(events, args.csv, wallet_did=identity.did)
    head = HEAD_PREFIX + written.head
    document = {"file": str(args.file), "events": written.events, "head": head, "csv": args.csv}
    human = (
        f"{written.events} events written to {args.file}"
        + (f" (and {args.csv})" if args.csv else "")
        + f"\nchain head {head} — keep it to detect a rewritten file"
    )
    _emit(args, document, human)
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    witnesses, k, log_vkey = list(args.witness), args.k, args.log_vkey
    if args.genesis:
        genesis = json.loads(Path(args.genesis).read_text(encoding="utf-8"))
        log_vkey = log_vkey or ClientTrust.from_genesis_document(genesis, witnesses, k).log_key
    head = None if args.head is None else args.head.removeprefix(HEAD_PREFIX)
    report = verify_audit(args.file, log_vkey=log_vkey, witness_vkeys=witnesses, k=k, expected_head=head)
    failures = [
        {"line": f.line, "seq": f.seq, "rule": f.rule, "error": f.error, "code": f.code}
        for f in report.failures
    ]
    document = {"ok": report.ok, "wallet": report.wallet, "events": report.events, "failures": failures}
    human = (
        f"OK: {report.events} events of {report.wallet}, every proof verified offline"
        if report.ok
        else "\n".join(f"line {f['line']}: {f['rule']}: {f['error']}" for f in failures)
    )
    _emit(args, document, human)
    return 0 if report.ok else 1


# ---------------------------------------------------------------- parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="akashi-wallet", description="Your identity wallet.")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], text: str, parent: Any = commands
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=text, description=text)
        p.set_defaults(handler=handler)
        p.add_argument("--data", default=None, help="the wallet's folder")
        p.add_argument("--json", action="store_true", help="print one JSON document")
        p.add_argument("--lang", choices=["ja", "en"], default="ja", help="language of claim names")
        return p

    def ledger_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--registry", default="http://127.0.0.1:8470", help="the registry node's URL")
        p.add_argument("--genesis", required=True, type=Path, help="the consortium's genesis file")
        p.add_argument(
            "--witness", action="append", default=[], help="a witness cosignature key (repeatable)"
        )
        p.add_argument("--k", type=int, default=1, help="cosignatures required on checkpoints")

    p = command("init", cmd_init, "create a wallet and its identity on the ledger; print the recovery kit")
    ledger_options(p)
    p.add_argument("--kit-qr", default=None, help="also write the recovery kit as a QR code (SVG)")
    p = command("receive", cmd_receive, "receive credentials from an issuer's offer (OpenID4VCI)")
    p.add_argument("offer", help="the offer URL or QR text (openid-credential-offer://…)")
    p.add_argument("--tx-code", default=None, help="the transaction code the issuer gave you, if asked")
    p = command(
        "present", cmd_present, "answer a verifier's request (OpenID4VP): see who asks for what, then decide"
    )
    p.add_argument("request", help="the request URL or QR text (openid4vp://…)")
    decision = p.add_mutually_exclusive_group()
    decision.add_argument("--yes", action="store_true", help="approve without asking")
    decision.add_argument("--refuse", action="store_true", help="decline without asking")
    p = command("update", cmd_update, "send a change (e.g. your new address) to the operators you allowed")
    p.add_argument("kind", choices=["address", "name"])
    p.add_argument("value", nargs="?", default=None, help='the new value ("family given" for a name)')
    p.add_argument(
        "--attested", action="store_true",
        help="back the address with your newest KYC credential (after the issuer re-checked your card)",
    )  # fmt: skip
    p.add_argument("--effective", default=None, help="the date it takes effect (YYYY-MM-DD; today)")
    p.add_argument("--yes", action="store_true", help="send without asking")
    p = command(
        "request", cmd_request,
        "ask an operator to erase or stop using your data (APPI Art. 35), even after you revoked the consent",
    )  # fmt: skip
    p.add_argument("kind", choices=["erasure", "stop"])
    p.add_argument("--verifier", action="append", required=True, help="the operator's DID (repeatable)")
    p.add_argument("--effective", default=None, help="the date it takes effect (YYYY-MM-DD; today)")
    p.add_argument("--yes", action="store_true", help="send without asking")
    p = command("updates", cmd_updates, "what became of the updates and requests you sent (applied or not)")
    p.add_argument("--offline", action="store_true", help="what the wallet knows, without asking the ledger")
    p = command("ui", cmd_ui, "open your wallet in a phone-sized web page, served on this computer only")
    p.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8480)
    p.add_argument("--idle", type=int, default=300, help="lock after this many seconds unused (300)")
    # For a folder with no wallet yet: the page then creates it, with these registry settings.
    p.add_argument("--registry", default="http://127.0.0.1:8470", help="(new wallet) the registry node's URL")
    p.add_argument("--genesis", default=None, type=Path, help="(new wallet) the consortium's genesis file")
    p.add_argument("--witness", action="append", default=[], help="(new wallet) a witness key (repeatable)")
    p.add_argument("--k", type=int, default=1, help="(new wallet) cosignatures required on checkpoints")
    command("credentials", cmd_credentials, "list your credentials")
    p = command("consents", cmd_consents, "list your consents (active; --all for expired and revoked)")
    p.add_argument("--all", action="store_true")
    p = command("revoke", cmd_revoke, "withdraw a consent, on the ledger, at once")
    p.add_argument("consent", help="the consent id (see `consents`)")
    p = command("history", cmd_history, "what the wallet did, and with whom (claim names, never values)")
    p.add_argument("--verifier", default=None, help="only this verifier's DID")
    p = command(
        "rotate", cmd_rotate, "rotate your identity's keys with your recovery kit; prints the new kit"
    )
    p.add_argument("--kit", default=None, help="the recovery kit text (asked for when omitted)")
    p.add_argument("--kit-qr", default=None, help="also write the new kit as a QR code (SVG)")
    p = command(
        "recover", cmd_recover, "take your identity back on a new device: a backup plus the recovery kit"
    )
    p.add_argument("backup", type=Path, help="an encrypted backup of the lost wallet")
    p.add_argument("--kit", default=None, help="the recovery kit text (asked for when omitted)")
    p.add_argument("--kit-qr", default=None, help="also write the new kit as a QR code (SVG)")
    ledger_options(p)
    p = command("backup", cmd_backup, "write an encrypted backup of the wallet")
    p.add_argument("file", type=Path)
    p = command("restore", cmd_restore, "restore a backup into a new wallet folder")
    p.add_argument("file", type=Path)
    ledger_options(p)
    audit = commands.add_parser("audit", help="export your record, or check one offline")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    p = command(
        "export", cmd_audit_export, "write your audit record (JSON Lines, optionally CSV)", audit_commands
    )
    p.add_argument("file", type=Path)
    p.add_argument("--csv", default=None, help="also write a CSV for spreadsheets")
    p = command(
        "verify", cmd_audit_verify, "check an audit file offline: no wallet, no network", audit_commands
    )
    p.add_argument("file", type=Path)
    p.add_argument("--witness", action="append", default=[], help="a witness cosignature key (repeatable)")
    p.add_argument("--k", type=int, default=1, help="cosignatures required")
    p.add_argument("--log-vkey", default=None, help="the log's verifier key (default: the file's header)")
    p.add_argument("--genesis", default=None, help="take the log's key from this genesis file")
    p.add_argument("--head", default=None, help="the chain head printed at export (sha256:…)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``akashi-wallet``."""
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (AkashiError, ValueError, OSError) as error:
        print(f"akashi-wallet: {error}".replace("\n", " "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("akashi-wallet: interrupted", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
