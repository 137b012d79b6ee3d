"""Operators' view of lab registrations. Versions are read-only here: every
change goes through the services, which check rights and write the audit trail.
The endpoint credential's ciphertext is never shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from labs.models import Affordance, AffordanceEdge, ModelVersion, SystemVersion


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ("name", "version", "lab", "weights_digest", "created_at")
    list_filter = ("lab",)
    search_fields = ("name", "version", "weights_digest")
    list_select_related = ("lab",)


@admin.register(SystemVersion)
class SystemVersionAdmin(ReadOnlyAdmin):
    list_display = ("name", "sequence", "lab", "model_version", "has_credential", "configuration_digest", "created_at")
    list_filter = ("lab", "online_learning")
    search_fields = ("name", "configuration_digest")
    list_select_related = ("lab", "model_version")
    exclude = ("endpoint_credential_ciphertext",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ("has_credential",)

    @admin.display(boolean=True, description="Has credential")
    def has_credential(self, obj: SystemVersion) -> bool:
        return obj.has_credential


@admin.register(Affordance)
class AffordanceAdmin(admin.ModelAdmin):
    list_display = ("key", "name")
    search_fields = ("key", "name")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The key is what system versions and digests refer to.
        return ("key",) if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AffordanceEdge)
class AffordanceEdgeAdmin(admin.ModelAdmin):
    list_display = ("source", "target", "rationale")
    list_filter = ("source",)
