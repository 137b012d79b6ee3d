"""The audit trail is append-only, written in the service's transaction, and scoped."""

from __future__ import annotations

import itertools

import pytest
from django.db import DatabaseError, connection, transaction

from core.actors import actor_for
from core.audit import audit_event_record
from core.models import AppendOnlyError, AuditEvent, Organisation
from core.services import organisation_create

pytestmark = pytest.mark.django_db


def _event(world) -> AuditEvent:
    organisation_create(actor=actor_for(world.regulator), kind="lab", name="Cobalt", slug="cobalt")
    return AuditEvent.objects.get(action="organisation.create")


def test_orm_refuses_update_and_delete(world):
    event = _event(world)
    event.action = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_database_refuses_update_and_delete_behind_the_orm(world):
    event = _event(world)
    for statement in (
        "UPDATE core_auditevent SET action = 'x' WHERE id = %s",
        "DELETE FROM core_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(statement, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "organisation.create"


@pytest.mark.django_db(transaction=True)
def test_event_outside_a_transaction_is_refused(world):
    org = Organisation.objects.get(slug="aurora")
    with pytest.raises(RuntimeError, match="inside the service's transaction"):
        audit_event_record(actor=actor_for(world.regulator), action="x", target=org)


def test_failed_service_leaves_no_event(world):
    before = AuditEvent.objects.count()
    with pytest.raises(Exception):  # noqa: B017 - duplicate slug: any refusal will do
        organisation_create(actor=actor_for(world.regulator), kind="lab", name="Dup", slug="aurora")
    assert AuditEvent.objects.count() == before


def test_events_are_scoped_to_the_organisations_they_concern(world, client_for):
    organisation_create(actor=actor_for(world.regulator), kind="lab", name="Cobalt", slug="cobalt")
    from core.models import Membership
    from core.services import membership_create

    membership_create(
        actor=actor_for(world.lab_admin),
        organisation=world.lab,
        user=world.outsider,
        role="lab_reviewer",
    )
    actions = lambda user: {e["action"] for e in client_for(user).get("/api/audit-events").json()["results"]}  # noqa: E731
    assert {"organisation.create", "membership.create"} <= actions(world.regulator)
    assert "membership.create" in actions(world.lab_admin)
    assert "membership.create" not in actions(world.other_lab_admin)
    assert "organisation.create" not in actions(world.auditor)
    assert Membership.objects.filter(user=world.outsider).count() == 1


def test_a_lab_admin_invites_and_only_the_person_makes_it_a_membership(world):
    """A lab admin once attached the lab's own auditor and the regulator to the
    lab without their knowledge; now an admin's addition is an invitation."""
    from core.actors import actor_for
    from core.errors import Conflict, Forbidden
    from core.models import Membership
    from core.services import membership_accept, membership_create

    invited = membership_create(
        actor=actor_for(world.lab_admin), organisation=world.lab, user=world.regulator, role="lab_engineer"
    )
    assert invited.accepted_at is None
    # Until accepted it confers nothing: the regulator is no member of the lab.
    assert world.lab.pk not in actor_for(world.regulator).lab_ids
    assert not Membership.objects.active().filter(pk=invited.pk).exists()
    with pytest.raises(Forbidden):
        membership_accept(actor=actor_for(world.lab_admin), membership=invited)
    accepted = membership_accept(actor=actor_for(world.regulator), membership=invited)
    fresh = lambda user: actor_for(type(user).objects.get(pk=user.pk))  # noqa: E731 - roles as loaded now
    assert accepted.accepted_at is not None and world.lab.pk in fresh(world.regulator).lab_ids
    with pytest.raises(Conflict):
        membership_accept(actor=actor_for(world.regulator), membership=invited)
    # The regulator's own additions are memberships at once.
    made = membership_create(
        actor=actor_for(world.regulator), organisation=world.lab, user=world.outsider, role="lab_reviewer"
    )
    assert made.accepted_at is not None and world.lab.pk in fresh(world.outsider).lab_ids


def test_events_form_a_hash_chain_that_a_command_verifies_and_a_changed_event_breaks(world):
    from io import StringIO

    from django.core.management import CommandError, call_command

    for slug in ("cobalt", "indigo", "umber"):
        organisation_create(actor=actor_for(world.regulator), kind="lab", name=slug.title(), slug=slug)
    events = list(AuditEvent.objects.exclude(sequence=None).order_by("sequence"))
    assert [e.sequence for e in events] == list(range(len(events))) and len(events) >= 3
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    out = StringIO()
    call_command("verify_audit_trail", stdout=out)
    assert f"ok: {len(events)} audit events" in out.getvalue()
    # The table's owner can still get past the trigger; the chain shows it.
    victim = events[1]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's own pending checks, first
            cursor.execute("ALTER TABLE core_auditevent DISABLE TRIGGER core_auditevent_append_only")
        cursor.execute("UPDATE core_auditevent SET action = 'organisation.nothing' WHERE id = %s", [victim.pk])
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE core_auditevent ENABLE TRIGGER core_auditevent_append_only")
    err = StringIO()
    with pytest.raises(CommandError, match="does not verify"):
        call_command("verify_audit_trail", stdout=StringIO(), stderr=err)
    assert f"event #{victim.pk}" in err.getvalue() and "does not match its digest" in err.getvalue()
