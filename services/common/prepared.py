"""Hot reads as one driver call: a Core statement compiled once per dialect, run on the driver's own connection.

A statement through SQLAlchemy costs ~150-350 us of Python per execution beyond the database's own work (building
the statement, its cache key, the execution context, the result's processing) — more than the query itself for
the reads every request makes. :class:`DriverStatement` keeps SQLAlchemy's compiled SQL and its bind and result
conversions of the column types (UUIDs as 32 hex digits on SQLite, native on PostgreSQL; timestamps in UTC) and
runs it in one call: asyncpg's ``fetch`` (one round trip, its prepared statement cached per connection) or the
SQLite driver's ``execute_fetchall``. On a pooled connection without a transaction of SQLAlchemy's, PostgreSQL
runs it in autocommit: no BEGIN/COMMIT round trips."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable
from typing import Any, TypeAlias

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import greenlet_spawn

from services.common.db import is_disconnect, unpinged

#: a select of any columns: SQLAlchemy 2.1's Select is variadic, and ``Select[Any]`` is a select of one column
#: (which a select of typed columns followed by ``*more`` does not match)
AnySelect: TypeAlias = "Select[*tuple[Any, ...]]"


class DriverStatement:
    """``stmt`` (its parameters named with ``bindparam``) compiled for ``dialect``."""

    def __init__(self, stmt: AnySelect, dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        self.names = list(compiled.positiontup or ())
        binds = {b.key: b for b in compiled.binds.values()} | dict(compiled.binds)  # named, and rendered names
        self.bind = [binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in self.names]
        #: values the statement carries itself (SQLite's OFFSET 0 of a LIMIT)
        self.defaults = {n: binds[n].effective_value for n in self.names if binds[n].value is not None}
        self.result = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in stmt.selected_columns]
        self.asyncpg = dialect.driver == "asyncpg"

    async def fetch(self, conn: AsyncConnection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        return await self._fetch(driver, params)

    async def fetch_pooled(self, engine: AsyncEngine, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """:meth:`fetch` on a connection of ``engine``'s pool taken for this one call: no ``Connection`` of
        SQLAlchemy's around it, and no pre-ping: a read sent on a connection the server dropped (a restart, a
        failover, an ended backend) is sent again once on a fresh one. A connection whose call failed in any way
        (an error, a cancelled request mid-query) is not given back to the pool but closed: its state is unknown."""
        for attempt in (1, 2):
            # the first checkout skips the pre-ping (a round trip): a connection found dead instead is dropped and
            # the statement sent again on one the pool has pinged (or just opened)
            with unpinged() if attempt == 1 and self.asyncpg else contextlib.nullcontext():
                pooled = await engine.raw_connection()
            try:
                driver = pooled.driver_connection
                assert driver is not None
                rows = await self._fetch(driver, params)
            except BaseException as exc:
                await greenlet_spawn(pooled.invalidate)
                if attempt == 1 and self.asyncpg and is_disconnect(exc):
                    continue
                raise
            await greenlet_spawn(pooled.close)
            return rows
        raise AssertionError("unreachable")

    async def _fetch(self, driver: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        params = self.defaults | params if self.defaults else params
        values = [params[n] if p is None or params[n] is None else p(params[n]) for n, p in zip(self.names, self.bind, strict=True)]
        rows = await (driver.fetch(self.sql, *values) if self.asyncpg else driver.execute_fetchall(self.sql, values))
        return [tuple(v if p is None or v is None else p(v) for v, p in zip(row, self.result, strict=True)) for row in rows]


_compiled: dict[tuple[Hashable, str], DriverStatement] = {}


def prepared(key: Hashable, dialect: Dialect, build: Callable[[], AnySelect]) -> DriverStatement:
    """The statement ``build()`` makes, compiled once per ``key`` and dialect (a few shapes per call site)."""
    found = _compiled.get((key, dialect.name))
    if found is None:
        found = _compiled[(key, dialect.name)] = DriverStatement(build(), dialect)
    return found
