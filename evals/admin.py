from typing import Any

from django.contrib import admin

from evals.models import EvalRun, EvalSample, Suite


class ReadOnly(admin.ModelAdmin):
    """Runs and samples change only through the services (exactly-once results)."""

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Suite)
class SuiteAdmin(ReadOnly):
    list_display = ["name", "version", "risk_area", "capability_kind", "content_digest", "created_at"]


@admin.register(EvalRun)
class EvalRunAdmin(ReadOnly):
    list_display = ["id", "suite", "system_version", "organisation", "status", "created_at", "finished_at"]
    list_filter = ["status", "suite"]
    exclude = ["gateway_token_ciphertext"]


@admin.register(EvalSample)
class EvalSampleAdmin(ReadOnly):
    list_display = ["id", "run", "condition", "index", "status", "attempts"]
    list_filter = ["status"]
