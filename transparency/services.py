"""Appending to the transparency log. ``log_append`` is called by other apps'
services inside their own transaction, so the leaf commits (or rolls back)
with the thing it records."""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone

from core import merkle
from core.canonical import canonical_json
from core.models import record_type
from transparency.models import LogEntry, LogNode, OutboxKind, OutboxMessage, RegulatorInbox, SignedTreeHead
from transparency.signing import log_key_id, tree_head_sign

logger = logging.getLogger("stagegate.transparency")

# Any fixed 64-bit number: the one lock that serialises appends to the log.
APPEND_LOCK = 0x5354_4147_454C_4F47  # "STAGELOG"

# Kinds the regulator receives entry by entry (it receives every tree head).
GATE_RELEVANT_PREFIXES = (
    "certification.",
    "key.",
    "signoff.",
    "finding.",
    "gate.",
    "release.",
    "reaudit.",
    "sanction.",
    "incident.",
    "kyc.",
    "enrolment.",
)


def _json_safe(record: dict[str, Any]) -> dict[str, Any]:
    safe: dict[str, Any] = json.loads(json.dumps(record, cls=DjangoJSONEncoder))
    return safe


def _lock() -> None:
    # PostgreSQL: a transaction-scoped advisory lock; concurrent appenders queue
    # here until the holder commits, so nobody computes a tree from a stale size.
    # SQLite (development only) serialises writers on its own.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK])


def _nodes(keys: set[merkle.Node]) -> dict[merkle.Node, bytes]:
    if not keys:
        return {}
    q = models.Q()
    for level, index in keys:
        q |= models.Q(level=level, index=index)
    return {(n.level, n.index): bytes(n.hash) for n in LogNode.objects.filter(q)}


def _ms(when: datetime.datetime) -> int:
    return int(when.timestamp() * 1000)


@transaction.atomic
def log_append(*, kind: str, record: dict[str, Any], subject: models.Model) -> LogEntry:
    """Append one leaf recording ``kind`` about ``subject`` (with ``record``:
    ids and digests, never secrets or content), then sign the new tree head
    and queue both for the regulator."""
    if not isinstance(kind, str) or not kind or len(kind) > 80:
        raise ValueError("kind must be a short non-empty string")
    _lock()
    index = LogEntry.objects.aggregate(n=models.Max("index"))["n"]
    index = 0 if index is None else index + 1
    now = timezone.now()
    subject_type, subject_id = record_type(subject), str(subject.pk)
    leaf = canonical_json(
        {
            "index": index,
            "kind": kind,
            "logged_at": now.isoformat(),
            "record": _json_safe(record),
            "subject": {"id": subject_id, "type": subject_type},
        }
    )
    leaf_hash = merkle.leaf_hash(leaf)
    entry = LogEntry(
        index=index,
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        leaf=leaf,
        leaf_hash=leaf_hash.hex(),
        logged_at=now,
    )
    entry.full_clean()
    entry.save(force_insert=True)

    size = index + 1
    siblings = {(lvl, (index >> lvl) - 1) for lvl in range(index.bit_length() + 1) if (index >> lvl) % 2 == 1}
    # Only the run of trailing ones matters: new_nodes stops at the first even index.
    known = _nodes(siblings)
    created = merkle.new_nodes(index, leaf_hash, known.__getitem__)
    LogNode.objects.bulk_create([LogNode(level=lvl, index=i, hash=h) for (lvl, i), h in created])
    known.update(dict(created))
    peaks = set(merkle.perfect_nodes(0, size))
    known.update(_nodes(peaks - known.keys()))
    root = merkle.range_hash(0, size, known.__getitem__).hex()

    ts = _ms(now)
    sth = SignedTreeHead(
        tree_size=size,
        root_hash=root,
        timestamp=ts,
        signature=tree_head_sign(tree_size=size, root_hash=root, timestamp=ts),
        key_id=log_key_id(),
    )
    sth.save(force_insert=True)
    OutboxMessage.objects.create(kind=OutboxKind.TREE_HEAD, payload=tree_head_payload(sth))
    if kind.startswith(GATE_RELEVANT_PREFIXES):
        OutboxMessage.objects.create(
            kind=OutboxKind.ENTRY,
            payload={
                "index": index,
                "kind": kind,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "leaf_hash": entry.leaf_hash,
                "leaf": leaf.decode("utf-8"),
            },
        )
    return entry


def tree_head_payload(sth: SignedTreeHead) -> dict[str, Any]:
    return {
        "tree_size": sth.tree_size,
        "root_hash": sth.root_hash,
        "timestamp": sth.timestamp,
        "signature": sth.signature,
        "key_id": sth.key_id,
    }


# Consecutive refusals after which a delivery run stops (the inbox is down).
OUTBOX_GIVE_UP_AFTER = 3


def outbox_deliver(*, batch: int = 100) -> int:
    """Deliver undelivered outbox messages to the regulator's inbox. At least
    once: a crash after the insert and before marking delivered re-sends, and
    the inbox ignores a message it already holds. A message the inbox refuses
    is left for the next run and the rest still go; three refusals in a row end
    the run. Returns how many were sent."""
    sent = failed_in_a_row = 0
    with transaction.atomic():
        pending = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(delivered_at__isnull=True)
            .order_by("id")[:batch]
        )
        for message in pending:
            # Each message on its own (a savepoint): one the inbox refuses waits
            # for the next run, and the rest of the batch still goes.
            try:
                with transaction.atomic():
                    regulator_inbox_receive(outbox_id=message.pk, kind=message.kind, payload=message.payload)
                    message.attempts += 1
                    message.delivered_at = timezone.now()
                    message.save(update_fields=["attempts", "delivered_at"])
            except Exception:
                logger.exception("outbox: message %s not delivered; it is retried on the next run", message.pk)
                OutboxMessage.objects.filter(pk=message.pk).update(attempts=F("attempts") + 1)
                failed_in_a_row += 1
                if failed_in_a_row >= OUTBOX_GIVE_UP_AFTER:
                    break  # the inbox is down, not one message refused: try again next run
                continue
            sent += 1
            failed_in_a_row = 0
    return sent


def regulator_inbox_receive(*, outbox_id: int, kind: str, payload: dict[str, Any]) -> bool:
    """The regulator's receiving side. Idempotent on the outbox id: returns
    whether this delivery was new."""
    with transaction.atomic():
        _, created = RegulatorInbox.objects.get_or_create(
            outbox_id=outbox_id, defaults={"kind": kind, "payload": payload}
        )
    return created
