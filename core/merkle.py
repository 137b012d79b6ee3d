"""RFC 6962 §2.1 Merkle trees (as restated in RFC 9162 §2.1): leaf and node
hashing, tree heads, inclusion (audit path) and consistency proofs, and their
verification. Pure functions: no Django, so signers and verifiers can use them.

Proof generation works over *ranges* of leaves. Every range the RFC's recursion
touches starts at a multiple of a power of two at least as large as its left
part, so its hash folds from a handful of perfect ("complete") subtrees. The
log stores the hash of every perfect subtree it has completed, keyed by
(level, index), and a proof needs O(log n) of them: ``nodes_for`` names them,
the caller fetches them in one query, and ``range_hash`` folds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]  # (level, index): leaves [index·2^level, (index+1)·2^level)
Range = tuple[int, int]  # leaves [lo, hi)


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    if n < 2:
        raise ValueError("split needs at least two leaves")
    return 1 << ((n - 1).bit_length() - 1)


# Ranges and the perfect subtrees they are made of


def perfect_nodes(lo: int, hi: int) -> list[Node]:
    """The perfect subtrees that make up [lo, hi), largest (leftmost) first."""
    if not 0 <= lo < hi:
        raise ValueError(f"empty or negative range [{lo}, {hi})")
    nodes: list[Node] = []
    while lo < hi:
        size = hi - lo
        level = size.bit_length() - 1  # the largest power of two that fits
        while lo % (1 << level):  # ranges of the RFC recursion are aligned; this keeps it correct for any
            level -= 1
        nodes.append((level, lo >> level))
        lo += 1 << level
    return nodes


def range_hash(lo: int, hi: int, node: Callable[[Node], bytes]) -> bytes:
    """MTH(D[lo:hi]) from stored perfect-subtree hashes: fold right to left, as
    the RFC's split at the largest power of two does."""
    if lo == hi:
        return EMPTY_ROOT
    parts = perfect_nodes(lo, hi)
    acc = node(parts[-1])
    for p in reversed(parts[:-1]):
        acc = node_hash(node(p), acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose hashes make the audit path of leaf ``index`` in a tree
    of ``size`` leaves, from the leaf's sibling up (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a tree of {size} leaves")
    out: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo = lo + k
    out.reverse()
    return out


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The ranges whose hashes make the consistency proof between tree sizes
    ``first`` and ``second`` (RFC 9162 §2.1.4.1, SUBPROOF)."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    if first == 0 or first == second:
        return []
    out: list[Range] = []
    m, lo, hi, complete = first, 0, second, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                out.append((lo, hi))
            break
        k = split(n)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    out.reverse()
    return out


def nodes_for(ranges: Iterable[Range]) -> set[Node]:
    return {n for lo, hi in ranges for n in perfect_nodes(lo, hi)}


def new_nodes(index: int, leaf: bytes, node: Callable[[Node], bytes]) -> list[tuple[Node, bytes]]:
    """The perfect subtrees completed by appending leaf hash ``leaf`` at
    ``index``: the leaf itself, then each parent while it closes a pair."""
    out: list[tuple[Node, bytes]] = [((0, index), leaf)]
    level, i, h = 0, index, leaf
    while i % 2 == 1:
        h = node_hash(node((level, i - 1)), h)
        level, i = level + 1, i // 2
        out.append(((level, i), h))
    return out


# In-memory convenience over a list of leaf hashes


class _Memory:
    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = leaves
        self.cache: dict[Node, bytes] = {}

    def __call__(self, n: Node) -> bytes:
        level, index = n
        if n not in self.cache:
            if level == 0:
                self.cache[n] = self.leaves[index]
            else:
                self.cache[n] = node_hash(self((level - 1, 2 * index)), self((level - 1, 2 * index + 1)))
        return self.cache[n]


def tree_hash(leaves: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes."""
    return range_hash(0, len(leaves), _Memory(leaves))


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    mem = _Memory(leaves)
    return [range_hash(lo, hi, mem) for lo, hi in inclusion_ranges(index, len(leaves))]


def consistency_proof(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    mem = _Memory(leaves)
    return [range_hash(lo, hi, mem) for lo, hi in consistency_ranges(first, len(leaves))]


def hashes_from(ranges: Sequence[Range], nodes: Mapping[Node, bytes]) -> list[bytes]:
    return [range_hash(lo, hi, nodes.__getitem__) for lo, hi in ranges]


# Verification (RFC 9162 §2.1.3.2 and §2.1.4.2)


def _ok_hash(h: object) -> bool:
    return isinstance(h, bytes) and len(h) == HASH_SIZE


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """Whether ``path`` proves leaf hash ``leaf`` is at ``index`` in the tree of
    ``size`` leaves whose head is ``root``."""
    if not (_ok_hash(leaf) and _ok_hash(root) and all(_ok_hash(p) for p in path)):
        return False
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` shows the tree of ``second`` leaves (head
    ``second_root``) extends the tree of ``first`` leaves (head ``first_root``)."""
    if not (_ok_hash(first_root) and _ok_hash(second_root) and all(_ok_hash(p) for p in proof)):
        return False
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first tree is a node of the second
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
