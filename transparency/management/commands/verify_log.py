"""Recompute the transparency log from storage and check every signed tree head."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from transparency.selectors import log_verify


class Command(BaseCommand):
    help = "Recompute the Merkle tree from the stored leaves and check every signed tree head ever issued."

    def handle(self, *args: Any, **options: Any) -> None:
        report = log_verify()
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(f"LOG CHECK FAILED: {problem}")
            raise CommandError(f"the transparency log does not verify: {len(report.problems)} problem(s)")
        self.stdout.write(f"ok: {report.size} entries and {report.tree_heads} signed tree heads verify")
