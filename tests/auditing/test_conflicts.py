"""Rule 2: a declared conflict of interest bars an auditor organisation from a
lab's audits. Declared by the organisation's members or the regulator; ended
only by the regulator."""

from __future__ import annotations

import pytest

from auditing import selectors, services
from auditing.models import AuditAssignment, AuditStatus, ConflictOfInterest
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import AuditEvent
from tests.auditing.conftest import actor, assign, make_system_version, open_audit

pytestmark = pytest.mark.django_db


def declare(world, who="auditor", organisation=None, lab=None, kind="consulted", reason="Advised on the RLHF pipeline"):
    return services.conflict_declare(
        actor=actor(getattr(world, who)),
        organisation=organisation or world.auditor_org,
        lab=lab or world.lab,
        kind=kind,
        reason=reason,
    )


@pytest.mark.parametrize("who", ["auditor", "regulator"])
def test_members_and_the_regulator_declare(world, who):
    conflict = declare(world, who)
    assert conflict.declared_by == getattr(world, who)
    assert selectors.organisation_has_conflict(organisation=world.auditor_org, lab=world.lab)
    assert not selectors.organisation_has_conflict(organisation=world.auditor_org, lab=world.other_lab)
    event = AuditEvent.objects.get(action="conflict.declare", target_id=str(conflict.pk))
    assert set(event.organisations.values_list("pk", flat=True)) == {world.auditor_org.pk, world.lab.pk}


def test_an_academic_declares_for_its_group(world):
    declare(world, "academic", organisation=world.academic_org, kind="economic_interest", reason="Shares")
    assert selectors.organisation_has_conflict(organisation=world.academic_org, lab=world.lab)


@pytest.mark.parametrize("who", ["other_auditor", "lab_admin", "customer", "outsider"])
def test_nobody_else_declares_for_an_organisation(world, who):
    with pytest.raises(Forbidden):
        declare(world, who)
    assert not ConflictOfInterest.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "friendship"}, "kind"),
        ({"reason": "   "}, "reason"),
        ({"who": "regulator", "organisation": "lab"}, "organisation"),
        ({"lab": "other_auditor_org"}, "lab"),
    ],
)
def test_invalid_declarations_are_refused(world, overrides, field):
    kwargs = dict(overrides)
    for key in ("organisation", "lab"):
        if key in kwargs:
            kwargs[key] = getattr(world, kwargs[key])
    with pytest.raises(InvalidInput) as exc:
        declare(world, **kwargs)
    assert field in exc.value.errors
    assert not ConflictOfInterest.objects.exists()


def test_the_same_conflict_is_declared_once(world):
    declare(world)
    with pytest.raises(Conflict) as exc:
        declare(world)
    assert exc.value.code == "conflict_already_declared"
    declare(world, kind="marketed", reason="Co-marketing deal")  # another kind is another conflict
    assert ConflictOfInterest.objects.count() == 2


def test_declaring_ends_assignments_on_the_labs_open_audits_only(
    world, system_version, other_system_version, certified
):
    open_one = open_audit(world, system_version)
    closed_one = open_audit(world, make_system_version(world.lab, world.lab_engineer, name="agent"))
    elsewhere = open_audit(world, other_system_version)
    on_open = assign(world, open_one, world.auditor_org)
    on_closed = assign(world, closed_one, world.auditor_org)
    on_other_lab = assign(world, elsewhere, world.auditor_org)
    colleague = assign(world, open_one, world.other_auditor_org)
    services.audit_close(actor=actor(world.regulator), audit=closed_one, status=AuditStatus.CLOSED)

    declare(world)

    on_open.refresh_from_db()
    assert on_open.ended_at is not None
    assert on_open.end_reason == "conflict of interest declared"
    for untouched in (on_closed, on_other_lab, colleague):
        untouched.refresh_from_db()
        assert untouched.ended_at is None


def test_only_the_regulator_ends_a_conflict(world):
    conflict = declare(world)
    for who in ("auditor", "lab_admin"):
        with pytest.raises(Forbidden):
            services.conflict_end(actor=actor(getattr(world, who)), conflict=conflict, reason="resolved")
    with pytest.raises(InvalidInput) as exc:
        services.conflict_end(actor=actor(world.regulator), conflict=conflict, reason="")
    assert "reason" in exc.value.errors
    services.conflict_end(actor=actor(world.regulator), conflict=conflict, reason="Contract ended two years ago")
    conflict.refresh_from_db()
    assert conflict.ended_by == world.regulator
    assert not selectors.organisation_has_conflict(organisation=world.auditor_org, lab=world.lab)
    with pytest.raises(Conflict) as exc:
        services.conflict_end(actor=actor(world.regulator), conflict=conflict, reason="again")
    assert exc.value.code == "conflict_already_ended"
    assert AuditEvent.objects.filter(action="conflict.end").count() == 1


# API


def test_declare_through_the_api(world, client_for):
    body = {
        "organisation": str(world.auditor_org.pk),
        "lab": str(world.lab.pk),
        "kind": "designed",
        "reason": "Built it",
    }
    r = client_for(world.auditor).post("/api/conflicts", body, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["in_force"] is True
    assert client_for(world.other_auditor).post("/api/conflicts", body, format="json").status_code == 403
    assert client_for(world.lab_admin).post("/api/conflicts", body, format="json").status_code == 403
    assert ConflictOfInterest.objects.count() == 1


def test_bad_declaration_is_400_and_writes_nothing(world, client_for):
    r = client_for(world.auditor).post(
        "/api/conflicts", {"organisation": "x", "lab": str(world.customer_org.pk), "kind": "friendship"}, format="json"
    )
    assert r.status_code == 400
    assert {"organisation", "lab", "kind", "reason"} <= set(r.json()["errors"])
    assert not ConflictOfInterest.objects.exists()


def test_conflict_scoping(world, client_for, api):
    mine = declare(world)
    other = declare(world, "other_auditor", organisation=world.other_auditor_org, lab=world.other_lab)
    listed = lambda user: {c["id"] for c in client_for(user).get("/api/conflicts").json()["results"]}  # noqa: E731
    assert listed(world.regulator) == {str(mine.pk), str(other.pk)}
    assert listed(world.auditor) == {str(mine.pk)}
    assert listed(world.lab_admin) == {str(mine.pk)}  # the lab sees conflicts declared against it
    assert listed(world.other_lab_admin) == {str(other.pk)}
    assert listed(world.customer) == set()
    url = f"/api/conflicts/{mine.pk}"
    assert client_for(world.lab_admin).get(url).status_code == 200
    assert client_for(world.other_auditor).get(url).status_code == 404
    assert client_for(world.other_lab_admin).get(url).status_code == 404
    assert client_for(world.customer).get(url).status_code == 404
    assert api.get(url).status_code == 401
    assert api.get("/api/conflicts").status_code == 401


def test_end_through_the_api(world, client_for):
    conflict = declare(world)
    url = f"/api/conflicts/{conflict.pk}/end"
    assert client_for(world.auditor).post(url, {"reason": "over"}, format="json").status_code == 403
    assert client_for(world.lab_admin).post(url, {"reason": "over"}, format="json").status_code == 403
    assert client_for(world.other_auditor).post(url, {"reason": "over"}, format="json").status_code == 404
    assert client_for(world.regulator).post(url, {"reason": ""}, format="json").status_code == 400
    r = client_for(world.regulator).post(url, {"reason": "Divested"}, format="json")
    assert r.status_code == 200
    assert r.json()["in_force"] is False
    assert r.json()["end_reason"] == "Divested"
    r = client_for(world.regulator).post(url, {"reason": "Divested"}, format="json")
    assert r.status_code == 409
    assert AuditAssignment.objects.count() == 0
