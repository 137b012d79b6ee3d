"""Reads on the transparency log for anyone, signed in or not: the log is the
public record (its leaves hold kinds, ids and digests, never names or text:
transparency/records.py), so every entry, tree head and proof is public.

Every list here is bounded: keyset pagination on the entry index, at most
``MAX_PAGE`` rows a page, and searches that use the indexes on ``kind`` and
on ``(subject_type, subject_id)``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.apps import apps

from core import merkle
from core.errors import InvalidInput, NotFound
from core.models import record_type
from transparency.models import LogEntry, SignedTreeHead
from transparency.services import GATE_RELEVANT_PREFIXES, _nodes

MAX_INDEX = 2**63 - 1  # the columns are bigints: a larger number names nothing
DEFAULT_PAGE = 50
MAX_PAGE = 100
MAX_QUERY = 120


def tree_head_latest() -> SignedTreeHead:
    sth = SignedTreeHead.objects.order_by("-tree_size").first()
    if sth is None:
        raise NotFound("The log is empty.", code="log_empty")
    return sth


def tree_head_at(tree_size: int) -> SignedTreeHead:
    sth = SignedTreeHead.objects.filter(tree_size=tree_size).first() if 0 < tree_size <= MAX_INDEX else None
    if sth is None:
        raise NotFound(f"No signed tree head of size {tree_size}.", code="no_tree_head")
    return sth


def entry_at(index: int) -> LogEntry:
    entry = LogEntry.objects.filter(index=index).first() if 0 <= index <= MAX_INDEX else None
    if entry is None:
        raise NotFound(f"No log entry {index}.", code="no_log_entry")
    return entry


def leaf_document(entry: LogEntry) -> dict[str, Any]:
    """The leaf as the JSON it is (RFC 8785); {} if it is not JSON."""
    try:
        doc = json.loads(bytes(entry.leaf))
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _hashes(ranges: list[merkle.Range]) -> list[bytes]:
    return merkle.hashes_from(ranges, _nodes(merkle.nodes_for(ranges)))


@dataclass(frozen=True)
class Inclusion:
    entry: LogEntry
    tree_head: SignedTreeHead
    audit_path: list[bytes]


def inclusion(*, index: int, tree_size: int | None = None) -> Inclusion:
    """Entry ``index`` with its audit path in the tree of ``tree_size`` leaves
    (the latest signed tree head when None) and that tree's signed head."""
    entry = entry_at(index)
    if tree_size is None:
        sth = tree_head_latest()
    else:
        if tree_size <= index:
            raise InvalidInput(
                "The tree must contain the entry.", errors={"tree_size": [f"Must be greater than {index}."]}
            )
        sth = tree_head_at(tree_size)
    path = _hashes(merkle.inclusion_ranges(index, sth.tree_size))
    return Inclusion(entry=entry, tree_head=sth, audit_path=path)


@dataclass(frozen=True)
class Consistency:
    first: SignedTreeHead
    second: SignedTreeHead
    proof: list[bytes]


def consistency(*, first: int, second: int) -> Consistency:
    errors: dict[str, list[str]] = {}
    if first < 1:
        errors["first"] = ["Must be at least 1."]
    if second < first:
        errors["second"] = ["Must be at least first."]
    if errors:
        raise InvalidInput("The tree sizes are out of range.", errors=errors)
    a, b = tree_head_at(first), tree_head_at(second)
    return Consistency(first=a, second=b, proof=_hashes(merkle.consistency_ranges(first, second)))


def _subject_types() -> list[str]:
    # Every model's record type: the subject_type column only ever holds
    # one, and naming them all lets "subject id only" use the (type, id) index.
    return sorted({record_type(m) for m in apps.get_models()})


@dataclass(frozen=True)
class EntryPage:
    entries: list[LogEntry]
    next_before: int | None


def entries_search(
    *, kind: str = "", subject: str = "", before: int | None = None, limit: int = DEFAULT_PAGE
) -> EntryPage:
    """Entries newest first. ``kind``: an exact kind (``gate.approved``) or a
    prefix ending in a dot (``gate.``). ``subject``: ``type:id``
    (``deploy.release:<uuid>``) or an id alone. ``before``: only entries with
    a smaller index (the previous page's ``next_before``)."""
    errors: dict[str, list[str]] = {}
    kind, subject = (kind or "").strip(), (subject or "").strip()
    if len(kind) > 80:
        errors["kind"] = ["At most 80 characters."]
    if len(subject) > MAX_QUERY:
        errors["subject"] = [f"At most {MAX_QUERY} characters."]
    if not 1 <= limit <= MAX_PAGE:
        errors["limit"] = [f"Must be between 1 and {MAX_PAGE}."]
    if before is not None and before < 0:
        errors["before"] = ["Must be at least 0."]
    if errors:
        raise InvalidInput("The search is not valid.", errors=errors)
    qs = LogEntry.objects.defer("leaf")
    if kind.endswith("."):
        qs = qs.filter(kind__startswith=kind)
    elif kind:
        qs = qs.filter(kind=kind)
    if subject:
        subject_type, sep, subject_id = subject.rpartition(":")
        if sep and subject_type:
            qs = qs.filter(subject_type=subject_type.lower(), subject_id=subject_id)
        else:
            qs = qs.filter(subject_type__in=_subject_types(), subject_id=subject)
    if before is not None:
        qs = qs.filter(index__lt=before)
    rows = list(qs.order_by("-index")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return EntryPage(entries=rows, next_before=rows[-1].index if more and rows else None)


def kind_prefixes() -> list[str]:
    """Kind families for the search form: a fixed list, so the form costs no
    scan of the log."""
    return sorted(GATE_RELEVANT_PREFIXES)


def subject_entries(pairs: list[tuple[str, str]], *, limit: int = 500) -> list[LogEntry]:
    """Entries about any of the (subject_type, subject_id) pairs, oldest first."""
    if not pairs:
        return []
    from django.db.models import Q

    q = Q()
    for subject_type, subject_id in pairs:
        q |= Q(subject_type=subject_type, subject_id=subject_id)
    return list(LogEntry.objects.filter(q).order_by("index")[:limit])
