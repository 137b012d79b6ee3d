"""Operators see tokens and the access log. Tokens are issued and revoked only
through gateway.services (audit trail); the digest is never shown; calls are
append-only."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyModelAdmin
from gateway.models import GatewayCall, GatewayCallQuarantine, GatewayToken


@admin.register(GatewayToken)
class GatewayTokenAdmin(ReadOnlyModelAdmin):
    exclude = ("digest",)
    list_display = ["prefix", "kind", "holder", "system_version", "expires_at", "revoked_at"]
    list_filter = ["kind"]
    search_fields = ["prefix", "holder__username", "name"]


@admin.register(GatewayCall)
class GatewayCallAdmin(ReadOnlyModelAdmin):
    list_display = ["created_at", "token", "kind", "status_code", "latency_ms", "total_tokens"]
    list_filter = ["kind", "status_code", "stream"]


@admin.register(GatewayCallQuarantine)
class GatewayCallQuarantineAdmin(ReadOnlyModelAdmin):
    """Access-log entries the drain could not store, with the reason (docs/gateway.md)."""

    list_display = ["created_at", "stream_id", "reason"]
    search_fields = ["stream_id", "reason"]
