"""Enrolment of verified customers into a release at stage 2: only the lab's
admin, only at stage 2 and active, only KYC-verified customers, at most the
standard's cap at once; withdrawal frees a place. Each change is logged."""

from __future__ import annotations

import datetime
import json
import uuid

import pytest
import time_machine

from core.errors import Conflict, Forbidden, InvalidInput
from core.models import AuditEvent
from customers import services
from customers.models import Enrolment, EnrolmentConsent, KycRecord
from standards.models import Standard
from tests.customers.conftest import actor, consent, enrol, submit, verified_customer
from tests.factories import release_at
from transparency.models import LogEntry
from transparency.records import private_ref

pytestmark = pytest.mark.django_db


def cap(n: int) -> None:
    Standard.objects.in_force().update(stage2_customer_cap=n)


def test_the_labs_admin_enrols_a_verified_customer_at_stage_2(world, acme, stage2):
    enrolment = enrol(world.lab_admin, stage2, acme)
    assert (enrolment.status, enrolment.enrolled_by) == ("active", world.lab_admin)
    entry = LogEntry.objects.get(kind="enrolment.create")
    assert entry.index == enrolment.log_index
    record = json.loads(entry.leaf)["record"]
    # The customer is named by a keyed reference only: those who may see it can match it, no one can read it.
    assert record["customer_ref"] == private_ref("organisation", acme.pk) and str(acme.pk) not in entry.leaf.decode()
    assert record["system_version"] == str(stage2.pk)
    assert record["kyc_submission_digest"] == KycRecord.objects.get().submission_digest
    assert (record["active"], record["cap"]) == (1, 1000)
    event = AuditEvent.objects.get(action="enrolment.create")
    assert set(event.organisations.values_list("pk", flat=True)) == {world.lab.pk, acme.pk}


@pytest.mark.parametrize("who", ["lab_engineer", "lab_reviewer", "other_lab_admin", "regulator", "customer"])
def test_only_an_admin_of_the_systems_lab_enrols(world, acme, stage2, who):
    with pytest.raises(Forbidden):
        enrol(getattr(world, who), stage2, acme)
    assert not Enrolment.objects.exists()


@pytest.mark.parametrize(("stage", "status", "code"), [
    (0, "active", "stage_not_open"),
    (1, "active", "stage_not_open"),
    (3, "active", "stage_not_open"),
    (2, "halted", "release_halted"),
    (2, "suspended", "release_suspended"),
])  # fmt: skip
def test_only_into_an_active_release_at_stage_2(world, acme, sv, stage, status, code):
    release_at(sv, stage, status)
    with pytest.raises(Conflict) as err:
        enrol(world.lab_admin, sv, acme)
    assert err.value.code == code
    assert not Enrolment.objects.exists()


def test_a_system_that_never_left_stage_0_has_no_enrolments(world, acme, sv):
    with pytest.raises(Conflict) as err:
        enrol(world.lab_admin, sv, acme)
    assert err.value.code == "stage_not_open"


def test_only_kyc_verified_customers(world, stage2):
    with pytest.raises(Conflict) as err:
        enrol(world.lab_admin, stage2, world.customer_org)  # no record
    assert err.value.code == "kyc_not_verified"
    submit(world.customer_org, world.customer)
    with pytest.raises(Conflict) as err:
        enrol(world.lab_admin, stage2, world.customer_org)  # submitted, not verified
    assert err.value.code == "kyc_not_verified"
    services.kyc_verify(actor=actor(world.regulator), organisation=world.customer_org, note="Checked.")
    due = KycRecord.objects.get().next_review_due
    with time_machine.travel(due + datetime.timedelta(minutes=1), tick=False):
        with pytest.raises(Conflict) as err:
            enrol(world.lab_admin, stage2, world.customer_org)  # past re-review, task not run yet
        assert err.value.code == "kyc_not_verified"
    assert not Enrolment.objects.exists()
    assert enrol(world.lab_admin, stage2, world.customer_org).status == "active"


@pytest.mark.parametrize("target", ["lab", "unknown", "garbage"])
def test_only_customer_organisations(world, stage2, target):
    value = {"lab": world.lab.pk, "unknown": uuid.uuid4(), "garbage": "not-a-uuid"}[target]
    with pytest.raises(InvalidInput) as err:
        services.enrolment_create(actor=actor(world.lab_admin), system_version=stage2, customer=value)
    assert "customer" in err.value.errors


def test_once_per_release(world, acme, stage2):
    enrol(world.lab_admin, stage2, acme)
    with pytest.raises(Conflict) as err:
        enrol(world.lab_admin, stage2, acme)
    assert err.value.code == "already_enrolled"
    assert Enrolment.objects.count() == 1


def test_the_cap_refuses_the_next_customer_and_withdrawal_frees_a_place(world, stage2):
    cap(2)
    a, _ = verified_customer(world.regulator, "alpha")
    b, _ = verified_customer(world.regulator, "beta")
    c, _ = verified_customer(world.regulator, "gamma")
    first = enrol(world.lab_admin, stage2, a)
    enrol(world.lab_admin, stage2, b)
    with pytest.raises(Conflict) as err:
        enrol(world.lab_admin, stage2, c)
    assert err.value.code == "customer_cap_reached"
    assert err.value.extra == {"cap": 2, "active": 2}
    services.enrolment_withdraw(actor=actor(world.lab_admin), enrolment=first, reason="Contract ended.")
    assert enrol(world.lab_admin, stage2, c).status == "active"
    assert Enrolment.objects.active().count() == 2


def test_the_cap_is_per_release(world, stage2):
    from tests.auditing.conftest import make_system_version

    cap(1)
    other = make_system_version(world.lab, world.lab_engineer, name="other")
    release_at(other, 2)
    a, _ = verified_customer(world.regulator, "alpha")
    enrol(world.lab_admin, stage2, a)
    assert enrol(world.lab_admin, other, a).status == "active"


def test_withdrawal(world, acme, stage2):
    enrolment = enrol(world.lab_admin, stage2, acme)
    for who in ("lab_engineer", "regulator", "customer", "other_lab_admin"):
        with pytest.raises(Forbidden):
            services.enrolment_withdraw(actor=actor(getattr(world, who)), enrolment=enrolment, reason="No.")
    with pytest.raises(InvalidInput):
        services.enrolment_withdraw(actor=actor(world.lab_admin), enrolment=enrolment, reason=" ")
    enrolment = services.enrolment_withdraw(actor=actor(world.lab_admin), enrolment=enrolment, reason="Ended.")
    assert (enrolment.status, enrolment.withdrawn_by, enrolment.withdrawal_reason) == (
        "withdrawn",
        world.lab_admin,
        "Ended.",
    )
    assert LogEntry.objects.get(kind="enrolment.withdraw").index == enrolment.withdrawal_log_index
    with pytest.raises(Conflict) as err:
        services.enrolment_withdraw(actor=actor(world.lab_admin), enrolment=enrolment, reason="Again.")
    assert err.value.code == "already_withdrawn"
    # A withdrawn customer may be enrolled again (a new row; the old one stays).
    enrol(world.lab_admin, stage2, acme)
    assert list(Enrolment.objects.order_by("enrolled_at").values_list("status", flat=True)) == ["withdrawn", "active"]


def test_withdrawal_works_at_any_stage(world, acme, stage2):
    enrolment = enrol(world.lab_admin, stage2, acme)
    release_at(stage2, 1, "halted")
    services.enrolment_withdraw(actor=actor(world.lab_admin), enrolment=enrolment, reason="Pulled back.")


def test_rejecting_a_customers_kyc_withdraws_its_enrolments(world, acme, stage2):
    enrol(world.lab_admin, stage2, acme)
    services.kyc_reject(actor=actor(world.regulator), organisation=acme, reason="Sanctions list match.")
    enrolment = Enrolment.objects.get()
    assert (enrolment.status, enrolment.withdrawn_by) == ("withdrawn", world.regulator)
    assert LogEntry.objects.filter(kind="enrolment.withdraw").count() == 1


# API


def enrolments_url(sv, suffix=""):
    return f"/api/releases/{sv.pk}/enrolments{suffix}"


def consents_url(sv, suffix=""):
    return f"/api/releases/{sv.pk}/enrolment-consents{suffix}"


def test_enrol_list_places_and_withdraw_through_the_api(world, client_for, acme, stage2):
    admin = client_for(world.lab_admin)
    r = admin.get(enrolments_url(stage2, "/places"))
    assert r.json() == {"stage": 2, "status": "active", "cap": 1000, "active": 0, "remaining": 1000}
    # The customer consents first; the lab sees it among those it may enrol.
    r = client_for(world.customer).post(consents_url(stage2), {}, format="json")
    assert r.status_code == 201 and r.json()["customer"] == str(acme.pk)
    assert [c["customer_name"] for c in admin.get(consents_url(stage2)).json()["results"]] == ["Acme Bank"]
    r = admin.post(enrolments_url(stage2), {"customer": str(acme.pk)}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["customer"], body["status"], body["system_version"]) == (str(acme.pk), "active", str(stage2.pk))
    assert body["model"].startswith("aurora/")
    assert admin.get(enrolments_url(stage2, "/places")).json()["remaining"] == 999
    r = admin.post(enrolments_url(stage2), {"customer": str(acme.pk)}, format="json")
    assert (r.status_code, r.json()["code"]) == (409, "already_enrolled")
    r = admin.post(enrolments_url(stage2, f"/{body['id']}/withdraw"), {"reason": "Ended."}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert admin.get(enrolments_url(stage2, "/places")).json()["remaining"] == 1000


def test_the_cap_refusal_names_the_cap(world, client_for, acme, stage2):
    cap(1)
    other, _ = verified_customer(world.regulator, "globex")
    enrol(world.lab_admin, stage2, other)
    consent(acme, stage2)
    r = client_for(world.lab_admin).post(enrolments_url(stage2), {"customer": str(acme.pk)}, format="json")
    assert r.status_code == 409
    assert (r.json()["code"], r.json()["cap"], r.json()["active"]) == ("customer_cap_reached", 1, 1)
    places = client_for(world.lab_admin).get(enrolments_url(stage2, "/places")).json()
    assert (places["cap"], places["active"], places["remaining"]) == (1, 1, 0)


def test_who_sees_which_enrolments(world, client_for, acme, stage2):
    other, other_member = verified_customer(world.regulator, "globex")
    enrol(world.lab_admin, stage2, acme)
    enrol(world.lab_admin, stage2, other)
    listed = lambda user, path: {e["customer_name"] for e in client_for(user).get(path).json()["results"]}  # noqa: E731
    both = {"Acme Bank", "Customer globex"}
    assert listed(world.regulator, enrolments_url(stage2)) == both
    assert listed(world.lab_reviewer, enrolments_url(stage2)) == both
    assert listed(world.customer, enrolments_url(stage2)) == {"Acme Bank"}  # its own only
    assert listed(other_member, "/api/enrolments") == {"Customer globex"}
    assert listed(world.lab_admin, "/api/enrolments?status=active") == both
    assert listed(world.other_lab_admin, "/api/enrolments") == set()
    for who in ("other_lab_admin", "auditor", "outsider"):
        assert client_for(getattr(world, who)).get(enrolments_url(stage2)).status_code == 404
    # A customer never enrolled in the release cannot see it.
    third, third_member = verified_customer(world.regulator, "initech")
    assert client_for(third_member).get(enrolments_url(stage2)).status_code == 404
    assert (
        client_for(world.customer).post(enrolments_url(stage2), {"customer": str(third.pk)}, format="json").status_code
        == 403
    )


def test_bad_enrolment_input_is_400_and_writes_nothing(world, client_for, stage2):
    admin = client_for(world.lab_admin)
    for body in ({}, {"customer": "x"}, {"customer": str(uuid.uuid4())}, {"customer": str(world.lab.pk)}):
        r = admin.post(enrolments_url(stage2), body, format="json")
        assert r.status_code == 400, body
        assert "customer" in r.json()["errors"]
    assert not Enrolment.objects.exists()


def test_a_lab_enrols_only_a_customer_that_consented_and_learns_nothing_from_an_id(world, client_for, acme, stage2):
    admin = client_for(world.lab_admin)
    unknown = admin.post(enrolments_url(stage2), {"customer": "00000000-0000-4000-8000-000000000000"}, format="json")
    r = admin.post(enrolments_url(stage2), {"customer": str(acme.pk)}, format="json")
    # A verified customer that has not consented is answered exactly as an id that is no customer.
    assert r.status_code == unknown.status_code == 400 and r.json() == unknown.json()
    assert not Enrolment.objects.exists()
    # The lab cannot see the customer's KYC summary either.
    assert admin.get(f"/api/customers/{acme.pk}/kyc").status_code == 404
    # Only a customer consents; a lab (or anyone else) finds no system to consent to.
    assert admin.post(consents_url(stage2), {}, format="json").status_code == 404
    client = client_for(world.customer)
    assert client.post(consents_url(stage2), {}, format="json").status_code == 201
    assert client.post(consents_url(stage2), {}, format="json").status_code == 201  # idempotent
    assert EnrolmentConsent.objects.active().count() == 1
    assert admin.post(enrolments_url(stage2), {"customer": str(acme.pk)}, format="json").status_code == 201
    # Withdrawing consent withdraws the enrolment, and the lab cannot enrol the customer again.
    assert client.post(consents_url(stage2, "/withdraw"), {}, format="json").status_code == 204
    assert Enrolment.objects.get().status == "withdrawn"
    assert admin.post(enrolments_url(stage2), {"customer": str(acme.pk)}, format="json").status_code == 400
    assert client.post(consents_url(stage2, "/withdraw"), {}, format="json").status_code == 404


def test_a_customer_consents_only_to_a_system_at_stage_2(world, client_for, acme, sv):
    release_at(sv, 1)
    r = client_for(world.customer).post(consents_url(sv), {}, format="json")
    assert r.status_code == 404 and not EnrolmentConsent.objects.exists()
