"""Reads on the transparency log: tree heads, entries, proofs, and the checks
that recompute the log from storage (``log_verify``) and compare the
regulator's received tree heads with it (``regulator_copy_check``).

The log is the public record: every signed-in user may read all of it. Its
leaves hold kinds, ids and digests, never secrets or content."""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from core import merkle
from core.actors import Actor
from core.errors import InvalidInput, NotFound
from core.permissions import require
from transparency.models import LogEntry, LogNode, OutboxKind, RegulatorInbox, SignedTreeHead
from transparency.services import _nodes
from transparency.signing import log_public_key, tree_head_verify


def _signed_in(actor: Actor) -> None:
    require(actor.is_authenticated, "Sign in to read the log.", code="not_authenticated")


def log_size() -> int:
    last = SignedTreeHead.objects.order_by("-tree_size").values_list("tree_size", flat=True).first()
    return last or 0


def tree_head_latest(*, actor: Actor) -> SignedTreeHead:
    _signed_in(actor)
    sth = SignedTreeHead.objects.order_by("-tree_size").first()
    if sth is None:
        raise NotFound("The log is empty.", code="log_empty")
    return sth


def tree_head_get(*, actor: Actor, tree_size: int) -> SignedTreeHead:
    _signed_in(actor)
    sth = SignedTreeHead.objects.filter(tree_size=tree_size).first()
    if sth is None:
        raise NotFound(f"No signed tree head of size {tree_size}.", code="no_tree_head")
    return sth


def entry_get(*, actor: Actor, index: int) -> LogEntry:
    _signed_in(actor)
    entry = LogEntry.objects.filter(index=index).first()
    if entry is None:
        raise NotFound(f"No log entry {index}.", code="no_log_entry")
    return entry


def _hashes(ranges: list[merkle.Range]) -> list[str]:
    nodes = _nodes(merkle.nodes_for(ranges))
    return [h.hex() for h in merkle.hashes_from(ranges, nodes)]


def inclusion_proof(*, actor: Actor, index: int, tree_size: int) -> dict[str, Any]:
    """The audit path of leaf ``index`` in the tree of ``tree_size`` leaves, with
    that tree's signed head."""
    _signed_in(actor)
    size = log_size()
    errors: dict[str, list[str]] = {}
    if not 1 <= tree_size <= size:
        errors["tree_size"] = [f"Must be between 1 and the log's size, {size}."]
    if not 0 <= index < min(tree_size, size):
        errors["index"] = ["Must be at least 0 and less than tree_size."]
    if errors:
        raise InvalidInput("The proof parameters are out of range.", errors=errors)
    entry = LogEntry.objects.get(index=index)
    return {
        "index": index,
        "tree_size": tree_size,
        "leaf_hash": entry.leaf_hash,
        "audit_path": _hashes(merkle.inclusion_ranges(index, tree_size)),
        "tree_head": SignedTreeHead.objects.get(tree_size=tree_size),
    }


def consistency_proof(*, actor: Actor | None, first: int, second: int) -> dict[str, Any]:
    """The proof that the tree of ``second`` leaves extends the tree of ``first``."""
    if actor is not None:
        _signed_in(actor)
    size = log_size()
    errors: dict[str, list[str]] = {}
    if not 1 <= second <= size:
        errors["second"] = [f"Must be between 1 and the log's size, {size}."]
    if not 1 <= first <= min(second, size):
        errors["first"] = ["Must be at least 1 and at most second."]
    if errors:
        raise InvalidInput("The proof parameters are out of range.", errors=errors)
    return {
        "first": first,
        "second": second,
        "proof": _hashes(merkle.consistency_ranges(first, second)),
        "first_tree_head": SignedTreeHead.objects.get(tree_size=first),
        "second_tree_head": SignedTreeHead.objects.get(tree_size=second),
    }


def entries_for(*, subject_type: str, subject_id: Any) -> list[LogEntry]:
    """The log entries about one object, oldest first (unscoped: callers scope
    the object itself)."""
    return list(LogEntry.objects.filter(subject_type=subject_type, subject_id=str(subject_id)).order_by("index"))


# Checks


@dataclass
class LogReport:
    size: int = 0
    tree_heads: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def log_verify() -> LogReport:
    """Recompute the whole tree from the stored leaves and check every stored
    node, every leaf hash and every signed tree head ever issued."""
    report = LogReport()
    mem: dict[merkle.Node, bytes] = {}
    roots: dict[int, bytes] = {}
    expected = 0
    for entry in LogEntry.objects.order_by("index").iterator(chunk_size=2000):
        if entry.index != expected:
            report.problems.append(f"entry {expected} is missing (next stored entry is {entry.index})")
            break
        leaf = bytes(entry.leaf)
        h = merkle.leaf_hash(leaf)
        if h.hex() != entry.leaf_hash:
            report.problems.append(f"entry {entry.index}: stored leaf hash does not match the leaf bytes")
        try:
            doc = json.loads(leaf)
            if (
                doc.get("index") != entry.index
                or doc.get("kind") != entry.kind
                or doc.get("subject") != {"id": entry.subject_id, "type": entry.subject_type}
            ):
                report.problems.append(f"entry {entry.index}: columns disagree with the leaf")
        except (ValueError, AttributeError):
            report.problems.append(f"entry {entry.index}: leaf is not JSON")
        for node, value in merkle.new_nodes(entry.index, h, mem.__getitem__):
            mem[node] = value
        roots[entry.index + 1] = merkle.range_hash(0, entry.index + 1, mem.__getitem__)
        expected += 1
    report.size = expected

    stored = {(n.level, n.index): bytes(n.hash) for n in LogNode.objects.iterator(chunk_size=5000)}
    for node, value in mem.items():
        if stored.get(node) != value:
            report.problems.append(f"stored node {node} is missing or differs from the recomputed tree")
    for node in stored.keys() - mem.keys():
        report.problems.append(f"stored node {node} is not part of the tree")

    key = log_public_key()
    sizes = set()
    for sth in SignedTreeHead.objects.order_by("tree_size"):
        report.tree_heads += 1
        sizes.add(sth.tree_size)
        if not tree_head_verify(
            tree_size=sth.tree_size,
            root_hash=sth.root_hash,
            timestamp=sth.timestamp,
            signature=sth.signature,
            key=key,
        ):
            report.problems.append(f"tree head {sth.tree_size}: bad signature")
        root = roots.get(sth.tree_size)
        if root is None:
            report.problems.append(f"tree head {sth.tree_size}: larger than the stored log ({report.size})")
        elif root.hex() != sth.root_hash:
            report.problems.append(f"tree head {sth.tree_size}: root does not match the stored leaves")
    for size in range(1, report.size + 1):
        if size not in sizes:
            report.problems.append(f"no signed tree head for size {size}")
    return report


def regulator_copy_check() -> LogReport:
    """Check the tree heads the regulator received: each signature, each head
    consistent with the next (consistency proofs from the log, verified here
    with core.merkle), and the last consistent with the log's head now."""
    report = LogReport()
    received = sorted(
        (m.payload for m in RegulatorInbox.objects.filter(kind=OutboxKind.TREE_HEAD)),
        key=lambda p: int(p["tree_size"]),
    )
    key = log_public_key()
    current = SignedTreeHead.objects.order_by("-tree_size").first()
    heads = list(received)
    if current is not None:
        heads.append({"tree_size": current.tree_size, "root_hash": current.root_hash})
    for p in received:
        report.tree_heads += 1
        if not tree_head_verify(
            tree_size=int(p["tree_size"]),
            root_hash=p["root_hash"],
            timestamp=int(p["timestamp"]),
            signature=p["signature"],
            key=key,
        ):
            report.problems.append(f"received tree head {p['tree_size']}: bad signature")
    for a, b in itertools.pairwise(heads):
        m, n = int(a["tree_size"]), int(b["tree_size"])
        if m == n:
            if a["root_hash"] != b["root_hash"]:
                report.problems.append(f"two different roots for size {m}: the log forked")
            continue
        try:
            proof = consistency_proof(actor=None, first=m, second=n)["proof"]
        except InvalidInput:
            report.problems.append(f"the log cannot prove {m} → {n}: it is smaller than the regulator's copy")
            continue
        if not merkle.verify_consistency(
            m, n, bytes.fromhex(a["root_hash"]), bytes.fromhex(b["root_hash"]), [bytes.fromhex(h) for h in proof]
        ):
            report.problems.append(f"tree heads {m} and {n} are not consistent")
    report.size = current.tree_size if current else 0
    return report


def leaf_base64(entry: LogEntry) -> str:
    return base64.b64encode(bytes(entry.leaf)).decode("ascii")
