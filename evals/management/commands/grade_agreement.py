"""How far the insider-trading rules (and optionally an LLM judge) agree with
human labels: Cohen's kappa, accuracy and the confusion matrix, per moment.

Input: JSON Lines in the grade_insider_trading input format, each with the
human labels under "labels" ({"misaligned_action", "report", "doubling_down",
optionally "doubling_down_dodge_ambiguous"}) and optionally "split", as in
tests/data/insider_trading/labelled.jsonl. Offline: no database.

With --judge-base-url and --judge-model, the judge (evals.suites.insider_trading.judge)
labels the report and the answer wherever the rules graded them, through that
OpenAI-compatible endpoint (the key from the environment variable named by
--judge-api-key-env), and the command adds judge vs human and judge vs rules."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evals.agreement import Agreement, agreement
from evals.engine import ChatFn, SampleResult
from evals.management.commands.grade_insider_trading import read_records
from evals.suites.insider_trading import judge as judge_module
from evals.suites.insider_trading.grading import GRADER_VERSION, grade

ORDER = {
    "misaligned_action": ["yes", "no", "invalid", "not_applicable"],
    "report": ["explicit", "implied", "concealed", "invalid", "not_applicable"],
    "doubling_down": ["honest", "deceptive", "ambiguous", "invalid", "not_applicable"],
}
ORDER["doubling_down_dodge_ambiguous"] = ORDER["doubling_down"]
JUDGED = ("report", "doubling_down")


def make_judge_chat(base_url: str, model: str, api_key: str) -> ChatFn:
    return judge_module.OpenAICompatibleChat(base_url, model, api_key)


def _validate_labels(records: list[dict[str, Any]]) -> None:
    problems = []
    for record in records:
        labels = record.get("labels")
        if not isinstance(labels, dict):
            problems.append(f"{record['id']}: 'labels' must be an object")
            continue
        for moment in ("misaligned_action", "report", "doubling_down"):
            if labels.get(moment) not in ORDER[moment]:
                problems.append(f"{record['id']}: labels.{moment} must be one of {ORDER[moment]}")
        alt = labels.get("doubling_down_dodge_ambiguous")
        if alt is not None and alt not in ORDER["doubling_down"]:
            problems.append(f"{record['id']}: labels.doubling_down_dodge_ambiguous is not a doubling-down label")
    if problems:
        raise CommandError("The labels are not valid; nothing was computed.\n  " + "\n  ".join(problems[:50]))


def _order(moment: str, pairs: list[tuple[str, str]]) -> list[str]:
    seen = {x for pair in pairs for x in pair}
    return [x for x in ORDER[moment] if x in seen] + sorted(seen - set(ORDER[moment]))


def compare(moment: str, pairs: list[tuple[str, str]]) -> Agreement:
    return agreement(pairs, _order(moment, pairs))


async def _judge_all(records: list[dict[str, Any]], rules: list[dict[str, str]], chat: ChatFn) -> list[dict[str, Any]]:
    verdicts = []
    for record, labels in zip(records, rules, strict=True):
        result = SampleResult(
            transcript=[],
            labels=labels,
            grade={},
            outputs={"report": record.get("report_output"), "doubling_down": record.get("doubling_down_output")},
        )
        verdicts.append(await judge_module.judge(result, chat))
    close = getattr(chat, "aclose", None)
    if close is not None:
        await close()
    return verdicts


class Command(BaseCommand):
    help = "Agreement (Cohen's kappa, confusion matrices) of the insider-trading rules and judge with human labels."
    requires_system_checks: list[str] = []  # offline: no database needed

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--input", required=True, type=Path)
        parser.add_argument("--split", default="all", help="Only records whose 'split' is this (default: all).")
        parser.add_argument("--judge-base-url", default="", help="An OpenAI-compatible API base URL.")
        parser.add_argument("--judge-model", default="", help="The judge's model id at that endpoint.")
        parser.add_argument(
            "--judge-api-key-env",
            default="STAGEGATE_JUDGE_API_KEY",
            help="The environment variable holding the endpoint's API key (default STAGEGATE_JUDGE_API_KEY).",
        )
        parser.add_argument("--json", type=Path, help="Also write every figure as JSON to this file.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["input"]
        if not path.is_file():
            raise CommandError(f"No such input file: {path}")
        base_url, model = options["judge_base_url"], options["judge_model"]
        if bool(base_url) != bool(model):
            raise CommandError("--judge-base-url and --judge-model go together.")
        records = read_records(path)
        _validate_labels(records)
        split = options["split"]
        if split != "all":
            records = [r for r in records if r.get("split") == split]
        if not records:
            raise CommandError(f"No records in split {split!r}.")
        rules = [
            grade(
                insider_ticker=r["insider_ticker"],
                trade_output=r["trade_output"],
                report_output=r.get("report_output"),
                doubling_down_output=r.get("doubling_down_output"),
            ).labels()
            for r in records
        ]
        report: dict[str, Any] = {"records": len(records), "split": split, "grader": GRADER_VERSION, "moments": {}}
        self.stdout.write(f"{len(records)} transcripts (split: {split}), rules {GRADER_VERSION}")
        for moment in ORDER:
            pairs = [
                (g[moment], r["labels"][moment]) for g, r in zip(rules, records, strict=True) if moment in r["labels"]
            ]
            if not pairs:  # the other convention's label is optional
                continue
            report["moments"][moment] = {"rules_vs_human": self._show(moment, "rules", "human", pairs)}
        if base_url:
            key = os.environ.get(options["judge_api_key_env"], "")
            verdicts = asyncio.run(_judge_all(records, rules, make_judge_chat(base_url, model, key)))
            report["judge"] = {"model": model, "base_url": base_url}
            for moment in JUDGED:
                judged = [
                    (v[moment]["label"], g, r) for v, g, r in zip(verdicts, rules, records, strict=True) if moment in v
                ]
                self.stdout.write(f"\n{moment}: the judge labelled {len(judged)} of {len(records)}")
                if not judged:
                    continue
                human = [(j, r["labels"][moment]) for j, _, r in judged]
                against_rules = [(j, g[moment]) for j, g, _ in judged]
                report["moments"][moment]["judge_vs_human"] = self._show(moment, "judge", "human", human)
                report["moments"][moment]["judge_vs_rules"] = self._show(moment, "judge", "rules", against_rules)
        if options.get("json"):
            options["json"].write_text(json.dumps(report, indent=2), encoding="utf-8")

    def _show(self, moment: str, first: str, second: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
        a = compare(moment, pairs)
        kappa = "undefined" if a.kappa is None else f"{a.kappa:.3f}"
        observed = "n/a" if a.observed is None else f"{a.observed:.3f}"
        self.stdout.write(f"\n{moment}: {first} vs {second}  n={a.n}  accuracy={observed}  kappa={kappa}")
        self.stdout.write(a.table(first, second))
        return a.as_dict()
