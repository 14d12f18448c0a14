"""``akashi-issuer``: run an identity provider's issuing service.

Commands: ``init``, ``register``, ``serve``, ``testca``, ``check jpki|licence``,
``revoke|suspend|reinstate``, ``list``, ``purge``. Every command takes
``--data DIR``. Exit status 0 ok, 1 refused or failed, 2 usage; errors are one
line on stderr; ``--json`` prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from identity.credentials.kyc import LicenceCategory
from identity.errors import AkashiError
from issuer.config import IssuerConfig, from_sources
from issuer.identity import create_identity, load_identity
from issuer.setup import install_trust, ledger_client, open_issuer, save_registry, save_url, saved_url

__all__ = ["main"]


def _config(args: argparse.Namespace) -> IssuerConfig:
    flags = {
        "data_dir": args.data,
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "url": getattr(args, "url", None),
    }
    # The URL given at init, below a flag or AKASHI_ISSUER_URL: the offers `check` prints
    # must name the issuer `serve` answers as.
    folder = from_sources(flags).data_dir
    return from_sources(flags, saved={"url": saved_url(folder)})


def _emit(args: argparse.Namespace, document: dict[str, Any], human: str) -> None:
    print(json.dumps(document, ensure_ascii=False) if args.json else human)


def cmd_init(args: argparse.Namespace) -> int:
    config = _config(args)
    identity, token = create_identity(config.data_dir)
    install_trust(
        config, jpki_roots=args.jpki_root, crls=args.jpki_crl, licence_authorities=args.licence_authority
    )
    if args.genesis:
        save_registry(config, args.registry, args.genesis, args.witness, args.k)
    if args.url:
        save_url(config, args.url)
    member = {
        "did": identity.did,
        "role": "issuer",
        "legal_name": args.legal_name,
        "corporate_number": args.corporate_number,
        "version": 1,
        "evidence_methods": ["jpki", "drivers_licence_ic"],
    }
    human = "\n".join(
        [
            f"issuer initialised in {config.data_dir}",
            f"DID:          {identity.did}",
            f"admin token:  {token}   (also in {config.path('admin.token')}; keep it secret)",
            "ask the consortium's governance to approve this member (member.add):",
            json.dumps(member, ensure_ascii=False),
            "then run `akashi-issuer register` to put the DID on the ledger",
        ]
    )
    _emit(args, {"did": identity.did, "admin_token": token, "member": member}, human)
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    config = _config(args)
    identity = load_identity(config.data_dir)
    ledger = ledger_client(config)
    if ledger is None:
        raise ValueError("no registry configured: run init with --registry and --genesis")
    with ledger:
        receipt = ledger.submit(identity.did_create_entry())
    _emit(
        args,
        {"did": identity.did, "index": receipt.index},
        f"{identity.did} is on the ledger at leaf {receipt.index}",
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from issuer.app import create_app

    config = _config(args)
    issuer = open_issuer(config)
    print(f"akashi-issuer {issuer.identity.did} serving {config.public_url}", flush=True)
    try:
        uvicorn.run(create_app(issuer), host=config.host, port=config.port, log_level="warning")
    finally:
        issuer.close()
    return 0


def cmd_testca(args: argparse.Namespace) -> int:
    from issuer.evidence import LicenceData
    from issuer.evidence.testca import (
        CardHolder,
        create_jpki_ca,
        create_licence_authority,
        save_issued,
        save_licence,
        sign_licence,
    )

    now = datetime.now(UTC)
    out: Path = args.out
    ca = create_jpki_ca(now)
    birthdate = date.fromisoformat(args.birthdate)
    card = ca.issue_card(CardHolder(args.name, birthdate, args.gender, args.address), now)
    ca.save(out, now)
    save_issued(card, out, "card")
    authority = create_licence_authority(now, name=args.authority)
    save_issued(authority, out, "licence-authority")
    licence = LicenceData(
        licence_number=args.licence_number,
        name=args.name,
        birthdate=birthdate,
        address=args.address,
        date_of_issuance=date.fromisoformat(args.licence_issued),
        date_of_expiry=date.fromisoformat(args.licence_expiry),
        categories=tuple(LicenceCategory(c) for c in args.category),
        issuing_authority=args.authority,
    )
    data, signature = sign_licence(authority, licence)
    licence_file = save_licence(out, data, signature)
    files = sorted(str(p) for p in out.iterdir())
    _emit(
        args,
        {"files": files, "licence": str(licence_file)},
        "test CA written (simulated card reader material — for tests and the demo only):\n  "
        + "\n  ".join(files),
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from issuer.evidence.testca import load_issued, load_licence, sign_challenge

    config = _config(args)
    issuer = open_issuer(config)
    try:
        if args.kind == "jpki":
            card = load_issued(args.card.parent, args.card.name)
            challenge = issuer.challenge()
            key_file = args.card.parent / f"{args.card.name}.key.pem"
            signature = sign_challenge(key_file, challenge.value)  # the (simulated) card reader
            from cryptography.hazmat.primitives.serialization import Encoding

            offer = issuer.check_jpki(
                challenge.id,
                card.certificate.public_bytes(Encoding.DER),
                [],
                signature,
                operator=args.operator,
                tx_code=args.tx_code,
            )
        else:
            data, signature = load_licence(args.licence)
            offer = issuer.check_licence(
                data,
                signature,
                None,
                operator=args.operator,
                face_compared=args.face_compared,
                tx_code=args.tx_code,
            )
    finally:
        issuer.close()
    lines = ["evidence verified; offer for the wallet (show as a QR code):", offer.url]
    if offer.tx_code:
        lines.append(f"transaction code (tell the person separately): {offer.tx_code}")
    _emit(
        args, {"offer_url": offer.url, "tx_code": offer.tx_code, "offer_id": offer.offer_id}, "\n".join(lines)
    )
    return 0


def _status_command(action: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        issuer = open_issuer(_config(args))
        try:
            answer = issuer.change_status(args.credential, action)
        finally:
            issuer.close()
        _emit(args, answer, f"{args.credential}: {action} done (list version {answer['version']})")
        return 0

    return run


def cmd_list(args: argparse.Namespace) -> int:
    issuer = open_issuer(_config(args))
    try:
        issued = issuer.status.credentials()
    finally:
        issuer.close()
    rows = [
        {"credential_id": c.credential_id, "vct": c.vct, "status": c.status_name, "issued_at": c.issued_at}
        for c in issued
    ]
    human = (
        "\n".join(f"{r['credential_id']}  {r['status']:9s}  {r['vct']}" for r in rows)
        or "no credentials issued"
    )
    _emit(args, {"credentials": rows}, human)
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    issuer = open_issuer(_config(args))
    try:
        records = issuer.records.purge()
        offers = issuer.store.purge(int(issuer.clock()))
    finally:
        issuer.close()
    _emit(
        args,
        {"records_purged": records, "offers_purged": offers},
        f"purged {records} verification records past retention and {offers} expired offers",
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="akashi-issuer", description="An identity provider's issuing service."
    )
    parser.add_argument("--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--data", type=Path, default=None, help="the issuer's data folder")
        p.add_argument("--json", action="store_true", help="print one JSON document")
        p.set_defaults(handler=handler)
        return p

    p = command("init", cmd_init, "create keys, secrets and trust anchors")
    p.add_argument("--url", default=None, help="public base URL (the credential issuer identifier)")
    p.add_argument("--registry", default="http://127.0.0.1:8470")
    p.add_argument("--genesis", type=Path, default=None, help="the consortium's genesis file")
    p.add_argument("--witness", action="append", default=[], help="a witness cosignature key (repeatable)")
    p.add_argument("--k", type=int, default=1, help="cosignatures required on checkpoints")
    p.add_argument("--jpki-root", type=Path, action="append", default=[])
    p.add_argument("--jpki-crl", type=Path, action="append", default=[])
    p.add_argument("--licence-authority", type=Path, action="append", default=[])
    p.add_argument("--legal-name", default="株式会社アカシ本人確認")
    p.add_argument("--corporate-number", default="4010001234567")
    command("register", cmd_register, "put the issuer's DID on the ledger")
    p = command("serve", cmd_serve, "serve OpenID4VCI and the admin API")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--url", default=None)
    p = command("testca", cmd_testca, "create test CAs, a card and a licence (tests and demo only)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--name", default="山田　花子")
    p.add_argument("--birthdate", default="1998-07-15")
    p.add_argument("--gender", default="2", help="JPKI code: 1 male, 2 female, 3 not known")
    p.add_argument("--address", default="東京都千代田区霞が関2-1-2")
    p.add_argument("--licence-number", default="301234567890")
    p.add_argument("--licence-issued", default="2024-08-01")
    p.add_argument("--licence-expiry", default="2029-08-15")
    p.add_argument("--category", action="append", default=["普通"])
    p.add_argument("--authority", default="東京都公安委員会")
    p = command("check", cmd_check, "run an evidence check and create an offer")
    p.add_argument("kind", choices=["jpki", "licence"])
    p.add_argument("--card", type=Path, help="card certificate stem (e.g. testca/card)")
    p.add_argument("--licence", type=Path, help="signed licence data file")
    p.add_argument("--face-compared", action="store_true", help="the staff compared the face (method ヘ)")
    p.add_argument("--tx-code", action="store_true", help="protect the offer with a transaction code")
    p.add_argument("--operator", default="cli")
    for action in ("revoke", "suspend", "reinstate"):
        p = command(action, _status_command(action), f"{action} a credential and publish the new status list")
        p.add_argument("credential", help="the credential id (its digest)")
    command("list", cmd_list, "list issued credentials and their status")
    command("purge", cmd_purge, "delete verification records past retention and expired offers")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``akashi-issuer``."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (AkashiError, ValueError, OSError) as error:
        print(f"akashi-issuer: {error.message if isinstance(error, AkashiError) else error}", file=sys.stderr)
        if args.verbose:
            raise
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
