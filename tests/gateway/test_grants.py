"""On every call the gateway re-checks that the grant holds: each way it can
stop holding is refused with the right status, at once."""

from __future__ import annotations

import datetime
from decimal import Decimal

import httpx
import pytest
import time_machine
from django.utils import timezone

from auditing import services as auditing
from auditing.models import Certification
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import Membership
from core.services import membership_end
from deploy.services import release_halt, release_resume
from gateway.services import gateway_token_accept, gateway_token_revoke
from labs import services as labs
from tests.factories import release_at, sha256
from tests.gateway.conftest import fresh, issue


def models(scene, secret=None) -> httpx.Response:
    return httpx.get(scene.base_url + "/models", headers=scene.headers(secret), timeout=10)


def refused(scene, status: int, code: str, secret=None) -> None:
    r = models(scene, secret)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def test_a_valid_grant_is_served(scene):
    assert models(scene).status_code == 200


def test_expired_token(scene):
    assert models(scene).status_code == 200
    with time_machine.travel(timezone.now() + datetime.timedelta(days=8), tick=True):
        refused(scene, 401, "token_expired")


def test_revoked_token(scene):
    gateway_token_revoke(actor=fresh(scene.w.auditor), token=scene.token)
    refused(scene, 401, "token_revoked")


def test_wrong_audit(scene):
    """A token for audit A does not reach the system of audit B, and cannot be issued naming the wrong audit."""
    reg, eng = fresh(scene.w.regulator), fresh(scene.w.lab_engineer)
    mv = labs.model_version_create(
        actor=eng, lab=scene.w.lab, name="B", version="1", weights_digest=sha256("b"),
        parameter_count=1000, training_compute_flop=1e20,
    )  # fmt: skip
    sv_b = labs.system_version_create(
        actor=eng, lab=scene.w.lab, model_version=mv, name="Other", affordances=[],
        endpoint_base_url=scene.upstream.url + "/v1", endpoint_model="b",
    )  # fmt: skip
    audit_b = auditing.audit_open(actor=reg, system_version=sv_b, lab_fee_amount=Decimal("10"))
    auditing.audit_assign(actor=reg, audit=audit_b, organisation=scene.w.auditor_org, payout_amount=Decimal("1"))
    release_at(sv_b, 1)
    r = httpx.post(
        scene.base_url + "/chat/completions",
        headers=scene.headers(),
        json={"model": "aurora/other/v1", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"
    with pytest.raises(InvalidInput) as err:
        issue(sv_b, scene.w.auditor, audit=scene.audit)
    assert "audit" in err.value.errors


def test_out_of_stage(scene):
    release_at(scene.sv, 0)
    refused(scene, 403, "stage_not_open")
    with pytest.raises(Conflict) as err:
        issue(scene.sv, scene.w.auditor, audit=scene.audit)
    assert err.value.code == "stage_not_open"


def test_halt_stops_every_token_at_once_and_resume_restores(scene):
    _, academic_secret = issue(scene.sv, scene.w.academic, kind="academic")
    assert models(scene, academic_secret).status_code == 200
    release_halt(actor=fresh(scene.w.regulator), system_version=scene.sv, reason="Incident under review.")
    refused(scene, 403, "release_halted")
    refused(scene, 403, "release_halted", academic_secret)
    release_resume(actor=fresh(scene.w.regulator), system_version=scene.sv, reason="Cleared.")
    assert models(scene).status_code == 200


def test_suspended_certification(scene):
    cert = Certification.objects.get(organisation=scene.w.auditor_org)
    auditing.certification_suspend(actor=fresh(scene.w.regulator), certification=cert, reason="Infosec review.")
    refused(scene, 403, "certification_invalid")


def test_conflict_declared(scene):
    auditing.conflict_declare(
        actor=fresh(scene.w.regulator), organisation=scene.w.auditor_org, lab=scene.w.lab,
        kind="economic_interest", reason="Bought shares.",
    )  # fmt: skip
    refused(scene, 403, "conflict_of_interest")


def test_ended_assignment(scene):
    assignment = scene.audit.assignments.get(organisation=scene.w.auditor_org)
    auditing.assignment_end(actor=fresh(scene.w.regulator), assignment=assignment, reason="Reassigned.")
    refused(scene, 403, "assignment_ended")


def test_closed_audit(scene):
    auditing.audit_close(actor=fresh(scene.w.regulator), audit=scene.audit, status="closed", reason="Done.")
    refused(scene, 403, "audit_not_open")


def test_ended_membership(scene):
    membership = Membership.objects.get(user=scene.w.auditor)
    membership_end(actor=fresh(scene.w.regulator), membership=membership)
    refused(scene, 403, "membership_ended")


def test_rate_limit_is_429_with_retry_after(reference_data, upstream, gateway_url):
    from tests.gateway.conftest import build

    scene = build(upstream, gateway_url, requests_per_minute=2)
    assert models(scene).status_code == 200
    assert models(scene).status_code == 200
    r = models(scene)
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(r.headers["retry-after"]) <= 60


def test_daily_token_quota(reference_data, upstream, gateway_url):
    """A call reserves its size in bytes plus max_tokens at admission
    (tests/gateway/test_quotas.py); once the day's use leaves less than that,
    calls are refused."""
    from tests.gateway.conftest import build

    upstream.reset()
    scene = build(upstream, gateway_url, tokens_per_day=200)
    body = {"model": scene.model, "messages": [{"role": "user", "content": "x"}], "max_tokens": 5}
    url = scene.base_url + "/chat/completions"
    upstream.usage = {"prompt_tokens": 145, "completion_tokens": 5, "total_tokens": 150}
    assert httpx.post(url, headers=scene.headers(), json=body).status_code == 200  # uses 150 tokens
    r = httpx.post(url, headers=scene.headers(), json=body)  # reserves more than the 50 left
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "token_quota_exceeded"
    assert int(r.headers["retry-after"]) >= 1
    upstream.reset()


def test_academic_needs_no_assignment_but_lab_admitted_needs_stage_3(scene):
    _, secret = issue(scene.sv, scene.w.academic, kind="academic")
    assert models(scene, secret).status_code == 200
    with pytest.raises(Conflict) as err:
        issue(scene.sv, scene.w.lab_admin, kind="lab_admitted", holder=scene.w.outsider)
    assert err.value.code == "stage_not_open"
    release_at(scene.sv, 2)
    release_at(scene.sv, 3)
    token, offered = issue(scene.sv, scene.w.lab_admin, kind="lab_admitted", holder=scene.w.outsider)
    assert token.holder == scene.w.outsider
    assert offered is None  # the lab is never given a secret in another person's name
    token, secret = gateway_token_accept(actor=fresh(scene.w.outsider), token=token)
    assert models(scene, secret).status_code == 200
    release_at(scene.sv, 2)
    refused(scene, 403, "stage_not_open", secret)


def test_who_may_issue(scene):
    with pytest.raises(Forbidden):
        issue(scene.sv, scene.w.other_auditor, audit=scene.audit)  # not assigned
    with pytest.raises(Forbidden):
        issue(scene.sv, scene.w.auditor, kind="academic")  # not an academic
    with pytest.raises(Forbidden):
        issue(scene.sv, scene.w.lab_engineer, kind="lab_admitted", holder=scene.w.outsider)  # not an admin
    with pytest.raises(Forbidden):
        issue(scene.sv, scene.w.auditor, kind="customer")  # not a customer's member
    with pytest.raises(Conflict) as err:
        issue(scene.sv, scene.w.customer, kind="customer")  # stage 1 admits no customers (tests/customers)
    assert err.value.code == "stage_not_open"
    with pytest.raises(InvalidInput):
        issue(scene.sv, scene.w.auditor, audit=scene.audit, expires_at=timezone.now() + datetime.timedelta(days=400))
    with pytest.raises(InvalidInput):
        issue(scene.sv, scene.w.auditor, audit=scene.audit, expires_at=timezone.now() - datetime.timedelta(days=1))


def test_who_may_revoke(scene):
    with pytest.raises(Forbidden):
        gateway_token_revoke(actor=fresh(scene.w.lab_admin), token=scene.token)  # the lab may not cut off its auditor
    gateway_token_revoke(actor=fresh(scene.w.regulator), token=scene.token)
    with pytest.raises(Conflict):
        gateway_token_revoke(actor=fresh(scene.w.auditor), token=scene.token)
