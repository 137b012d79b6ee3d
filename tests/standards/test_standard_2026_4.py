"""Standard 2026.4 (2026.3 with the gateway's attestation incident kinds):
what a fresh database gets, what a database with 2026.3 in force gets, and
that an operator's own standard stays in force. The suites that are smoke
tests are required but do not gate (since 2026.3)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.utils import timezone

from evals.engine import registry
from standards import selectors
from standards.defaults import DEFAULT_PROTOCOLS, DEFAULT_STANDARD, REPORTED_ONLY
from standards.models import Standard, StandardStatus

pytestmark = pytest.mark.django_db

load = importlib.import_module("standards.migrations.0006_standard_2026_4").load


def test_a_fresh_database_has_2026_4_in_force_over_2026_1():
    assert DEFAULT_STANDARD["version"] == "2026.4"
    statuses = dict(Standard.objects.values_list("version", "status"))
    # 0004 and 0005 publish 2026.2 and 2026.3 only while the defaults are those: a fresh database skips them.
    assert statuses == {"2026.1": StandardStatus.SUPERSEDED, "2026.4": StandardStatus.IN_FORCE}
    standard = selectors.standard_in_force()
    assert selectors.standard_content_digest(standard=standard) == standard.content_digest


def test_smoke_test_suites_are_required_but_do_not_gate():
    standard = selectors.standard_in_force()
    rows = list(standard.suite_requirements.values_list("suite", "gates"))
    assert {s for s, _ in rows} >= REPORTED_ONLY | {"insider_trading_deception", "financial_fraud"}
    for suite, gates in rows:
        # The standard follows each suite's declared maturity.
        assert gates == (registry()[suite].maturity == "gating"), suite
        assert gates == (suite not in REPORTED_ONLY)
    # Earlier standards gate on everything they require (the field's default).
    assert not Standard.objects.get(version="2026.1").suite_requirements.filter(gates=False).exists()


def test_the_insider_trading_protocol_runs_the_suites_neutral_default_with_and_without_scratchpad():
    standard = selectors.standard_in_force()
    protocol = standard.protocol_for("insider_trading_deception")
    assert protocol is not None
    suite = registry()["insider_trading_deception"]
    assert list(protocol.conditions) == suite.default_conditions
    assert all("risk=neutral" in c for c in protocol.conditions)
    assert {"scratchpad" in c.split(";") for c in protocol.conditions} == {True, False}
    assert {p["suite"] for p in DEFAULT_PROTOCOLS} == set(standard.protocols)


def test_the_gateways_attestation_incident_kinds_are_in_the_standard():
    kinds = {k.key: k for k in selectors.standard_in_force().incident_kinds.all()}
    mismatch, unattested = kinds["endpoint_not_as_audited"], kinds["endpoint_unattested"]
    assert (mismatch.serious, mismatch.suspends_stage) == (True, True)
    assert (unattested.serious, unattested.suspends_stage) == (False, False)
    assert {"critical_infrastructure", "serious_misuse", "death_or_serious_harm", "other"} < set(kinds)


def _fresh_start(version: str) -> Standard:
    """The database as it was before 0006 ran, with ``version`` in force."""
    Standard.objects.filter(version="2026.4").delete()
    Standard.objects.filter(status=StandardStatus.IN_FORCE).update(status=StandardStatus.SUPERSEDED)
    return Standard.objects.create(
        name="Earlier", version=version, status=StandardStatus.IN_FORCE, in_force_from=timezone.now()
    )


def test_an_existing_2026_3_database_gets_2026_4_in_force_and_2026_3_superseded():
    earlier = _fresh_start("2026.3")
    load(apps, None)
    earlier.refresh_from_db()
    assert earlier.status == StandardStatus.SUPERSEDED
    new = Standard.objects.get(version="2026.4")
    assert new.status == StandardStatus.IN_FORCE and len(new.content_digest) == 64
    assert new.suite_requirements.filter(gates=False).count() == len(REPORTED_ONLY)
    # Running it again publishes nothing twice.
    load(apps, None)
    assert Standard.objects.filter(version="2026.4").count() == 1


def test_an_operators_own_standard_stays_in_force_and_2026_4_is_a_draft():
    own = _fresh_start("2027.1-operator")
    load(apps, None)
    own.refresh_from_db()
    assert own.status == StandardStatus.IN_FORCE
    new = Standard.objects.get(version="2026.4")
    assert new.status == StandardStatus.DRAFT and new.content_digest == "" and new.in_force_from is None
    assert new.suite_requirements.count() > 0


def test_whether_a_suite_gates_is_part_of_the_standard_and_its_digest():
    """Turning a gating requirement into a reported-only one changes what the
    standard says, so it changes the digest; a standard with every suite
    gating keeps the digest it had before the distinction existed."""
    from standards.digest import standard_digest

    head = {k: DEFAULT_STANDARD[k] for k in ("name", "version")} | {
        k: v for k, v in DEFAULT_STANDARD.items() if k not in ("name", "version", "summary")
    }
    row = {
        "suite": "cyber_offense_ctf", "min_suite_version": "", "stage": 2, "trigger": "always", "affordance_id": None,
        "risk_area": "cyber", "threshold_metric": "solve_rate", "threshold_max": 0.2,
    }  # fmt: skip
    gating = standard_digest(head, [row], [])
    assert standard_digest(head, [{**row, "gates": True}], []) == gating
    assert standard_digest(head, [{**row, "gates": False}], []) != gating


def test_a_regulator_drafts_a_reported_only_suite_through_the_api(world, client_for):
    from tests.standards.conftest import draft_payload

    payload = draft_payload()
    payload["suites"][0]["gates"] = False
    r = client_for(world.regulator).post("/api/standards", payload, format="json")
    assert r.status_code == 201, r.content
    gates = {(s["suite"], s["stage"]): s["gates"] for s in r.json()["suites"]}
    assert gates[("insider_trading_deception", 2)] is False and gates[("cyber_offense_ctf", 2)] is True
    standard = Standard.objects.get(pk=r.json()["id"])
    assert standard.suite_requirements.get(suite="insider_trading_deception").gates is False
    bad = draft_payload(version="9.9")
    bad["suites"][0]["gates"] = "sometimes"
    before = Standard.objects.count()
    assert client_for(world.regulator).post("/api/standards", bad, format="json").status_code == 400
    assert Standard.objects.count() == before
