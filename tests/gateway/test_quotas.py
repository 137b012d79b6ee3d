"""Quotas that are limits (the reliability issue, item 6).

A call reserves its size in bytes plus max_tokens × n of its token's daily
quota at admission, in the admission script, and its settlement counts what it
used instead: the unused reservation comes back, a call that fails upstream
costs nothing. Calls in flight together therefore cannot take the day past the
quota by more than the documented slack (docs/gateway.md, Limits): per call,
the prompt tokens the upstream counts beyond the request's bytes. max_tokens
and n are bounded per token (400 above, nothing sent or reserved), and a
holder or an organisation may hold only so many live tokens of a kind."""

from __future__ import annotations

import datetime
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import redis
from django.conf import settings
from django.utils import timezone

from core.audit import AuditEvent
from core.errors import Conflict, InvalidInput
from core.models import Role
from gateway.models import GatewayCall, GatewayToken
from gateway.services import access_log_drain, gateway_token_revoke
from tests.factories import member
from tests.gateway.conftest import build, fresh, issue

QUOTA = 150


def rds() -> redis.Redis:
    return redis.Redis.from_url(settings.STAGEGATE_GATEWAY_REDIS_URL, decode_responses=True)


def charged(scene: Any) -> int:
    """What the token's quota key holds today: finished calls' use plus the
    reservations of calls in flight."""
    day = time.strftime("%Y%m%d", time.gmtime())
    return int(rds().get(f"stagegate:gw:tpd:{scene.token.pk}:{day}") or 0)


def body_of(scene: Any, **extra: Any) -> bytes:
    return json.dumps({"model": scene.model, "messages": [{"role": "user", "content": "x"}], **extra}).encode()


def post(scene: Any, raw: bytes, path: str = "/chat/completions") -> httpx.Response:
    return httpx.post(scene.base_url + path, headers=scene.headers(), content=raw, timeout=30)


def logged(count: int) -> list[GatewayCall]:
    deadline = time.monotonic() + 10
    while True:
        access_log_drain()
        calls = list(GatewayCall.objects.order_by("created_at"))
        if len(calls) >= count or time.monotonic() > deadline:
            return calls
        time.sleep(0.05)


def settled(scene: Any, expected: int) -> int:
    """The quota key once the settlements have come in (they follow the answers)."""
    deadline = time.monotonic() + 5
    while charged(scene) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return charged(scene)


@pytest.fixture
def small(reference_data: Any, upstream: Any, gateway_url: str) -> Any:
    """A token with a 150-token daily quota on an upstream that takes 0.3 s
    and honours max_tokens (it uses all 10)."""
    upstream.reset()
    scene = build(upstream, gateway_url, tokens_per_day=QUOTA)
    upstream.delay = 0.3
    upstream.usage = {"prompt_tokens": 7, "completion_tokens": 10, "total_tokens": 17}
    yield scene
    upstream.reset()


# Concurrency cannot overshoot the quota


def test_twenty_concurrent_calls_stay_within_the_quota(small):
    """Before: all 20 were admitted (the quota was checked, never reserved)
    and used 20 × 17 = 340 tokens of a 150-token day."""
    raw = body_of(small, max_tokens=10)
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: post(small, raw), range(20)))
    statuses = [r.status_code for r in answers]
    assert statuses.count(200) >= 1
    assert all(r.json()["error"]["code"] == "token_quota_exceeded" for r in answers if r.status_code != 200)
    rows = logged(20)
    used = sum(row.total_tokens for row in rows if row.status_code == 200)
    # The documented slack: per admitted call, the prompt tokens beyond the request's bytes (7 < len(raw): none).
    assert used <= QUOTA
    assert settled(small, used) == used <= QUOTA
    assert len(small.upstream.requests) == statuses.count(200)


def test_the_slack_is_the_prompt_beyond_the_requests_bytes(small):
    """An upstream whose prompt count exceeds the request's size (a system
    prompt the lab adds) can take the day past the quota by that excess per
    call admitted, no more."""
    raw = body_of(small, max_tokens=10)
    hidden = 200
    prompt = len(raw) + hidden
    small.upstream.usage = {"prompt_tokens": prompt, "completion_tokens": 10, "total_tokens": prompt + 10}
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: post(small, raw), range(20)))
    admitted = [r for r in answers if r.status_code == 200]
    rows = logged(20)
    used = sum(row.total_tokens for row in rows if row.status_code == 200)
    assert used <= QUOTA + len(admitted) * hidden
    assert len(admitted) == 1  # each reserves len(raw) + 10 > 150 / 2: one at a time


def test_the_unused_reservation_comes_back(reference_data, upstream, gateway_url):
    upstream.reset()
    scene = build(upstream, gateway_url, tokens_per_day=100_000)
    upstream.delay = 0.5
    raw = body_of(scene, max_tokens=1000, n=2)
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(post, scene, raw)
        deadline = time.monotonic() + 5
        while charged(scene) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        in_flight = charged(scene)
        assert answer.result().status_code == 200
    assert in_flight == len(raw) + 1000 * 2  # the request's bytes and max_tokens × n, while the call ran
    assert settled(scene, 12) == 12  # then only what it used (the double's usage)
    upstream.reset()


@pytest.mark.parametrize(("mode", "stream"), [("error500", False), ("stream_cut", True), ("auth401", False)])
def test_a_call_that_fails_upstream_costs_nothing(small, mode, stream):
    small.upstream.mode = mode
    raw = body_of(small, max_tokens=10, stream=stream)
    r = post(small, raw)
    assert r.status_code in (200, 502)  # a stream fails in its last event
    [row] = logged(1)
    assert row.status_code == 502
    assert settled(small, 0) == 0  # the reservation came back whole
    small.upstream.mode, small.upstream.delay = "ok", 0
    assert post(small, raw).status_code == 200  # the whole quota is there for the next call


def test_a_stream_the_caller_leaves_is_charged_what_it_read(reference_data, upstream, gateway_url):
    upstream.reset()
    scene = build(upstream, gateway_url, tokens_per_day=100_000)
    upstream.mode = "stream_hang"  # one event, then nothing
    raw = body_of(scene, max_tokens=100, stream=True)
    with httpx.stream("POST", scene.base_url + "/chat/completions", headers=scene.headers(), content=raw) as r:
        next(r.iter_bytes())
    [row] = logged(1)
    assert (row.status_code, row.error_code) == (499, "client_disconnected")
    assert settled(scene, 1) == 1  # the one event it read stands in for its tokens
    upstream.reset()


def test_the_settle_script_gives_back_the_unused_reservation_and_never_goes_below_zero():
    from gateway.proxy.limits import SETTLE

    stream = settings.STAGEGATE_GATEWAY_LOG_STREAM
    r = rds()
    r.set("q:a", 1000)
    r.set("q:b", 5)
    # q:a: reserved 900, used 12; q:b: reserved 100 (the key lost it, Redis restarted), used 0.
    assert r.eval(SETTLE, 3, stream, "q:a", "q:b", 12, 900, '{"n": 1}', 0, 100, '{"n": 2}') == 2
    assert int(r.get("q:a")) == 1000 - 900 + 12
    assert int(r.get("q:b")) == 0
    assert r.ttl("q:a") > 0 and r.ttl("q:b") > 0


# Bounds on one call


@pytest.fixture
def bounded(reference_data: Any, upstream: Any, gateway_url: str) -> Any:
    upstream.reset()
    scene = build(upstream, gateway_url, max_output_tokens=500, max_n=2)
    yield scene
    upstream.reset()


@pytest.mark.parametrize(
    ("extra", "code", "param"),
    [
        ({"max_tokens": 501}, "max_tokens_above_limit", "max_tokens"),
        ({"max_completion_tokens": 10_000}, "max_tokens_above_limit", "max_completion_tokens"),
        ({"max_tokens": 10, "n": 3}, "n_above_limit", "n"),
        ({"max_tokens": 0}, "invalid_request", "max_tokens"),
        ({"max_tokens": "10"}, "invalid_request", "max_tokens"),
        ({"max_tokens": True}, "invalid_request", "max_tokens"),
        ({"max_tokens": 10.0}, "invalid_request", "max_tokens"),
        ({"n": -1}, "invalid_request", "n"),
    ],
)
def test_bounds_refuse_with_400_and_send_and_reserve_nothing(bounded, extra, code, param):
    r = post(bounded, body_of(bounded, **extra))
    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert str(500) in error["message"] or code != "max_tokens_above_limit"
    assert bounded.upstream.requests == []
    assert charged(bounded) == 0
    [row] = logged(1)
    assert (row.status_code, row.error_code, row.total_tokens) == (400, code, 0)


def test_the_responses_api_names_its_own_field(bounded):
    r = post(
        bounded, json.dumps({"model": bounded.model, "input": "x", "max_output_tokens": 501}).encode(), "/responses"
    )
    assert r.status_code == 400
    assert (r.json()["error"]["code"], r.json()["error"]["param"]) == ("max_tokens_above_limit", "max_output_tokens")
    assert bounded.upstream.requests == []


def test_a_call_that_names_no_bound_gets_the_tokens(bounded):
    assert post(bounded, body_of(bounded)).status_code == 200
    sent = bounded.upstream.requests[-1]["json"]
    assert sent["max_tokens"] == 500 and "n" not in sent
    ok = post(bounded, body_of(bounded, max_tokens=500, n=2))
    assert ok.status_code == 200 and bounded.upstream.requests[-1]["json"]["max_tokens"] == 500
    r = post(bounded, json.dumps({"model": bounded.model, "input": "x"}).encode(), "/responses")
    assert r.status_code == 200 and bounded.upstream.requests[-1]["json"]["max_tokens"] == 500
    completion_only = post(bounded, body_of(bounded, max_completion_tokens=40))
    assert completion_only.status_code == 200
    assert "max_tokens" not in bounded.upstream.requests[-1]["json"]  # the caller's own bound stands


def test_the_bounds_are_the_issuers_within_the_settings(scene):
    token, _ = issue(scene.sv, scene.w.auditor, audit=scene.audit)
    assert (token.max_output_tokens, token.max_n) == (8192, 8)  # the evaluation engine's 8192 fits
    for field, value in (("max_output_tokens", 10**7), ("max_n", 0), ("max_n", 10_000)):
        with pytest.raises(InvalidInput) as err:
            issue(scene.sv, scene.w.auditor, audit=scene.audit, **{field: value})
        assert field in err.value.errors


def test_the_api_issues_and_shows_the_bounds(scene):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user=scene.w.auditor)
    body = {
        "kind": "auditor",
        "system_version": str(scene.sv.pk),
        "audit": str(scene.audit.pk),
        "name": "bounded",
        "expires_at": (timezone.now() + datetime.timedelta(days=3)).isoformat(),
        "max_output_tokens": 1024,
        "max_n": 1,
    }
    r = api.post("/api/gateway-tokens", body, format="json")
    assert r.status_code == 201, r.content
    assert (r.json()["max_output_tokens"], r.json()["max_n"]) == (1024, 1)


# Caps on token minting


@pytest.fixture
def capped(scene: Any, settings: Any) -> Any:
    settings.STAGEGATE_GATEWAY_MAX_LIVE_TOKENS_PER_HOLDER = 3  # the scene's own token is one
    settings.STAGEGATE_GATEWAY_MAX_LIVE_TOKENS_PER_ORGANISATION = 4
    return scene


def test_a_holder_may_hold_only_so_many_live_tokens_of_a_kind(capped):
    issue(capped.sv, capped.w.auditor, audit=capped.audit)
    third, _ = issue(capped.sv, capped.w.auditor, audit=capped.audit)
    tokens, events = GatewayToken.objects.count(), AuditEvent.objects.count()
    with pytest.raises(Conflict) as err:
        issue(capped.sv, capped.w.auditor, audit=capped.audit)
    assert err.value.code == "token_limit"
    assert (GatewayToken.objects.count(), AuditEvent.objects.count()) == (tokens, events)  # nothing written
    # Another kind has its own count; a revoked or expired token frees a place.
    issue(capped.sv, capped.w.academic, kind="academic")
    gateway_token_revoke(actor=fresh(capped.w.auditor), token=third)
    expiring, _ = issue(
        capped.sv, capped.w.auditor, audit=capped.audit, expires_at=timezone.now() + datetime.timedelta(seconds=1)
    )
    with pytest.raises(Conflict):
        issue(capped.sv, capped.w.auditor, audit=capped.audit)
    GatewayToken.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    issue(capped.sv, capped.w.auditor, audit=capped.audit)


def test_an_organisation_may_hold_only_so_many(capped):
    colleague = member(capped.w.auditor_org, Role.AUDITOR, "colleague")
    issue(capped.sv, capped.w.auditor, audit=capped.audit)
    issue(capped.sv, capped.w.auditor, audit=capped.audit)
    issue(capped.sv, colleague, audit=capped.audit)  # the organisation's fourth
    with pytest.raises(Conflict) as err:
        issue(capped.sv, colleague, audit=capped.audit)
    assert err.value.code == "token_limit" and "organisation" in str(err.value)


def test_the_api_refuses_a_token_over_the_cap_with_409(capped):
    from rest_framework.test import APIClient

    issue(capped.sv, capped.w.auditor, audit=capped.audit)
    issue(capped.sv, capped.w.auditor, audit=capped.audit)
    api = APIClient()
    api.force_authenticate(user=capped.w.auditor)
    body = {
        "kind": "auditor",
        "system_version": str(capped.sv.pk),
        "audit": str(capped.audit.pk),
        "name": "one too many",
        "expires_at": (timezone.now() + datetime.timedelta(days=3)).isoformat(),
    }
    before = GatewayToken.objects.count()
    r = api.post("/api/gateway-tokens", body, format="json")
    assert r.status_code == 409 and r.json()["code"] == "token_limit"
    assert GatewayToken.objects.count() == before
