"""JSON forms of Merkle proofs: ``specs/inclusion-proof`` and ``specs/consistency-proof``.

::

    {"leaf_index": 5, "tree_size": 8, "inclusion_path": ["<base64url>", …]}
    {"tree_size_1": 3, "tree_size_2": 8, "consistency_path": ["<base64url>", …]}

Field names follow RFC 9162 section 4.11/4.12. Hashes are unpadded base64url,
like every other byte string in akashi's JSON (checkpoints, being signed
notes, keep the standard base64 of their own format).

Parsing checks the schema, then decodes every hash strictly (32 bytes, one
spelling only); positions are checked again, with the proof itself, by
:mod:`identity.ledger.merkle` when the proof is verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.strict_json import loads_object
from identity.errors import MalformedInput
from identity.ledger.merkle import HASH_SIZE, verify_consistency, verify_inclusion
from identity.schemas import validate

__all__ = [
    "ConsistencyProof",
    "InclusionProof",
    "parse_consistency_proof",
    "parse_inclusion_proof",
]

_MAX_JSON_BYTES = 16 * 1024  # 64 hashes of 43 characters fit many times over


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Leaf ``leaf_index`` is in the tree of ``tree_size`` leaves, by ``path``."""

    leaf_index: int
    tree_size: int
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """The ``inclusion-proof`` JSON object."""
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "inclusion_path": [b64url_encode(h) for h in self.path],
        }

    def verify(self, leaf_hash: bytes, root: bytes) -> None:
        """Return if this proof leads from ``leaf_hash`` to ``root`` (see ``verify_inclusion``)."""
        verify_inclusion(leaf_hash, self.leaf_index, self.tree_size, self.path, root)


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """The tree of ``tree_size_1`` leaves is a prefix of that of ``tree_size_2``, by ``path``."""

    tree_size_1: int
    tree_size_2: int
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """The ``consistency-proof`` JSON object."""
        return {
            "tree_size_1": self.tree_size_1,
            "tree_size_2": self.tree_size_2,
            "consistency_path": [b64url_encode(h) for h in self.path],
        }

    def verify(self, root1: bytes, root2: bytes) -> None:
        """Return if this proof links ``root1`` to ``root2`` (see ``verify_consistency``)."""
        verify_consistency(self.tree_size_1, self.tree_size_2, self.path, root1, root2)


def parse_inclusion_proof(data: bytes | str | Mapping[str, Any]) -> InclusionProof:
    """An :class:`InclusionProof` from its JSON form (text or parsed object)."""
    obj = _load(data, "inclusion-proof")
    if obj["leaf_index"] >= obj["tree_size"]:
        raise MalformedInput("inclusion proof: leaf_index must be below tree_size")
    path = _hashes(obj["inclusion_path"], "inclusion proof")
    return InclusionProof(obj["leaf_index"], obj["tree_size"], path)


def parse_consistency_proof(data: bytes | str | Mapping[str, Any]) -> ConsistencyProof:
    """A :class:`ConsistencyProof` from its JSON form (text or parsed object)."""
    obj = _load(data, "consistency-proof")
    if obj["tree_size_1"] > obj["tree_size_2"]:
        raise MalformedInput("consistency proof: tree_size_1 must not exceed tree_size_2")
    path = _hashes(obj["consistency_path"], "consistency proof")
    return ConsistencyProof(obj["tree_size_1"], obj["tree_size_2"], path)


def _load(data: bytes | str | Mapping[str, Any], schema: str) -> dict[str, Any]:
    if isinstance(data, Mapping):
        obj = dict(data)
    else:
        if len(data) > _MAX_JSON_BYTES:
            raise MalformedInput(f"{schema} is longer than {_MAX_JSON_BYTES} bytes")
        obj = loads_object(data, what=schema)
    validate(obj, schema)
    return obj


def _hashes(values: list[str], what: str) -> tuple[bytes, ...]:
    hashes = tuple(b64url_decode(v, what=f"{what} hash") for v in values)
    if any(len(h) != HASH_SIZE for h in hashes):  # the schema's pattern already implies it
        raise MalformedInput(f"{what} hashes must be {HASH_SIZE} bytes")
    return hashes
