"""Operators' view of lab registrations, read-only: every change goes through
the services, which check rights and write the audit trail. The endpoint
credential's ciphertext is never shown. The affordance catalogue and its
reachability edges feed the suites a standard requires, so they change only in
reviewed data migrations (labs/migrations/0002_affordance_catalogue.py), not here."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyModelAdmin
from labs.models import Affordance, AffordanceEdge, ModelVersion, SystemVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyModelAdmin):
    list_display = ("name", "version", "lab", "weights_digest", "created_at")
    list_filter = ("lab",)
    search_fields = ("name", "version", "weights_digest")
    list_select_related = ("lab",)


@admin.register(SystemVersion)
class SystemVersionAdmin(ReadOnlyModelAdmin):
    list_display = ("name", "sequence", "lab", "model_version", "has_credential", "configuration_digest", "created_at")
    list_filter = ("lab", "online_learning")
    search_fields = ("name", "configuration_digest")
    list_select_related = ("lab", "model_version")
    exclude = ("endpoint_credential_ciphertext",)
    readonly_fields = ("has_credential",)

    @admin.display(boolean=True, description="Has credential")
    def has_credential(self, obj: SystemVersion) -> bool:
        return obj.has_credential


@admin.register(Affordance)
class AffordanceAdmin(ReadOnlyModelAdmin):
    list_display = ("key", "name")
    search_fields = ("key", "name")


@admin.register(AffordanceEdge)
class AffordanceEdgeAdmin(ReadOnlyModelAdmin):
    list_display = ("source", "target", "rationale")
    list_filter = ("source",)
