"""Recompute the audit trail's hash chain and report the first breaks."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core.audit import audit_trail_verify


class Command(BaseCommand):
    help = "Recompute every audit event's digest and its link to the one before; fail on any break."

    def handle(self, *args: Any, **options: Any) -> None:
        count, problems = audit_trail_verify()
        if problems:
            for problem in problems[:50]:
                self.stderr.write(f"AUDIT TRAIL CHECK FAILED: {problem}")
            raise CommandError(f"the audit trail does not verify: {len(problems)} problem(s)")
        self.stdout.write(f"ok: {count} audit events chain and verify")
