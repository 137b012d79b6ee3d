"""Two processes and a forked log: the witness runs as its own process
(``python -m stagegate_witness run``) with its own database and key, reading
the live test server's log API with its own token. It cosigns the log as it
grows; then an attacker with the log writer's database rewrites history (the
append-only triggers switched off, as the tables' owner can) and the witness
refuses to cosign, keeps the evidence in its own database, and the service
records the split view and alerts the regulator."""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.db import connection, transaction
from django.test import override_settings

from core.actors import actor_for
from core.dsse import public_key_pem
from core.models import AuditEvent
from core.services import api_token_create
from tests.factories import OrganisationFactory, UserFactory
from transparency import witness as rules
from transparency.models import SignedTreeHead
from transparency.services import log_append
from transparency.signing import log_public_key, log_public_key_pem
from transparency.witness_log import SPLIT_VIEW_ACTION, latest_cosigned_head, witness_pull

REPO = Path(__file__).resolve().parents[2]
APPEND_ONLY = ("transparency_logentry", "transparency_lognode", "transparency_signedtreehead")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def witness_database(tmp_path: Path) -> Iterator[str]:
    """The witness's own database: a fresh PostgreSQL database with a unique
    name on the test server (dropped afterwards), or a SQLite file when the
    tests run on SQLite."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        yield f"sqlite:///{tmp_path / 'witness.sqlite3'}"
        return
    import psycopg
    from psycopg import sql

    name = f"stagegate_witness_{uuid.uuid4().hex[:12]}"
    params: dict[str, Any] = {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
    }
    password = db.get("PASSWORD") or None
    with psycopg.connect(dbname="postgres", password=password, autocommit=True, **params) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    user = db.get("USER") or ""
    auth = (
        f"{quote(user, safe='')}:{quote(password, safe='')}@"
        if password
        else (f"{quote(user, safe='')}@" if user else "")
    )
    yield f"postgresql://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"
    with psycopg.connect(dbname="postgres", password=password, autocommit=True, **params) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Witness:
    def __init__(self, url: str, key: Ed25519PrivateKey, proc: subprocess.Popen[bytes], database_url: str) -> None:
        self.url, self.key, self.proc, self.database_url = url, key, proc, database_url

    def get(self, path: str) -> Any:
        resp = httpx.get(self.url + path, timeout=5)
        return resp.json() if resp.status_code == 200 else None

    def wait_for(self, what: str, predicate: Any, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the witness exited ({self.proc.returncode}) while waiting for {what}")
            try:
                value = predicate()
            except httpx.HTTPError:
                value = None
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def cosigned_size(self) -> int:
        head = self.get("/v1/cosigned-head")
        return int(head["tree_size"]) if head else 0


@pytest.fixture
def witness(live_server: Any, transactional_db: Any, witness_database: str, tmp_path: Path) -> Iterator[Witness]:
    user = UserFactory(username="witness-bot")
    _, token = api_token_create(actor=actor_for(user), name="independent witness")
    key = Ed25519PrivateKey.from_private_bytes(secrets.token_bytes(32))
    seed = key.private_bytes_raw()
    port = _free_port()
    # Its own environment: no DATABASE_URL, no log signing key, nothing of the log's.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "STAGEGATE_WITNESS_DATABASE_URL": witness_database,
        "STAGEGATE_WITNESS_SIGNING_KEY": base64.b64encode(seed).decode(),
        "STAGEGATE_WITNESS_LOG_URL": live_server.url + "/api",
        "STAGEGATE_WITNESS_LOG_TOKEN": token,
        "STAGEGATE_WITNESS_LOG_PUBLIC_KEY": log_public_key_pem(),
    }
    log = (tmp_path / "witness.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "stagegate_witness", "run", "--listen", f"127.0.0.1:{port}", "--interval", "0.2"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    w = Witness(f"http://127.0.0.1:{port}", key, proc, witness_database)
    try:
        w.wait_for("the witness to publish", lambda: w.get("/v1/public-key"))
        yield w
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        print((tmp_path / "witness.log").read_text())


def _append(n: int, kind: str = "test.entry") -> None:
    org: Any = OrganisationFactory()
    for i in range(n):
        log_append(kind=kind, record={"n": i}, subject=org)


def _fork_from(index: int, then_append: int) -> None:
    """What an attacker with the log writer's database can do: drop every leaf
    from ``index`` on (and the nodes and tree heads that cover them), then
    append different leaves, re-signing with the log's key. One transaction, so
    readers see the honest log or the forked one."""
    with transaction.atomic():
        with connection.cursor() as cur:
            if connection.vendor == "postgresql":
                for table in APPEND_ONLY:
                    cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
            cur.execute('DELETE FROM transparency_logentry WHERE "index" >= %s', [index])
            cur.execute('DELETE FROM transparency_lognode WHERE (("index" + 1) << "level") > %s', [index])
            cur.execute("DELETE FROM transparency_signedtreehead WHERE tree_size > %s", [index])
            if connection.vendor == "postgresql":
                for table in APPEND_ONLY:
                    cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
        _append(then_append, kind="test.rewritten")


def test_the_witness_cosigns_a_growing_log_and_refuses_a_forked_one(witness: Witness) -> None:
    pinned = {
        "STAGEGATE_WITNESS_URL": witness.url,
        "STAGEGATE_WITNESS_PUBLIC_KEY": public_key_pem(witness.key.public_key()),
        "STAGEGATE_WITNESS_ALERT_EMAILS": ["duty@regulator.example"],
    }
    # The log's settings hold no credentials for the witness's database.
    assert set(settings.DATABASES) == {"default"}

    _append(5)
    witness.wait_for("a cosigned head of 5", lambda: witness.cosigned_size() == 5)
    _append(3)
    witness.wait_for("a cosigned head of 8", lambda: witness.cosigned_size() == 8)
    honest_8 = SignedTreeHead.objects.get(tree_size=8)

    with override_settings(**pinned):
        cache.clear()
        report = witness_pull()
        assert report.problems == [] and report.new_alarms == []
        assert report.cosigned is not None and report.cosigned["tree_size"] == 8
        assert report.cosigned["root_hash"] == honest_8.root_hash
        assert latest_cosigned_head() == report.cosigned
    assert not AuditEvent.objects.filter(action=SPLIT_VIEW_ACTION).exists()

    # The fork: history from entry 4 on is rewritten, and the log grows to 10.
    _fork_from(4, then_append=6)
    forked_8 = SignedTreeHead.objects.get(tree_size=8)
    assert forked_8.root_hash != honest_8.root_hash  # the same size, another root, both signed by the log

    views = witness.wait_for(
        "the witness to record a split view", lambda: (witness.get("/v1/split-views") or {}).get("results")
    )
    alarm = views[0]
    assert alarm["kind"] in (rules.SPLIT_SAME_SIZE, rules.SPLIT_INCONSISTENT)
    assert alarm["evidence"]["cosigned"]["root_hash"] == honest_8.root_hash
    assert alarm["evidence"]["observed"]["tree_size"] == 10
    rules.alarm_verify(alarm, witness_key=witness.key.public_key(), log_key=log_public_key())
    # It refused: the last cosigned head is still the honest one, however often it looks again.
    time.sleep(1.0)
    still = witness.get("/v1/cosigned-head")
    assert still is not None and still["tree_size"] == 8 and still["root_hash"] == honest_8.root_hash

    # The service side: the split view is recorded (audit trail, visible to the
    # regulator) and the regulator's duty address is mailed; the cosigned head is
    # no longer shown, since the log no longer has it.
    with override_settings(**pinned):
        cache.clear()
        mail.outbox.clear()
        report = witness_pull()
        assert report.problems == []
        assert alarm["digest"] in report.new_alarms
        assert report.cosigned is None and latest_cosigned_head() is None
        events = AuditEvent.objects.filter(action=SPLIT_VIEW_ACTION)
        afters: list[dict[str, Any]] = [e.after or {} for e in events]
        assert {a["source"] for a in afters} == {"witness", "log"}
        assert any(a["digest"] == alarm["digest"] for a in afters)
        assert len(mail.outbox) == len(report.new_alarms) >= 1
        assert mail.outbox[0].to == ["duty@regulator.example"] and "split view" in mail.outbox[0].subject
        # Pulled again: nothing recorded twice.
        assert witness_pull().new_alarms == []
        assert AuditEvent.objects.filter(action=SPLIT_VIEW_ACTION).count() == events.count()

    # And the evidence sits in the witness's own database.
    _assert_witness_db_holds(witness, honest_8.root_hash)


def _assert_witness_db_holds(witness: Witness, cosigned_root: str) -> None:
    from stagegate_witness.store import Store

    store = Store(witness.database_url)
    try:
        last = store.last_cosigned()
        assert last is not None and last["tree_size"] == 8 and last["root_hash"] == cosigned_root
        assert len(store.split_views()) >= 1
        if store.vendor == "postgresql":
            import psycopg

            # Its records are append-only in its own database too.
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                store._conn.execute("UPDATE witness_cosigned_head SET root_hash = %s", ["00" * 32])
            store._conn.rollback()
    finally:
        store.close()
