"""Operators see tokens and the access log. Tokens are issued and revoked only
through gateway.services (audit trail); the digest is never shown; calls are
append-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from gateway.models import GatewayCall, GatewayToken


class _ReadOnly(admin.ModelAdmin):
    def get_readonly_fields(self, request: Any, obj: Any = None) -> Any:
        return [f.name for f in self.model._meta.fields if f.name != "digest"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(GatewayToken)
class GatewayTokenAdmin(_ReadOnly):
    exclude = ("digest",)
    list_display = ["prefix", "kind", "holder", "system_version", "expires_at", "revoked_at"]
    list_filter = ["kind"]
    search_fields = ["prefix", "holder__username", "name"]


@admin.register(GatewayCall)
class GatewayCallAdmin(_ReadOnly):
    list_display = ["created_at", "token", "kind", "status_code", "latency_ms", "total_tokens"]
    list_filter = ["kind", "status_code", "stream"]
