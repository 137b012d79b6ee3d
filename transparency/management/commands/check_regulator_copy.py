"""Check the regulator's copy of the signed tree heads against the log."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from transparency.selectors import regulator_copy_check


class Command(BaseCommand):
    help = "Verify each tree head the regulator received and the consistency of consecutive heads with the log."

    def handle(self, *args: Any, **options: Any) -> None:
        report = regulator_copy_check()
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(f"REGULATOR COPY CHECK FAILED: {problem}")
            raise CommandError(
                f"the regulator's copy is not consistent with the log: {len(report.problems)} problem(s)"
            )
        self.stdout.write(f"ok: {report.tree_heads} received tree heads are consistent with the log ({report.size})")
