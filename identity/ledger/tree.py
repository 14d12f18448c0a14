"""Building RFC 9162 proofs from stored subtree hashes (section 2.1.3.1 and 2.1.4.1).

A log stores the hash of every *perfect* subtree: node ``(level, index)``
covers leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds
the leaf hashes. Those nodes never change once their last leaf is appended,
so a store can keep them in a table keyed by ``(level, index)``.

Every hash in a proof is either such a node or — at most once per proof, on
the right edge of the tree — the root of an incomplete subtree, which is the
right fold of at most 64 perfect nodes. A :class:`ProofPlan` lists the nodes a
proof needs (O(log n) of them), so a store can fetch them in one query and
hand them back to :meth:`ProofPlan.assemble`.

:class:`MemoryTree` is the simple in-memory store used by tests and small tools.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from identity.errors import MalformedInput
from identity.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_TREE_SIZE,
    consistency_proof_length,
    inclusion_proof_length,
    leaf_hash,
    node_hash,
)

__all__ = [
    "GetNode",
    "MemoryTree",
    "NodeId",
    "ProofPlan",
    "consistency_proof",
    "inclusion_proof",
    "plan_consistency",
    "plan_inclusion",
    "plan_root",
    "root_at",
]


@dataclass(frozen=True, slots=True)
class NodeId:
    """A perfect subtree: ``2**level`` leaves starting at leaf ``index * 2**level``."""

    level: int
    index: int


#: Returns the stored hash of a perfect subtree.
GetNode = Callable[[int, int], bytes]


@dataclass(frozen=True, slots=True)
class ProofPlan:
    """The hashes of a proof, each the right fold of one or more perfect subtrees."""

    entries: tuple[tuple[NodeId, ...], ...]

    def nodes(self) -> list[NodeId]:
        """Every distinct node the proof needs, in proof order (for one batched read)."""
        return list(dict.fromkeys(n for entry in self.entries for n in entry))

    def assemble(self, hashes: Mapping[NodeId, bytes]) -> list[bytes]:
        """The proof, given the hash of each node in :meth:`nodes`."""
        proof = []
        for entry in self.entries:
            parts = [_stored(hashes, n) for n in entry]
            value = parts[-1]
            for part in reversed(parts[:-1]):
                value = node_hash(part, value)
            proof.append(value)
        return proof

    def fetch(self, get_node: GetNode) -> list[bytes]:
        """The proof, reading each node through ``get_node(level, index)``."""
        return self.assemble({n: get_node(n.level, n.index) for n in self.nodes()})


def plan_root(size: int) -> ProofPlan:
    """The one-entry plan whose hash is the root of the tree of ``size`` leaves (``size > 0``)."""
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_TREE_SIZE:
        raise MalformedInput("a tree with stored nodes has from 1 to 2**64-1 leaves")
    return ProofPlan((_range(0, size),))


def plan_inclusion(index: int, size: int) -> ProofPlan:
    """The plan of the inclusion proof of leaf ``index`` in the tree of ``size`` leaves.

    RFC 9162 2.1.3.1: ``PATH(m, D[n])`` with ``k`` the largest power of two
    below ``n`` is ``PATH(m, D[0:k]) : MTH(D[k:n])`` if ``m < k``, else
    ``PATH(m - k, D[k:n]) : MTH(D[0:k])``. Walking down, the siblings come out
    root-first; the proof lists them leaf-first.
    """
    expected = inclusion_proof_length(index, size)  # validates the arguments
    siblings: list[tuple[NodeId, ...]] = []
    begin, n, m = 0, size, index
    while n > 1:
        k = _split(n)
        if m < k:
            siblings.append(_range(begin + k, begin + n))
            n = k
        else:
            siblings.append((_node(begin, k),))
            begin, n, m = begin + k, n - k, m - k
    siblings.reverse()
    _check_length(siblings, expected)
    return ProofPlan(tuple(siblings))


def plan_consistency(size1: int, size2: int) -> ProofPlan:
    """The plan of the consistency proof from ``size1`` to ``size2`` (``0 < size1 <= size2``).

    RFC 9162 2.1.4.1: ``SUBPROOF(m, D[n], b)`` is ``[]`` if ``m == n`` and
    ``b``, ``[MTH(D[n])]`` if ``m == n`` and not ``b``; otherwise, with ``k``
    the largest power of two below ``n``, ``SUBPROOF(m, D[0:k], b) : MTH(D[k:n])``
    if ``m <= k``, else ``SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])``.
    """
    expected = consistency_proof_length(size1, size2)  # validates the arguments
    if size1 == size2:
        return ProofPlan(())
    tail: list[tuple[NodeId, ...]] = []
    begin, n, m, whole = 0, size2, size1, True
    while m != n:
        k = _split(n)
        if m <= k:
            tail.append(_range(begin + k, begin + n))
            n = k
        else:
            tail.append((_node(begin, k),))
            begin, n, m, whole = begin + k, n - k, m - k, False
    # Reaching m == n, D[begin:begin+n] is a perfect subtree of the old tree.
    head = [] if whole else [_range(begin, begin + n)]
    entries = head + tail[::-1]
    _check_length(entries, expected)
    return ProofPlan(tuple(entries))


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
    return plan_inclusion(index, size).fetch(get_node)


def consistency_proof(size1: int, size2: int, get_node: GetNode) -> list[bytes]:
    """The consistency proof from the tree of ``size1`` leaves to that of ``size2``."""
    return plan_consistency(size1, size2).fetch(get_node)


def root_at(size: int, get_node: GetNode) -> bytes:
    """The root hash of the tree of the first ``size`` leaves."""
    if size == 0:
        return EMPTY_ROOT
    return plan_root(size).fetch(get_node)[0]


class MemoryTree:
    """An append-only tree in memory, storing every perfect subtree hash.

    Appending costs O(1) amortised hashes; proofs for any earlier size cost
    O(log n) reads, exactly as a database-backed store would do them.
    """

    def __init__(self, entries: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for entry in entries:
            self.append(entry)

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0])

    def append(self, entry: bytes) -> int:
        """Add a raw entry; return its leaf index."""
        return self.append_leaf_hash(leaf_hash(entry))

    def append_leaf_hash(self, value: bytes) -> int:
        """Add a leaf by its hash; return its leaf index."""
        if len(value) != HASH_SIZE:
            raise MalformedInput(f"leaf hash must be {HASH_SIZE} bytes")
        index = self.size
        self._levels[0].append(value)
        level, i = 0, index
        while i & 1:  # the new node completes its parent: hash it in
            if len(self._levels) == level + 1:
                self._levels.append([])
            row = self._levels[level]
            self._levels[level + 1].append(node_hash(row[i - 1], row[i]))
            level, i = level + 1, i >> 1
        return index

    def get_node(self, level: int, index: int) -> bytes:
        """The hash of perfect subtree ``(level, index)``; it must be complete."""
        if level < 0 or index < 0:  # Python would count negative indices from the end
            raise MalformedInput("subtree level and index must not be negative")
        try:
            return self._levels[level][index]
        except IndexError as exc:
            raise MalformedInput(f"no complete subtree at level {level}, index {index}") from exc

    def root(self, size: int | None = None) -> bytes:
        """The root hash at ``size`` leaves (the current size by default)."""
        return root_at(self.size if size is None else self._within(size), self.get_node)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The inclusion proof of leaf ``index`` at ``size`` (default: now)."""
        return inclusion_proof(index, self.size if size is None else self._within(size), self.get_node)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """The consistency proof from ``size1`` to ``size2`` (default: now)."""
        return consistency_proof(
            size1, self.size if size2 is None else self._within(size2), self.get_node
        )

    def _within(self, size: int) -> int:
        if not 0 <= size <= self.size:
            raise MalformedInput(f"tree size {size} is beyond the {self.size} leaves held")
        return size


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _node(begin: int, width: int) -> NodeId:
    """The perfect subtree of ``width`` (a power of two) leaves from ``begin`` (aligned)."""
    return NodeId(width.bit_length() - 1, begin // width)


def _range(begin: int, end: int) -> tuple[NodeId, ...]:
    """The perfect subtrees whose right fold is ``MTH(D[begin:end])``, left to right.

    ``begin`` is aligned to a power of two at least ``end - begin``, as every
    range in the RFC recursion is, so each part is itself aligned.
    """
    parts = []
    n = end - begin
    while n & (n - 1):  # not a power of two: peel off the left perfect subtree
        k = _split(n)
        parts.append(_node(begin, k))
        begin, n = begin + k, n - k
    parts.append(_node(begin, n))
    return tuple(parts)


def _stored(hashes: Mapping[NodeId, bytes], node: NodeId) -> bytes:
    try:
        value = hashes[node]
    except KeyError as exc:
        raise MalformedInput(f"node {node} was not supplied") from exc
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise MalformedInput(f"stored hash of node {node} is not {HASH_SIZE} bytes")
    return value


def _check_length(entries: list[tuple[NodeId, ...]], expected: int) -> None:
    if len(entries) != expected:  # a bug here would hand out proofs that never verify
        raise RuntimeError(f"proof plan has {len(entries)} entries, expected {expected}")
