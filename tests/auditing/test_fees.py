"""Rule 4: fees go from the lab to the regulator and from the regulator to the
auditors, are fixed before any result exists and never depend on an outcome."""

from __future__ import annotations

from decimal import Decimal

import pytest

from auditing import services
from auditing.models import Fee, FeeDirection
from core.errors import Conflict, Forbidden
from core.models import AuditEvent
from tests.auditing.conftest import actor, assign

pytestmark = pytest.mark.django_db


@pytest.fixture
def fees(world, audit, certified):
    return {
        "lab": Fee.objects.get(audit=audit, direction=FeeDirection.LAB_TO_REGULATOR),
        "auditor": Fee.objects.get(assignment=assign(world, audit, world.auditor_org, amount="20000.00")),
        "academic": Fee.objects.get(assignment=assign(world, audit, world.academic_org, amount="8000.00")),
    }


def listed(client_for, user, **params):
    r = client_for(user).get("/api/fees", params)
    assert r.status_code == 200
    return {f["id"] for f in r.json()["results"]}


def test_each_party_sees_only_its_own_side(world, client_for, api, fees):
    ids = {k: str(v.pk) for k, v in fees.items()}
    assert listed(client_for, world.regulator) == set(ids.values())
    assert listed(client_for, world.lab_admin) == {ids["lab"]}
    assert listed(client_for, world.auditor) == {ids["auditor"]}
    assert listed(client_for, world.academic) == {ids["academic"]}
    for who in ("other_lab_admin", "other_auditor", "customer", "outsider"):
        assert listed(client_for, getattr(world, who)) == set(), who
    assert api.get("/api/fees").status_code == 401


def test_fee_filters(world, client_for, fees, audit):
    assert listed(client_for, world.regulator, direction="lab_to_regulator") == {str(fees["lab"].pk)}
    assert len(listed(client_for, world.regulator, audit=str(audit.pk))) == 3
    assert client_for(world.regulator).get("/api/fees", {"direction": "sideways"}).status_code == 400


def test_regulator_marks_a_fee_paid_once(world, fees):
    fee = services.fee_mark_paid(actor=actor(world.regulator), fee=fees["auditor"])
    assert fee.paid_at is not None
    assert fee.amount == Decimal("20000.00")
    with pytest.raises(Conflict) as exc:
        services.fee_mark_paid(actor=actor(world.regulator), fee=fees["auditor"])
    assert exc.value.code == "already_paid"
    assert AuditEvent.objects.filter(action="fee.mark_paid", target_id=str(fee.pk)).count() == 1


@pytest.mark.parametrize(("who", "fee"), [("lab_admin", "lab"), ("auditor", "auditor")])
def test_payers_and_payees_cannot_mark_fees_paid(world, fees, who, fee):
    with pytest.raises(Forbidden):
        services.fee_mark_paid(actor=actor(getattr(world, who)), fee=fees[fee])
    fees[fee].refresh_from_db()
    assert fees[fee].paid_at is None


def test_mark_paid_through_the_api(world, client_for, api, fees):
    url = f"/api/fees/{fees['lab'].pk}/paid"
    assert client_for(world.lab_admin).post(url).status_code == 403  # its own fee: visible, not its to mark
    for who in ("auditor", "other_lab_admin", "customer"):
        assert client_for(getattr(world, who)).post(url).status_code == 404, who
    assert api.post(url).status_code == 401
    r = client_for(world.regulator).post(url)
    assert r.status_code == 200
    assert r.json()["paid_at"] is not None
    assert r.json()["amount"] == "50000.00"
    r = client_for(world.regulator).post(url)
    assert r.status_code == 409
    assert r.json()["code"] == "already_paid"


@pytest.mark.parametrize(("status", "reason"), [("closed", ""), ("cancelled", "Lab withdrew the system")])
def test_how_an_audit_ends_changes_no_fee(world, audit, fees, status, reason):
    before = {k: (f.amount, f.currency, f.paid_at) for k, f in fees.items()}
    services.audit_close(actor=actor(world.regulator), audit=audit, status=status, reason=reason)
    for k, f in fees.items():
        f.refresh_from_db()
        assert (f.amount, f.currency, f.paid_at) == before[k]


def test_nothing_in_a_fee_refers_to_an_outcome():
    # A guard against someone adding "bonus_if_passed" or a link to a decision.
    fields = {f.name for f in Fee._meta.get_fields()}
    assert fields == {
        "id",
        "created_at",
        "updated_at",
        "audit",
        "direction",
        "organisation",
        "assignment",
        "amount",
        "currency",
        "paid_at",
        "recorded_by",
    }


def test_services_offer_no_way_to_change_an_amount():
    writers = {name for name in dir(services) if name.startswith("fee_")}
    assert writers == {"fee_mark_paid"}
