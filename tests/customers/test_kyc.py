"""KYC records: a customer's member submits them, the regulator verifies or
rejects them, a verification holds until its periodic re-review date, and
every decision is an append-only review, an audit event and a log entry."""

from __future__ import annotations

import datetime
import json

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from core.errors import Conflict, Forbidden, InvalidInput
from core.models import AppendOnlyError, AuditEvent, OrganisationKind, Role
from customers import services
from customers.models import BeneficialOwner, KycRecord, KycReview, KycStatus
from customers.tasks import kyc_reviews_due_task
from tests.customers.conftest import OWNERS, actor, details, submit, verify
from tests.factories import OrganisationFactory, member
from transparency.models import LogEntry
from transparency.records import private_ref

pytestmark = pytest.mark.django_db


# Submitting


def test_a_member_submits_and_the_record_waits_for_the_regulator(world):
    record = submit(world.customer_org, world.customer)
    assert record.status == KycStatus.SUBMITTED
    assert not record.is_verified_at()
    assert record.submitted_by == world.customer
    assert len(record.submission_digest) == 64
    owners = list(record.owners.current().values_list("full_name", "country", "ownership_percent", "controls"))
    assert [(n, c, str(p), ctl) for n, c, p, ctl in owners] == [
        ("Ada Lovelace", "GB", "60.00", True),
        ("Grace Hopper", "US", "40.00", False),
    ]
    event = AuditEvent.objects.get(action="kyc.submit", target_id=str(record.pk))
    assert event.organisations.filter(pk=world.customer_org.pk).exists()
    assert not LogEntry.objects.filter(kind__startswith="kyc.").exists()  # a submission is not a decision


@pytest.mark.parametrize("who", ["regulator", "lab_admin", "auditor", "outsider"])
def test_only_the_customers_members_submit(world, who):
    with pytest.raises(Forbidden):
        submit(world.customer_org, getattr(world, who))
    other = OrganisationFactory(kind=OrganisationKind.CUSTOMER, name="Globex", slug="globex")
    member(other, Role.CUSTOMER_MEMBER, "globex_member")
    with pytest.raises(Forbidden):
        submit(world.customer_org, other.memberships.get().user)  # a member of another customer
    with pytest.raises(Forbidden):
        submit(world.lab, world.lab_admin)  # a lab has no KYC record
    assert not KycRecord.objects.exists()


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"jurisdiction": "XX"}, "jurisdiction"),
        ({"jurisdiction": "GBR"}, "jurisdiction"),
        ({"legal_name": "  "}, "legal_name"),
        ({"stated_purpose": "x" * 5001}, "stated_purpose"),
        ({"beneficial_owners": []}, "beneficial_owners"),
        ({"beneficial_owners": "Ada"}, "beneficial_owners"),
        ({"beneficial_owners": [{**OWNERS[0], "ownership_percent": "100.01"}]}, "beneficial_owners.0.ownership_percent"),
        ({"beneficial_owners": [{**OWNERS[0], "ownership_percent": "-1"}]}, "beneficial_owners.0.ownership_percent"),
        ({"beneficial_owners": [{**OWNERS[0], "ownership_percent": "33.333"}]}, "beneficial_owners.0.ownership_percent"),
        ({"beneficial_owners": [{**OWNERS[0], "ownership_percent": "0", "controls": False}]}, "beneficial_owners.0.ownership_percent"),
        ({"beneficial_owners": [{**OWNERS[0], "country": "Atlantis"}]}, "beneficial_owners.0.country"),
        ({"beneficial_owners": [{**OWNERS[0], "shoe_size": 9}]}, "beneficial_owners.0"),
        ({"beneficial_owners": [{**OWNERS[0], "ownership_percent": "60"}, {**OWNERS[1], "ownership_percent": "40.01"}]}, "beneficial_owners"),
    ],
)  # fmt: skip
def test_bad_submissions_are_refused_and_write_nothing(world, over, field):
    with pytest.raises(InvalidInput) as err:
        submit(world.customer_org, world.customer, **over)
    assert field in err.value.errors
    assert not KycRecord.objects.exists()
    assert not BeneficialOwner.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="kyc.").exists()


def test_owners_may_hold_exactly_100_percent_and_a_controller_may_own_nothing(world):
    owners = [
        {"full_name": "A", "country": "KY", "ownership_percent": "99.99", "controls": False},
        {"full_name": "B", "country": "JE", "ownership_percent": "0.01", "controls": False},
        {"full_name": "C", "country": "gb", "ownership_percent": 0, "controls": True},
    ]
    record = submit(world.customer_org, world.customer, beneficial_owners=owners, jurisdiction="hk")
    assert record.jurisdiction == "HK"
    assert sorted(record.owners.current().values_list("country", flat=True)) == ["GB", "JE", "KY"]


# Deciding


def test_the_regulator_verifies_and_the_decision_is_logged(world):
    record = submit(world.customer_org, world.customer)
    record = verify(world.regulator, world.customer_org)
    assert record.status == KycStatus.VERIFIED
    assert record.verified_by == world.regulator
    assert record.next_review_due == record.verified_at + datetime.timedelta(days=365)
    assert record.is_verified_at()
    review = record.reviews.get()
    assert (review.outcome, review.reviewer, review.submission_digest) == (
        "verified",
        world.regulator,
        record.submission_digest,
    )
    entry = LogEntry.objects.get(kind="kyc.verify")
    assert entry.index == record.log_index == review.log_index
    leaf = json.loads(entry.leaf)
    assert leaf["record"]["submission_digest"] == record.submission_digest
    assert leaf["record"]["review"] == str(review.pk)
    # ids and digests only: nothing the customer declared
    assert b"Acme Bank plc" not in bytes(entry.leaf) and b"Lovelace" not in bytes(entry.leaf)
    # nor the customer's id, which a lab could use to enrol it: a keyed reference instead
    assert str(world.customer_org.pk).encode() not in bytes(entry.leaf)
    assert leaf["record"]["customer_ref"] == private_ref("organisation", world.customer_org.pk)
    assert AuditEvent.objects.filter(action="kyc.verify", target_id=str(record.pk)).exists()


@override_settings(STAGEGATE_KYC_REVIEW_DAYS=30)
def test_the_re_review_period_is_a_setting(world):
    submit(world.customer_org, world.customer)
    record = verify(world.regulator, world.customer_org)
    assert record.next_review_due == record.verified_at + datetime.timedelta(days=30)


@pytest.mark.parametrize("who", ["customer", "lab_admin", "auditor"])
def test_only_the_regulator_verifies_or_rejects(world, who):
    submit(world.customer_org, world.customer)
    with pytest.raises(Forbidden):
        verify(getattr(world, who), world.customer_org)
    with pytest.raises(Forbidden):
        services.kyc_reject(actor=actor(getattr(world, who)), organisation=world.customer_org, reason="No.")
    assert KycRecord.objects.get().status == KycStatus.SUBMITTED
    assert not KycReview.objects.exists()


def test_a_rejected_record_is_verified_only_after_resubmission(world):
    submit(world.customer_org, world.customer)
    record = services.kyc_reject(
        actor=actor(world.regulator), organisation=world.customer_org, reason="Owners' identity unproven."
    )
    assert (record.status, record.rejection_reason) == ("rejected", "Owners' identity unproven.")
    assert LogEntry.objects.filter(kind="kyc.reject").count() == 1
    with pytest.raises(Conflict) as err:
        verify(world.regulator, world.customer_org)
    assert err.value.code == "kyc_rejected"
    with pytest.raises(Conflict) as err:
        services.kyc_reject(actor=actor(world.regulator), organisation=world.customer_org, reason="Again.")
    assert err.value.code == "kyc_already_rejected"
    submit(world.customer_org, world.customer, registration_number="07654321")
    assert verify(world.regulator, world.customer_org).status == KycStatus.VERIFIED
    assert list(KycReview.objects.order_by("created_at").values_list("outcome", flat=True)) == ["rejected", "verified"]


def test_a_resubmission_supersedes_the_owners_and_needs_verifying_again(world, acme):
    first = KycRecord.objects.get()
    record = submit(world.customer_org, world.customer, beneficial_owners=[{**OWNERS[0], "ownership_percent": "100"}])
    assert record.status == KycStatus.SUBMITTED
    assert not record.is_verified_at()
    assert record.submission_digest != first.submission_digest
    assert record.owners.current().count() == 1
    assert BeneficialOwner.objects.count() == 3  # the earlier owners are kept, superseded
    assert AuditEvent.objects.filter(action="kyc.resubmit").count() == 1


def test_verifying_a_stale_submission_is_refused(world):
    old = submit(world.customer_org, world.customer).submission_digest
    new = submit(world.customer_org, world.customer, legal_name="Acme Bank International plc").submission_digest
    with pytest.raises(Conflict) as err:
        verify(world.regulator, world.customer_org, submission_digest=old)
    assert err.value.code == "kyc_submission_changed"
    assert verify(world.regulator, world.customer_org, submission_digest=new).status == KycStatus.VERIFIED


def test_deciding_on_a_customer_without_a_record_is_not_found(world):
    from core.errors import NotFound

    with pytest.raises(NotFound):
        verify(world.regulator, world.customer_org)


# Periodic re-review


def test_past_its_re_review_date_a_record_stops_counting_at_once_and_the_task_marks_it(world, acme):
    record = KycRecord.objects.get()
    assert services.kyc_reviews_mark_due() == 0  # not yet due
    later = record.next_review_due + datetime.timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        record.refresh_from_db()
        assert record.status == KycStatus.VERIFIED
        assert not record.is_verified_at()  # before the task has run
        assert not KycRecord.objects.verified_at(timezone.now()).exists()
        assert kyc_reviews_due_task() == 1  # the beat task, run in-process
        assert services.kyc_reviews_mark_due() == 0  # once
        record.refresh_from_db()
        assert record.status == KycStatus.REVIEW_DUE
        review = record.reviews.order_by("-created_at").first()
        assert (review.outcome, review.reviewer) == ("review_due", None)
        assert LogEntry.objects.filter(kind="kyc.review_due").count() == 1
        assert AuditEvent.objects.get(action="kyc.review_due").actor_label == "system:kyc_reviews_due"
        # The re-review is a verification again.
        record = verify(world.regulator, world.customer_org)
        assert record.is_verified_at()
        assert record.next_review_due == timezone.now() + datetime.timedelta(days=365)


# The history is append-only


def test_reviews_are_append_only(world, acme):
    review = KycReview.objects.get()
    review.note = "rewritten"
    with pytest.raises(AppendOnlyError):
        review.save()
    with pytest.raises(AppendOnlyError):
        review.delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_the_database_refuses_to_rewrite_reviews(world, acme):
    review = KycReview.objects.get()
    for statement in (
        "UPDATE customers_kycreview SET note = 'x' WHERE id = %s",
        "DELETE FROM customers_kycreview WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(statement, [review.pk])
    assert KycReview.objects.get().note == review.note


# API


def _body(**over):
    return json.dumps(details(**over))


def url(org, suffix=""):
    return f"/api/customers/{org.pk}/kyc{suffix}"


def test_submit_then_resubmit_through_the_api(world, client_for):
    c = client_for(world.customer)
    r = c.post(url(world.customer_org), _body(), content_type="application/json")
    assert r.status_code == 201, r.content
    assert r.json()["status"] == "submitted"
    assert [o["ownership_percent"] for o in r.json()["beneficial_owners"]] == ["60.00", "40.00"]
    r = c.post(url(world.customer_org), _body(stated_purpose="Summarising filings."), content_type="application/json")
    assert r.status_code == 200
    assert r.json()["stated_purpose"] == "Summarising filings."


def test_bad_input_names_the_field_and_writes_nothing(world, client_for):
    bad = details(beneficial_owners=[{**OWNERS[0], "country": "ZZ"}])
    r = client_for(world.customer).post(url(world.customer_org), json.dumps(bad), content_type="application/json")
    assert r.status_code == 400
    assert "beneficial_owners.0.country" in r.json()["errors"]
    bad = details(beneficial_owners=[{**OWNERS[0], "ownership_percent": "101"}])
    r = client_for(world.customer).post(url(world.customer_org), json.dumps(bad), content_type="application/json")
    assert r.status_code == 400
    assert "beneficial_owners.0.ownership_percent" in r.json()["errors"]
    assert not KycRecord.objects.exists()


def test_the_customer_and_the_regulator_see_everything_an_enrolled_lab_the_summary(world, client_for, acme, stage2):
    from tests.customers.conftest import enrol

    full = client_for(world.customer).get(url(acme)).json()
    assert full["legal_name"] == "Acme Bank plc" and len(full["beneficial_owners"]) == 2
    assert [r["outcome"] for r in full["reviews"]] == ["verified"]
    assert client_for(world.regulator).get(url(acme)).json()["registration_number"] == "01234567"
    # A lab sees nothing until the customer is enrolled in one of its releases.
    assert client_for(world.lab_admin).get(url(acme)).status_code == 404
    enrolment = enrol(world.lab_admin, stage2, acme)
    summary = client_for(world.lab_reviewer).get(url(acme)).json()
    assert set(summary) == {
        "organisation",
        "organisation_name",
        "status",
        "verified_now",
        "verified_at",
        "next_review_due",
        "stated_purpose",
    }
    assert summary["verified_now"] is True
    assert client_for(world.other_lab_admin).get(url(acme)).status_code == 404
    services.enrolment_withdraw(actor=actor(world.lab_admin), enrolment=enrolment, reason="Contract ended.")
    assert client_for(world.lab_admin).get(url(acme)).status_code == 404
    for who in ("auditor", "academic", "outsider"):
        assert client_for(getattr(world, who)).get(url(acme)).status_code == 404


def test_verify_and_reject_through_the_api(world, client_for):
    record = submit(world.customer_org, world.customer)
    reg = client_for(world.regulator)
    r = reg.post(url(world.customer_org, "/verify"), {"note": "Checked.", "submission_digest": "0" * 64}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "kyc_submission_changed"
    r = reg.post(url(world.customer_org, "/verify"), {"note": "Checked.", "submission_digest": "x"}, format="json")
    assert r.status_code == 400
    r = reg.post(
        url(world.customer_org, "/verify"),
        {"note": "Checked.", "submission_digest": record.submission_digest},
        format="json",
    )
    assert r.status_code == 200 and r.json()["verified_now"] is True
    r = reg.post(url(world.customer_org, "/reject"), {"reason": "Sanctions list match."}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    r = client_for(world.customer).post(url(world.customer_org, "/verify"), {"note": "Me."}, format="json")
    assert r.status_code == 403


def test_the_regulators_pending_list(world, client_for, acme):
    other = OrganisationFactory(kind=OrganisationKind.CUSTOMER, name="Globex", slug="globex")
    submit(other, member(other, Role.CUSTOMER_MEMBER, "globex_member"))
    reg = client_for(world.regulator)
    names = lambda r: [x["organisation_name"] for x in r.json()["results"]]  # noqa: E731
    assert names(reg.get("/api/kyc/pending")) == ["Globex"]
    assert sorted(names(reg.get("/api/kyc/pending?due_within_days=366"))) == ["Acme Bank", "Globex"]
    assert reg.get("/api/kyc/pending?due_within_days=-1").status_code == 400
    with time_machine.travel(timezone.now() + datetime.timedelta(days=366), tick=False):
        assert sorted(names(reg.get("/api/kyc/pending"))) == ["Acme Bank", "Globex"]
    for who in ("customer", "lab_admin", "auditor"):
        assert client_for(getattr(world, who)).get("/api/kyc/pending").status_code == 403
