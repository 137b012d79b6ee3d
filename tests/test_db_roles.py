"""Production's two database roles (scripts/migrate, scripts/grant_app_role.py):
migrations run as the owner; the service's role owns nothing, so it can neither
disable nor drop the append-only triggers, nor update, delete or truncate an
append-only row, while everything the service does still works.

Creates two roles and a database with unique names on the test server, and
drops them afterwards. Needs a PostgreSQL role that may create roles."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg import errors, sql

ROOT = Path(__file__).resolve().parents[1]

# Every table whose trigger calls stagegate_refuse_change() (the migrations say which).
APPEND_ONLY = {
    "core_auditevent",
    "customers_kycreview",
    "gateway_gatewaycall",
    "gateway_gatewaycallquarantine",
    "transparency_logentry",
    "transparency_lognode",
    "transparency_signedtreehead",
    "transparency_regulatorinbox",
}

AS_THE_SERVICE = """
from core.actors import actor_for
from core.models import AuditEvent
from core.services import api_token_create
from tests.factories import World

w = World.build()
api_token_create(actor=actor_for(w.regulator), name="roles")
print("events", AuditEvent.objects.count())
"""


def url(user: str, password: str, db: str) -> str:
    d = connection.settings_dict
    return f"postgres://{user}:{password}@{d['HOST'] or '127.0.0.1'}:{d['PORT'] or 5432}/{db}"


@pytest.fixture
def roles(db: Any) -> Iterator[dict[str, str]]:
    if connection.vendor != "postgresql":
        pytest.skip("the roles are PostgreSQL's")
    d = connection.settings_dict
    admin = psycopg.connect(
        host=d["HOST"] or "127.0.0.1",
        port=d["PORT"] or 5432,
        user=d["USER"],
        password=d["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    if not one(admin, "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"):
        admin.close()
        pytest.skip("the test's database role may not create roles")
    tag = uuid.uuid4().hex[:10]
    names = {"owner": f"sg_owner_{tag}", "app": f"sg_app_{tag}", "db": f"sg_roles_{tag}"}
    passwords = {"owner": secrets.token_urlsafe(16), "app": secrets.token_urlsafe(16)}
    for who in ("owner", "app"):
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(names[who]), sql.Literal(passwords[who]))
        )
    admin.execute(
        sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(names["db"]), sql.Identifier(names["owner"]))
    )
    try:
        yield {
            "owner": url(names["owner"], passwords["owner"], names["db"]),
            "app": url(names["app"], passwords["app"], names["db"]),
            "owner_role": names["owner"],
        }
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(names["db"])))
        for who in ("app", "owner"):
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(names[who])))
        admin.close()


def run(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "STAGEGATE_ENV": "test",
        "REDIS_URL": settings.REDIS_URL,
        "PYTHON": sys.executable,
        "PYTHONDONTWRITEBYTECODE": "1",
        **env,
    }
    if "DATABASE_MIGRATE_URL" not in env:
        environ.pop("DATABASE_MIGRATE_URL", None)
    return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)


def one(conn: psycopg.Connection, query: str, params: list[Any] | None = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def pg(url_: str) -> psycopg.Connection:
    return psycopg.connect(url_.replace("postgres://", "postgresql://", 1), autocommit=True)


def test_the_service_role_cannot_rewrite_append_only_tables(roles: dict[str, str]) -> None:
    done = run(["bash", "scripts/migrate", "-v", "0"], DATABASE_MIGRATE_URL=roles["owner"], DATABASE_URL=roles["app"])
    assert done.returncode == 0, done.stderr
    assert "8 append-only" in done.stdout

    # The service works as its own role: users, memberships, a token, its audit event.
    service = run([sys.executable, "manage.py", "shell", "-c", AS_THE_SERVICE], DATABASE_URL=roles["app"])
    assert service.returncode == 0, service.stderr
    assert "events 1" in service.stdout
    check = run([sys.executable, "manage.py", "verify_audit_trail"], DATABASE_URL=roles["app"])
    assert check.returncode == 0, check.stderr + check.stdout

    with pg(roles["owner"]) as owner, pg(roles["app"]) as app:
        # Every table is the owner's, none the service's.
        owners: dict[str, str] = dict(
            owner.execute(
                "SELECT relname, pg_get_userbyid(relowner) FROM pg_class "
                "WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
            ).fetchall()
        )
        assert set(owners.values()) == {roles["owner_role"]}
        protected = {
            r[0]
            for r in owner.execute(
                "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_proc p ON p.oid = t.tgfoid WHERE p.proname = 'stagegate_refuse_change'"
            ).fetchall()
        }
        assert protected == APPEND_ONLY

        attacks = [
            "ALTER TABLE {t} DISABLE TRIGGER {t}_append_only",
            "ALTER TABLE {t} DISABLE TRIGGER ALL",
            "DROP TRIGGER {t}_append_only ON {t}",
            "UPDATE {t} SET {c} = {c}",
            "DELETE FROM {t}",
            "TRUNCATE {t} CASCADE",
            "DROP TABLE {t} CASCADE",
        ]
        for table in sorted(APPEND_ONLY):
            column = one(
                app,
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
                [table],
            )
            for attack in attacks:
                statement = attack.format(t=table, c=column)
                with pytest.raises(errors.InsufficientPrivilege):
                    app.execute(statement)
        # ... nor by replacing the function the triggers call.
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute(
                "CREATE OR REPLACE FUNCTION stagegate_refuse_change() RETURNS trigger AS $$ "
                "BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql"
            )
        assert one(app, "SELECT count(*) FROM core_auditevent") == 1
        assert one(app, "SELECT count(*) FROM core_apitoken") == 1

        # The owner can: what protects the rows is the role, not luck.
        with owner.transaction(force_rollback=True):
            owner.execute("ALTER TABLE core_auditevent DISABLE TRIGGER core_auditevent_append_only")
            assert owner.execute("DELETE FROM core_auditevent").rowcount == 1

    # The deploy check, from each side: the service's role passes, the owner's does not.
    ok = run([sys.executable, "scripts/grant_app_role.py", "--check"], DATABASE_URL=roles["app"])
    assert ok.returncode == 0, ok.stderr
    owner_side = run([sys.executable, "scripts/grant_app_role.py", "--check"], DATABASE_URL=roles["owner"])
    assert owner_side.returncode == 1
    assert "owns" in owner_side.stderr

    # A service role that is the owner is refused, and named.
    same = run(
        [sys.executable, "scripts/grant_app_role.py"], DATABASE_MIGRATE_URL=roles["owner"], DATABASE_URL=roles["owner"]
    )
    assert same.returncode == 1
    assert "same role" in same.stderr


def test_one_role_still_migrates_without_a_migrate_url(tmp_path: Path) -> None:
    """Development and tests: no DATABASE_MIGRATE_URL, plain migrate (here a
    SQLite file: the check is that the script takes the one-role path)."""
    done = run(
        ["bash", "scripts/migrate", "--check"],
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    # --check exits 1 when migrations are unapplied: plain migrate ran, not the grant step.
    assert done.returncode == 1
    assert "grant" not in (done.stdout + done.stderr)
