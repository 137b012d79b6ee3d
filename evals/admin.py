"""Runs and samples change only through the services (exactly-once results),
suites only with a new version in the catalogue: all read-only here."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyModelAdmin
from evals.models import EvalRun, EvalSample, Suite


@admin.register(Suite)
class SuiteAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "version", "risk_area", "capability_kind", "content_digest", "created_at"]


@admin.register(EvalRun)
class EvalRunAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "suite", "system_version", "organisation", "status", "created_at", "finished_at"]
    list_filter = ["status", "suite"]
    exclude = ["gateway_token_ciphertext"]


@admin.register(EvalSample)
class EvalSampleAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "run", "condition", "index", "status", "attempts"]
    list_filter = ["status"]
