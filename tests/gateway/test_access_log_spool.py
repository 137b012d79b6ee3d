"""No answered call's record is lost: each gateway process keeps its entries in
a spool on local disk (gateway/proxy/spool.py) until the drain has stored them,
replays them when Redis lost its data or the process that wrote them died, and
the drain stores an entry handed over twice once (its call id)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest
import redis
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from gateway.models import GatewayCall, GatewayCallQuarantine
from gateway.proxy import spool as spool_mod
from gateway.proxy.entry import AccessEntry, new_call_id
from gateway.proxy.server import GatewayApp
from gateway.services import access_log_drain, gateway_calls_store


def rds() -> redis.Redis:
    return redis.Redis.from_url(settings.STAGEGATE_GATEWAY_REDIS_URL, decode_responses=True)


def entry_for(scene, **changes) -> AccessEntry:
    values = {
        "call_id": new_call_id(),
        "token": str(scene.token.pk),
        "kind": "auditor",
        "holder": scene.w.auditor.pk,
        "organisation": str(scene.w.auditor_org.pk),
        "lab": str(scene.w.lab.pk),
        "system_version": str(scene.sv.pk),
        "started_at": timezone.now().isoformat(),
        "method": "POST",
        "path": "/gateway/v1/chat/completions",
        "upstream_model": "upstream-model-7b",
        "stream": False,
        "status": 200,
        "error_code": "",
        "latency_ms": 12.5,
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
        "usage_clamped": False,
        "request_sha256": "a" * 64,
        "response_sha256": "b" * 64,
    }
    values.update(changes)
    return AccessEntry(**values)


def calls(app: GatewayApp, scene, n: int) -> list[int]:
    body = {"model": scene.model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}

    async def go() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return [
                (await client.post("/gateway/v1/chat/completions", json=body, headers=scene.headers())).status_code
                for _ in range(n)
            ]

    return asyncio.run(go())


def test_the_entry_round_trips_through_its_one_definition(scene):
    entry = entry_for(scene, usage_clamped=True, stream=True, organisation="")
    assert AccessEntry.decode({"e": entry.encode().decode()}) == entry
    assert b"\n" not in entry.encode()  # one spool line
    with pytest.raises(ValueError):
        AccessEntry.decode({"e": json.dumps({**entry.fields(), "call_id": "not-a-uuid"})})


def test_the_same_entry_stored_twice_is_one_row(scene):
    line = entry_for(scene).encode().decode()
    assert gateway_calls_store(entries=[("1-1", {"e": line})]) == 1
    # Replayed after Redis lost its data: another stream id, the same call.
    gateway_calls_store(entries=[("1-2", {"e": line}), ("direct-x", {"e": line})])
    assert GatewayCall.objects.count() == 1
    assert GatewayCallQuarantine.objects.count() == 0


def test_another_token_under_a_stored_call_id_is_no_replay(scene):
    """A different token under a call id already stored is not skipped as a
    duplicate: it goes through the checks (an unknown token is quarantined)."""
    first = entry_for(scene)
    gateway_calls_store(entries=[("1-1", {"e": first.encode().decode()})])
    other = entry_for(scene, call_id=first.call_id, token="00000000-0000-0000-0000-000000000000")
    assert gateway_calls_store(entries=[("1-2", {"e": other.encode().decode()})]) == 0
    assert GatewayCallQuarantine.objects.get().stream_id == "1-2"


def test_a_dead_process_spool_is_replayed_at_start_up(scene, tmp_path: Path):
    spool = tmp_path / "spool"
    spool.mkdir()
    orphan = entry_for(scene)
    # What a gateway process killed before the drain took its entry leaves behind
    # (and Redis lost the entry too: the stream is empty).
    (spool / "deadhost-4242-0bad.lock").touch()
    (spool / "deadhost-4242-0bad.000001.jsonl").write_bytes(orphan.encode() + b"\n")
    with override_settings(STAGEGATE_GATEWAY_SPOOL_DIR=str(spool)):
        assert calls(GatewayApp(), scene, 1) == [200]  # a new process's first call
        assert access_log_drain() == 2
    ids = {c.call_id for c in GatewayCall.objects.all()}
    assert uuid.UUID(orphan.call_id) in ids and len(ids) == 2
    stored = GatewayCall.objects.get(call_id=orphan.call_id)
    assert (stored.total_tokens, stored.request_sha256) == (7, "a" * 64)
    assert not (spool / "deadhost-4242-0bad.lock").exists()
    assert not list(spool.glob("deadhost-*"))  # adopted (renamed as the new process's own)


def test_a_live_process_spool_is_left_alone(scene, tmp_path: Path):
    spool = tmp_path / "spool"
    other = spool_mod.Spool(spool)  # another process, alive (it holds its lock)
    other.append(entry_for(scene).encode())
    with override_settings(STAGEGATE_GATEWAY_SPOOL_DIR=str(spool)):
        assert calls(GatewayApp(), scene, 1) == [200]
        assert access_log_drain() == 1  # only the call's own entry
    assert other.current is not None and other.current.path.exists()
    other.close()


def test_spool_files_are_deleted_once_the_drain_has_their_entries(scene, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(spool_mod, "SEAL_SECONDS", 0.0)  # a new file for every entry
    monkeypatch.setattr(spool_mod, "CHECK_SECONDS", 0.0)  # and a check after every call
    spool = tmp_path / "spool"
    app = GatewayApp()
    with override_settings(STAGEGATE_GATEWAY_SPOOL_DIR=str(spool)):
        assert calls(app, scene, 3) == [200] * 3
        assert len(list(spool.glob("*.jsonl"))) == 3  # none drained yet: all kept
        assert access_log_drain() == 3
        assert calls(app, scene, 2) == [200] * 2
        assert access_log_drain() == 2
        assert calls(app, scene, 1) == [200]
        # Everything the drain took is gone from disk; what it has not, is kept.
        kept = [json.loads(line) for path in spool.glob("*.jsonl") for line in path.read_text().splitlines()]
        assert 1 <= len(kept) <= 2
        stream = [json.loads(f["e"])["call_id"] for _, f in rds().xrange(settings.STAGEGATE_GATEWAY_LOG_STREAM)]
        assert set(stream) <= {e["call_id"] for e in kept}
        assert access_log_drain() == 1
    assert GatewayCall.objects.count() == 6


def test_an_entry_neither_redis_nor_the_database_took_is_replayed(scene, tmp_path: Path, monkeypatch):
    from gateway.proxy import server

    spool = tmp_path / "spool"

    def down(stream_id: str, line: bytes) -> None:
        raise OSError("the database is down too")

    with override_settings(STAGEGATE_GATEWAY_SPOOL_DIR=str(spool)):
        app = GatewayApp()
        with override_settings(STAGEGATE_GATEWAY_REDIS_URL="redis://127.0.0.1:1/0"):  # nothing listens
            monkeypatch.setattr(server, "_store_direct", down)
            assert calls(app, scene, 1) == [503]  # limits_unavailable, and its entry stored nowhere
            monkeypatch.undo()
        assert GatewayCall.objects.count() == 0
        assert calls(app, scene, 1) == [200]  # Redis is back: the spool replays the lost entry
        # (with the rest of its file: the 200's entry is handed over twice, stored once)
        assert access_log_drain() == 3
    assert sorted(GatewayCall.objects.values_list("status_code", flat=True)) == [200, 503]


# The test process has threads (the spool's disk thread among them); the
# child only looks its spool up and exits, so fork's warning about them does
# not apply here.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_process_has_a_spool_of_its_own(tmp_path):
    """A child forked from a process with a spool writes files of its own
    (its own name and lock), never its parent's."""
    import os

    parent = spool_mod.spool_for(str(tmp_path))
    assert parent is not None and spool_mod.spool_for(str(tmp_path)) is parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child reports through the pipe)
        try:
            child = spool_mod.spool_for(str(tmp_path))
            same = child is parent or child is None or child.prefix == parent.prefix
            os.write(write, b"own" if not same and child.pid == os.getpid() else b"parent's")
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        assert pipe.read() == b"own"
