"""JSON forms of Merkle proofs against specs/inclusion-proof and specs/consistency-proof."""

from __future__ import annotations

import json
from typing import Any

import pytest

from identity.crypto.encoding import b64url_encode
from identity.errors import MalformedInput, ProofMismatch, SchemaViolation
from identity.ledger.merkle import leaf_hash
from identity.ledger.proofs import (
    ConsistencyProof,
    InclusionProof,
    parse_consistency_proof,
    parse_inclusion_proof,
)
from identity.ledger.tree import MemoryTree
from identity.schemas import validate

TREE = MemoryTree(str(i).encode() for i in range(13))
INCLUSION = InclusionProof(5, 13, tuple(TREE.inclusion_proof(5, 13)))
CONSISTENCY = ConsistencyProof(6, 13, tuple(TREE.consistency_proof(6, 13)))


def test_round_trip_and_verify() -> None:
    obj = INCLUSION.to_json()
    validate(obj, "inclusion-proof")
    assert obj["inclusion_path"][0] == b64url_encode(INCLUSION.path[0])
    parsed = parse_inclusion_proof(json.dumps(obj))
    assert parsed == INCLUSION
    parsed.verify(leaf_hash(b"5"), TREE.root(13))
    with pytest.raises(ProofMismatch):
        parsed.verify(leaf_hash(b"6"), TREE.root(13))

    obj = CONSISTENCY.to_json()
    validate(obj, "consistency-proof")
    parsed_c = parse_consistency_proof(obj)
    assert parsed_c == CONSISTENCY
    parsed_c.verify(TREE.root(6), TREE.root(13))
    with pytest.raises(ProofMismatch):
        parsed_c.verify(TREE.root(7), TREE.root(13))


HASH = INCLUSION.to_json()["inclusion_path"][0]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"leaf_index": -1}, "/leaf_index"),
        ({"leaf_index": 1.5}, "/leaf_index"),
        ({"tree_size": 0}, "/tree_size"),
        ({"tree_size": 2**53}, "/tree_size"),
        ({"inclusion_path": [HASH + "A"]}, "/inclusion_path/0"),
        ({"inclusion_path": [HASH[:-1] + "B"]}, "/inclusion_path/0"),  # non-canonical last char
        ({"inclusion_path": [HASH.replace(HASH[0], "+")]}, "/inclusion_path/0"),
        ({"inclusion_path": [HASH] * 65}, "/inclusion_path"),
        ({"extra": True}, "/"),
    ],
)
def test_bad_inclusion_objects_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(SchemaViolation) as info:
        parse_inclusion_proof({**INCLUSION.to_json(), **change})
    assert info.value.path == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tree_size_1": 0}, "/tree_size_1"),
        ({"tree_size_2": "13"}, "/tree_size_2"),
        ({"consistency_path": "x"}, "/consistency_path"),
        ({"consistency_path": [HASH[:20]]}, "/consistency_path/0"),
    ],
)
def test_bad_consistency_objects_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(SchemaViolation) as info:
        parse_consistency_proof({**CONSISTENCY.to_json(), **change})
    assert info.value.path == field


def test_positions_are_checked() -> None:
    with pytest.raises(MalformedInput):
        parse_inclusion_proof({**INCLUSION.to_json(), "leaf_index": 13})
    with pytest.raises(MalformedInput):
        parse_consistency_proof({**CONSISTENCY.to_json(), "tree_size_1": 14})
    with pytest.raises(MalformedInput):
        parse_inclusion_proof('{"leaf_index": 1, "leaf_index": 2}')
    with pytest.raises(MalformedInput):
        parse_inclusion_proof("x" * 20000)
