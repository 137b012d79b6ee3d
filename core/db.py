"""Writes that may lose a race with a concurrent one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, models, transaction

from core.errors import Conflict


def constraint_of(exc: IntegrityError) -> str | None:
    """The name of the constraint a PostgreSQL integrity error violated."""
    return getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)


def save_or_conflict(
    instance: models.Model, conflict: Conflict, *, constraints: Iterable[str] | None = None, **save_kwargs: Any
) -> None:
    """Save in a savepoint; a violation of one of ``constraints`` (of any
    constraint when None) — a concurrent write that won — becomes ``conflict``."""
    try:
        with transaction.atomic():
            instance.save(**save_kwargs)
    except IntegrityError as exc:
        if constraints is None or constraint_of(exc) in set(constraints):
            raise conflict from None
        raise
