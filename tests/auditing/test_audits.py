"""Audits: opened and closed by the regulator, under the standard in force, with
the lab's fee fixed at opening. Who sees which audit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from auditing import services
from auditing.models import Audit, AuditStatus, Fee, FeeDirection
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import AuditEvent
from standards import services as standard_services
from standards.models import Standard, StandardStatus
from tests.auditing.conftest import actor, open_audit
from tests.standards.conftest import draft_payload

pytestmark = pytest.mark.django_db


def test_regulator_opens_an_audit_under_the_standard_in_force(world, system_version):
    audit = open_audit(world, system_version, amount="75000.50", currency="EUR")
    assert audit.lab == world.lab
    assert audit.standard == Standard.objects.in_force().get()
    assert audit.status == AuditStatus.OPEN
    fee = Fee.objects.get(audit=audit)
    assert (fee.direction, fee.organisation, fee.amount, fee.currency) == (
        FeeDirection.LAB_TO_REGULATOR,
        world.lab,
        Decimal("75000.50"),
        "EUR",
    )
    assert fee.assignment is None
    assert AuditEvent.objects.filter(action="audit.open", target_id=str(audit.pk)).exists()
    fee_event = AuditEvent.objects.get(action="fee.record", target_id=str(fee.pk))
    assert set(fee_event.organisations.values_list("pk", flat=True)) == {world.lab.pk}


def test_an_audit_keeps_the_standard_it_opened_under(world, system_version):
    audit = open_audit(world, system_version)
    opened_under = audit.standard_id
    draft = standard_services.standard_create(actor=actor(world.regulator), **draft_payload())
    standard_services.standard_publish(actor=actor(world.regulator), standard=draft)
    audit.refresh_from_db()
    assert audit.standard_id == opened_under
    assert open_audit(world, system_version).standard_id == draft.pk


@pytest.mark.parametrize("who", ["lab_admin", "auditor", "customer"])
def test_only_the_regulator_opens_audits(world, system_version, who):
    with pytest.raises(Forbidden):
        services.audit_open(actor=actor(getattr(world, who)), system_version=system_version, lab_fee_amount=Decimal(1))
    assert not Audit.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lab_fee_amount": Decimal("0")}, "lab_fee_amount"),
        ({"lab_fee_amount": Decimal("-10")}, "lab_fee_amount"),
        ({"lab_fee_amount": Decimal("10.001")}, "lab_fee_amount"),
        ({"lab_fee_amount": Decimal("NaN")}, "lab_fee_amount"),
        ({"currency": "pounds"}, "currency"),
        ({"kind": "vibe_check"}, "kind"),
    ],
)
def test_invalid_audits_are_refused(world, system_version, overrides, field):
    fields = {"lab_fee_amount": Decimal("100"), "currency": "GBP", "kind": "initial"}
    fields.update(overrides)
    with pytest.raises(InvalidInput) as exc:
        services.audit_open(actor=actor(world.regulator), system_version=system_version, **fields)
    assert field in exc.value.errors
    assert not Audit.objects.exists()
    assert not Fee.objects.exists()


def test_no_audit_without_a_standard_in_force(world, system_version):
    Standard.objects.update(status=StandardStatus.SUPERSEDED)
    with pytest.raises(Conflict) as exc:
        open_audit(world, system_version)
    assert exc.value.code == "no_standard_in_force"
    assert not Audit.objects.exists()


def test_close_and_cancel(world, system_version):
    audit = open_audit(world, system_version)
    with pytest.raises(Forbidden):
        services.audit_close(actor=actor(world.lab_admin), audit=audit, status="closed")
    with pytest.raises(InvalidInput) as exc:
        services.audit_close(actor=actor(world.regulator), audit=audit, status="cancelled", reason="")
    assert "reason" in exc.value.errors
    with pytest.raises(InvalidInput) as exc:
        services.audit_close(actor=actor(world.regulator), audit=audit, status="open")
    assert "status" in exc.value.errors
    services.audit_close(actor=actor(world.regulator), audit=audit, status="closed", reason="All gates decided")
    audit.refresh_from_db()
    assert audit.status == AuditStatus.CLOSED
    assert audit.closed_at is not None
    with pytest.raises(Conflict) as exc:
        services.audit_close(actor=actor(world.regulator), audit=audit, status="cancelled", reason="oops")
    assert exc.value.code == "audit_not_open"
    cancelled = open_audit(world, system_version)
    services.audit_close(actor=actor(world.regulator), audit=cancelled, status="cancelled", reason="Version withdrawn")
    assert AuditEvent.objects.filter(action="audit.close").count() == 1
    assert AuditEvent.objects.filter(action="audit.cancel").count() == 1


# API


def _open_body(sv, **overrides):
    body = {"system_version": str(sv.pk), "kind": "initial", "scope_notes": "Stage 1", "lab_fee_amount": "50000.00"}
    body.update(overrides)
    return body


def test_open_through_the_api(world, client_for, system_version):
    r = client_for(world.regulator).post("/api/audits", _open_body(system_version), format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["lab"] == str(world.lab.pk)
    assert body["status"] == "open"
    assert body["assignments"] == []
    assert "amount" not in str(body)  # fees are read through /api/fees, scoped


@pytest.mark.parametrize("who", ["lab_admin", "other_lab_admin", "auditor", "customer", "outsider"])
def test_only_the_regulator_opens_through_the_api(world, client_for, system_version, who):
    r = client_for(getattr(world, who)).post("/api/audits", _open_body(system_version), format="json")
    assert r.status_code == 403
    assert not Audit.objects.exists()


def test_anonymous_cannot_open_or_list(world, api, system_version):
    assert api.post("/api/audits", _open_body(system_version), format="json").status_code == 401
    assert api.get("/api/audits").status_code == 401


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lab_fee_amount": "0"}, "lab_fee_amount"),
        ({"lab_fee_amount": "lots"}, "lab_fee_amount"),
        ({"currency": "gbp"}, "currency"),
        ({"kind": "vibe_check"}, "kind"),
        ({"system_version": "00000000-0000-0000-0000-000000000000"}, "system_version"),
        ({"system_version": None}, "system_version"),
    ],
)
def test_bad_open_is_400_naming_the_field_and_writes_nothing(world, client_for, system_version, overrides, field):
    r = client_for(world.regulator).post("/api/audits", _open_body(system_version, **overrides), format="json")
    assert r.status_code == 400
    assert field in r.json()["errors"]
    assert not Audit.objects.exists()
    assert not Fee.objects.exists()


def test_audit_scoping(world, client_for, api, audit, assignment):
    url = f"/api/audits/{audit.pk}"
    for who in ("regulator", "lab_admin", "lab_engineer", "lab_reviewer", "auditor"):
        r = client_for(getattr(world, who)).get(url)
        assert r.status_code == 200, who
        assert [a["organisation"] for a in r.json()["assignments"]] == [str(world.auditor_org.pk)]
    for who in ("other_lab_admin", "other_auditor", "academic", "customer", "outsider"):
        assert client_for(getattr(world, who)).get(url).status_code == 404, who
    assert api.get(url).status_code == 401
    listed = lambda user: [a["id"] for a in client_for(user).get("/api/audits").json()["results"]]  # noqa: E731
    assert listed(world.lab_admin) == [str(audit.pk)]
    assert listed(world.auditor) == [str(audit.pk)]
    assert listed(world.other_lab_admin) == []
    assert listed(world.other_auditor) == []
    assert listed(world.customer) == []
    assert listed(world.regulator) == [str(audit.pk)]


def test_list_filters(world, client_for, audit, other_system_version):
    other = open_audit(world, other_system_version)
    services.audit_close(actor=actor(world.regulator), audit=other, status="closed")
    c = client_for(world.regulator)
    assert [a["id"] for a in c.get("/api/audits", {"status": "open"}).json()["results"]] == [str(audit.pk)]
    assert [a["id"] for a in c.get("/api/audits", {"lab": str(world.other_lab.pk)}).json()["results"]] == [
        str(other.pk)
    ]
    assert c.get("/api/audits", {"status": "bogus"}).status_code == 400


def test_close_through_the_api(world, client_for, audit):
    url = f"/api/audits/{audit.pk}/close"
    assert client_for(world.lab_admin).post(url, {"status": "closed"}, format="json").status_code == 403
    assert client_for(world.other_lab_admin).post(url, {"status": "closed"}, format="json").status_code == 404
    assert client_for(world.regulator).post(url, {"status": "finished"}, format="json").status_code == 400
    assert client_for(world.regulator).post(url, {"status": "cancelled"}, format="json").status_code == 400
    r = client_for(world.regulator).post(url, {"status": "cancelled", "reason": "Withdrawn"}, format="json")
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    assert client_for(world.regulator).post(url, {"status": "closed"}, format="json").status_code == 409


def test_audit_list_query_count_does_not_grow_with_audits(world, client_for, certified):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.auditing.conftest import assign, make_system_version

    def count() -> int:
        c = client_for(world.regulator)
        with CaptureQueriesContext(connection) as ctx:
            assert c.get("/api/audits").status_code == 200
        return len(ctx.captured_queries)

    orgs = [world.auditor_org, world.other_auditor_org, world.academic_org]  # rotating, as the standard wants

    def add(i: int) -> None:
        audit = open_audit(world, make_system_version(world.lab, world.lab_engineer, name=f"a{i}"))
        assign(world, audit, orgs[i % 3])

    for i in range(2):
        add(i)
    few = count()
    for i in range(2, 6):
        add(i)
    assert count() == few
