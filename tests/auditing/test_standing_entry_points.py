"""The standing rule (auditing.standing) at the entry points outside auditing:
gateway token issue, incident reports and evaluation run starts. Each shows
one refusal per rule and the allowance once the rule holds."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from auditing import services
from core.errors import Conflict
from gateway.models import GatewayToken
from gateway.services import gateway_token_issue
from monitoring import services as monitoring
from monitoring.models import Incident
from tests.auditing.conftest import actor
from tests.factories import release_at


def recertify(world: Any, org: Any, risk_areas: list[str], level: str) -> Any:
    return services.certification_issue(
        actor=actor(world.regulator),
        organisation=org,
        expires_at=timezone.now() + datetime.timedelta(days=200),
        risk_areas=risk_areas,
        infosec_level=level,
    )


def relate(world: Any, org: Any, lab: Any, kind: str = "funding", **dates: Any) -> Any:
    dates.setdefault("starts_on", timezone.localdate() - datetime.timedelta(days=30))
    return services.relationship_record(
        actor=actor(world.regulator),
        organisation=org,
        counterparty=lab,
        kind=kind,
        description="Recorded by the regulator's inquiry.",
        **dates,
    )


def token(user: Any, sv: Any, **kw: Any) -> Any:
    kw.setdefault("kind", "auditor")
    return gateway_token_issue(
        actor=actor(user), system_version=sv, name="t", expires_at=timezone.now() + datetime.timedelta(days=3), **kw
    )


# Gateway token issue


@pytest.mark.django_db
def test_token_issue_refuses_an_infosec_level_below_the_stage_one_floor(world, system_version, audit, assignment):
    release_at(system_version, 1)
    recertify(world, world.auditor_org, ["deception"], "SL1")
    with pytest.raises(Conflict) as e:
        token(world.auditor, system_version, audit=audit)
    assert e.value.code == "infosec_level_too_low"
    assert not GatewayToken.objects.exists()
    recertify(world, world.auditor_org, ["deception"], "SL2")
    issued, secret = token(world.auditor, system_version, audit=audit)
    assert issued.organisation_id == world.auditor_org.pk and secret


@pytest.mark.django_db
def test_token_issue_refuses_an_organisation_in_a_registered_relationship(world, system_version, audit, certified):
    release_at(system_version, 1)
    services.audit_assign(
        actor=actor(world.regulator), audit=audit, organisation=world.auditor_org, payout_amount="100.00"
    )
    # An academic group whose member moved from the lab: no academic token either.
    relate(world, world.academic_org, world.lab, kind="employment_move")
    with pytest.raises(Conflict) as e:
        token(world.academic, system_version, kind="academic")
    assert e.value.code == "conflict_of_interest" and "employment move" in e.value.detail
    issued, _ = token(world.auditor, system_version, audit=audit)  # the auditor is not related
    assert issued.kind == "auditor"
    relate(world, world.auditor_org, world.lab, kind="ownership")
    # The relationship ended the assignment: only an assigned auditor asks for a token.
    assert not audit.assignments.filter(organisation=world.auditor_org, ended_at__isnull=True).exists()
    assert GatewayToken.objects.count() == 1


@pytest.mark.django_db
def test_token_issue_keeps_its_code_for_an_invalid_certification(world, system_version, audit, assignment, certified):
    release_at(system_version, 1)
    services.certification_suspend(
        actor=actor(world.regulator), certification=certified["auditor"], reason="Controls review."
    )
    with pytest.raises(Conflict) as e:
        token(world.auditor, system_version, audit=audit)
    assert e.value.code == "certification_invalid"


# Incident reports


def report(user: Any, sv: Any) -> Any:
    return monitoring.incident_report(
        actor=actor(user),
        system_version=sv,
        kind="other",
        title="Safeguard bypassed",
        description="The model wrote working exploit code when asked in French.",
        occurred_at=timezone.now() - datetime.timedelta(hours=6),
        aware_at=timezone.now() - datetime.timedelta(hours=2),
    )


@pytest.mark.django_db
def test_an_assigned_academic_files_an_incident(world, system_version, audit, certified):
    services.audit_assign(
        actor=actor(world.regulator), audit=audit, organisation=world.academic_org, payout_amount="100.00"
    )
    incident = report(world.academic, system_version)
    assert incident.reporter_organisation_id == world.academic_org.pk


@pytest.mark.django_db
def test_an_assigned_auditor_without_standing_files_no_incident(world, system_version, audit, assignment):
    recertify(world, world.auditor_org, ["deception"], "SL1")
    with pytest.raises(Conflict) as e:
        report(world.auditor, system_version)
    assert e.value.code == "infosec_level_too_low"
    assert not Incident.objects.exists()
    recertify(world, world.auditor_org, ["deception"], "SL3")
    assert report(world.auditor, system_version).reporter_organisation_id == world.auditor_org.pk


# Evaluation run start


def start(user: Any, audit: Any, suite: str = "insider_trading_deception") -> Any:
    from evals.services import eval_run_start

    return eval_run_start(actor=actor(user), audit=audit, suite=suite, samples_per_condition=1, enqueue=False)


@pytest.mark.django_db
def test_an_auditor_certified_only_for_fairness_cannot_start_a_deception_run(world, system_version, audit, assignment):
    from evals.models import EvalRun

    release_at(system_version, 1)
    recertify(world, world.auditor_org, ["fairness"], "SL3")
    with pytest.raises(Conflict) as e:
        start(world.auditor, audit)
    assert e.value.code == "out_of_scope" and "deception" in e.value.detail
    assert not EvalRun.objects.exists()
    recertify(world, world.auditor_org, ["fairness", "deception"], "SL3")
    run = start(world.auditor, audit)
    assert run.organisation_id == world.auditor_org.pk


@pytest.mark.django_db
def test_a_run_of_a_stage_two_suite_needs_the_stage_two_infosec_level(world, system_version, audit, assignment):
    from evals.models import EvalRun

    release_at(system_version, 1)
    recertify(world, world.auditor_org, ["deception"], "SL2")  # enough for stage 1 work, not stage 2 suites
    with pytest.raises(Conflict) as e:
        start(world.auditor, audit)
    assert e.value.code == "infosec_level_too_low" and "SL3" in e.value.detail
    assert not EvalRun.objects.exists()
