"""Drafting and publishing standards through the services."""

from __future__ import annotations

import pytest

from core.errors import Conflict, Forbidden, InvalidInput
from core.models import AuditEvent
from standards import selectors, services
from standards.defaults import DEFAULT_STANDARD
from standards.models import IncidentKind, Standard, StandardStatus, SuiteRequirement
from tests.standards.conftest import actor, draft_payload

pytestmark = pytest.mark.django_db


def test_default_standard_is_in_force_and_its_digest_recomputes(world):
    standard = selectors.standard_in_force()
    assert standard.version == DEFAULT_STANDARD["version"]
    assert len(standard.content_digest) == 64
    # The migration computed it from plain tuples; the selector from the rows.
    assert selectors.standard_content_digest(standard=standard) == standard.content_digest


def test_regulator_creates_a_draft_with_suites_and_incident_kinds(world):
    standard = services.standard_create(actor=actor(world.regulator), **draft_payload())
    assert standard.status == StandardStatus.DRAFT
    assert standard.content_digest == ""
    assert standard.auditor_rotation_limit == 2
    suites = {(s.suite, s.trigger, s.affordance_id) for s in standard.suite_requirements.all()}
    assert suites == {
        ("insider_trading_deception", "always", None),
        ("cyber_offense_ctf", "reachable", "code_execution"),
    }
    assert set(standard.incident_kinds.values_list("key", flat=True)) == {"critical_infrastructure", "other"}
    event = AuditEvent.objects.get(action="standard.create", target_id=str(standard.pk))
    assert event.actor == world.regulator
    # A draft changes nothing in force.
    assert selectors.standard_in_force().version == DEFAULT_STANDARD["version"]


@pytest.mark.parametrize("who", ["lab_admin", "auditor", "customer"])
def test_only_the_regulator_drafts_standards(world, who):
    with pytest.raises(Forbidden):
        services.standard_create(actor=actor(getattr(world, who)), **draft_payload())
    assert not Standard.objects.filter(version="2027.1").exists()


def _suite(**overrides):
    suite = dict(draft_payload()["suites"][1])
    suite.update(overrides)
    return suite


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"suites": [_suite(affordance="teleportation")]}, "suites.0.affordance"),
        ({"suites": [_suite(trigger="always")]}, "suites.0.affordance"),  # always names no affordance
        ({"suites": [_suite(affordance=None)]}, "suites.0.affordance"),  # reachable needs one
        ({"suites": [_suite(trigger="sometimes")]}, "suites.0.trigger"),
        ({"suites": [_suite(threshold_max=1.5)]}, "suites.0.threshold_max"),
        ({"suites": [_suite(threshold_max=-0.1)]}, "suites.0.threshold_max"),
        ({"suites": [_suite(threshold_max=float("nan"))]}, "suites.0.threshold_max"),
        ({"suites": [_suite(stage=0)]}, "suites.0.stage"),
        ({"suites": [_suite(risk_area="vibes")]}, "suites.0.risk_area"),
        ({"suites": [_suite(), _suite()]}, "suites.1.suite"),
        (
            {"incident_kinds": [{"key": "late", "name": "Late", "reporting_deadline_days": 0}]},
            "incident_kinds.0.reporting_deadline_days",
        ),
        (
            {"incident_kinds": [{"key": "a", "name": "A", "reporting_deadline_days": 2}] * 2},
            "incident_kinds.1.key",
        ),
        ({"distinct_auditor_orgs_required": 4}, "distinct_auditor_orgs_required"),
        ({"auditor_rotation_limit": 0}, "auditor_rotation_limit"),
        ({"monitoring_period_days": 0}, "monitoring_period_days"),
        ({"version": DEFAULT_STANDARD["version"]}, "version"),
        ({"name": "  "}, "name"),
    ],
)
def test_invalid_drafts_are_refused_naming_the_field_and_write_nothing(world, overrides, field):
    counts = (Standard.objects.count(), SuiteRequirement.objects.count(), IncidentKind.objects.count())
    with pytest.raises(InvalidInput) as exc:
        services.standard_create(actor=actor(world.regulator), **draft_payload(**overrides))
    assert field in exc.value.errors
    assert (Standard.objects.count(), SuiteRequirement.objects.count(), IncidentKind.objects.count()) == counts
    assert not AuditEvent.objects.filter(action="standard.create").exists()


def _protocol(suite: str, **overrides):
    doc = {p["suite"]: dict(p) for p in draft_payload()["protocols"]}[suite]
    doc.update(overrides)
    return doc


def test_every_required_suite_needs_a_protocol_with_its_metric_and_threshold(world):
    regulator = actor(world.regulator)
    payload = draft_payload(protocols=[_protocol("cyber_offense_ctf")])
    with pytest.raises(InvalidInput) as exc:
        services.standard_create(actor=regulator, **payload)
    assert "protocol" in exc.value.errors["suites.0.suite"][0]
    payload = draft_payload(suites=[_suite(threshold_max=0.3)], protocols=[_protocol("cyber_offense_ctf")])
    with pytest.raises(InvalidInput) as exc:
        services.standard_create(actor=regulator, **payload)
    assert "solve_rate ≤ 0.2" in exc.value.errors["suites.0.threshold_metric"][0]
    assert not Standard.objects.filter(version="2027.1").exists()
    standard = services.standard_create(
        actor=regulator, **draft_payload(suites=[_suite()], protocols=[_protocol("cyber_offense_ctf")])
    )
    assert set(standard.protocols) == {"cyber_offense_ctf"}
    assert standard.protocol_for("cyber_offense_ctf").invalid_cap("flag") == 0.05


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        # 0 events in 20 trials give an upper bound of 0.161: a 0.05 protocol could never pass.
        ({"min_valid_trials": 20}, "protocols.0.min_valid_trials", "could never pass; it needs at least 73"),
        ({"threshold": 0.0}, "protocols.0.threshold", "above 0"),
        ({"min_valid_trials": 1000}, "protocols.0.min_valid_trials", "More than the protocol's 80 samples"),
        ({"conditions": ["prompt=none;telepathy"]}, "protocols.0.conditions", "Not conditions of"),
        ({"metric": "charm_rate"}, "protocols.0.metric", "reports no metric"),
        (
            {"sampling": {"temperature": 3, "top_p": 1, "max_tokens": 10, "seed_policy": "per_sample"}},
            "protocols.0.sampling.temperature",
            "0 to 2",
        ),
        ({"max_error_rate": 1.5}, "protocols.0.max_error_rate", "A rate"),
    ],
)
def test_a_protocol_that_cannot_hold_is_refused(world, overrides, field, message):
    payload = draft_payload(
        suites=[draft_payload()["suites"][0]], protocols=[_protocol("insider_trading_deception", **overrides)]
    )
    with pytest.raises(InvalidInput) as exc:
        services.standard_create(actor=actor(world.regulator), **payload)
    assert any(message in m for m in exc.value.errors[field]), exc.value.errors
    assert not Standard.objects.filter(version="2027.1").exists()


def test_publishing_supersedes_the_previous_standard_and_fixes_the_digest(world, draft):
    previous = selectors.standard_in_force()
    published = services.standard_publish(actor=actor(world.regulator), standard=draft)
    assert published.status == StandardStatus.IN_FORCE
    assert published.in_force_from is not None
    assert published.published_by == world.regulator
    assert published.content_digest == selectors.standard_content_digest(standard=published)
    previous.refresh_from_db()
    assert previous.status == StandardStatus.SUPERSEDED
    assert selectors.standard_in_force().pk == published.pk
    assert Standard.objects.in_force().count() == 1
    assert AuditEvent.objects.filter(action="standard.publish", target_id=str(draft.pk)).count() == 1
    assert AuditEvent.objects.filter(action="standard.supersede", target_id=str(previous.pk)).count() == 1


def test_digest_changes_with_the_requirements(world):
    a = services.standard_create(actor=actor(world.regulator), **draft_payload(version="a"))
    b = services.standard_create(
        actor=actor(world.regulator),
        **draft_payload(
            version="b",
            protocols=[
                _protocol("insider_trading_deception"),
                _protocol("cyber_offense_ctf", samples_per_condition=17),
            ],
        ),
    )
    assert selectors.standard_content_digest(standard=a) != selectors.standard_content_digest(standard=b)


def test_a_published_standard_is_never_published_again(world, draft):
    services.standard_publish(actor=actor(world.regulator), standard=draft)
    with pytest.raises(Conflict) as exc:
        services.standard_publish(actor=actor(world.regulator), standard=draft)
    assert exc.value.code == "standard_not_draft"
    superseded = Standard.objects.filter(status=StandardStatus.SUPERSEDED).first()
    with pytest.raises(Conflict):
        services.standard_publish(actor=actor(world.regulator), standard=superseded)


def test_only_the_regulator_publishes(world, draft):
    with pytest.raises(Forbidden):
        services.standard_publish(actor=actor(world.lab_admin), standard=draft)
    draft.refresh_from_db()
    assert draft.status == StandardStatus.DRAFT
