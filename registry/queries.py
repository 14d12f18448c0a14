"""Read-side answers of a node: tiles, DID resolution and state lookups, each with the
proofs a client needs to check it against a signed checkpoint."""

from __future__ import annotations

from typing import Any

from identity.crypto.encoding import b64url_encode
from identity.crypto.strict_json import loads_object
from identity.did.akashi import resolve_did_akashi
from identity.did.url import parse_did
from identity.errors import MalformedInput, NotFound
from identity.ledger.proofs import InclusionProof
from registry import state as state_records
from registry import tiles
from registry.node import Node

__all__ = [
    "attestation",
    "consent",
    "entry_with_proof",
    "member",
    "members",
    "notice",
    "proofs_under_latest",
    "read_entry_bundle",
    "read_tile",
    "resolve_did",
]


class _StateOf:
    """The node's stored state as a rules-style view."""

    def __init__(self, node: Node) -> None:
        self.get = node.storage.get_state


def read_tile(node: Node, tile_id: tiles.TileId) -> bytes:
    """The hashes of a tile exactly as tlog-tiles serves them (a prefix of a partial tile
    when a smaller width is asked for)."""
    stored = node.storage.read_tiles([(tile_id.level, tile_id.index)]).get((tile_id.level, tile_id.index))
    want = tile_id.width * 32
    if stored is None or len(stored) < want:
        raise NotFound(f"no tile {tile_id.level}/{tile_id.index} of width {tile_id.width}")
    return stored[:want]


def read_entry_bundle(node: Node, tile_id: tiles.BundleId) -> bytes:
    """The entry bundle of a level-0 tile: the entries' bytes, each length-prefixed."""
    start = tile_id.index * tiles.TILE_WIDTH
    entries = node.storage.entries(start, start + tile_id.width)
    if len(entries) < tile_id.width:
        raise NotFound(f"no entry bundle {tile_id.index} of width {tile_id.width}")
    return tiles.encode_bundle([entry.data for entry in entries])


def _proof_for(node: Node, index: int, size: int) -> dict[str, Any]:
    tree_size, path = node.inclusion_proof(index, size)
    return InclusionProof(index, tree_size, tuple(path)).to_json()


def entry_with_proof(node: Node, index: int, proof: dict[str, Any]) -> dict[str, Any]:
    """The entry at ``index`` as answers embed it: its leaf hash, its JSON and ``proof``."""
    entry = node.entry(index)
    return {
        "index": index,
        "leaf_hash": b64url_encode(entry.leaf_hash),
        "entry": loads_object(entry.data, what="stored entry"),
        "inclusion_proof": proof,
    }


def proofs_under_latest(node: Node, indexes: list[int]) -> tuple[str, dict[int, dict[str, Any]]]:
    """The latest checkpoint note (with its cosignatures) and an inclusion proof under it for
    each of ``indexes`` it covers, read together: what a batch answer carries so that its
    reader needs no more round trips."""
    latest = node.latest_checkpoint()
    covered = [index for index in indexes if index < latest.size]
    paths = node.inclusion_proofs(covered, latest.size)
    proofs = {
        index: InclusionProof(index, latest.size, tuple(path)).to_json()
        for index, path in zip(covered, paths, strict=True)
    }
    return latest.text, proofs


def _checkpoint(node: Node) -> tuple[int, str]:
    latest = node.latest_checkpoint()
    return latest.size, latest.text  # with its cosignatures: the answer stands alone


def _entry_index(node: Node, kind: str, key: str) -> int | None:
    record = node.storage.get_state("entry_for", f"{kind}:{key}")
    return None if record is None else int(record["index"])


def _with_proof(node: Node, kind: str, key: str, record: dict[str, Any]) -> dict[str, Any]:
    size, note = _checkpoint(node)
    answer: dict[str, Any] = {kind: record, "checkpoint": note}
    index = _entry_index(node, kind, key)
    if index is not None and index < size:
        answer["entry"] = entry_with_proof(node, index, _proof_for(node, index, size))
    return answer


def resolve_did(node: Node, did: str) -> dict[str, Any]:
    """The current DID document of a did:akashi, with every event of its log and their proofs."""
    did = parse_did(did)
    if not did.startswith("did:akashi:"):
        raise MalformedInput("only did:akashi identifiers live on the ledger (did:key resolves itself)")
    record = state_records.get_did(_StateOf(node), did)
    if record is None:
        raise NotFound(f"{did} is not on this ledger")
    size, note = _checkpoint(node)
    log = node.storage.get_state("did_log", did) or {"indexes": []}
    events = [entry_with_proof(node, index, _proof_for(node, index, size)) for index in log["indexes"]]
    document = None if record.state.deactivated else resolve_did_akashi(record.state)
    return {
        "did": did,
        "deactivated": record.state.deactivated,
        "did_document": document,
        "key_event_log": events,
        "checkpoint": note,
    }


def _lookup(node: Node, kind: str, key: str, what: str) -> dict[str, Any]:
    if not key or len(key) > 256:
        raise MalformedInput(f"{what} must be 1 to 256 characters")
    record = node.storage.get_state(kind, key)
    if record is None:
        raise NotFound(f"no {what} {key}")
    return _with_proof(node, kind, key, record)


def attestation(node: Node, digest: str) -> dict[str, Any]:
    """An anchored attestation by the digest of its issuer-signed JWT."""
    return _lookup(node, "attestation", digest, "attestation")


def consent(node: Node, digest: str) -> dict[str, Any]:
    """A consent by the digest of its signed receipt: granted, expiry, revoked."""
    return _lookup(node, "consent", digest, "consent")


def notice(node: Node, digest: str) -> dict[str, Any]:
    """A mailbox notice by its entry digest, with the entry that last changed it (the
    ``mailbox.notice``, or once acknowledged the ``mailbox.ack``) and its proof, as for
    :func:`consent`; and ``mailbox``: whether this node still holds the ciphertext and
    when it first served it to the recipient. ``mailbox`` is the node's own word, which
    no proof backs (it is not on the ledger); the ack is what proves the recipient had it."""
    answer = _lookup(node, "notice", digest, "notice")
    held, delivered_at = node.storage.mailbox.delivery(digest)
    answer["mailbox"] = {"held": held, "delivered_at": delivered_at}
    return answer


def member(node: Node, did: str) -> dict[str, Any]:
    """One member of the trust registry."""
    return _lookup(node, "member", parse_did(did), "member")


def members(node: Node) -> dict[str, Any]:
    """Every member of the trust registry."""
    size, note = _checkpoint(node) if node.size() else (0, None)
    return {
        "members": [value for _, _, value in node.storage.state_items("member")],
        "tree_size": size,
        "checkpoint": note,
    }
