"""The log's Merkle tree (RFC 9162), stored as C2SP tlog-tiles of height 8.

The tile at tile level ``L``, index ``N`` holds the 32-byte hashes of tree
level ``8·L``, nodes ``N·256 … N·256+W−1``, concatenated (see
:mod:`registry.tiles`). Every other perfect subtree is recomputed on demand: a
node at tree level ``8·L + k`` (``0 < k < 8``) is the hash of the ``2**k``
hashes below it in one tile of level ``L``.

* :class:`Integrator` holds the right edge of the tree and turns a batch of
  leaf hashes into the new root and the tiles to write. Each new node is
  hashed exactly once, level by level, with no object per node.
* :func:`get_nodes` reads any perfect subtree hashes with one
  :meth:`TileReader.read_tiles` call; :func:`inclusion_proof`,
  :func:`consistency_proof` and :func:`root_at` build on the plans of
  :mod:`identity.ledger.tree`. A proof needs at most two tiles per tile level
  (the one on the leaf's path and the partial one on the right edge), so
  O(log n) tile reads, for any tree size up to the stored one: perfect
  subtree hashes never change, and an older partial tile is a prefix of the
  stored one.

A tile the reader does not hold, or holds with fewer hashes than the tree
size needs, raises :class:`NotFound`; tile bytes of an impossible length raise
:class:`MalformedInput`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Protocol

from identity.errors import MalformedInput, NotFound
from identity.ledger.merkle import EMPTY_ROOT, HASH_SIZE, MAX_TREE_SIZE
from identity.ledger.tree import NodeId, plan_consistency, plan_inclusion, plan_root
from registry.tiles import TILE_HEIGHT, TILE_WIDTH, partial_tiles

__all__ = [
    "IntegrationResult",
    "Integrator",
    "TileKey",
    "TileReader",
    "consistency_proof",
    "get_nodes",
    "inclusion_proof",
    "root_at",
]

#: (tile level, tile index)
TileKey = tuple[int, int]

_NODE = b"\x01"
_MASK = TILE_WIDTH - 1
_TILE_BYTES = TILE_WIDTH * HASH_SIZE


class TileReader(Protocol):
    """Where tiles are read from: a database, or a dict in tests and benchmarks."""

    def read_tiles(self, ids: Iterable[TileKey]) -> Mapping[TileKey, bytes]:
        """The stored bytes (full, or the current partial tile) of each tile in ``ids`` it holds."""
        ...


@dataclass(frozen=True, slots=True)
class IntegrationResult:
    """The tree after a batch: its size, its root, and every tile the batch created or changed.

    ``tiles`` maps (tile level, tile index) to the whole tile: full tiles that
    were completed, and the right edge's partial tiles, which replace the
    stored ones with the same key (an upsert).
    """

    size: int
    root: bytes
    tiles: dict[TileKey, bytes]


class Integrator:
    """The right edge of the tree: what is needed to append leaves and write their tiles.

    For each tree level it keeps the unpaired last node, if any (these are the
    perfect subtrees whose right fold is the root); for each tile level, the
    hashes of the current partial tile.

    If writing an :class:`IntegrationResult` fails, the integrator is ahead
    of the store: reload it with :meth:`load`.
    """

    __slots__ = ("_carries", "_rows", "_size")

    def __init__(self) -> None:
        """An integrator for the empty tree."""
        self._size = 0
        self._carries: list[bytes | None] = []  # per tree level
        self._rows: list[list[bytes]] = []  # per tile level

    @classmethod
    def load(cls, size: int, reader: TileReader) -> Integrator:
        """The integrator of the stored tree of ``size`` leaves, from its partial tiles (one read).

        The tiles are not checked against anything here: compare :attr:`root`
        with the root of the last signed checkpoint before trusting it.
        """
        edge = partial_tiles(size)  # validates size
        integrator = cls()
        integrator._size = size
        if not edge:
            return integrator
        tiles = reader.read_tiles([(t.level, t.index) for t in edge])
        top = edge[-1].level
        integrator._rows = [[] for _ in range(top + 1)]
        integrator._carries = [None] * (TILE_HEIGHT * (top + 1))
        for tile in edge:
            data = _tile_bytes(tiles, (tile.level, tile.index), tile.width)
            pyramid = _pyramid(data, tile.width, TILE_HEIGHT - 1)
            integrator._rows[tile.level] = pyramid[0]
            for k, row in enumerate(pyramid):
                if len(row) & 1:  # an odd count leaves the last node unpaired
                    integrator._carries[TILE_HEIGHT * tile.level + k] = row[-1]
        return integrator

    @property
    def size(self) -> int:
        """The number of leaves integrated."""
        return self._size

    @property
    def root(self) -> bytes:
        """The root hash of the tree as integrated so far."""
        root: bytes | None = None
        for carry in self._carries:  # lowest level first: the right fold
            if carry is not None:
                root = carry if root is None else sha256(_NODE + carry + root).digest()
        return EMPTY_ROOT if root is None else root

    def append(self, leaf_hashes: Sequence[bytes]) -> IntegrationResult:
        """Append leaves by their hashes; return the new size and root and the tiles to write."""
        new = list(leaf_hashes)
        count = len(new)
        if new and (set(map(type, new)) != {bytes} or set(map(len, new)) != {HASH_SIZE}):
            raise MalformedInput(f"leaf hashes must be {HASH_SIZE} bytes each")
        old = self._size
        if old + count > MAX_TREE_SIZE:
            raise MalformedInput("a tree holds at most 2**64-1 leaves")
        carries, rows, tiles = self._carries, self._rows, {}
        level = 0
        while new:  # nothing above a level without new nodes changes
            if len(carries) == level:
                carries.append(None)
            if not level % TILE_HEIGHT:
                tile_level = level // TILE_HEIGHT
                if len(rows) == tile_level:
                    rows.append([])
                row = rows[tile_level]
                index = (old >> level) >> TILE_HEIGHT  # the partial tile being extended
                row.extend(new)
                full = len(row) // TILE_WIDTH
                if full:
                    for i in range(full):
                        tiles[tile_level, index + i] = b"".join(row[i * TILE_WIDTH : (i + 1) * TILE_WIDTH])
                    del row[: full * TILE_WIDTH]
                    index += full
                if row:
                    tiles[tile_level, index] = b"".join(row)
            carry = carries[level]
            seq = new if carry is None else [carry, *new]
            carries[level] = seq[-1] if len(seq) & 1 else None
            # strict=False: an odd last node waits, as the carry, for its sibling.
            pairs = zip(seq[::2], seq[1::2], strict=False)
            new = [sha256(_NODE + left + right).digest() for left, right in pairs]
            level += 1
        self._size = old + count
        return IntegrationResult(self._size, self.root, tiles)


def get_nodes(node_ids: Iterable[NodeId], size: int, reader: TileReader) -> dict[NodeId, bytes]:
    """The hashes of perfect subtrees of the tree of ``size`` leaves, with one tile read.

    Each node must be complete at ``size``: its last leaf below ``size``.
    Within one call, every tile's inner levels are hashed once, however many
    of the nodes it holds.
    """
    nodes = list(dict.fromkeys(node_ids))
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
        raise MalformedInput("a tree size is an integer from 0 to 2**64-1")
    # For each tile: how many of its hashes, and how many levels above them, the nodes need.
    need: dict[TileKey, tuple[int, int]] = {}
    where = []
    for node in nodes:
        if not isinstance(node, NodeId) or not 0 <= node.level < 64 or node.index < 0:
            raise MalformedInput("a node is a NodeId with a level from 0 to 63 and a non-negative index")
        if (node.index + 1) << node.level > size:
            raise MalformedInput(f"node {node} is not a complete subtree of a tree of {size} leaves")
        tile_level, k = divmod(node.level, TILE_HEIGHT)
        first = node.index << k  # the node's first hash at tree level 8·tile_level
        key = (tile_level, first >> TILE_HEIGHT)
        width, height = need.get(key, (0, 0))
        need[key] = (max(width, (first & _MASK) + (1 << k)), max(height, k))
        where.append((key, k, (first & _MASK) >> k))
    if not need:
        return {}
    tiles = reader.read_tiles(list(need))
    pyramids = {key: _pyramid(_tile_bytes(tiles, key, w), w, height) for key, (w, height) in need.items()}
    return {node: pyramids[key][k][i] for node, (key, k, i) in zip(nodes, where, strict=True)}


def root_at(size: int, reader: TileReader) -> bytes:
    """The root hash of the tree of the first ``size`` leaves."""
    if size == 0:
        return EMPTY_ROOT
    plan = plan_root(size)
    return plan.assemble(get_nodes(plan.nodes(), size, reader))[0]


def inclusion_proof(index: int, size: int, reader: TileReader) -> list[bytes]:
    """The RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
    plan = plan_inclusion(index, size)
    return plan.assemble(get_nodes(plan.nodes(), size, reader))


def inclusion_proofs(indexes: Sequence[int], size: int, reader: TileReader) -> list[list[bytes]]:
    """:func:`inclusion_proof` for many leaves of one tree at once: one tile read, and each
    tile's inner levels hashed once for all of them (a batch's leaves share most nodes)."""
    plans = [plan_inclusion(index, size) for index in indexes]
    nodes = get_nodes([node for plan in plans for node in plan.nodes()], size, reader)
    return [plan.assemble(nodes) for plan in plans]


def consistency_proof(size1: int, size2: int, reader: TileReader) -> list[bytes]:
    """The RFC 9162 consistency proof from the tree of ``size1`` leaves to that of ``size2``."""
    plan = plan_consistency(size1, size2)
    return plan.assemble(get_nodes(plan.nodes(), size2, reader))


def _tile_bytes(tiles: Mapping[TileKey, bytes], key: TileKey, width: int) -> bytes:
    """The first ``width`` hashes of stored tile ``key``, as bytes."""
    data = tiles.get(key)
    if data is None:
        raise NotFound(f"tile {key[0]}/{key[1]} is not stored")
    if not isinstance(data, bytes) or len(data) % HASH_SIZE or len(data) > _TILE_BYTES:
        raise MalformedInput(f"stored tile {key[0]}/{key[1]} is not 1 to 256 hashes")
    if len(data) < width * HASH_SIZE:
        raise NotFound(f"tile {key[0]}/{key[1]} holds {len(data) // HASH_SIZE} hashes, {width} are needed")
    return data


def _pyramid(data: bytes, width: int, height: int) -> list[list[bytes]]:
    """The first ``width`` hashes of a tile, then each complete level above them, ``height`` levels up."""
    row = [data[i : i + HASH_SIZE] for i in range(0, width * HASH_SIZE, HASH_SIZE)]
    levels = [row]
    for _ in range(height):
        pairs = zip(row[::2], row[1::2], strict=False)  # an odd last hash has no parent yet
        row = [sha256(_NODE + left + right).digest() for left, right in pairs]
        levels.append(row)
    return levels
