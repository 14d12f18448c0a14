"""``akashi-registry``: run and audit a registry node, and govern its trust registry.

Every node command takes ``--data DIR`` (default ``$AKASHI_REGISTRY_DATA_DIR`` or
``registry-data``). ``member add|update|remove`` works on any node over HTTP with the
governance key files ``init`` wrote (no data folder). Exit status: 0 ok, 1 refused or a
failed verification, 2 usage. Errors are one readable line on stderr (a refusal by the
rules names the rule); ``--json`` prints one JSON document on stdout for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from identity.crypto.encoding import b64url_encode
from identity.crypto.strict_json import loads_object
from identity.errors import AkashiError, RejectedByRules
from identity.ledger.proofs import InclusionProof
from registry.audit import replay_state, verify_store
from registry.config import RegistryConfig, from_sources
from registry.genesis import load_genesis
from registry.member_cli import add_member_parser
from registry.service import init_data_dir, open_service, read_private_key
from registry.storage import SqliteStorage

__all__ = ["main"]

class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, label: str, stream: TextIO = sys.stderr) -> None:
        self.label = label
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        width = 30
        filled = width * done // total
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 70 + "\r")
            self.stream.flush()


def _config(args: argparse.Namespace) -> RegistryConfig:
    flags = {"data_dir": args.data, "host": getattr(args, "host", None), "port": getattr(args, "port", None)}
    return from_sources(flags)


def _emit(args: argparse.Namespace, document: dict[str, Any], human: str) -> None:
    print(json.dumps(document, ensure_ascii=False) if args.json else human)


def cmd_init(args: argparse.Namespace) -> int:
    config = _config(args)
    result = init_data_dir(
        config, origin=args.origin, governance_keys=args.governance_keys, threshold=args.threshold
    )
    genesis = result.genesis
    human = "\n".join(
        [
            f"registry initialised in {config.data_dir}",
            f"origin:      {genesis.origin}",
            f"log key:     {genesis.log_key}",
            f"genesis:     {config.genesis_file} (digest {genesis.digest})",
            f"governance:  {genesis.governance.threshold} of {len(genesis.governance.keys)} keys",
            *(f"             private key written to {path}" for path in result.governance_key_files),
            "keep the governance keys offline; they approve every trust-registry change",
        ]
    )
    _emit(
        args,
        {
            "data_dir": str(config.data_dir),
            "origin": genesis.origin,
            "log_key": genesis.log_key,
            "genesis_digest": genesis.digest,
            "governance_key_files": [str(p) for p in result.governance_key_files],
        },
        human,
    )
    return 0


def cmd_key(args: argparse.Namespace) -> int:
    config = _config(args)
    service = open_service(config, cosign=False)
    try:
        key = service.genesis.log_key
        witness = service.witness_verifier.vkey
    finally:
        service.close()
    # Both: wallets and services are given the witness key (--witness) as well as the log's.
    _emit(args, {"log_key": key, "witness_key": witness}, f"log key:     {key}\nwitness key: {witness}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from starlette.routing import Mount

    from registry.app import create_app
    from registry.witness_app import create_witness_app

    config = _config(args)
    service = open_service(config, workers=config.workers)
    app = create_app(service.node, extra_routes=[Mount("/witness", app=create_witness_app(service.witness))])
    print(
        f"akashi-registry serving {service.genesis.origin} on http://{config.host}:{config.port}", flush=True
    )
    try:
        uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
    finally:
        service.close()
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    config = _config(args)
    # The store alone, not a node: a node refuses to open a store whose tree is not the signed one,
    # and that is exactly a store `verify` must be able to examine.
    genesis = load_genesis(config.genesis_file.read_bytes())
    storage = SqliteStorage(config.database)
    progress = _Progress("verify")
    try:
        mismatch = verify_store(storage, genesis, progress)
        size = storage.size()
        checkpoints = sum(1 for _ in storage.checkpoints())
    finally:
        progress.finish()
        storage.close()
    if mismatch is not None:
        _emit(
            args,
            {"ok": False, "table": mismatch.table, "index": mismatch.index, "problem": mismatch.problem},
            f"MISMATCH in {mismatch}",
        )
        return 1
    _emit(
        args,
        {"ok": True, "entries": size, "checkpoints": checkpoints},
        f"ok: {size} entries, {checkpoints} checkpoints, tiles and derived state all recomputed and equal",
    )
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    config = _config(args)
    service = open_service(config, cosign=False)
    progress = _Progress("rebuild")
    try:
        rows = replay_state(service.storage, service.genesis, progress)
        service.storage.replace_state((kind, key, value) for (kind, key), value in sorted(rows.items()))
    finally:
        progress.finish()
        service.close()
    _emit(args, {"records": len(rows)}, f"derived state rebuilt from the log: {len(rows)} records")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    config = _config(args)
    service = open_service(config, cosign=False)
    progress = _Progress("export")
    out: TextIO = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    try:
        latest = service.node.latest_checkpoint()
        out.write(json.dumps({"checkpoint": latest.text}) + "\n")
        for start in range(0, latest.size, 1024):
            for entry in service.storage.entries(start, min(latest.size, start + 1024)):
                _, path = service.node.inclusion_proof(entry.index, latest.size)
                record = {
                    "index": entry.index,
                    "leaf_hash": b64url_encode(entry.leaf_hash),
                    "entry": loads_object(entry.data, what="stored entry"),
                    "inclusion_proof": InclusionProof(entry.index, latest.size, tuple(path)).to_json(),
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            progress(min(latest.size, start + 1024), latest.size)
    finally:
        progress.finish()
        if out is not sys.stdout:
            out.close()
        service.close()
    if args.out:
        print(f"exported {latest.size} entries with inclusion proofs to {args.out}", file=sys.stderr)
    return 0


def cmd_witness(args: argparse.Namespace) -> int:
    import uvicorn

    from identity.ledger.note import Ed25519NoteVerifier
    from registry.service import write_private_key
    from registry.witness import Witness
    from registry.witness_app import create_witness_app
    from registry.witness_store import SqliteWitnessStore

    config = _config(args)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    key_file = config.data_dir / "standalone-witness.key"
    if not key_file.exists():
        from identity.crypto.keys import Ed25519PrivateKey

        write_private_key(key_file, Ed25519PrivateKey.generate())
    logs = {}
    for vkey in args.log:
        verifier = Ed25519NoteVerifier.from_vkey(vkey)
        logs[verifier.name] = verifier
    if not logs:
        raise ValueError("name at least one log to witness with --log <its verifier key>")
    store = SqliteWitnessStore(config.data_dir / "standalone-witness.db")
    witness = Witness(args.name, read_private_key(key_file), logs, store)
    print(f"witness {witness.name} for {', '.join(logs)}", flush=True)
    print(f"cosignature key: {witness.verifier.vkey}", flush=True)
    print(f"serving POST http://{config.host}:{config.port}/add-checkpoint", flush=True)
    try:
        uvicorn.run(create_witness_app(witness), host=config.host, port=config.port, log_level="warning")
    finally:
        store.close()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="akashi-registry", description="Run and audit an akashi ledger node."
    )
    parser.add_argument("--verbose", action="store_true", help="show details of errors")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--data", type=Path, default=None, help="the node's data folder")
        p.add_argument("--json", action="store_true", help="print one JSON document")
        p.set_defaults(handler=handler)
        return p

    p = command("init", cmd_init, "create keys and a genesis file for a new ledger")
    p.add_argument("--origin", default="akashi.example/registry", help="the log's name (checkpoint origin)")
    p.add_argument("--governance-keys", type=int, default=3, help="how many governance keys to create")
    p.add_argument("--threshold", type=int, default=2, help="how many must approve a trust-registry change")
    command("key", cmd_key, "print the log's C2SP verifier key line")
    p = command("serve", cmd_serve, "serve the HTTP API")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    command("verify", cmd_verify, "recompute every hash, signature and record from the raw entries")
    command("rebuild", cmd_rebuild, "rebuild the derived state from the log")
    p = command("export", cmd_export, "write every entry with its inclusion proof as JSON Lines")
    p.add_argument("--out", default=None, help="file to write (default: stdout)")
    p = command("witness", cmd_witness, "run a stand-alone C2SP tlog-witness for other members' logs")
    p.add_argument("--name", required=True, help="the witness's cosigner name, e.g. example.jp/witness")
    p.add_argument("--log", action="append", default=[], help="a log's C2SP verifier key (repeatable)")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    add_member_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``akashi-registry``."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (AkashiError, ValueError, OSError) as error:
        message = error.message if isinstance(error, AkashiError) else str(error)
        if isinstance(error, RejectedByRules) and error.rule:
            message += f" (rule {error.rule})"
        print(f"akashi-registry: {' '.join(message.splitlines())}", file=sys.stderr)
        if args.verbose:
            raise
        return 1
    except KeyboardInterrupt:
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
