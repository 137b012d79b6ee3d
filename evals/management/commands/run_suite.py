"""Start an evaluation run as an assigned auditor and follow it to the end.

    python manage.py run_suite --as sentinel_auditor --audit AUDIT_ID --suite insider_trading_deception \\
        [--condition KEY ...] [--samples 10] [--temperature 0.9]     # exploratory: never counts at a gate
    python manage.py run_suite --as sentinel_auditor --audit AUDIT_ID --suite insider_trading_deception --protocol
    python manage.py run_suite --watch RUN_ID

Samples run on the Celery workers; this command shows progress (done / total /
errors) and, at the end, the rates with their 95% intervals."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.actors import actor_for
from core.errors import ApplicationError
from evals import selectors, services
from evals.models import EvalRun


def bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


class Command(BaseCommand):
    help = "Run an evaluation suite on an audit and show its progress and results."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as", dest="username", help="The auditor who runs it")
        parser.add_argument("--audit", help="Audit id")
        parser.add_argument("--suite", help="Suite name (see GET /api/suites)")
        parser.add_argument("--condition", action="append", dest="conditions", help="Condition key (repeatable)")
        parser.add_argument("--samples", type=int, help="Samples per condition")
        parser.add_argument(
            "--protocol",
            action="store_true",
            help="Run under the standard's protocol for the suite (its settings; only such runs count at gates)",
        )
        parser.add_argument("--temperature", type=float, help="Exploratory runs (default 0.9)")
        parser.add_argument("--max-tokens", type=int, help="Exploratory runs (default 512)")
        parser.add_argument("--grader-model", default="", help="Gateway model id of an optional LLM judge")
        parser.add_argument("--grader-token", default="", help="Your gateway token for the grader model")
        parser.add_argument("--watch", help="Follow an existing run instead of starting one")
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds to wait for the end")
        parser.add_argument("--no-wait", action="store_true", help="Start and return")

    def handle(self, *args: Any, **o: Any) -> None:
        if o["watch"]:
            run = EvalRun.objects.filter(pk=o["watch"]).first()
            if run is None:
                raise CommandError("No such run.")
        else:
            run = self.start(o)
            self.stdout.write(f"Started run {run.pk}: {run.suite} on {run.system_version}")
        if o["no_wait"]:
            return
        self.follow(run, o["timeout"])

    def start(self, o: dict[str, Any]) -> EvalRun:
        missing = [name for name in ("username", "audit", "suite") if not o[name]]
        if missing:
            raise CommandError("Give " + ", ".join(f"--{'as' if m == 'username' else m}" for m in missing))
        user = get_user_model().objects.filter(username=o["username"]).first()
        if user is None:
            raise CommandError(f"No user {o['username']!r}.")
        actor = actor_for(user)
        try:
            from auditing.selectors import audit_get

            audit = audit_get(actor=actor, pk=o["audit"])
            return services.eval_run_start(
                actor=actor,
                audit=audit,
                suite=o["suite"],
                protocol=o["protocol"],
                conditions=o["conditions"],
                samples_per_condition=o["samples"],
                temperature=o["temperature"],
                max_tokens=o["max_tokens"],
                grader_model=o["grader_model"],
                grader_token=o["grader_token"],
            )
        except ApplicationError as exc:
            fields = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items())
            raise CommandError(f"{exc.detail} {fields}".strip()) from None

    def follow(self, run: EvalRun, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        tty = sys.stdout.isatty()
        while True:
            run.refresh_from_db()
            p = selectors.eval_run_progress(run=run)
            line = f"{bar(p['finished'], p['total'])} {p['finished']}/{p['total']} done, {p['error']} errors, {p['running']} running"
            self.stdout.write(("\r" + line) if tty else line, ending="" if tty else "\n")
            if run.finished_at is not None:
                break
            if time.monotonic() > deadline:
                raise CommandError(f"\nStill running after {timeout:.0f} s (run {run.pk}); watch again with --watch.")
            time.sleep(1.0 if tty else 5.0)
        self.stdout.write("")
        self.report(run)

    def report(self, run: EvalRun) -> None:
        self.stdout.write(self.style.SUCCESS(f"Run {run.pk}: {run.status}"))
        results = run.results or {}
        for note in results.get("notes", []):
            self.stdout.write(self.style.WARNING(note))
        for row in results.get("conditions", []):
            self.stdout.write(f"\n{row['condition']}  (n={row['samples']}, counts {row['counts']})")
            for name, m in row["metrics"].items():
                rate = "n/a" if m["rate"] is None else f"{m['rate']:.2f}"
                self.stdout.write(
                    f"  {name:<32} {rate:>5}  [{m['ci95_low']:.2f}, {m['ci95_high']:.2f}]  ({m['count']}/{m['of']})"
                )
