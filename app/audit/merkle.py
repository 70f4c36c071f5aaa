"""The audit log's Merkle tree, as pure functions (RFC 9162 section 2.1): no database, no clock.

Leaf i is entry seq i+1: its hash is SHA-256(0x00 || the entry's canonical bytes, as the chain
hashes them), and a node's is SHA-256(0x01 || left || right), so that a leaf can never pass for a
node. The tree of n leaves is RFC 9162's MTH(D[n]): split at the largest power of two below n.

What is stored (app/audit/store.py) is every *complete* subtree: the node at (level, index)
covers leaves [index * 2^level, (index + 1) * 2^level), and is written in the transaction of the
batch that completes it. Any tree head, inclusion proof or consistency proof is then a handful
of stored nodes (at most about 2 log2 n), found by `needed` before they are read in one query.
`Frontier` is what an append needs: the roots of the complete subtrees that make up the tree
now, at most one per level.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Node = tuple[int, int]  # (level, index): the complete subtree of 2^level leaves from index * 2^level
Get = Callable[[Node], bytes]

EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH of the empty tree


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two below n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


@dataclass
class Frontier:
    """The tree of `size` leaves as the roots of its complete subtrees, largest first."""

    size: int = 0
    roots: list[bytes] = field(default_factory=list)  # one per set bit of size, highest first

    @staticmethod
    def nodes(size: int) -> list[Node]:
        """The complete subtrees that make up a tree of `size` leaves, largest first."""
        out, start = [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                out.append((level, start >> level))
                start += 1 << level
        return out

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf; returns the complete subtrees it completes as (level, index, hash), leaf first."""
        index = self.size
        made = [(0, index, leaf)]
        h, level = leaf, 0
        # Each trailing 1 bit of the old size is a complete subtree the new leaf now pairs with.
        while index >> level & 1:
            h = node_hash(self.roots.pop(), h)
            level += 1
            made.append((level, index >> level, h))
        self.roots.append(h)
        self.size += 1
        return made

    def root(self) -> bytes:
        """MTH of the tree now: the subtrees folded from the right."""
        if not self.roots:
            return EMPTY_ROOT
        h = self.roots[-1]
        for left in reversed(self.roots[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.roots))


# Subtree hashes from stored complete nodes. Every range here is [lo, hi) with lo aligned to the
# largest power of two in hi - lo (true of every range RFC 9162's recursion makes from [0, n)).


def _complete(lo: int, hi: int) -> Node | None:
    width = hi - lo
    if width & (width - 1) == 0 and lo % width == 0:
        return (width.bit_length() - 1, lo // width)
    return None


def subtree(lo: int, hi: int, get: Get) -> bytes:
    """MTH(D[lo:hi])."""
    node = _complete(lo, hi)
    if node is not None:
        return get(node)
    k = _split(hi - lo)
    return node_hash(subtree(lo, lo + k, get), subtree(lo + k, hi, get))


def inclusion(index: int, size: int, get: Get) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 section 2.1.3.1, leaf to root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    proof: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            proof.append(subtree(lo + k, hi, get))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k, get))
            lo += k
    proof.reverse()
    return proof


def consistency(old: int, new: int, get: Get) -> list[bytes]:
    """PROOF(old, D[new]) of RFC 9162 section 2.1.4.1 (empty when old is 0 or old == new)."""
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from {old} to {new}")
    if old in (0, new):
        return []
    proof: list[bytes] = []
    lo, hi, whole = 0, new, True
    m = old
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(subtree(lo + k, hi, get))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k, get))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        proof.append(subtree(lo, hi, get))
    proof.reverse()
    return proof


def needed(compute: Callable[[Get], object]) -> list[Node]:
    """The stored nodes a computation reads (its shape never depends on the hashes)."""
    seen: dict[Node, None] = {}

    def record(node: Node) -> bytes:
        seen[node] = None
        return bytes(32)

    compute(record)
    return list(seen)


# Verification: RFC 9162 sections 2.1.3.2 and 2.1.4.2, from the proof and the roots alone.


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Iterable[bytes], root: bytes) -> bool:
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    if not 0 <= old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof  # the empty tree is a prefix of every tree
    path = list(proof)
    if old & (old - 1) == 0:  # old is a power of two: its root is the proof's implied first node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
