"""The witness's own storage: PostgreSQL (``postgres://…``) in production, or
a SQLite file (``sqlite:///path``) in development. Two append-only tables:

- ``witness_cosigned_head``: every head it cosigned, with the cosignature;
- ``witness_split_view``: every split view or rollback it refused, with the
  evidence (both signed heads, the failed proof) and its signed alarm.

On PostgreSQL a trigger refuses UPDATE and DELETE on both."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS witness_cosigned_head (
        tree_size BIGINT PRIMARY KEY,
        root_hash VARCHAR(64) NOT NULL,
        timestamp BIGINT NOT NULL,
        signature TEXT NOT NULL,
        witness VARCHAR(64) NOT NULL,
        cosigned_at BIGINT NOT NULL,
        cosignature TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS witness_split_view (
        digest VARCHAR(64) PRIMARY KEY,
        kind VARCHAR(40) NOT NULL,
        detected_at BIGINT NOT NULL,
        record TEXT NOT NULL
    )""",
]

PG_APPEND_ONLY = [
    """CREATE OR REPLACE FUNCTION witness_refuse_change() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'the witness''s records are append-only'; END; $$ LANGUAGE plpgsql""",
    """DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'witness_cosigned_head_append_only') THEN
        CREATE TRIGGER witness_cosigned_head_append_only BEFORE UPDATE OR DELETE ON witness_cosigned_head
          FOR EACH ROW EXECUTE FUNCTION witness_refuse_change();
      END IF;
      IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'witness_split_view_append_only') THEN
        CREATE TRIGGER witness_split_view_append_only BEFORE UPDATE OR DELETE ON witness_split_view
          FOR EACH ROW EXECUTE FUNCTION witness_refuse_change();
      END IF;
    END $$""",
]


class Store:
    """One connection to the witness database (the process is single-writer:
    one poll loop)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.vendor: str
        if parts.scheme in ("postgres", "postgresql"):
            import psycopg

            self.vendor = "postgresql"
            self._conn: Any = psycopg.connect(url, autocommit=False)
        elif parts.scheme == "sqlite":
            path = unquote(parts.path)
            if parts.netloc or not path:
                raise ValueError("a SQLite witness database is sqlite:///absolute/path")
            self.vendor = "sqlite"
            self._conn = sqlite3.connect(path, check_same_thread=False)
        else:
            raise ValueError("STAGEGATE_WITNESS_DATABASE_URL must be postgres://… or sqlite:///…")

    def _sql(self, sql: str) -> str:
        return sql.replace("%s", "?") if self.vendor == "sqlite" else sql

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        cur = self._conn.cursor()
        try:
            yield cur
            self._conn.commit()
        except BaseException:
            self._conn.rollback()
            raise
        finally:
            cur.close()

    def migrate(self) -> None:
        with self._tx() as cur:
            for stmt in SCHEMA:
                cur.execute(stmt)
            if self.vendor == "postgresql":
                for stmt in PG_APPEND_ONLY:
                    cur.execute(stmt)

    def close(self) -> None:
        self._conn.close()

    # Reads

    def last_cosigned(self) -> dict[str, Any] | None:
        with self._tx() as cur:
            cur.execute(
                "SELECT tree_size, root_hash, timestamp, signature, witness, cosigned_at, cosignature "
                "FROM witness_cosigned_head ORDER BY tree_size DESC LIMIT 1"
            )
            row = cur.fetchone()
        if row is None:
            return None
        keys = ("tree_size", "root_hash", "timestamp", "signature", "witness", "cosigned_at", "cosignature")
        return {
            k: (int(v) if k in ("tree_size", "timestamp", "cosigned_at") else v) for k, v in zip(keys, row, strict=True)
        }

    def split_views(self, *, limit: int = 100) -> list[dict[str, Any]]:
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT record FROM witness_split_view ORDER BY detected_at, digest LIMIT %s"), [limit]
            )
            rows = cur.fetchall()
        return [json.loads(r[0]) for r in rows]

    # Writes

    def add_cosignature(self, record: dict[str, Any]) -> None:
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO witness_cosigned_head "
                    "(tree_size, root_hash, timestamp, signature, witness, cosigned_at, cosignature) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
                ),
                [
                    record["tree_size"],
                    record["root_hash"],
                    record["timestamp"],
                    record["signature"],
                    record["witness"],
                    record["cosigned_at"],
                    record["cosignature"],
                ],
            )

    def add_split_view(self, alarm: dict[str, Any]) -> bool:
        """Keep an alarm once per evidence digest; returns whether it was new."""
        with self._tx() as cur:
            cur.execute(self._sql("SELECT 1 FROM witness_split_view WHERE digest = %s"), [alarm["digest"]])
            if cur.fetchone() is not None:
                return False
            cur.execute(
                self._sql("INSERT INTO witness_split_view (digest, kind, detected_at, record) VALUES (%s, %s, %s, %s)"),
                [alarm["digest"], alarm["kind"], alarm["detected_at"], json.dumps(alarm, sort_keys=True)],
            )
        return True
