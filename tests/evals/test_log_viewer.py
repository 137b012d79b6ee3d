"""A run's Inspect logs: listed and downloaded through the API, and read by
Inspect's own viewer served from Stagegate, by the running auditor and the
regulator only; never a byte of a log that no longer matches its SHA-256.

The logs are real: the run goes through the gateway to the scripted model,
its shards run in-process as Inspect evals (tests/evals/conftest.py)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.test import AsyncClient, Client, override_settings

from core.actors import actor_for
from evals import log_apis, services, viewer
from evals.log_apis import RangeNotSatisfiable, byte_range
from evals.models import EvalLogFile, EvalRun

CONDITION = "prompt=none;scratchpad;pressure=all;risk=low"


@pytest.fixture(autouse=True)
def _nothing_verified_yet():
    """Verified copies and summaries are kept per process: each test starts with none."""
    log_apis.verified_copies.clear()
    cache.clear()
    yield
    log_apis.verified_copies.clear()


@override_settings(CELERY_TASK_ALWAYS_EAGER=True, STAGEGATE_EVALS_SHARD_SIZE=1)
def run_with_logs(scene: Any, n: int = 1) -> EvalRun:
    """A finished run of ``n`` samples, one shard (and one log) each."""
    run = services.eval_run_start(
        actor=actor_for(scene.w.auditor),
        audit=scene.audit,
        suite="insider_trading_deception",
        conditions=[CONDITION],
        samples_per_condition=n,
    )
    run.refresh_from_db()
    assert run.status == "completed" and run.logs.count() == n
    return run


def session(user: Any = None) -> Client:
    """A browser: signed in through the portal's session, or anonymous."""
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def stored(log: EvalLogFile) -> bytes:
    return Path(log.location).read_bytes()


def urls(run: EvalRun, log: EvalLogFile) -> dict[str, str]:
    return {
        "list": f"/api/eval-runs/{run.pk}/logs",
        "download": f"/api/eval-runs/{run.pk}/logs/{log.name}",
        "viewer": f"/evals/runs/{run.pk}/viewer/",
        "listing": f"/evals/runs/{run.pk}/viewer/logs/listing.json",
        "viewer_log": f"/evals/runs/{run.pk}/viewer/logs/{log.name}",
    }


# --- the API --------------------------------------------------------------------


def test_the_auditor_and_the_regulator_list_and_download_the_logs(scene):
    run = run_with_logs(scene, n=2)
    logs = {log.name: log for log in run.logs.select_related("shard")}
    for user in (scene.w.auditor, scene.w.regulator):
        client = session(user)
        listed = client.get(f"/api/eval-runs/{run.pk}/logs")
        assert listed.status_code == 200, listed.content
        items = listed.json()["results"]
        assert [i["name"] for i in items] == [log.name for log in run.logs.order_by("id")]
        for item in items:
            log = logs[item["name"]]
            assert (item["shard"], item["attempt"], item["sha256"], item["size"]) == (
                log.shard.number,
                1,
                log.sha256,
                log.size,
            )
            assert (item["samples"], item["ingested"]) == (1, 1) and item["created_at"]
            got = client.get(item["url"])
            assert got.status_code == 200
            data = body(got)
            assert hashlib.sha256(data).hexdigest() == log.sha256 and data == stored(log)
            assert got["Content-Type"] == "application/octet-stream"
            assert got["Content-Disposition"] == f'attachment; filename="{log.name}"'
            assert got["Content-Length"] == str(log.size) and got["Accept-Ranges"] == "bytes"
            assert got["ETag"] == f'"{log.sha256}"'
            assert got["Repr-Digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"
            assert "no-store" in got["Cache-Control"]
    assert {i["shard"] for i in items} == {0, 1}


def test_a_log_too_large_to_keep_in_memory_is_streamed_from_its_checked_copy(scene, monkeypatch):
    run = run_with_logs(scene)
    log = run.logs.get()
    monkeypatch.setattr(log_apis, "VERIFIED_MAX_LOG", 0)
    monkeypatch.setattr(log_apis, "SPOOL_IN_MEMORY", 64)  # on disk
    monkeypatch.setattr(log_apis, "READ_CHUNK", 1000)
    client = session(scene.w.auditor)
    got = client.get(f"/api/eval-runs/{run.pk}/logs/{log.name}")
    assert got.status_code == 200 and body(got) == stored(log)
    part = client.get(f"/api/eval-runs/{run.pk}/logs/{log.name}", HTTP_RANGE="bytes=1500-3700")
    assert part.status_code == 206 and body(part) == stored(log)[1500:3701]
    assert log_apis.verified_copies.get((log.pk, log.sha256)) is None

    # Served by the ASGI handler (as in production): streamed, not read whole first.
    cookies = session(scene.w.auditor).cookies

    async def fetch() -> tuple[int, bool, bytes]:
        client = AsyncClient()
        client.cookies = cookies
        response = await client.get(f"/api/eval-runs/{run.pk}/logs/{log.name}")
        return response.status_code, response.is_async, b"".join([c async for c in response.streaming_content])

    status, is_async, data = async_to_sync(fetch)()
    assert (status, is_async) == (200, True) and data == stored(log)


# --- who may read them --------------------------------------------------------------


def test_no_one_else_reads_a_runs_logs_or_opens_its_viewer(scene):
    run = run_with_logs(scene)
    log = run.logs.get()
    paths = urls(run, log)
    secret = stored(log)[:64]
    w = scene.w
    # The lab sees its run (it binds its release) but not the prompts and responses.
    for user in (w.lab_admin, w.lab_engineer):
        client = session(user)
        assert client.get(f"/api/eval-runs/{run.pk}").status_code == 200
        for what, path in paths.items():
            got = client.get(path)
            assert got.status_code == 403, (user, what, got.status_code)
            assert secret not in body(got) and b"log_dir_context" not in body(got)
            if what != "viewer":
                assert got.json()["code"] == "transcripts_forbidden"
        assert not log_apis.eval_log_list(actor=actor_for(user), run=run).exists()  # and again on the logs
    # Everyone else signed in does not see the run at all.
    for user in (w.other_lab_admin, w.other_auditor, w.academic, w.customer, w.outsider):
        client = session(user)
        for what, path in paths.items():
            got = client.get(path)
            assert got.status_code == 404, (user, what, got.status_code)
            assert secret not in body(got) and b"log_dir_context" not in body(got)
    # Anonymous: the API and the viewer's data say 401; the viewer's page sends to the sign-in page.
    anonymous = session()
    for what, path in paths.items():
        got = anonymous.get(path)
        if what == "viewer":
            assert got.status_code == 302 and got["Location"].startswith("/portal/login?next=")
        else:
            assert got.status_code == 401, (what, got.status_code)
        assert secret not in body(got)
    # The auditor: a name that is not one of the run's logs is not found.
    auditor = session(w.auditor)
    assert auditor.get(f"/api/eval-runs/{run.pk}/logs/other.eval").status_code == 404
    assert auditor.get(f"/evals/runs/{run.pk}/viewer/logs/other.eval").status_code == 404


# --- altered evidence -------------------------------------------------------------


def test_an_altered_log_is_refused_never_served(scene):
    run = run_with_logs(scene)
    log = run.logs.get()
    original = stored(log)
    paths = urls(run, log)
    auditor = session(scene.w.auditor)

    def refused(code: str) -> None:
        for what in ("download", "listing", "viewer_log"):
            log_apis.verified_copies.clear()
            cache.clear()
            got = auditor.get(paths[what])
            assert got.status_code == 409, (what, got.status_code)
            assert got["Content-Type"] == "application/problem+json"
            assert got.json()["code"] == code and got.json()["name"] == log.name
        assert auditor.head(paths["viewer_log"]).status_code == 409

    # One byte changed, the size the same.
    altered = bytearray(original)
    altered[len(altered) // 2] ^= 0xFF
    Path(log.location).write_bytes(bytes(altered))
    refused("log_altered")
    # Bytes added at the end, and bytes cut off.
    Path(log.location).write_bytes(original + b"\0")
    refused("log_altered")
    Path(log.location).write_bytes(original[:-1])
    refused("log_altered")
    # Gone.
    Path(log.location).unlink()
    refused("log_missing")
    # Put back as it was: served again.
    Path(log.location).write_bytes(original)
    assert body(auditor.get(paths["download"])) == original


def test_what_is_served_always_hashes_to_the_recorded_digest(scene):
    """A copy already checked is served from memory: altering the file
    afterwards changes nothing that is sent (the next unchecked read refuses)."""
    run = run_with_logs(scene)
    log = run.logs.get()
    original = stored(log)
    auditor = session(scene.w.auditor)
    assert body(auditor.get(f"/api/eval-runs/{run.pk}/logs/{log.name}")) == original
    Path(log.location).write_bytes(original[:100] + b"X" + original[101:])
    assert body(auditor.get(f"/api/eval-runs/{run.pk}/logs/{log.name}")) == original
    log_apis.verified_copies.clear()
    assert auditor.get(f"/api/eval-runs/{run.pk}/logs/{log.name}").status_code == 409


# --- the viewer ---------------------------------------------------------------------


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None


def test_the_viewer_page_opens_the_runs_logs_from_this_origin_only(scene):
    run = run_with_logs(scene)
    for user in (scene.w.auditor, scene.w.regulator):
        client = session(user)
        page = client.get(f"/evals/runs/{run.pk}/viewer/")
        assert page.status_code == 200 and page["Content-Type"] == "text/html; charset=utf-8"
        html = page.content.decode()
        # Nothing from another host: every URL is a path on this origin.
        assert not re.search(r"https?://", html)
        parsed = _Page()
        parsed.feed(html)
        assert parsed.urls and all(u.startswith("/") and not u.startswith("//") for u in parsed.urls)
        assert all(u.startswith(f"/evals/viewer/{viewer.viewer_version()}/assets/") for u in parsed.urls)
        # Each of them loads.
        for url in parsed.urls:
            asset = client.get(url)
            assert asset.status_code == 200, url
        # The static backend's configuration: this run's log directory, content shown as untrusted.
        (context,) = [text for attrs, text in parsed.scripts if attrs.get("id") == "log_dir_context"]
        assert json.loads(context) == {
            "log_dir": "logs",
            "inspect_version": viewer.viewer_version(),
            "trust_content": False,
        }
        # The dist's own policy, which allows its inline scripts by hash and nothing from elsewhere.
        csp = page["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["default-src"] == "'none'" and directives["connect-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        inline = [
            text for attrs, text in parsed.scripts if "src" not in attrs and attrs.get("type") != "application/json"
        ]
        assert inline
        for text in inline:
            digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in directives["script-src"].split()
        assert "private" in page["Cache-Control"] and "no-store" in page["Cache-Control"]
    # Opened without the trailing slash, it is the same page.
    assert session(scene.w.auditor).get(f"/evals/runs/{run.pk}/viewer").status_code == 301


CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
}


def test_every_file_of_the_viewer_is_served_from_the_installed_package(world):
    client = session(world.auditor)
    base = f"/evals/viewer/{viewer.viewer_version()}/assets/"
    files = sorted((viewer.dist_dir() / "assets").iterdir())
    assert {f.name for f in files} >= {"index.js", "index.css", "json-parse.worker.js", "decompression.worker.js"}
    for f in files:
        got = client.get(base + f.name)
        assert got.status_code == 200, f.name
        assert got["Content-Type"].split(";")[0] == CONTENT_TYPES[f.suffix], f.name
        assert body(got) == f.read_bytes(), f.name
        assert got["Content-Security-Policy"] == viewer.content_security_policy()
        assert "immutable" in got["Cache-Control"]
    # Compressed for a browser that asks (the scripts are large).
    packed = client.get(base + "index.js", HTTP_ACCEPT_ENCODING="gzip")
    assert packed["Content-Encoding"] == "gzip"
    # Nothing else of the package, another version's path, or anonymous.
    for name in ("..", "index.html", "content-security-policy.json", "nothing.js"):
        assert client.get(base + name).status_code == 404, name
    assert client.get(base.replace(viewer.viewer_version(), "0.0.1") + "index.js").status_code == 404
    assert session().get(base + "index.js").status_code == 403


def test_a_file_that_only_links_into_the_viewers_assets_is_not_served(world, tmp_path, monkeypatch):
    shutil.copyfile(viewer.dist_dir() / "content-security-policy.json", tmp_path / "content-security-policy.json")
    (tmp_path / "assets").mkdir()
    (tmp_path / "secret.js").write_text("not the viewer's")
    (tmp_path / "assets" / "linked.js").symlink_to(tmp_path / "secret.js")
    (tmp_path / "assets" / "own.js").write_text("the viewer's")
    monkeypatch.setattr(viewer, "dist_dir", lambda: tmp_path)
    client = session(world.auditor)
    base = f"/evals/viewer/{viewer.viewer_version()}/assets/"
    assert body(client.get(base + "own.js")) == b"the viewer's"
    assert client.get(base + "linked.js").status_code == 404


class RangeReader(io.RawIOBase):
    """A log read as the viewer reads it: its size from a HEAD, then only the
    byte ranges the zip reader asks for."""

    def __init__(self, client: Client, url: str) -> None:
        head = client.head(url)
        assert head.status_code == 200 and head["Accept-Ranges"] == "bytes" and not head.content
        self.client, self.url, self.size, self.pos = client, url, int(head["Content-Length"]), 0
        self.requests = 0

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def readinto(self, buffer: Any) -> int:
        end = min(self.pos + len(buffer), self.size) - 1
        if end < self.pos:
            return 0
        got = self.client.get(self.url, HTTP_RANGE=f"bytes={self.pos}-{end}")
        assert got.status_code == 206 and got["Content-Range"] == f"bytes {self.pos}-{end}/{self.size}"
        data = body(got)
        assert len(data) == end - self.pos + 1  # the viewer refuses any other length
        buffer[: len(data)] = data
        self.pos += len(data)
        self.requests += 1
        return len(data)


def test_the_viewer_reads_the_logs_as_inspect_view_bundle_lays_them_out(scene, tmp_path):
    from inspect_ai.log._file import write_log_listing

    run = run_with_logs(scene, n=2)
    logs = list(run.logs.order_by("id"))
    client = session(scene.w.regulator)
    listing = client.get(f"/evals/runs/{run.pk}/viewer/logs/listing.json")
    assert listing.status_code == 200 and listing["Content-Type"] == "application/json"
    # The same listing.json that Inspect's bundler writes for a directory of these logs.
    for log in logs:
        shutil.copyfile(log.location, tmp_path / log.name)
    write_log_listing(str(tmp_path), hide_merged_shards=False)
    assert listing.json() == json.loads((tmp_path / "listing.json").read_text())
    assert all(v["task"] == "insider_trading_deception" and v["status"] == "success" for v in listing.json().values())
    # Each log read by ranges, as the viewer's zip reader does, holds what the file holds.
    for log in logs:
        url = f"/evals/runs/{run.pk}/viewer/logs/{log.name}"
        first = client.get(url, HTTP_RANGE="bytes=0-0")
        assert first.status_code == 206 and first["Content-Range"] == f"bytes 0-0/{log.size}" and body(first) == b"P"
        end = client.get(url, HTTP_RANGE=f"bytes={log.size - 22}-{log.size - 1}")
        assert body(end)[:4] == b"PK\x05\x06"  # the zip's end of central directory
        reader = RangeReader(client, url)
        with (
            zipfile.ZipFile(io.BufferedReader(reader, buffer_size=4096)) as remote,
            zipfile.ZipFile(log.location) as local,
        ):
            assert remote.namelist() == local.namelist() and "header.json" in remote.namelist()
            for name in remote.namelist():
                assert remote.read(name) == local.read(name)
        assert reader.requests > 1
        assert "Content-Disposition" not in first
        assert first["Content-Security-Policy"] == viewer.content_security_policy()
        # Past the end: 416, with the size.
        past = client.get(url, HTTP_RANGE=f"bytes={log.size}-")
        assert past.status_code == 416 and past["Content-Range"] == f"bytes */{log.size}"
    # Files the viewer looks for beside the logs and treats a 4xx as "none".
    for extra in ("eval-set.json", "flow.yaml"):
        assert client.get(f"/evals/runs/{run.pk}/viewer/logs/{extra}").status_code == 404


def test_a_log_kept_as_json_is_listed_and_read_whole(scene, tmp_path):
    """An uploaded run's log may be Inspect's JSON format and belongs to no
    shard (evals/uploads.py): the viewer reads it whole."""
    from inspect_ai.log import read_eval_log, write_eval_log

    run = run_with_logs(scene)
    location = tmp_path / "upload.json"
    write_eval_log(read_eval_log(run.logs.get().location), str(location), format="json")
    data = location.read_bytes()
    log = EvalLogFile.objects.create(
        run=run,
        shard=None,
        name="upload-1.json",
        location=str(location),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        samples=1,
    )
    client = session(scene.w.auditor)
    listing = client.get(f"/evals/runs/{run.pk}/viewer/logs/listing.json").json()
    assert set(listing) == {log.name, run.logs.exclude(pk=log.pk).get().name}
    assert listing[log.name]["task"] == "insider_trading_deception"
    assert body(client.get(f"/evals/runs/{run.pk}/viewer/logs/{log.name}")) == data
    (item,) = [i for i in client.get(f"/api/eval-runs/{run.pk}/logs").json()["results"] if i["name"] == log.name]
    assert item["shard"] is None


def test_the_portal_links_a_runs_transcripts_for_the_regulator_only():
    from django.template.loader import render_to_string

    from portal.presenters import checklist_display

    run = "0c0ffee0-0000-4000-8000-000000000001"
    checklist = checklist_display(
        {
            "items": [
                {
                    "code": "suite:insider_trading_deception",
                    "title": "Insider trading",
                    "met": True,
                    "evidence": [{"kind": "eval_run", "id": run, "url": f"/api/eval-runs/{run}"}],
                }
            ]
        }
    )
    shown = render_to_string("portal/_checklist.html", {"cl": checklist, "is_regulator": True})
    assert f'<a href="/evals/runs/{run}/viewer/">Transcripts (Inspect viewer)</a>' in shown
    assert f'<a href="/api/eval-runs/{run}/logs">Download logs</a>' in shown
    hidden = render_to_string("portal/_checklist.html", {"cl": checklist, "is_regulator": False})
    assert "/viewer/" not in hidden and "Download logs" not in hidden


def test_the_listing_of_a_run_without_logs_yet_is_empty(scene):
    run = services.eval_run_start(  # not eager: queued, nothing run
        actor=actor_for(scene.w.auditor),
        audit=scene.audit,
        suite="insider_trading_deception",
        conditions=[CONDITION],
        samples_per_condition=1,
    )
    client = session(scene.w.auditor)
    assert client.get(f"/evals/runs/{run.pk}/viewer/logs/listing.json").json() == {}
    assert client.get(f"/api/eval-runs/{run.pk}/logs").json()["results"] == []
    assert session(scene.w.lab_admin).get(f"/api/eval-runs/{run.pk}/logs").status_code == 403


# --- ranges ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("", 10, None),
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=2-5", 10, (2, 5)),
        ("bytes=2-", 10, (2, 9)),
        ("bytes=8-100", 10, (8, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        ("bytes=5-2", 10, None),  # not a valid range: the whole
        ("bytes=0-1,4-5", 10, None),  # several: the whole
        ("items=0-1", 10, None),
        ("bytes=-", 10, None),
        ("bytes=x-1", 10, None),
    ],
)
def test_byte_ranges(header, size, expected):
    assert byte_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=10-", 10), ("bytes=10-12", 10), ("bytes=-0", 10), ("bytes=0-", 0)]
)
def test_byte_ranges_past_the_end(header, size):
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, size)
