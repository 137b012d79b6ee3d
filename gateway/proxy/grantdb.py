"""The grant query on PostgreSQL from the event loop itself: a few psycopg
async connections per process, the query compiled once by the ORM and run as a
prepared statement. Handing the query to a thread instead costs a gateway call
its GIL hand-offs (milliseconds under load, see docs/performance.md). Other
databases (SQLite in development) use the ORM in a thread."""

from __future__ import annotations

import asyncio
import datetime
import weakref
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections

from gateway.selectors import Grant, _grant_sql, grant_from_row, grant_params


class GrantDbUnavailable(Exception):
    pass


def conninfo() -> str:
    db = settings.DATABASES["default"]
    parts = {
        "dbname": db.get("NAME") or "",
        "user": db.get("USER") or "",
        "password": db.get("PASSWORD") or "",
        "host": db.get("HOST") or "",
        "port": str(db.get("PORT") or ""),
    }
    # pytest-django points NAME at the test database; connections[...] knows the live name.
    parts["dbname"] = connections["default"].settings_dict.get("NAME") or parts["dbname"]
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in parts.items() if v})


class GrantDb:
    SIZE = 8

    def __init__(self) -> None:
        self.idle: list[psycopg.AsyncConnection[Any]] = []
        self.slots = asyncio.Semaphore(self.SIZE)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(conninfo(), autocommit=True, connect_timeout=5)
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        return conn

    async def row(self, sql: str, params: list[Any], names: tuple[str, ...]) -> dict[str, Any] | None:
        async with self.slots:
            for attempt in (1, 2):  # a connection the server closed is replaced once
                conn = self.idle.pop() if self.idle else None
                try:
                    conn = conn or await self._connect()
                    async with conn.cursor() as cursor:
                        await cursor.execute(sql, params, prepare=True)
                        found = await cursor.fetchone()
                except psycopg.OperationalError:
                    if conn is not None:
                        await conn.close()
                    if attempt == 2:
                        raise GrantDbUnavailable from None
                    continue
                self.idle.append(conn)
                return dict(zip(names, found, strict=True)) if found is not None else None
        return None  # pragma: no cover


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GrantDb] = weakref.WeakKeyDictionary()


async def grant_check_async(*, digest: str, now: datetime.datetime) -> Grant:
    loop = asyncio.get_running_loop()
    db = _by_loop.get(loop)
    if db is None:
        db = _by_loop[loop] = GrantDb()
        _every.add(db)
    sql, _, names = _grant_sql()
    row = await db.row(sql, grant_params(digest=digest, now=now), names)
    return grant_from_row(row, now=now)


_every: weakref.WeakSet[GrantDb] = weakref.WeakSet()


def close_all_sync() -> None:
    """Close every idle grant connection of every loop (tests that drop their
    database call this once the servers have stopped)."""
    for db in list(_every):
        while db.idle:
            db.idle.pop().pgconn.finish()
