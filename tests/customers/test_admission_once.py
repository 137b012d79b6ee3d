"""Customer admission and "this stage admits this kind of caller" are each
defined once (gateway/services.py) and asked at token issue and on every
call alike; "verified" is the KYC record's own definition."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from core.errors import Conflict
from customers import services
from customers.models import KycRecord, KycStatus
from gateway.selectors import GrantRefused, grant_check
from gateway.services import gateway_token_issue, release_refusal, token_digest
from tests.customers.conftest import actor, enrol, verify
from tests.factories import release_at

pytestmark = pytest.mark.django_db


def issue(user: Any, sv: Any) -> str:
    _, secret = gateway_token_issue(
        actor=actor(user),
        kind="customer",
        system_version=sv,
        name="tests",
        expires_at=timezone.now() + datetime.timedelta(days=7),
    )
    assert secret is not None
    return secret


def on_call(secret: str, now: datetime.datetime | None = None) -> str | None:
    try:
        grant_check(digest=token_digest(secret), now=now)
    except GrantRefused as refused:
        return refused.code
    return None


def test_withdrawal_and_a_lapsed_review_refuse_issue_and_calls_alike(world, stage2, acme, settings):
    settings.STAGEGATE_KYC_REVIEW_DAYS = 1
    verify(world.regulator, acme)  # an early re-review, due again in a day (before the token expires)
    enrolment = enrol(world.lab_admin, stage2, acme)
    secret = issue(world.customer, stage2)
    assert on_call(secret) is None
    record = KycRecord.objects.get(organisation=acme)
    past_due = record.next_review_due + datetime.timedelta(seconds=1)
    assert on_call(secret, past_due) == "kyc_not_verified"
    services.enrolment_withdraw(actor=actor(world.lab_admin), enrolment=enrolment, reason="Contract ended.")
    assert on_call(secret) == "enrolment_ended"
    with pytest.raises(Conflict) as err:
        issue(world.customer, stage2)
    assert err.value.code == "not_enrolled"
    enrol(world.lab_admin, stage2, acme)
    assert on_call(secret) is None
    issue(world.customer, stage2)


def test_the_records_verified_test_and_its_query_agree(world, acme):
    record = KycRecord.objects.get(organisation=acme)
    now = timezone.now()
    cases = [
        (now, True),
        (record.next_review_due - datetime.timedelta(seconds=1), True),
        (record.next_review_due, False),
    ]
    for when, expected in cases:
        assert record.is_verified_at(when) is expected
        assert KycRecord.objects.verified_at(when).filter(pk=record.pk).exists() is expected
    record.status = KycStatus.SUBMITTED
    assert record.is_verified_at(now) is False


@pytest.mark.parametrize(
    ("kind", "stage", "status", "code"),
    [
        ("auditor", 0, "active", "stage_not_open"),
        ("auditor", 1, "active", None),
        ("academic", 1, "active", None),
        ("customer", 1, "active", "stage_not_open"),
        ("customer", 2, "active", None),
        ("customer", 3, "halted", "release_halted"),
        ("lab_admitted", 2, "active", "stage_not_open"),
        ("lab_admitted", 3, "active", None),
        ("auditor", None, None, "stage_not_open"),  # no release yet: stage 0
    ],
)
def test_which_stage_admits_which_caller(kind, stage, status, code):
    found = release_refusal(kind=kind, stage=stage, status=status)
    assert (found[0] if found else None) == code


def test_a_step_back_to_stage_1_refuses_a_customers_call_and_token(world, stage2, acme):
    enrol(world.lab_admin, stage2, acme)
    secret = issue(world.customer, stage2)
    release_at(stage2, 1)
    assert on_call(secret) == "stage_not_open"
    with pytest.raises(Conflict) as err:
        issue(world.customer, stage2)
    assert err.value.code == "stage_not_open"
