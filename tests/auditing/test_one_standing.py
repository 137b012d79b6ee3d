"""Token issue and the gateway's per-call grant decide auditor and academic
standing with one function (``auditing.standing.standing_decide``) on facts
read by the same expressions: the register, the infosec level and the
assignment refuse alike in both, and both allow again once put right."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from auditing import services, standing
from core.errors import Conflict
from gateway.selectors import GrantRefused, grant_check
from gateway.services import gateway_token_issue, token_digest
from tests.auditing.conftest import actor, assign
from tests.factories import release_at

pytestmark = pytest.mark.django_db


def issue(user: Any, system_version: Any, **kwargs: Any) -> tuple[Any, str]:
    kwargs.setdefault("kind", "auditor")
    token, secret = gateway_token_issue(
        actor=actor(user),
        system_version=system_version,
        name="tests",
        expires_at=timezone.now() + datetime.timedelta(days=7),
        **kwargs,
    )
    assert secret is not None
    return token, secret


def grant_refusal(secret: str, now: datetime.datetime | None = None) -> str | None:
    try:
        grant_check(digest=token_digest(secret), now=now)
    except GrantRefused as refused:
        return refused.code
    return None


def recertify(world: Any, org: Any, level: str) -> None:
    services.certification_issue(
        actor=actor(world.regulator),
        organisation=org,
        expires_at=timezone.now() + datetime.timedelta(days=200),
        risk_areas=["deception", "cyber"],
        infosec_level=level,
    )


@pytest.fixture
def open_system(world, audit, system_version, certified):
    assign(world, audit, world.auditor_org)
    release_at(system_version, 1)
    return system_version


def test_a_relationship_coming_into_force_refuses_every_call_and_every_new_token(world, audit, open_system):
    _, auditor_secret = issue(world.auditor, open_system, audit=audit)
    _, academic_secret = issue(world.academic, open_system, kind="academic")
    assert grant_refusal(auditor_secret) is None and grant_refusal(academic_secret) is None
    starts = timezone.localdate() + datetime.timedelta(days=2)
    for org in (world.auditor_org, world.academic_org):
        services.relationship_record(
            actor=actor(world.regulator),
            organisation=org,
            counterparty=world.lab,
            kind="consulting",
            description="Advised the lab on its release process.",
            starts_on=starts,
        )
    # Recorded for a later start: nothing ends now, and both grants hold until it starts.
    assert grant_refusal(auditor_secret) is None and grant_refusal(academic_secret) is None
    later = timezone.now() + datetime.timedelta(days=3)
    assert grant_refusal(auditor_secret, later) == "conflict_of_interest"
    assert grant_refusal(academic_secret, later) == "conflict_of_interest"
    # Token issue asks the same rule: its answer on that day is the same.
    found = standing.auditor_standing(organisation=world.academic_org, lab=world.lab, at=later)
    assert found.code == "conflict_of_interest" and "consulting relationship" in found.reason


def test_an_organisation_recertified_below_the_level_loses_its_calls_and_its_tokens(
    world, audit, open_system, settings
):
    settings.STAGEGATE_INFOSEC_BY_STAGE = {1: "SL3", 2: "SL3", 3: "SL4"}
    _, secret = issue(world.auditor, open_system, audit=audit)
    assert grant_refusal(secret) is None
    recertify(world, world.auditor_org, "SL2")
    assert grant_refusal(secret) == "infosec_level_too_low"
    with pytest.raises(Conflict) as err:
        issue(world.auditor, open_system, audit=audit)
    assert err.value.code == "infosec_level_too_low"
    recertify(world, world.auditor_org, "SL3")
    assert grant_refusal(secret) is None
    issue(world.auditor, open_system, audit=audit)


def test_an_academic_token_needs_no_assignment_but_an_auditor_token_does(world, audit, open_system):
    _, academic_secret = issue(world.academic, open_system, kind="academic")
    _, auditor_secret = issue(world.auditor, open_system, audit=audit)
    assignment = audit.assignments.get(organisation=world.auditor_org)
    services.assignment_end(actor=actor(world.regulator), assignment=assignment, reason="Reassigned.")
    assert grant_refusal(auditor_secret) == "assignment_ended"
    assert grant_refusal(academic_secret) is None


def test_standing_decide_is_the_rule_on_plain_facts():
    facts = {
        "standing_certified_until": timezone.now(),
        "standing_risk_areas": ["deception"],
        "standing_infosec_level": "SL3",
        "standing_conflict_declared": False,
        "standing_related_kind": None,
        "standing_related_since": None,
        "standing_assigned": None,
    }

    def decide(**over: Any) -> str:
        found = standing.standing_decide(
            {**facts, **over}, organisation_id=1, infosec_level_required="SL3", stage=2, any_of_risk_areas=["deception"]
        )
        return found.code if not found else "ok"

    assert decide() == "ok"
    assert decide(standing_certified_until=None) == "not_certified"
    assert decide(standing_risk_areas=["fairness"]) == "out_of_scope"
    assert decide(standing_infosec_level="SL2") == "infosec_level_too_low"
    assert decide(standing_conflict_declared=True) == "conflict_of_interest"
    assert decide(standing_related_kind="funding", standing_related_since=datetime.date(2026, 1, 1)) == (
        "conflict_of_interest"
    )
    assert decide(standing_assigned=False) == "not_assigned"
    assert decide(standing_assigned=True) == "ok"
