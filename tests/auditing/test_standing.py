"""Auditor standing (auditing.standing), one rule at each auditing entry point:
certification scope (risk areas) and infosec level checked against what the
standard requires, conflicts from the register, and what losing standing
does to pending work (sign-offs void, own critical findings no longer
closable). Stage 2 of the default standard requires insider_trading_deception
(risk area deception), always."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from auditing import services, standing
from auditing.models import Finding, SignOff
from core import dsse
from core.errors import Conflict
from tests.auditing.conftest import actor
from tests.auditing.test_signoffs import envelope, register, statement, submit


def recertify(world: Any, org: Any, risk_areas: list[str], level: str = "SL3") -> Any:
    """A renewal that supersedes the current certification (narrower or lower)."""
    return services.certification_issue(
        actor=actor(world.regulator),
        organisation=org,
        expires_at=timezone.now() + datetime.timedelta(days=200),
        risk_areas=risk_areas,
        infosec_level=level,
    )


@pytest.fixture
def key(world, client_for, assignment) -> Ed25519PrivateKey:
    k = Ed25519PrivateKey.generate()
    assert register(client_for(world.auditor), k).status_code == 201
    r = client_for(world.regulator).post(f"/api/keys/{dsse.keyid_of(k.public_key())}/approve")
    assert r.status_code == 200, r.content
    return k


FINDING: dict[str, Any] = {
    "title": "Lies about the trade",
    "description": "Denies using the tip in 30 of 50 runs.",
    "severity": "critical",
    "risk_area": "deception",
    "capability_kind": "contextual",
}


# The rule itself


@pytest.mark.django_db
def test_infosec_order_and_default_stage_levels():
    assert standing.infosec_meets("SL3", "SL3") and standing.infosec_meets("SL4", "SL3")
    assert not standing.infosec_meets("SL2", "SL3") and not standing.infosec_meets("bogus", "SL1")
    assert standing.infosec_required(stage=1) == "SL2"
    assert standing.infosec_required(stage=2) == "SL3"


@pytest.mark.django_db
def test_required_risk_areas_follow_the_standard_and_the_systems_affordances(world, audit):
    assert standing.risk_areas_required(audit=audit, stage=1) == set()
    assert standing.risk_areas_required(audit=audit, stage=2) == {"deception"}
    # Declaring code execution makes the cyber suite (and its risk area) required too.
    from labs.models import Affordance

    aff = Affordance.objects.filter(key="code_execution").first()
    if aff is None:
        aff = Affordance.objects.create(key="code_execution", name="Code execution")
    audit.system_version.affordances.add(aff)
    assert standing.risk_areas_required(audit=audit, stage=2) == {"deception", "cyber"}


@pytest.mark.django_db
def test_each_rule_refuses_with_its_own_code(world, audit, assignment, certified):
    org, lab = world.auditor_org, world.lab

    def check(**kw: Any) -> standing.Standing:
        return standing.auditor_standing(organisation=org, lab=lab, audit=audit, **kw)

    assert check(risk_areas=["deception"], stage=2).ok
    assert check(risk_areas=["fairness"]).code == "out_of_scope"
    recertify(world, org, ["deception"], "SL2")
    assert check(risk_areas=["deception"], stage=1).ok
    found = check(risk_areas=["deception"], stage=2)
    assert found.code == "infosec_level_too_low" and "SL3" in found.reason and "SL2" in found.reason
    recertify(world, org, ["deception"], "SL3")
    other = standing.auditor_standing(organisation=world.other_auditor_org, lab=lab, audit=audit)
    assert other.code == "not_assigned"  # certified (the fixture), not on this audit
    services.certification_suspend(
        actor=actor(world.regulator), certification=certified["other_auditor"], reason="Under review."
    )
    other = standing.auditor_standing(organisation=world.other_auditor_org, lab=lab, audit=audit)
    assert other.code == "not_certified"
    services.relationship_record(
        actor=actor(world.regulator),
        organisation=org,
        counterparty=lab,
        kind="funding",
        description="The lab funds a fellowship at the auditor.",
        starts_on=timezone.localdate() - datetime.timedelta(days=10),
    )
    found = check()
    assert found.code == "conflict_of_interest" and "funding" in found.reason


# Sign-offs


@pytest.mark.django_db
def test_an_auditor_certified_only_for_fairness_cannot_sign_off_a_deception_stage(
    world, client_for, audit, key, system_version
):
    client = client_for(world.auditor)
    doc = statement(client, system_version, audit, stage=2)  # fetched while in scope
    recertify(world, world.auditor_org, ["fairness"])
    r = submit(client, envelope(doc, key))
    assert r.status_code == 409 and r.json()["code"] == "out_of_scope", r.content
    assert "deception" in r.json()["detail"]
    assert not SignOff.objects.exists()
    r = client.get(
        f"/api/signoffs/statement?system_version={system_version.pk}&stage=2&decision=approve&audit={audit.pk}"
    )
    assert r.status_code == 409 and r.json()["code"] == "out_of_scope"
    # Back in scope, the same statement's successor is accepted.
    recertify(world, world.auditor_org, ["fairness", "deception"])
    assert submit(client, envelope(statement(client, system_version, audit, stage=2), key)).status_code == 201


@pytest.mark.django_db
def test_sl2_is_refused_where_the_stage_requires_sl3_and_allowed_where_sl2_suffices(
    world, client_for, audit, key, system_version
):
    client = client_for(world.auditor)
    recertify(world, world.auditor_org, ["deception"], "SL2")
    r = client.get(
        f"/api/signoffs/statement?system_version={system_version.pk}&stage=2&decision=approve&audit={audit.pk}"
    )
    assert r.status_code == 409 and r.json()["code"] == "infosec_level_too_low", r.content
    r = submit(client, envelope(statement(client, system_version, audit, stage=1), key))
    assert r.status_code == 201, r.content


@pytest.mark.django_db
def test_suspension_voids_pending_signoffs(world, client_for, audit, key, system_version, certified):
    client = client_for(world.auditor)
    r = submit(client, envelope(statement(client, system_version, audit, stage=2), key))
    assert r.status_code == 201
    services.certification_suspend(actor=actor(world.regulator), certification=certified["auditor"], reason="Breach.")
    signoff = SignOff.objects.get(pk=r.json()["id"])
    assert signoff.status == "void" and signoff.void_reason == "certification suspended"


@pytest.mark.django_db
def test_a_declared_conflict_or_a_registered_relationship_voids_pending_signoffs(
    world, client_for, audit, key, system_version
):
    client = client_for(world.auditor)
    first = submit(client, envelope(statement(client, system_version, audit, stage=2), key)).json()["id"]
    services.relationship_record(
        actor=actor(world.regulator),
        organisation=world.lab,
        counterparty=world.auditor_org,
        kind="ownership",
        description="The lab's parent holds 30% of the auditor.",
        starts_on=timezone.localdate(),
    )
    signoff = SignOff.objects.get(pk=first)
    assert signoff.status == "void" and "register" in signoff.void_reason
    assert not audit.assignments.filter(organisation=world.auditor_org, ended_at__isnull=True).exists()


# Findings


@pytest.mark.django_db
def test_fairness_only_auditor_files_fairness_findings_but_not_deception_ones(world, audit, assignment):
    recertify(world, world.auditor_org, ["fairness"])
    with pytest.raises(Conflict) as e:
        services.finding_file(actor=actor(world.auditor), audit=audit, **FINDING)
    assert e.value.code == "out_of_scope"
    assert not Finding.objects.exists()
    f = services.finding_file(actor=actor(world.auditor), audit=audit, **{**FINDING, "risk_area": "fairness"})
    assert f.organisation_id == world.auditor_org.pk


@pytest.mark.django_db
def test_an_auditor_out_of_scope_cannot_close_a_critical_finding(world, audit, assignment):
    finding = services.finding_file(actor=actor(world.auditor), audit=audit, **FINDING)
    recertify(world, world.auditor_org, ["fairness"])
    with pytest.raises(Conflict) as e:
        services.finding_close(actor=actor(world.auditor), finding=finding, note="Fixed.")
    assert e.value.code == "out_of_scope"
    finding.refresh_from_db()
    assert finding.status == "open"
    recertify(world, world.auditor_org, ["deception"])
    assert services.finding_close(actor=actor(world.auditor), finding=finding, note="Fixed.").status == "closed"


@pytest.mark.django_db
def test_a_revoked_organisation_cannot_close_its_own_critical_finding(world, audit, assignment, certified):
    finding = services.finding_file(actor=actor(world.auditor), audit=audit, **FINDING)
    services.certification_revoke(actor=actor(world.regulator), certification=certified["auditor"], reason="Fraud.")
    with pytest.raises(Conflict) as e:
        services.finding_close(actor=actor(world.auditor), finding=finding, note="All good.")
    assert e.value.code == "not_certified"
    finding.refresh_from_db()
    assert finding.status == "open"  # it stays, and still blocks
    # The regulator still can.
    closed = services.finding_close(actor=actor(world.regulator), finding=finding, note="Verified independently.")
    assert closed.status == "closed"


@pytest.mark.django_db
def test_a_conflicted_organisation_cannot_reopen_by_retest(world, audit, assignment, system_version):
    finding = services.finding_file(actor=actor(world.auditor), audit=audit, **FINDING)
    services.finding_mitigate(actor=actor(world.lab_admin), finding=finding, note="Patched the prompt.")
    services.relationship_record(
        actor=actor(world.regulator),
        organisation=world.auditor_org,
        counterparty=world.lab,
        kind="consulting",
        description="Consulted for the lab on its red-teaming.",
        starts_on=timezone.localdate() - datetime.timedelta(days=3),
    )
    with pytest.raises(Conflict) as e:
        services.finding_retest(
            actor=actor(world.auditor), finding=finding, system_version=system_version, outcome="persists"
        )
    assert e.value.code == "conflict_of_interest"
    finding.refresh_from_db()
    assert finding.status == "mitigated"


@pytest.mark.django_db
def test_a_signer_needs_one_required_area_and_the_gate_needs_them_all_covered(
    world, client_for, audit, key, system_version, certified
):
    from labs.models import Affordance

    aff = Affordance.objects.filter(key="code_execution").first() or Affordance.objects.create(
        key="code_execution", name="Code execution"
    )
    system_version.affordances.add(aff)  # stage 2 now requires deception and cyber suites
    recertify(world, world.auditor_org, ["deception"])
    recertify(world, world.other_auditor_org, ["fairness"])
    assert standing.risk_areas_uncovered(audit=audit, stage=2, organisations=[world.auditor_org]) == {"cyber"}
    assert standing.risk_areas_uncovered(
        audit=audit, stage=2, organisations=[world.auditor_org, world.other_auditor_org]
    ) == {"cyber"}
    recertify(world, world.other_auditor_org, ["cyber"])
    assert (
        standing.risk_areas_uncovered(audit=audit, stage=2, organisations=[world.auditor_org, world.other_auditor_org])
        == set()
    )
    # The deception-only auditor still signs (it vouches for its own scope).
    client = client_for(world.auditor)
    assert submit(client, envelope(statement(client, system_version, audit, stage=2), key)).status_code == 201
