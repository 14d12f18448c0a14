"""The tiled Merkle tree against the reference tree of identity.ledger.tree.

Roots, tiles and proofs must equal those of :class:`MemoryTree` (which stores
every perfect subtree) for any batch split, and proofs must verify with the
RFC 9162 verifiers. Proofs read O(log n) tiles in one call.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.errors import MalformedInput, NotFound
from identity.ledger.merkle import EMPTY_ROOT, leaf_hash, verify_consistency, verify_inclusion
from identity.ledger.tree import MemoryTree, NodeId
from registry.tiles import tiles_for_size
from registry.tree import Integrator, consistency_proof, get_nodes, inclusion_proof, root_at

Key = tuple[int, int]


class DictReader:
    """Tiles in a dict, counting read calls and the tiles each call asked for."""

    def __init__(self, tiles: Mapping[Key, bytes] | None = None) -> None:
        self.tiles: dict[Key, bytes] = dict(tiles or {})
        self.calls: list[list[Key]] = []

    def read_tiles(self, ids: Iterable[Key]) -> Mapping[Key, bytes]:
        asked = list(ids)
        self.calls.append(asked)
        return {key: self.tiles[key] for key in asked if key in self.tiles}


def leaves(count: int, seed: int = 0) -> list[bytes]:
    return [leaf_hash(seed.to_bytes(4, "big") + i.to_bytes(8, "big")) for i in range(count)]


def build(hashes: list[bytes], cuts: Iterable[int] = ()) -> tuple[Integrator, DictReader]:
    """Integrate ``hashes`` in batches ending at ``cuts``, writing tiles to a dict as a store would."""
    integrator, reader = Integrator(), DictReader()
    start = 0
    for end in [*sorted(set(cuts)), len(hashes)]:
        result = integrator.append(hashes[start:end])
        reader.tiles.update(result.tiles)
        start = max(start, end)
    return integrator, reader


def expected_tiles(tree: MemoryTree) -> dict[Key, bytes]:
    """Every tile of the tree, from the reference tree's stored levels."""
    return {
        (t.level, t.index): b"".join(
            tree.get_node(8 * t.level, t.index * 256 + i) for i in range(t.width)
        )
        for t in tiles_for_size(tree.size)
    }


# A 70,000-leaf tree has three tile levels (the example of the tlog-tiles spec).
BIG = 70_000


@pytest.fixture(scope="module")
def big() -> tuple[MemoryTree, DictReader]:
    hashes = leaves(BIG, seed=7)
    reference = MemoryTree()
    for h in hashes:
        reference.append_leaf_hash(h)
    rng = random.Random(7)
    _, reader = build(hashes, rng.sample(range(1, BIG), 40))
    return reference, reader


def test_empty_tree() -> None:
    integrator = Integrator()
    assert integrator.size == 0
    assert integrator.root == EMPTY_ROOT
    result = integrator.append([])
    assert (result.size, result.root, result.tiles) == (0, EMPTY_ROOT, {})
    assert root_at(0, DictReader()) == EMPTY_ROOT
    assert Integrator.load(0, DictReader()).root == EMPTY_ROOT


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    st.integers(1, 3000).flatmap(lambda n: st.tuples(st.just(n), st.lists(st.integers(0, n), max_size=12)))
)
def test_batches_give_the_reference_roots_and_tiles(args: tuple[int, list[int]]) -> None:
    size, cuts = args
    hashes = leaves(size)
    reference = MemoryTree()
    integrator, reader = Integrator(), DictReader()
    full_tiles: dict[Key, bytes] = {}
    start = 0
    for end in [*sorted(set(cuts)), size]:
        result = integrator.append(hashes[start:end])
        for h in hashes[start:end]:
            reference.append_leaf_hash(h)
        assert (result.size, result.root) == (reference.size, reference.root())
        for key, data in result.tiles.items():
            assert key not in full_tiles, "a full tile is written once and never again"
            if len(data) == 8192:
                full_tiles[key] = data
        reader.tiles.update(result.tiles)
        start = end
    assert reader.tiles == expected_tiles(reference)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(st.integers(1, 3000), st.randoms(use_true_random=False))
def test_proofs_for_any_earlier_size_come_from_the_current_tiles(size: int, rng: random.Random) -> None:
    hashes = leaves(size, seed=1)
    reference = MemoryTree()
    for h in hashes:
        reference.append_leaf_hash(h)
    _, reader = build(hashes, rng.sample(range(size + 1), min(size + 1, 5)))
    for _ in range(10):
        n = rng.randint(1, size)
        index, m = rng.randrange(n), rng.randint(1, n)
        root_n, root_m = root_at(n, reader), root_at(m, reader)
        assert (root_n, root_m) == (reference.root(n), reference.root(m))
        proof = inclusion_proof(index, n, reader)
        assert proof == reference.inclusion_proof(index, n)
        verify_inclusion(hashes[index], index, n, proof, root_n)
        proof = consistency_proof(m, n, reader)
        assert proof == reference.consistency_proof(m, n)
        verify_consistency(m, n, proof, root_m, root_n)


def test_proofs_across_three_tile_levels(big: tuple[MemoryTree, DictReader]) -> None:
    reference, reader = big
    rng = random.Random(3)
    sizes = [1, 255, 256, 257, 65535, 65536, 65537, BIG - 1, BIG]
    sizes += [rng.randint(1, BIG) for _ in range(30)]
    for n in sizes:
        root = root_at(n, reader)
        assert root == reference.root(n)
        for index in {0, n // 2, n - 1, rng.randrange(n)}:
            proof = inclusion_proof(index, n, reader)
            assert proof == reference.inclusion_proof(index, n)
            verify_inclusion(reference.get_node(0, index), index, n, proof, root)
        for m in {1, n // 3 or 1, n - 1 or 1, n, rng.randint(1, n)}:
            proof = consistency_proof(m, n, reader)
            assert proof == reference.consistency_proof(m, n)
            verify_consistency(m, n, proof, reference.root(m), root)


def test_a_proof_is_one_read_of_at_most_two_tiles_per_tile_level(big: tuple[MemoryTree, DictReader]) -> None:
    _, reader = big
    rng = random.Random(5)
    for _ in range(300):
        n = rng.randint(1, BIG)
        index, m = rng.randrange(n), rng.randint(1, n)
        for kind in ("inclusion", "consistency"):
            reader.calls.clear()
            if kind == "inclusion":
                inclusion_proof(index, n, reader)
            else:
                consistency_proof(m, n, reader)
            assert len(reader.calls) <= 1  # a proof with no hashes reads nothing
            asked = reader.calls[0] if reader.calls else []
            levels = (n.bit_length() + 7) // 8  # tile levels the tree of n leaves has
            for level in range(levels):
                assert sum(1 for key in asked if key[0] == level) <= 2
            assert all(key[0] < levels for key in asked)


def test_load_then_append_matches_appending_at_once() -> None:
    hashes = leaves(BIG, seed=9)
    whole, whole_reader = build(hashes)
    rng = random.Random(9)
    for split in [0, 1, 255, 256, 257, 65535, 65536, 65537, BIG, *rng.sample(range(BIG), 6)]:
        first, reader = build(hashes[:split], [split // 3])
        reader.calls.clear()
        loaded = Integrator.load(split, reader)
        assert len(reader.calls) <= 1  # the right edge's partial tiles, in one read
        assert (loaded.size, loaded.root) == (first.size, first.root)
        result = loaded.append(hashes[split:])
        assert (result.size, result.root) == (whole.size, whole.root)
        reader.tiles.update(result.tiles)
        assert reader.tiles == whole_reader.tiles


def test_get_nodes_reads_every_level_of_a_tile(big: tuple[MemoryTree, DictReader]) -> None:
    reference, reader = big
    last = [(BIG >> level) - 1 for level in range(17)]
    picks = [dict.fromkeys((0, min(1, last[level]), last[level])) for level in range(17)]
    wanted = [NodeId(level, i) for level in range(17) for i in picks[level]]
    reader.calls.clear()
    got = get_nodes(wanted, BIG, reader)
    assert len(reader.calls) == 1
    assert got == {node: reference.get_node(node.level, node.index) for node in wanted}
    assert get_nodes([], BIG, reader) == {}


def test_get_nodes_refuses_incomplete_or_impossible_nodes(big: tuple[MemoryTree, DictReader]) -> None:
    _, reader = big
    impossible = [NodeId(0, BIG), NodeId(3, BIG // 8), NodeId(17, 0)]  # not complete at BIG
    impossible += [NodeId(-1, 0), NodeId(0, -1), NodeId(64, 0)]
    for node in impossible:
        with pytest.raises(MalformedInput):
            get_nodes([node], BIG, reader)
    for size in [-1, 2**64, True]:
        with pytest.raises(MalformedInput):
            get_nodes([NodeId(0, 0)], size, reader)


def test_missing_short_or_broken_tiles_are_refused() -> None:
    _, reader = build(leaves(1000))
    with pytest.raises(NotFound):  # beyond the stored tree
        inclusion_proof(0, 1100, reader)
    with pytest.raises(NotFound):
        Integrator.load(1100, reader)
    del reader.tiles[1, 0]  # holds node (8, 0): the left half of every tree above 256 leaves
    with pytest.raises(NotFound):
        root_at(1000, reader)
    reader.tiles[1, 0] = bytes(32)  # one hash where three are needed
    with pytest.raises(NotFound):
        root_at(1000, reader)
    reader.tiles[1, 0] = bytes(33)
    with pytest.raises(MalformedInput):
        root_at(1000, reader)
    reader.tiles[1, 0] = bytes(8192 + 32)
    with pytest.raises(MalformedInput):
        Integrator.load(1000, reader)


def test_append_refuses_bad_leaf_hashes() -> None:
    integrator = Integrator()
    for bad in [[bytes(31)], [bytes(32), bytes(33)], ["x" * 32], [bytearray(32)]]:
        with pytest.raises(MalformedInput):
            integrator.append(bad)  # type: ignore[arg-type]
    assert integrator.size == 0  # nothing was half-appended


def test_proof_arguments_are_checked() -> None:
    _, reader = build(leaves(10))
    with pytest.raises(MalformedInput):
        inclusion_proof(10, 10, reader)
    with pytest.raises(MalformedInput):
        consistency_proof(0, 10, reader)
    with pytest.raises(MalformedInput):
        consistency_proof(11, 10, reader)


def test_batch_inclusion_proofs_equal_single_ones() -> None:
    from registry.tree import Integrator, inclusion_proof, inclusion_proofs

    tiles: dict[tuple[int, int], bytes] = {}

    class Reader:
        def read_tiles(self, ids: object) -> dict[tuple[int, int], bytes]:
            return tiles

    integrator = Integrator()
    tiles.update(integrator.append([bytes([i % 256]) * 32 for i in range(70_000)]).tiles)
    indexes = [0, 1, 255, 256, 4_000, 65_535, 65_536, 69_999]
    singles = [inclusion_proof(i, 70_000, Reader()) for i in indexes]
    assert inclusion_proofs(indexes, 70_000, Reader()) == singles
