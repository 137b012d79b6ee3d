"""Every call is recorded with the right digests, handed off through Redis and
drained into PostgreSQL exactly once; the lab cannot read auditors' calls."""

from __future__ import annotations

import hashlib
import json

import httpx
import redis
from django.conf import settings
from rest_framework.test import APIClient

from gateway.models import GatewayCall
from gateway.services import access_log_drain, gateway_calls_store


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def post(scene, body: dict) -> httpx.Response:
    raw = json.dumps(body).encode()
    return httpx.post(scene.base_url + "/chat/completions", headers=scene.headers(), content=raw, timeout=10)


def test_calls_are_recorded_with_digests_and_drained_once(scene):
    body = {"model": scene.model, "messages": [{"role": "user", "content": "What is 2+2?"}], "seed": 3}
    raw = json.dumps(body).encode()
    plain = post(scene, body)
    streamed = httpx.post(
        scene.base_url + "/chat/completions",
        headers=scene.headers(),
        content=json.dumps({**body, "stream": True}).encode(),
        timeout=10,
    )
    refused = httpx.post(scene.base_url + "/chat/completions", headers=scene.headers(), json={"model": "nope"})
    assert (plain.status_code, streamed.status_code, refused.status_code) == (200, 200, 404)

    assert access_log_drain() == 3
    assert access_log_drain() == 0  # nothing twice
    assert GatewayCall.objects.count() == 3
    ok = GatewayCall.objects.get(stream=False, status_code=200)
    assert ok.request_sha256 == sha(raw)
    assert ok.response_sha256 == sha(plain.content)
    assert (ok.prompt_tokens, ok.completion_tokens, ok.total_tokens) == (7, 5, 12)
    assert ok.upstream_model == "upstream-model-7b"
    assert ok.token_id == scene.token.pk and ok.organisation_id == scene.w.auditor_org.pk
    assert ok.latency_ms > 0
    st = GatewayCall.objects.get(stream=True)
    assert st.response_sha256 == sha(streamed.content)  # the assembled event stream as the caller got it
    assert st.completion_tokens > 0
    assert GatewayCall.objects.get(status_code=404).error_code == "model_not_found"
    assert redis.Redis.from_url(settings.STAGEGATE_GATEWAY_REDIS_URL).xlen(settings.STAGEGATE_GATEWAY_LOG_STREAM) == 0


def test_a_drain_that_died_before_acknowledging_stores_nothing_twice(scene):
    post(scene, {"model": scene.model, "messages": [{"role": "user", "content": "x"}]})
    r = redis.Redis.from_url(settings.STAGEGATE_GATEWAY_REDIS_URL, decode_responses=True)
    items = r.xrange(settings.STAGEGATE_GATEWAY_LOG_STREAM)
    gateway_calls_store(entries=list(items))  # committed, but the entries were never deleted
    assert GatewayCall.objects.count() == 1
    assert access_log_drain() == 1  # handed over again ...
    assert GatewayCall.objects.count() == 1  # ... and stored once


def test_an_entry_is_one_json_field_and_the_older_form_still_drains(scene):
    post(scene, {"model": scene.model, "messages": [{"role": "user", "content": "x"}]})
    r = redis.Redis.from_url(settings.STAGEGATE_GATEWAY_REDIS_URL, decode_responses=True)
    [(_, fields)] = r.xrange(settings.STAGEGATE_GATEWAY_LOG_STREAM)
    assert list(fields) == ["e"]
    entry = json.loads(fields["e"])
    assert entry["status"] == "200" and entry["token"] == str(scene.token.pk)
    # Entries written one field per key (before the gateway packed them) are still read.
    r.xadd(settings.STAGEGATE_GATEWAY_LOG_STREAM, {**entry, "status": "502"})
    assert access_log_drain() == 2
    assert sorted(GatewayCall.objects.values_list("status_code", flat=True)) == [200, 502]


def test_the_celery_task_drains(scene):
    from gateway.tasks import drain_access_log

    post(scene, {"model": scene.model, "messages": [{"role": "user", "content": "x"}]})
    assert drain_access_log.apply().get() == 1
    assert GatewayCall.objects.count() == 1


def test_gateway_calls_api_is_scoped(scene):
    post(scene, {"model": scene.model, "messages": [{"role": "user", "content": "x"}]})
    access_log_drain()

    def listed(user) -> int:
        c = APIClient()
        c.force_authenticate(user=user)
        response = c.get("/api/gateway-calls")
        assert response.status_code == 200
        return len(response.json()["results"])

    assert listed(scene.w.auditor) == 1
    assert listed(scene.w.regulator) == 1
    assert listed(scene.w.lab_admin) == 0  # the lab never reads its auditors' calls
    assert listed(scene.w.other_auditor) == 0
    assert APIClient().get("/api/gateway-calls").status_code == 401


def test_the_log_cannot_be_rewritten(scene):
    import pytest
    from django.db import connection

    from core.models import AppendOnlyError

    post(scene, {"model": scene.model, "messages": [{"role": "user", "content": "x"}]})
    access_log_drain()
    row = GatewayCall.objects.get()
    row.status_code = 200
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE gateway_gatewaycall SET status_code = 500")
