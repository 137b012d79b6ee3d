"""Grant the service's database role what it needs, and nothing that would let
it rewrite the append-only tables.

Run as the tables' owner, after `manage.py migrate` (scripts/migrate does both):

    DATABASE_MIGRATE_URL=postgres://stagegate_owner:...@db/stagegate \
    DATABASE_URL=postgres://stagegate_app:...@db/stagegate \
    python scripts/grant_app_role.py

The service's role (DATABASE_URL's user, or DATABASE_APP_ROLE) may read and
write the tables, but owns none of them and not the schema, and is not a
superuser: so it cannot ``ALTER TABLE ... DISABLE TRIGGER``, drop the
append-only triggers or the tables, or TRUNCATE (which fires no row trigger).
On the append-only tables (those whose trigger calls
``stagegate_refuse_change()``) it may only SELECT and INSERT. Default
privileges give tables that later migrations create the same read-write grant;
run this again after each migrate so new append-only tables lose UPDATE and
DELETE too. Idempotent. Exits 1, changing nothing, if the service's role is
the owner, owns a table or the schema, or is a superuser.

    DATABASE_URL=... python scripts/grant_app_role.py --check

checks the same from the service's side with only its own connection (a deploy
check): exit 1, naming what is wrong, if its role could remove the triggers.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

APPEND_ONLY_TABLES = """
SELECT DISTINCT c.relname
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_proc p ON p.oid = t.tgfoid
WHERE p.proname = 'stagegate_refuse_change' AND NOT t.tgisinternal
  AND c.relnamespace = current_schema()::regnamespace
ORDER BY c.relname
"""


def libpq_url(url: str) -> str:
    """django-environ accepts postgres://, postgresql:// and pgsql://; libpq the first two."""
    scheme, rest = url.split("://", 1)
    return ("postgresql" if scheme in {"postgres", "postgresql", "pgsql", "psql"} else scheme) + "://" + rest


def app_role_name(environ: dict[str, str]) -> str:
    role = environ.get("DATABASE_APP_ROLE") or unquote(urlsplit(environ.get("DATABASE_URL", "")).username or "")
    if not role:
        raise SystemExit("error: set DATABASE_URL (the service's connection) or DATABASE_APP_ROLE")
    return role


def problems(cur: psycopg.Cursor, role: str) -> list[str]:
    found: list[str] = []
    cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
    row = cur.fetchone()
    if row is None:
        return [f"role {role!r} does not exist"]
    if row[0]:
        found.append(f"role {role!r} is a superuser: it could disable any trigger")
    cur.execute("SELECT current_user")
    owner = cur.fetchone()[0]  # type: ignore[index]
    if owner == role:
        found.append(
            f"DATABASE_MIGRATE_URL and the service connect as the same role {role!r}: the service would own the tables"
        )
    cur.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
        "AND relowner = (SELECT oid FROM pg_roles WHERE rolname = %s) ORDER BY relname",
        [role],
    )
    owned = [r[0] for r in cur.fetchall()]
    if owned:
        found.append(f"role {role!r} owns {len(owned)} relations (e.g. {', '.join(owned[:3])}): migrate as the owner")
    cur.execute(
        "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE oid = current_schema()::regnamespace",
    )
    if cur.fetchone()[0] == role:  # type: ignore[index]
        found.append(f"role {role!r} owns the schema: it could drop any table in it")
    return found


def grant(conn: psycopg.Connection, role: str) -> list[str]:
    """Returns the append-only tables it protected."""
    with conn.cursor() as cur:
        cur.execute("SELECT current_database(), current_schema()")
        database, schema = cur.fetchone()  # type: ignore[misc]
        r, s = sql.Identifier(role), sql.Identifier(schema)
        cur.execute(APPEND_ONLY_TABLES)
        append_only = [row[0] for row in cur.fetchall()]
        statements = [
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), r),
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r),
            sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(s, r),
            sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(s, r),
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(s, r),
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, r),
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
            ).format(s, r),
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT USAGE, SELECT ON SEQUENCES TO {}").format(s, r),
        ]
        statements += [
            sql.SQL("REVOKE UPDATE, DELETE ON TABLE {} FROM {}").format(sql.Identifier(schema, table), r)
            for table in append_only
        ]
        for statement in statements:
            cur.execute(statement)
    return append_only


def check_service_role(url: str) -> list[str]:
    """From the service's side, with its own connection: what ``problems``
    finds, bar comparing with an owner it does not know."""
    with psycopg.connect(libpq_url(url), connect_timeout=10) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user")
        role = cur.fetchone()[0]  # type: ignore[index]
        return [p for p in problems(cur, role) if "same role" not in p]


def main() -> int:
    if sys.argv[1:] == ["--check"]:
        found = check_service_role(os.environ.get("DATABASE_URL", ""))
        if found:
            print(
                "error: the service's database role could rewrite the append-only tables:\n  " + "\n  ".join(found),
                file=sys.stderr,
            )
            return 1
        print("the service's database role owns nothing and is not a superuser")
        return 0
    owner_url = os.environ.get("DATABASE_MIGRATE_URL", "")
    if not owner_url:
        print("error: set DATABASE_MIGRATE_URL to the tables' owner's connection", file=sys.stderr)
        return 2
    role = app_role_name(dict(os.environ))
    with psycopg.connect(libpq_url(owner_url), connect_timeout=10) as conn:
        with conn.cursor() as cur:
            found = problems(cur, role)
        if found:
            print("error: refusing to grant:\n  " + "\n  ".join(found), file=sys.stderr)
            return 1
        append_only = grant(conn, role)
    print(f"granted {role!r} read-write on the tables, read-insert only on {len(append_only)} append-only ones")
    return 0


if __name__ == "__main__":
    sys.exit(main())
