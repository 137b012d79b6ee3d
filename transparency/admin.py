"""Operators may look at the log and the outbox; nothing here is editable."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyModelAdmin
from transparency.models import LogEntry, OutboxMessage, RegulatorInbox, SignedTreeHead


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyModelAdmin):
    list_display = ["index", "kind", "subject_type", "subject_id", "logged_at"]
    list_filter = ["kind"]
    search_fields = ["subject_id"]


@admin.register(SignedTreeHead)
class SignedTreeHeadAdmin(ReadOnlyModelAdmin):
    list_display = ["tree_size", "root_hash", "timestamp"]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "kind", "created_at", "attempts", "delivered_at"]
    list_filter = ["kind"]


@admin.register(RegulatorInbox)
class RegulatorInboxAdmin(ReadOnlyModelAdmin):
    list_display = ["outbox_id", "kind", "received_at"]
