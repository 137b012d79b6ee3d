"""Read the independent witness's published records into the service: its
latest cosigned head (checked, cached) and any split view (recorded as an
audit event and mailed to the regulator). Exits non-zero on a split view."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from transparency.witness_log import WitnessUnavailable, split_views_recorded, witness_pull


class Command(BaseCommand):
    help = "Check the witness's cosigned head and record any split view it reports."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = witness_pull()
        except WitnessUnavailable as e:
            raise CommandError(f"the witness is unavailable: {e}") from None
        for problem in report.problems:
            self.stderr.write(f"WITNESS RECORD REJECTED: {problem}")
        for digest in report.new_alarms:
            self.stderr.write(f"SPLIT VIEW recorded: evidence {digest}")
        if report.cosigned:
            c = report.cosigned
            self.stdout.write(f"cosigned: the log's head of {c['tree_size']} entries ({c['root_hash'][:16]}…)")
        else:
            self.stdout.write("no cosigned head yet")
        if split_views_recorded(limit=1):
            raise CommandError("the witness has reported a split view of the log: see the audit trail")
