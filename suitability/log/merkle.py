"""RFC 6962 §2.1 Merkle trees, with RFC 9162 §2.1.3-2.1.4 proof verification.

Hashes (SHA-256):

- leaf hash ``MTH({d}) = SHA-256(0x00 || d)``;
- node hash ``SHA-256(0x01 || left || right)``;
- the root of ``n`` leaves splits at ``k``, the largest power of two smaller than ``n``.

Everything here is pure: bytes in, bytes out, no I/O. Proof verification follows the RFC 9162
algorithms step by step and returns False for every malformed input instead of raising.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """Return ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class RootBuilder:
    """Computes the root of a growing list of leaf hashes in O(log n) memory.

    Leaves are pushed in order; :meth:`root` may be asked at any size, so one pass over a log
    yields the root at every checkpointed size.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (size of the complete subtree, its hash)
        self.size = 0

    def push(self, leaf: bytes) -> None:
        """Append one leaf hash."""
        size, node = 1, leaf
        stack = self._stack
        while stack and stack[-1][0] == size:
            node = node_hash(stack.pop()[1], node)
            size *= 2
        stack.append((size, node))
        self.size += 1

    def root(self) -> bytes:
        """Return the root of the leaves pushed so far."""
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node


def root(leaves: Iterable[bytes]) -> bytes:
    """Return the Merkle Tree Hash of ``leaves`` (leaf hashes, in order)."""
    builder = RootBuilder()
    for leaf in leaves:
        builder.push(leaf)
    return builder.root()


def _subtree(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    if end - start == 1:
        return leaves[start]
    k = _split(end - start)
    return node_hash(_subtree(leaves, start, start + k), _subtree(leaves, start + k, end))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Return the audit path of leaf ``index`` in the tree of ``leaves`` (RFC 6962 §2.1.1)."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"leaf index {index} is outside a tree of size {len(leaves)}")
    path: list[bytes] = []
    start, end = 0, len(leaves)
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(_subtree(leaves, start + k, end))
            end = start + k
        else:
            path.append(_subtree(leaves, start, start + k))
            start += k
    return list(reversed(path))


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """Return the consistency proof from size ``old_size`` to ``len(leaves)`` (RFC 6962 §2.1.2)."""
    new_size = len(leaves)
    if not 0 < old_size <= new_size:
        raise ValueError(f"expected 0 < old size <= {new_size}, found {old_size}")

    def subproof(m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [_subtree(leaves, start, end)]
        k = _split(n)
        if m <= k:
            return [*subproof(m, start, start + k, complete), _subtree(leaves, start + k, end)]
        return [*subproof(m - k, start + k, end, False), _subtree(leaves, start, start + k)]

    return subproof(old_size, 0, new_size, True)


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Return the leaf ranges ``[start, end)`` whose subtree hashes form the consistency proof from
    ``old_size`` to ``new_size``, in proof order (RFC 6962 §2.1.2).

    The ranges are disjoint, so one pass over the leaves computes every hash (see
    :func:`range_hashes`) in O(log n) memory, without holding the tree.
    """
    if not 0 < old_size <= new_size:
        raise ValueError(f"expected 0 < old size <= {new_size}, found {old_size}")

    def subproof(m: int, start: int, end: int, complete: bool) -> list[tuple[int, int]]:
        n = end - start
        if m == n:
            return [] if complete else [(start, end)]
        k = _split(n)
        if m <= k:
            return [*subproof(m, start, start + k, complete), (start + k, end)]
        return [*subproof(m - k, start + k, end, False), (start, start + k)]

    return subproof(old_size, 0, new_size, True)


def range_hashes(leaves: Iterable[bytes], ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """Return the Merkle Tree Hash of each of the disjoint leaf ``ranges``, in one pass over ``leaves``.

    Raises:
        ValueError: the ranges overlap, or the leaves end before a range does.
    """
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    for a, b in itertools.pairwise(order):
        if ranges[a][1] > ranges[b][0]:
            raise ValueError(f"ranges {ranges[a]} and {ranges[b]} overlap")
    hashes = [b""] * len(ranges)
    pending = iter(order)
    current = next(pending, None)
    builder = RootBuilder()
    for position, leaf in enumerate(leaves):
        if current is None:
            break
        start, end = ranges[current]
        if position < start:
            continue
        builder.push(leaf)
        if position == end - 1:
            hashes[current] = builder.root()
            builder = RootBuilder()
            current = next(pending, None)
    if current is not None:
        raise ValueError(f"the leaves end before range {ranges[current]} does")
    return hashes


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """Verify an inclusion proof by the algorithm of RFC 9162 §2.1.3.2."""
    # (1) the index must lie inside the tree
    if not 0 <= index < size:
        return False
    if any(len(p) != 32 for p in proof) or len(leaf) != 32 or len(expected_root) != 32:
        return False
    # (2) fn = index, sn = size - 1, r = leaf
    fn, sn, r = index, size - 1, leaf
    # (3) walk the proof
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # (4) every level consumed, and the root matches
    return sn == 0 and r == expected_root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """Verify a consistency proof by the algorithm of RFC 9162 §2.1.4.2."""
    if old_size < 0 or new_size < 0 or old_size > new_size:
        return False
    if old_size == new_size:
        # Nothing to prove: the roots must be the same (and an empty tree has a known root).
        return not proof and old_root == new_root and (old_size > 0 or old_root == EMPTY_ROOT)
    if any(len(p) != 32 for p in proof) or len(old_root) != 32 or len(new_root) != 32:
        return False
    if old_size == 0:
        return False  # an empty tree is consistent with anything; a proof of it is meaningless
    # (1) if old_size is a power of two, prepend old_root to the proof
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    # (2)-(3) fn = old_size - 1, sn = new_size - 1; shift both right while fn is odd
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # (4) fr = sr = the first value of the path
    fr = sr = path[0]
    # (5) for each subsequent value c
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # (6) both roots reproduced and every level consumed
    return fr == old_root and sr == new_root and sn == 0
