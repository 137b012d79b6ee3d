"""Writing the audit trail. Call ``audit_event_record`` inside the service's
transaction, after the write, so the event and the change commit together."""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import models, transaction

from core.actors import Actor
from core.models import AuditEvent


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
    event = AuditEvent.objects.create(
        actor=actor.user,
        actor_label=actor.label,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        before=_json_safe(before) if before is not None else None,
        after=_json_safe(after) if after is not None else None,
    )
    org_ids = {getattr(o, "pk", o) for o in organisations if o is not None}
    if org_ids:
        event.organisations.add(*org_ids)
    return event
