"""RFC 9162 Merkle tree hashing and proof verification (section 2.1).

Hashing (section 2.1.1), with SHA-256:

- ``leaf_hash(d) = SHA-256(0x00 || d)``
- ``node_hash(l, r) = SHA-256(0x01 || l || r)``
- the root of the empty tree is ``SHA-256("")``.

Inclusion (section 2.1.3.2), rules as numbered in the RFC:

1. ``leaf_index`` must be below ``tree_size``.
2. ``fn = leaf_index``, ``sn = tree_size - 1``.
3. ``r = leaf_hash``.
4. For each ``p`` in the path: (a) ``sn == 0`` fails (proof too long);
   (b) if ``LSB(fn)`` is set or ``fn == sn``, ``r = node(p, r)`` and, if
   ``LSB(fn)`` is unset, shift ``fn`` and ``sn`` right until ``LSB(fn)`` is set
   or ``fn == 0``; otherwise ``r = node(r, p)``; (c) shift both right once.
5. Succeed iff ``sn == 0`` and ``r`` equals the root.

Consistency (section 2.1.4.2):

1. An empty path fails (sizes 0 < size1 < size2).
2. If ``size1`` is a power of two, ``root1`` is prepended to the path.
3. ``fn = size1 - 1``, ``sn = size2 - 1``.
4. While ``LSB(fn)`` is set, shift ``fn`` and ``sn`` right.
5. ``fr = sr = path[0]``.
6. For each later ``c``: (a) ``sn == 0`` fails; (b) if ``LSB(fn)`` is set or
   ``fn == sn``, ``fr = node(c, fr)``, ``sr = node(c, sr)`` and, if ``LSB(fn)``
   is unset, shift until ``LSB(fn)`` is set or ``fn == 0``; otherwise
   ``sr = node(sr, c)``; (c) shift both right once.
7. Succeed iff ``fr == root1``, ``sr == root2`` and ``sn == 0``.

Before any hashing akashi also checks, as transparency-dev/merkle does:

A. every hash (leaf, proof node, root) is exactly 32 bytes;
B. sizes and indices are integers in ``[0, 2**64)``;
C. the proof has exactly the length the position requires;
D. ``size1 == size2`` needs an empty proof and equal roots;
E. a consistency proof *from* size 0 is refused: it proves nothing, and a
   client that has seen no checkpoint has nothing to check against.

Malformed arguments raise :class:`MalformedInput`; a proof that does not lead
to the root raises :class:`ProofMismatch`. Success returns ``None``.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from identity.crypto.hashing import sha256
from identity.errors import MalformedInput, ProofMismatch

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "consistency_proof_length",
    "inclusion_proof_length",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "root_from_leaves",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
#: Sizes and indices are unsigned 64-bit integers, as in RFC 9162 and every CT log.
MAX_TREE_SIZE = 2**64 - 1
EMPTY_ROOT = sha256(b"")

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """The RFC 9162 hash of one leaf: ``SHA-256(0x00 || data)``."""
    return sha256(_LEAF_PREFIX + data)


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 9162 hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return sha256(_NODE_PREFIX + left + right)


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """The root hash of a tree holding ``leaves`` (raw entries), in O(n).

    A reference for tests and small trees; a log computes roots from stored
    subtree hashes instead (see :mod:`identity.ledger.tree`).
    """
    return root_from_leaf_hashes([leaf_hash(d) for d in leaves])


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """The root hash of a tree whose leaf hashes are ``hashes``.

    Pairing neighbours level by level and carrying an odd last node up
    unchanged builds exactly the tree of RFC 9162's recursive definition
    (split at the largest power of two below ``n``).
    """
    level = [_check_hash(h, "leaf hash") for h in hashes]
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_proof_length(index: int, size: int) -> int:
    """How many hashes the inclusion proof of leaf ``index`` in a tree of ``size`` has."""
    _check_size(index, "leaf index")
    _check_size(size, "tree size")
    if index >= size:
        raise MalformedInput(f"leaf index {index} is not below the tree size {size}")
    # Below the level where the paths to ``index`` and to the last leaf
    # part, every level contributes one sibling; above it, only the levels
    # where ``index`` is a right child do (the others have no sibling yet).
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_proof_length(size1: int, size2: int) -> int:
    """How many hashes the consistency proof from ``size1`` to ``size2`` has."""
    _check_consistency_sizes(size1, size2)
    if size1 == size2:
        return 0
    # The proof is the inclusion proof of the last old leaf, less the levels
    # where the old tree is a perfect subtree (its root stands in for them),
    # plus that subtree's root unless it is the whole old tree.
    shift = (size1 & -size1).bit_length() - 1
    length = inclusion_proof_length(size1 - 1, size2) - shift
    return length + (0 if size1 == 1 << shift else 1)


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Return if ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree with ``root``.

    Raises :class:`MalformedInput` for malformed arguments and
    :class:`ProofMismatch` when the proof does not lead to ``root``.
    """
    # A, B, rule 1
    _check_hash(leaf, "leaf hash")
    _check_hash(root, "root hash")
    path = [_check_hash(p, "proof hash") for p in proof]
    expected = inclusion_proof_length(index, tree_size)
    if len(path) != expected:  # C
        raise ProofMismatch(
            f"inclusion proof has {len(path)} hashes; leaf {index} of {tree_size} needs {expected}"
        )
    fn, sn = index, tree_size - 1  # rule 2
    r = leaf  # rule 3
    for p in path:  # rule 4
        if sn == 0:  # 4a (cannot happen after C; kept as the RFC states it)
            raise ProofMismatch("inclusion proof is too long")
        if fn & 1 or fn == sn:  # 4b
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    if sn != 0 or not hmac.compare_digest(r, root):  # rule 5
        raise ProofMismatch("inclusion proof does not lead to the root hash")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Return if ``proof`` shows the tree ``(size1, root1)`` is a prefix of ``(size2, root2)``.

    Raises :class:`MalformedInput` for malformed arguments (including
    ``size1 == 0`` and ``size1 > size2``) and :class:`ProofMismatch` when the
    proof does not lead to both roots.
    """
    # A, B, E
    _check_hash(root1, "first root hash")
    _check_hash(root2, "second root hash")
    path = [_check_hash(p, "proof hash") for p in proof]
    expected = consistency_proof_length(size1, size2)
    if len(path) != expected:  # C (covers rule 1: an empty path when sizes differ)
        raise ProofMismatch(
            f"consistency proof has {len(path)} hashes; {size1} to {size2} needs {expected}"
        )
    if size1 == size2:  # D
        if not hmac.compare_digest(root1, root2):
            raise ProofMismatch("trees of the same size have different root hashes")
        return
    if size1 & (size1 - 1) == 0:  # rule 2
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1  # rule 3
    while fn & 1:  # rule 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # rule 5
    for c in path[1:]:  # rule 6
        if sn == 0:  # 6a (cannot happen after C)
            raise ProofMismatch("consistency proof is too long")
        if fn & 1 or fn == sn:  # 6b
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    # rule 7: compare both roots before failing, so the time taken says nothing.
    first_ok = hmac.compare_digest(fr, root1)
    second_ok = hmac.compare_digest(sr, root2)
    if sn != 0 or not (first_ok and second_ok):
        raise ProofMismatch("consistency proof does not lead to both root hashes")


def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise MalformedInput(f"{what} must be {HASH_SIZE} bytes")
    return value


def _check_size(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TREE_SIZE:
        raise MalformedInput(f"{what} must be an integer from 0 to 2**64-1")
    return value


def _check_consistency_sizes(size1: int, size2: int) -> None:
    _check_size(size1, "first tree size")
    _check_size(size2, "second tree size")
    if size1 > size2:
        raise MalformedInput(f"first tree size {size1} is larger than the second {size2}")
    if size1 == 0:
        raise MalformedInput("a consistency proof from the empty tree proves nothing")
