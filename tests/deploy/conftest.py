"""A system version with everything a gate reads, made through the services:
two lab reviewers and two certified auditor organisations assigned to an
open audit, each with an approved signing key; helpers to sign stages, file
findings and record completed suite runs."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from auditing import services as auditing
from auditing.models import Audit, SignOff
from core import dsse
from core.canonical import canonical_json
from core.models import Role
from evals.models import EvalRun, EvalSample, Suite
from evals.services import suites_register_all
from labs import services as labs
from labs.models import ModelVersion, SystemVersion
from standards.selectors import standard_in_force
from tests.auditing.conftest import actor, assign, certify, open_audit
from tests.factories import World, member, sha256

# Per suite: the first graded step, and the labels of a sample that shows the
# gated behaviour, one that does not, and one whose later steps were not reached.
SUITE_LABELS: dict[str, tuple[str, dict[str, str], dict[str, str], dict[str, str]]] = {
    "insider_trading_deception": (
        "misaligned_action",
        {"misaligned_action": "yes", "report": "concealed", "doubling_down": "deceptive"},
        {"misaligned_action": "no", "report": "not_applicable", "doubling_down": "not_applicable"},
        {"report": "not_applicable", "doubling_down": "not_applicable"},
    ),
    "cyber_offense_ctf": (
        "flag",
        {"flag": "solved", "task_archive": "solved"},
        {"flag": "unsolved", "task_archive": "unsolved"},
        {},
    ),
}


@dataclass
class Gate:
    w: World
    sv: SystemVersion
    audit: Audit
    reviewer_2: Any
    keys: dict[Any, Ed25519PrivateKey] = field(default_factory=dict)

    def key_for(self, user: Any) -> Ed25519PrivateKey:
        if user.pk not in self.keys:
            key = Ed25519PrivateKey.generate()
            registered = auditing.signing_key_register(
                actor=actor(user), public_key_pem_text=dsse.public_key_pem(key.public_key())
            )
            auditing.signing_key_approve(actor=actor(self.w.regulator), key=registered)
            self.keys[user.pk] = key
        return self.keys[user.pk]

    def sign(
        self,
        user: Any,
        stage: int,
        decision: str = "approve",
        *,
        audit: Audit | None = None,
        sv: SystemVersion | None = None,
    ) -> SignOff:
        sv = sv or self.sv
        key = self.key_for(user)
        doc = auditing.signoff_statement_build(
            actor=actor(user), system_version=sv, stage=stage, decision=decision, audit=audit
        )
        env = dsse.sign(dsse.IN_TOTO_PAYLOAD_TYPE, canonical_json(doc), key).to_dict()
        return auditing.signoff_submit(actor=actor(user), envelope=env)

    def internal(self, stage: int = 1) -> list[SignOff]:
        return [self.sign(self.w.lab_reviewer, stage), self.sign(self.reviewer_2, stage)]

    def auditors(self, stage: int, audit: Audit | None = None) -> list[SignOff]:
        audit = audit or self.audit
        return [
            self.sign(self.w.auditor, stage, audit=audit),
            self.sign(self.w.other_auditor, stage, audit=audit),
        ]

    def run(
        self,
        events: int = 0,
        *,
        valid: int | None = None,
        errors: int = 0,
        invalid: int = 0,
        invalid_step: str | None = None,
        sv: SystemVersion | None = None,
        suite: str = "insider_trading_deception",
        audit: Audit | None = None,
        protocol: bool = True,
        status: str = "completed",
        finished_at: datetime.datetime | None = None,
    ) -> EvalRun:
        """A finished run of ``suite`` made as the engine makes them, with
        samples whose labels give ``events`` of ``valid`` valid trials (by
        default the protocol's sample count less the errors and invalids),
        ``errors`` samples in error and ``invalid`` samples invalid at
        ``invalid_step`` (the first graded step by default). Test data for
        the gate to read; running suites is tested in tests/evals."""
        suites_register_all()
        sv = sv or self.sv
        standard = standard_in_force()
        rules = standard.protocol_for(suite)
        assert rules is not None
        first_step, event, clean, skipped = SUITE_LABELS[suite]
        valid = rules.total_samples - errors - invalid if valid is None else valid
        run = EvalRun.objects.create(
            suite=Suite.objects.filter(name=suite).latest("created_at"),
            audit=audit or self.audit,
            system_version=sv,
            organisation=self.w.auditor_org,
            started_by=self.w.auditor,
            status=status,
            conditions=list(rules.conditions),
            samples_per_condition=rules.samples_per_condition,
            temperature=rules.temperature if protocol else 0.7,
            max_tokens=rules.max_tokens,
            standard=standard if protocol else None,
            protocol_digest=rules.digest if protocol else "",
            finished_at=None if status == "running" else (finished_at or timezone.now()),
        )
        step = invalid_step or first_step
        rows: list[tuple[str, dict[str, str], str]] = [("done", dict(event), "")] * events
        rows += [("done", dict(clean), "")] * (valid - events)
        if step == first_step:
            rows += [("done", {**skipped, first_step: "invalid"}, "")] * invalid
        else:  # reached the step (an event up to it), then could not be parsed there
            rows += [("done", {**event, step: "invalid"}, "")] * invalid
        rows += [("error", {}, "upstream kept failing: 502")] * errors
        conditions = list(rules.conditions)
        EvalSample.objects.bulk_create(
            EvalSample(
                run=run,
                condition=conditions[i % len(conditions)],
                index=i // len(conditions),
                status=status_,
                labels=labels,
                error=error,
            )
            for i, (status_, labels, error) in enumerate(rows)
        )
        if status != "running":
            run.results = {"overall": {}, "samples": len(rows)}
            run.results_digest = sha256(f"{run.pk}:{len(rows)}:{events}")
            run.save(update_fields=["results", "results_digest"])
        return run

    def finding(self, severity: str = "critical", audit: Audit | None = None) -> Any:
        return auditing.finding_file(
            actor=actor(self.w.auditor),
            audit=audit or self.audit,
            title=f"A {severity} finding",
            description="Trades on the tip and hides it.",
            severity=severity,
            risk_area="deception",
            capability_kind="contextual",
            evidence=[{"kind": "gateway_log", "reference": "call 1", "sha256": sha256("call 1")}],
        )


def make_sv(w: World, **kwargs: Any) -> SystemVersion:
    model = ModelVersion.objects.create(
        lab=w.lab,
        name="aurora",
        version="1.0",
        weights_digest=sha256("weights aurora"),
        parameter_count=7_000_000_000,
        training_compute_flop=1e24,
        created_by=w.lab_engineer,
    )
    return labs.system_version_create(
        actor=actor(w.lab_engineer),
        lab=w.lab,
        model_version=model,
        name="Aurora",
        affordances=kwargs.pop("affordances", []),
        system_prompt="You are a careful assistant.",
        endpoint_base_url="https://api.example.test/v1",
        endpoint_model="aurora-1",
        **kwargs,
    )


@pytest.fixture
def gate(world: World) -> Gate:
    sv = make_sv(world)
    certify(world, world.auditor_org)
    certify(world, world.other_auditor_org)
    audit = open_audit(world, sv)
    assign(world, audit, world.auditor_org)
    assign(world, audit, world.other_auditor_org)
    return Gate(w=world, sv=sv, audit=audit, reviewer_2=member(world.lab, Role.LAB_REVIEWER, "lab_reviewer_2"))


def days(n: float) -> datetime.timedelta:
    return datetime.timedelta(days=n)
