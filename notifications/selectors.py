"""Reading the inbox: a person sees only their own notifications."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from core.errors import NotFound
from notifications.models import Notification


def notification_list(*, user: Any, unread_only: bool = False) -> QuerySet[Notification]:
    if user is None or not getattr(user, "is_authenticated", False):
        return Notification.objects.none()
    qs = Notification.objects.filter(recipient_id=user.pk)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created_at", "-id")


def notification_get(*, user: Any, pk: Any) -> Notification:
    """One of the user's own notifications; anyone else's is not found."""
    try:
        return notification_list(user=user).get(pk=pk)
    except (Notification.DoesNotExist, ValidationError, ValueError, TypeError):
        raise NotFound("Notification not found.") from None


def unread_count(*, user: Any) -> int:
    return notification_list(user=user, unread_only=True).count()
