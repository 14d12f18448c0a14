"""``akashi-registry member add|update|remove``: a trust-registry change on the command line.

The consortium's governance approves each change with k of its n keys
(:func:`registry.genesis.sign_member_entry`); this command signs the member body with each
governance key file ``akashi-registry init`` wrote and submits the entry to a node through a
verifying :class:`~registry.client.RegistryClient`. No data folder: any node will do.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from identity.crypto.keys import Ed25519PrivateKey
from identity.crypto.strict_json import loads_object
from identity.did.multikey import encode_multikey
from identity.errors import AkashiError, MalformedInput, NotFound
from identity.ledger.envelope import Envelope
from identity.schemas import validate
from registry.client import ClientTrust, RegistryClient
from registry.genesis import load_genesis, sign_member_entry
from registry.service import read_private_key

__all__ = ["add_member_parser", "cmd_member"]

#: The largest member file ``member add|update`` reads (a member body is well under 16 KiB).
MAX_MEMBER_BYTES = 64 * 1024


def _emit(args: argparse.Namespace, document: dict[str, Any], human: str) -> None:
    print(json.dumps(document, ensure_ascii=False) if args.json else human)


def _read_member(source: str) -> dict[str, Any]:
    """The member body in ``source`` (a file, or ``-`` for stdin): one strict JSON object."""
    if source == "-":
        data = sys.stdin.buffer.read(MAX_MEMBER_BYTES + 1)
    else:
        with open(source, "rb") as handle:
            data = handle.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise MalformedInput(f"the member file is longer than {MAX_MEMBER_BYTES} bytes")
    member = loads_object(data, what="member file")
    if "admin_token" in member:  # an `init --json` document: never pass its secret around
        raise MalformedInput('this is an `init --json` document: pass only its "member" object')
    return member


def _governance_keys(paths: list[Path]) -> list[Ed25519PrivateKey]:
    """The private governance keys in ``paths`` (JWK files ``init`` wrote), each key once."""
    keys: list[Ed25519PrivateKey] = []
    seen: set[str] = set()
    for path in paths:
        try:
            key = read_private_key(path)
        except AkashiError as exc:
            raise MalformedInput(f"{path} is not a governance key file: {exc.message}") from exc
        multikey = encode_multikey(key.public_key)
        if multikey in seen:
            raise ValueError(f"{path} holds a governance key given already: each key approves once")
        seen.add(multikey)
        keys.append(key)
    return keys


def _next_version(ledger: RegistryClient, did: str) -> int:
    """The version a change of ``did`` must carry: one more than its proven record, else 1."""
    try:
        return ledger.member(did).record.version + 1
    except NotFound:
        return 1


def _signed_member_entry(entry_type: str, member: dict[str, Any], keys: list[Ed25519PrivateKey]) -> Envelope:
    """The ``member.*`` entry approved by each of ``keys``; its body checked against the schema."""
    envelope = sign_member_entry(entry_type, member, keys)
    validate(envelope["body"], "entry-" + entry_type)
    return envelope


def cmd_member(args: argparse.Namespace) -> int:
    """Sign a trust-registry change with each governance key and submit it to a node."""
    entry_type = "member." + args.action
    genesis = load_genesis(args.genesis.read_bytes())
    trust = ClientTrust.from_genesis_document(genesis.to_json(), args.witness, args.k)
    member: dict[str, Any] = {"did": args.did} if args.action == "remove" else _read_member(args.member)
    keys = _governance_keys(args.governance_key)
    version_given = "version" in member
    envelope = _signed_member_entry(entry_type, {"version": 1, **member}, keys)  # checked before the network
    with RegistryClient(args.node, trust=trust) as ledger:
        if not version_given:
            member["version"] = _next_version(ledger, member["did"])
            envelope = _signed_member_entry(entry_type, member, keys)
        receipt = ledger.submit(envelope)
    approvers = [approval["key"] for approval in envelope["body"]["approvals"]]
    again = " (it was on the ledger already)" if receipt.duplicate else ""
    _emit(
        args,
        {
            "type": entry_type,
            "did": member["did"],
            "version": member["version"],
            "index": receipt.index,
            "tree_size": receipt.tree_size,
            "duplicate": receipt.duplicate,
            "approvals": approvers,
        },
        f"{entry_type} of {member['did']} (version {member['version']}, approved by "
        f"{len(approvers)} governance keys) is on the ledger at leaf {receipt.index}{again}",
    )
    return 0


def add_member_parser(sub: Any) -> None:
    """``member add|update|remove`` and their options."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--node", required=True, metavar="URL", help="a registry node's URL")
    common.add_argument(
        "--genesis", type=Path, required=True, metavar="FILE", help="the consortium's genesis file"
    )
    common.add_argument(
        "--governance-key", type=Path, action="append", required=True, metavar="FILE",
        help="a governance key file `init` wrote (repeat: k of the n keys must approve)",
    )  # fmt: skip
    common.add_argument(
        "--witness", action="append", default=[], metavar="VKEY",
        help="a witness cosignature key, as `akashi-registry key` prints it (repeatable)",
    )  # fmt: skip
    common.add_argument("--k", type=int, default=1, help="cosignatures required on checkpoints")
    common.add_argument("--json", action="store_true", help="print one JSON document")
    text = "approve a trust-registry change with k governance keys and put it on the ledger"
    member = sub.add_parser("member", help=text, description=text)
    actions = member.add_subparsers(dest="action", required=True)
    body = 'the member body as JSON (`init` prints it), or - for stdin; without "version", the next one'
    body += " after the ledger's record"
    for action, what in (("add", "admit a member"), ("update", "change a member's entry")):
        p = actions.add_parser(action, parents=[common], help=what, description=what)
        p.add_argument("--member", required=True, metavar="FILE", help=body)
        p.set_defaults(handler=cmd_member)
    what = "remove a member (its record stays, inactive)"
    p = actions.add_parser("remove", parents=[common], help=what, description=what)
    p.add_argument("--did", required=True, help="the member's did:akashi")
    p.set_defaults(handler=cmd_member)


