"""A lab's endpoint is not trusted with the gateway's bookkeeping (issue 12).

Whatever it reports as usage is checked and clamped before it reaches the
limits, the access log or the database; whatever it nests too deeply is a
logged error, never a 500; and one access-log entry the database refuses is
quarantined (kept, with the reason) instead of holding back every other
tenant's calls in the drain."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
import redis
from django.conf import settings
from django.db import OperationalError

from gateway.models import GatewayCall
from gateway.services import access_log_drain, gateway_calls_store
from tests.gateway.conftest import issue
from tests.gateway.upstream_double import USAGE, nested

CEILING = 1_000_000_000  # the documented per-call ceiling (gateway.proxy.usage.USAGE_CEILING)


@pytest.fixture(autouse=True)
def _honest_again(upstream: Any) -> Any:
    """The double is shared by the session: leave it honest for the next module."""
    yield
    upstream.reset()


def chat(scene: Any, secret: str | None = None, **extra: Any) -> httpx.Response:
    body = {"model": scene.model, "messages": [{"role": "user", "content": "x"}], **extra}
    return httpx.post(scene.base_url + "/chat/completions", headers=scene.headers(secret), json=body, timeout=20)


def rds() -> redis.Redis:
    return redis.Redis.from_url(settings.STAGEGATE_GATEWAY_REDIS_URL, decode_responses=True)


def wait_logged(n: int) -> None:
    """Until ``n`` entries are in the stream (a call's entry goes in just after its answer)."""
    deadline = time.monotonic() + 5
    while rds().xlen(settings.STAGEGATE_GATEWAY_LOG_STREAM) < n:
        assert time.monotonic() < deadline, "the access-log entries did not arrive"
        time.sleep(0.02)


def drained(n: int = 1) -> list[GatewayCall]:
    wait_logged(n)
    access_log_drain()
    return list(GatewayCall.objects.order_by("created_at"))


def quarantine() -> Any:
    from gateway.models import GatewayCallQuarantine

    return GatewayCallQuarantine.objects


# 1. Usage is validated and clamped before it reaches anything.

HOSTILE_USAGE = [
    # (what the upstream reports, what is recorded as (prompt, completion, total))
    ({"prompt_tokens": 3_000_000_000, "completion_tokens": 5, "total_tokens": 3_000_000_005}, (CEILING, 5, CEILING)),
    ({"prompt_tokens": 10**20, "completion_tokens": 10**20, "total_tokens": 10**40}, (CEILING, CEILING, CEILING)),
    ({"prompt_tokens": True, "completion_tokens": -4, "total_tokens": 1.5}, (0, 0, 0)),
    ({"prompt_tokens": "7", "completion_tokens": 5.0, "total_tokens": None}, (0, 0, 0)),
    ({"prompt_tokens": 7, "completion_tokens": -1}, (7, 0, 7)),
    ({"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": [12]}, (7, 5, 12)),
    ({"prompt_tokens": 700_000_000, "completion_tokens": 700_000_000}, (700_000_000, 700_000_000, CEILING)),
    ("lots", (0, 0, 0)),
    ([1, 2, 3], (0, 0, 0)),
]


@pytest.mark.parametrize(("usage", "recorded"), HOSTILE_USAGE)
def test_hostile_usage_is_clamped_and_the_entry_says_so(scene, usage, recorded):
    scene.upstream.usage = usage
    r = chat(scene)
    assert r.status_code == 200
    assert r.json()["usage"] == usage  # the caller gets the upstream's answer as it was
    [row] = drained()
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == recorded
    assert row.usage_clamped is True


def test_the_access_log_api_shows_clamped_usage(scene):
    from rest_framework.test import APIClient

    scene.upstream.usage = {"prompt_tokens": 10**20}
    assert chat(scene).status_code == 200
    drained()
    c = APIClient()
    c.force_authenticate(user=scene.w.auditor)
    [call] = c.get("/api/gateway-calls").json()["results"]
    assert (call["prompt_tokens"], call["total_tokens"], call["usage_clamped"]) == (CEILING, CEILING, True)


@pytest.mark.parametrize(("usage", "recorded"), HOSTILE_USAGE[:3])
def test_hostile_usage_in_a_stream_is_clamped_too(scene, usage, recorded):
    scene.upstream.usage = usage
    r = chat(scene, stream=True, stream_options={"include_usage": True})
    assert r.status_code == 200 and r.text.endswith("data: [DONE]\n\n")
    [row] = drained()
    assert row.stream
    if any(recorded):
        assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == recorded
    assert row.usage_clamped is True


def test_honest_usage_is_recorded_as_is_and_not_flagged(scene):
    assert chat(scene).status_code == 200
    assert chat(scene, stream=True, stream_options={"include_usage": True}).status_code == 200
    rows = drained(2)
    assert [(r.prompt_tokens, r.completion_tokens, r.total_tokens) for r in rows] == [(7, 5, 12)] * 2
    assert not any(r.usage_clamped for r in rows)
    scene.upstream.usage = None  # no usage at all is not hostile: nothing to clamp
    assert chat(scene).status_code == 200
    row = drained()[-1]
    assert (row.total_tokens, row.usage_clamped) == (0, False)


def test_the_usage_check_reads_only_the_three_counts():
    from gateway.proxy.usage import USAGE_CEILING, usage_of

    assert USAGE_CEILING == CEILING
    assert usage_of({"usage": USAGE}) == (7, 5, 12, False)
    assert usage_of({"usage": {**USAGE, "completion_tokens_details": {"x": [1] * 10_000}}}) == (7, 5, 12, False)
    assert usage_of({}) == (0, 0, 0, False)
    assert usage_of([]) == (0, 0, 0, False)
    assert usage_of({"usage": {"prompt_tokens": 2**31, "completion_tokens": 0}}) == (CEILING, 0, CEILING, True)
    assert usage_of({"usage": {"prompt_tokens": False, "completion_tokens": 3}}) == (0, 3, 3, True)
    assert usage_of({"usage": {"prompt_tokens": float("inf")}}) == (0, 0, 0, True)


# 3. The limit scripts never see an unchecked count: no script error, no breaker, no lost record.


def test_a_poisoned_call_neither_trips_the_breaker_for_others_nor_loses_its_record(scene, all_logs):
    _, academic = issue(scene.sv, scene.w.academic, kind="academic")  # another tenant
    scene.upstream.usage = {"prompt_tokens": 10**20, "completion_tokens": 1, "total_tokens": 10**20 + 1}
    assert chat(scene).status_code == 200
    time.sleep(0.1)  # the poisoned call settles (alone: at once)
    scene.upstream.usage = USAGE
    other = chat(scene, academic)
    assert other.status_code == 200, other.text  # not 503 limits_unavailable
    poisoned, theirs = drained(2)
    assert (poisoned.token_id, theirs.kind) == (scene.token.pk, "academic")
    assert (poisoned.prompt_tokens, poisoned.total_tokens, poisoned.usage_clamped) == (CEILING, CEILING, True)
    assert "could not store" not in all_logs.text
    # The poisoned token's quota was charged the ceiling, no more; the other's its own usage.
    day = time.strftime("%Y%m%d", time.gmtime())
    assert int(rds().get(f"stagegate:gw:tpd:{scene.token.pk}:{day}")) == CEILING
    assert int(rds().get(f"stagegate:gw:tpd:{theirs.token_id}:{day}")) == 12


@pytest.mark.parametrize("used", ["1e20", "100000000000000000000", "inf", "-inf", "nan", "-5", "abc", "", "2.5"])
def test_the_settle_script_itself_refuses_to_error_on_any_count(used):
    from gateway.proxy.limits import SETTLE

    stream = settings.STAGEGATE_GATEWAY_LOG_STREAM
    r = rds()
    assert r.eval(SETTLE, 3, stream, "q:a", "q:b", used, 0, '{"n": 1}', 12, 0, '{"n": 2}') == 2
    assert r.xlen(stream) == 2  # both entries in
    assert 0 <= int(r.get("q:a") or 0) <= CEILING
    assert int(r.get("q:b")) == 12


# 2. The drain never stalls: what cannot be stored is quarantined, the rest lands.


def poisoned_entries(template: dict[str, str]) -> dict[str, dict[str, str]]:
    """Entries no database row can hold, as an old or broken writer might leave them."""
    return {
        # What the gateway wrote before usage was clamped (the red team's High).
        "huge_usage": {"e": json.dumps({**template, "prompt_tokens": "3000000000", "total_tokens": "3000000012"})},
        "not_json": {"e": "{not json"},
        "no_token": {"e": json.dumps({k: v for k, v in template.items() if k != "token"})},
        "unknown_token": {"e": json.dumps({**template, "token": str(uuid.uuid4())})},  # refused at commit
        "status_out_of_range": {"e": json.dumps({**template, "status": "70000"})},  # refused by the insert
        "nul_in_text": {"e": json.dumps({**template, "error_code": "a\x00b"})},
    }


@pytest.mark.parametrize("batch", [2000, 2])
def test_a_poisoned_entry_is_quarantined_and_every_other_call_lands(scene, batch):
    stream = settings.STAGEGATE_GATEWAY_LOG_STREAM
    r = rds()
    assert chat(scene).status_code == 200
    wait_logged(1)
    [(_, fields)] = r.xrange(stream)
    template = json.loads(fields["e"])
    bad = poisoned_entries(template)
    ids = {}
    for name, entry in bad.items():
        ids[name] = r.xadd(stream, entry)
        assert chat(scene, seed=len(ids)).status_code == 200  # honest calls between the poisoned entries
        wait_logged(1 + 2 * len(ids))
    honest = 1 + len(bad)

    assert access_log_drain(batch=batch) == honest + len(bad)  # every entry moved off the stream
    assert r.xlen(stream) == 0
    assert GatewayCall.objects.count() == honest
    kept = {q.stream_id: q for q in quarantine().all()}
    assert set(kept) == set(ids.values())
    for name, stream_id in ids.items():
        q = kept[stream_id]
        assert q.reason, name
        assert json.loads(q.entry)["e"].replace("\x00", "\ufffd") == bad[name]["e"].replace("\x00", "\ufffd")
    assert "3000000000" in kept[ids["huge_usage"]].reason or "range" in kept[ids["huge_usage"]].reason
    # Nothing re-read, nothing stored twice.
    assert access_log_drain(batch=batch) == 0
    assert GatewayCall.objects.count() == honest and quarantine().count() == len(bad)


def test_an_outage_of_the_database_quarantines_nothing(scene, monkeypatch):
    """A refusal that says nothing about the entry (the database is down)
    leaves the batch in the stream for the next drain."""
    from gateway import services

    assert chat(scene).status_code == 200
    wait_logged(1)

    def down(rows: Any) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(services, "_insert", down)
    with pytest.raises(OperationalError):
        access_log_drain()
    assert rds().xlen(settings.STAGEGATE_GATEWAY_LOG_STREAM) == 1
    assert quarantine().count() == 0
    monkeypatch.undo()
    assert access_log_drain() == 1 and GatewayCall.objects.count() == 1


def test_a_poisoned_entry_stored_straight_to_the_database_is_quarantined_not_lost(scene):
    """The path taken when Redis is down (gateway.proxy.server._store_direct)."""
    assert chat(scene).status_code == 200
    wait_logged(1)
    [(_, fields)] = rds().xrange(settings.STAGEGATE_GATEWAY_LOG_STREAM)
    entry = {**json.loads(fields["e"]), "total_tokens": str(10**20)}
    assert gateway_calls_store(entries=[("direct-poisoned", entry)]) == 0
    assert quarantine().get().stream_id == "direct-poisoned"


def test_operators_see_the_quarantine_in_the_admin(scene, client):
    from tests.factories import UserFactory

    gateway_calls_store(entries=[("1-1", {"e": "{not json"})])
    client.force_login(UserFactory(username="operator", is_staff=True, is_superuser=True))
    page = client.get("/admin/gateway/gatewaycallquarantine/")
    assert page.status_code == 200
    assert b"1-1" in page.content
    kept = quarantine().get()
    detail = client.get(f"/admin/gateway/gatewaycallquarantine/{kept.pk}/change/")
    assert detail.status_code == 200 and b"not json" in detail.content


# 4. Deeply nested JSON is a clear 4xx (request) or a logged upstream error (response), never a 500.


def test_a_deeply_nested_request_is_400_and_logged(scene):
    raw = b'{"model": "' + scene.model.encode() + b'", "messages": ' + nested(100_000) + b"}"
    r = httpx.post(scene.base_url + "/chat/completions", headers=scene.headers(), content=raw, timeout=20)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_json"
    assert scene.upstream.requests == []
    [row] = drained()
    assert (row.status_code, row.error_code) == (400, "invalid_json")


def test_a_request_nested_just_within_the_parser_but_not_the_encoder_is_400(scene, monkeypatch):
    """Parsed, then re-encoded for the upstream: that can recurse too deeply as well."""
    import gateway.proxy.server

    def too_deep(*args: Any, **kwargs: Any) -> bytes:
        raise RecursionError("maximum recursion depth exceeded while encoding a JSON object")

    monkeypatch.setattr(gateway.proxy.server, "_encode", too_deep)
    r = chat(scene)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    [row] = drained()
    assert row.status_code == 400


def test_a_deeply_nested_upstream_answer_is_a_logged_502(scene):
    scene.upstream.mode = "deep"
    r = chat(scene)
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "upstream_malformed"
    [row] = drained()
    assert (row.status_code, row.error_code) == (502, "upstream_malformed")


def test_a_deeply_nested_usage_event_in_a_stream_is_relayed_and_logged(scene):
    scene.upstream.mode = "deep_stream"
    r = chat(scene, stream=True)
    assert r.status_code == 200
    assert r.text.endswith("data: [DONE]\n\n")  # the whole stream, as the upstream sent it
    [row] = drained()
    assert row.status_code == 200 and row.stream
    assert row.usage_clamped is True  # it claimed usage the gateway could not read
    assert row.completion_tokens > 0  # the events stand in


# A hostile Retry-After (found on the way: int() of it raised, a 500 and no record).


@pytest.mark.parametrize(("header", "expected"), [(b"\xb2", "1"), (b"9" * 5000, "86400"), (b"30", "30")])
def test_a_hostile_retry_after_is_bounded_and_logged(scene, header, expected):
    scene.upstream.mode = "rate429"
    scene.upstream.retry_after = header
    r = chat(scene)
    assert r.status_code == 429 and r.headers["retry-after"] == expected
    [row] = drained()
    assert (row.status_code, row.error_code) == (429, "upstream_rate_limited")


def test_an_endless_stream_line_is_bounded_and_the_events_after_it_still_count():
    """One newline-free line re-split on every chunk was quadratic CPU and an
    unbounded buffer; now the scanner keeps at most MAX_LINE of a line."""
    from gateway.proxy.server import SseScanner

    scanner = SseScanner()
    event = b'data: {"choices": [{"delta": {"content": "hi"}}]}\n\n'
    scanner.feed(event[:20])
    scanner.feed(event[20:])  # an event split across chunks is still seen
    assert scanner.events == 1 and not scanner.unreadable
    kib = b"x" * 1024
    for _ in range(2 * SseScanner.MAX_LINE // 1024):
        scanner.feed(kib)
        assert len(scanner.buffer) <= SseScanner.MAX_LINE
    assert scanner.skipping and scanner.unreadable
    usage = {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    scanner.feed(b"tail of the long line\n" + event + b"data: " + json.dumps({"usage": usage}).encode() + b"\n\n")
    assert scanner.events == 3 and not scanner.skipping and scanner.buffer == b""
    assert scanner.usage == (3, 5, 8, False)


def test_the_scanner_sees_the_streams_end_marker():
    from gateway.proxy.server import SseScanner

    scanner = SseScanner()
    scanner.feed(b'data: {"choices": []}\n\ndata: [DO')
    assert not scanner.done
    scanner.feed(b"NE]\n\n")
    assert scanner.done and scanner.events == 1
