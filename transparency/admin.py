"""Operators may look at the log and the outbox; nothing here is editable."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from transparency.models import LogEntry, OutboxMessage, RegulatorInbox, SignedTreeHead


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(LogEntry)
class LogEntryAdmin(_ReadOnlyAdmin):
    list_display = ["index", "kind", "subject_type", "subject_id", "logged_at"]
    list_filter = ["kind"]
    search_fields = ["subject_id"]


@admin.register(SignedTreeHead)
class SignedTreeHeadAdmin(_ReadOnlyAdmin):
    list_display = ["tree_size", "root_hash", "timestamp"]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(_ReadOnlyAdmin):
    list_display = ["id", "kind", "created_at", "attempts", "delivered_at"]
    list_filter = ["kind"]


@admin.register(RegulatorInbox)
class RegulatorInboxAdmin(_ReadOnlyAdmin):
    list_display = ["outbox_id", "kind", "received_at"]
