"""Writing the audit trail. Call ``audit_event_record`` inside the service's
transaction, after the write, so the event and the change commit together."""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import connection, models, transaction

from core.actors import Actor
from core.canonical import digest_of
from core.models import AuditEvent, record_type

# The advisory lock that queues writers of the audit trail's hash chain.
CHAIN_LOCK = 0x5347_4155_4454  # "SGAUDT"
GENESIS = "0" * 64


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_json_safe(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def snapshot(instance: models.Model, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The concrete field values of an instance, JSON-safe, for before/after."""
    skip = set(exclude)
    data: dict[str, Any] = {}
    for f in instance._meta.concrete_fields:
        if f.name in skip:
            continue
        data[f.attname] = _json_safe(getattr(instance, f.attname))
    return data


def audit_event_record(
    *,
    actor: Actor,
    action: str,
    target: models.Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    organisations: Iterable[Any] = (),
) -> AuditEvent:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit events must be written inside the service's transaction")
    org_ids = {getattr(o, "pk", o) for o in organisations if o is not None}
    _chain_lock()
    last = AuditEvent.objects.exclude(sequence=None).order_by("-sequence").values_list("sequence", "hash").first()
    sequence, prev_hash = ((last[0] or 0) + 1, last[1]) if last else (0, GENESIS)
    event = AuditEvent(
        actor=actor.user,
        actor_label=actor.label,
        action=action,
        target_type=record_type(target),
        target_id=str(target.pk),
        before=_json_safe(before) if before is not None else None,
        after=_json_safe(after) if after is not None else None,
        sequence=sequence,
        prev_hash=prev_hash,
    )
    event.hash = event_hash(event, org_ids)
    event.save(force_insert=True)
    if org_ids:
        event.organisations.add(*org_ids)
    return event


def _chain_lock() -> None:
    # PostgreSQL: a transaction-scoped advisory lock, so writers append to the
    # chain one after another (each reads the head another committed). SQLite
    # (development only) serialises writers on its own.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])


def event_hash(event: AuditEvent, organisation_ids: Iterable[Any]) -> str:
    """SHA-256 of the event's canonical JSON and its predecessor's digest."""
    return digest_of(
        {
            "sequence": event.sequence,
            "prev_hash": event.prev_hash,
            "occurred_at": event.occurred_at.isoformat(),
            "actor": event.actor_id,
            "actor_label": event.actor_label,
            "action": event.action,
            "target": [event.target_type, event.target_id],
            "before": event.before,
            "after": event.after,
            "organisations": sorted(str(o) for o in organisation_ids),
        }
    )


def audit_trail_verify() -> tuple[int, list[str]]:
    """Recompute the chain from the start: (events checked, problems found)."""
    problems: list[str] = []
    prev, expected_sequence, count = GENESIS, 0, 0
    events = AuditEvent.objects.exclude(sequence=None).order_by("sequence").prefetch_related("organisations")
    for event in events.iterator(chunk_size=2000):
        count += 1
        if event.sequence != expected_sequence:
            problems.append(f"event #{event.pk}: sequence {event.sequence}, expected {expected_sequence} (a gap)")
        if event.prev_hash != prev:
            problems.append(f"event #{event.pk} (sequence {event.sequence}): does not follow the event before it")
        if event_hash(event, [o.pk for o in event.organisations.all()]) != event.hash:
            problems.append(f"event #{event.pk} (sequence {event.sequence}): its content does not match its digest")
        prev, expected_sequence = event.hash, (event.sequence or 0) + 1
    unchained = AuditEvent.objects.filter(sequence=None).count()
    if unchained:
        problems.append(f"{unchained} event(s) outside the chain")
    return count, problems
