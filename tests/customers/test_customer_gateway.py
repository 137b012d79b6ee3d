"""Customers reach the system only through gateway tokens (rule 7): issued to
a member of an enrolled, KYC-verified customer at stage 2 or 3, and
re-checked on every call through the real gateway: withdrawal, a lapsed or
rejected KYC record, a halt, a step back to stage 1 each stop it at once."""

from __future__ import annotations

import datetime
from typing import Any

import httpx
import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone

from core.errors import Conflict, Forbidden
from core.models import Membership
from core.services import membership_end
from customers import services
from deploy.services import release_halt, release_resume
from tests.customers.conftest import actor, enrol, submit, verified_customer, verify
from tests.factories import release_at
from tests.gateway.conftest import _clean_redis, build, gateway_url, issue, upstream  # noqa: F401 (fixtures)


def models(scene: Any, secret: str) -> httpx.Response:
    return httpx.get(scene.base_url + "/models", headers=scene.headers(secret), timeout=10)


def refused(scene: Any, secret: str, status: int, code: str) -> None:
    r = models(scene, secret)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


@pytest.fixture
def customer(reference_data: Any, upstream: Any, gateway_url: str) -> Any:  # noqa: F811
    """The gateway scene (an audited system) at stage 2, with Acme Bank
    verified, enrolled and holding a customer token."""
    upstream.reset()
    scene = build(upstream, gateway_url)
    w = scene.w
    submit(w.customer_org, w.customer)
    verify(w.regulator, w.customer_org)
    release_at(scene.sv, 2)
    scene.enrolment = enrol(w.lab_admin, scene.sv, w.customer_org)
    scene.customer_token, scene.customer_secret = issue(scene.sv, w.customer, kind="customer")
    return scene


def test_a_customer_token_works_at_stage_2(customer):
    scene = customer
    assert (scene.customer_token.kind, scene.customer_token.organisation_id) == ("customer", scene.w.customer_org.pk)
    r = models(scene, scene.customer_secret)
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["id"] == scene.model
    r = httpx.post(
        scene.base_url + "/chat/completions",
        headers=scene.headers(scene.customer_secret),
        json={"model": scene.model, "messages": [{"role": "user", "content": "Draft a reply."}]},
        timeout=10,
    )
    assert r.status_code == 200, r.text


def test_a_customer_requests_its_token_through_the_api(customer, client_for):
    scene = customer
    body = {
        "kind": "customer",
        "system_version": str(scene.sv.pk),
        "name": "crm",
        "expires_at": (timezone.now() + datetime.timedelta(days=7)).isoformat(),
    }
    r = client_for(scene.w.customer).post("/api/gateway-tokens", body, format="json")
    assert r.status_code == 201, r.content
    assert models(scene, r.json()["token"]).status_code == 200
    # Withdrawn, the release is no longer one the customer can name.
    services.enrolment_withdraw(actor=actor(scene.w.lab_admin), enrolment=scene.enrolment, reason="Ended.")
    assert client_for(scene.w.customer).post("/api/gateway-tokens", body, format="json").status_code == 404


def test_withdrawal_stops_the_token_and_re_enrolment_restores_it(customer):
    scene = customer
    services.enrolment_withdraw(actor=actor(scene.w.lab_admin), enrolment=scene.enrolment, reason="Contract ended.")
    refused(scene, scene.customer_secret, 403, "enrolment_ended")
    enrol(scene.w.lab_admin, scene.sv, scene.w.customer_org)
    assert models(scene, scene.customer_secret).status_code == 200


def test_a_lapsed_kyc_review_stops_the_token_until_the_regulator_re_verifies(customer):
    scene = customer
    with override_settings(STAGEGATE_KYC_REVIEW_DAYS=1):
        verify(scene.w.regulator, scene.w.customer_org)  # an early re-review, due again in a day
    assert models(scene, scene.customer_secret).status_code == 200
    with time_machine.travel(timezone.now() + datetime.timedelta(days=2), tick=True):
        # Past its date the record stops counting before the periodic task runs...
        refused(scene, scene.customer_secret, 403, "kyc_not_verified")
        assert services.kyc_reviews_mark_due() == 1
        refused(scene, scene.customer_secret, 403, "kyc_not_verified")
        with pytest.raises(Conflict) as err:
            issue(scene.sv, scene.w.customer, kind="customer")
        assert err.value.code == "kyc_not_verified"
        # ...and the re-review restores it.
        verify(scene.w.regulator, scene.w.customer_org)
        assert models(scene, scene.customer_secret).status_code == 200


def test_a_resubmission_stops_the_token_until_verified(customer):
    scene = customer
    submit(scene.w.customer_org, scene.w.customer, stated_purpose="Also trading advice.")
    refused(scene, scene.customer_secret, 403, "kyc_not_verified")
    verify(scene.w.regulator, scene.w.customer_org)
    assert models(scene, scene.customer_secret).status_code == 200


def test_a_rejection_ends_the_enrolment(customer):
    scene = customer
    services.kyc_reject(actor=actor(scene.w.regulator), organisation=scene.w.customer_org, reason="Sanctioned.")
    refused(scene, scene.customer_secret, 403, "enrolment_ended")


def test_a_halt_stops_the_token(customer):
    scene = customer
    reg = actor(scene.w.regulator)
    release_halt(actor=reg, system_version=scene.sv, reason="Incident under review.")
    refused(scene, scene.customer_secret, 403, "release_halted")
    release_resume(actor=reg, system_version=scene.sv, reason="Cleared.")
    assert models(scene, scene.customer_secret).status_code == 200


def test_back_at_stage_1_customers_are_out_and_at_stage_3_still_in(customer):
    scene = customer
    release_at(scene.sv, 1)
    refused(scene, scene.customer_secret, 403, "stage_not_open")
    with pytest.raises(Conflict) as err:
        issue(scene.sv, scene.w.customer, kind="customer")
    assert err.value.code == "stage_not_open"
    release_at(scene.sv, 3)
    assert models(scene, scene.customer_secret).status_code == 200


def test_a_member_who_left_loses_the_token(customer):
    scene = customer
    membership_end(actor=actor(scene.w.regulator), membership=Membership.objects.get(user=scene.w.customer))
    refused(scene, scene.customer_secret, 403, "membership_ended")


def test_who_gets_a_customer_token(customer):
    scene = customer
    # Members of other kinds of organisation, or of none.
    for who in ("auditor", "lab_admin", "outsider"):
        with pytest.raises(Forbidden):
            issue(scene.sv, getattr(scene.w, who), kind="customer")
    # A verified customer that is not enrolled.
    _, globex_member = verified_customer(scene.w.regulator, "globex")
    with pytest.raises(Conflict) as err:
        issue(scene.sv, globex_member, kind="customer")
    assert err.value.code == "not_enrolled"
