"""Async SQLAlchemy for SQLite (embedded default) and PostgreSQL (production), one code path.

* :class:`Database` owns the engine and session factory of one service.
* SQLite is set up on connect (foreign keys, WAL, busy_timeout, synchronous=NORMAL) and write transactions start
  with ``BEGIN IMMEDIATE`` so a read-then-write transaction never dies with "database is locked".
* PostgreSQL uses an asyncpg pool sized from the service's settings (:func:`engine_options`: size, overflow,
  timeout, recycle, pre-ping) and a PgBouncer mode (transaction pooling: no prepared-statement caches).
* Portable column types: :class:`UTCDateTime` (always tz-aware UTC), ``Uuid``, :data:`JSONType`.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import JSON, DateTime, Select, event, or_, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, Uuid

JSONType = JSON().with_variant(JSONB(), "postgresql")

_sqlite_write = contextvars.ContextVar("sqlite_write", default=False)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware timestamp stored in UTC on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


TYPE_ANNOTATION_MAP: dict[Any, Any] = {
    datetime: UTCDateTime(),
    uuid.UUID: Uuid(),
    dict[str, Any]: JSONType,
    list[Any]: JSONType,
}


class Entity:
    """Mixin: opaque UUID key and created/updated timestamps."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_file(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 5,
    pool_timeout: float = 30.0,
    pool_recycle: int = 1800,
    pool_pre_ping: bool = True,
    statement_cache_size: int = 100,
    pgbouncer: bool = False,
) -> AsyncEngine:
    if is_sqlite(url):
        path = _sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_pre_ping=pool_pre_ping)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # take over transaction control from the driver so BEGIN IMMEDIATE is ours to issue
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if _sqlite_write.get() else "BEGIN")

        return engine
    connect_args: dict[str, Any] = {"statement_cache_size": statement_cache_size, "command_timeout": 60}
    if pgbouncer:
        # transaction pooling hands each transaction any server connection: no statement may be cached on one,
        # and names must never collide with a statement another client left there (asyncpg issue 837)
        connect_args |= {"statement_cache_size": 0, "prepared_statement_cache_size": 0,
                         "prepared_statement_name_func": _unique_statement_name}
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=pool_recycle,
        pool_pre_ping=pool_pre_ping,
        connect_args=connect_args,
    )


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


def engine_options(settings: Any) -> dict[str, Any]:
    """The pool and driver options of a service's settings (:class:`~services.common.config.ServiceSettings`)."""
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout_seconds,
        "pool_recycle": settings.db_pool_recycle_seconds,
        "pool_pre_ping": settings.db_pool_pre_ping,
        "statement_cache_size": settings.db_statement_cache_size,
        "pgbouncer": settings.db_pgbouncer,
    }


class Database:
    """Engine and sessions of one service."""

    def __init__(self, url: str, **engine_kw: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kw)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        #: shares the pool: only the connections' isolation level differs
        self._autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends normally, rolls back on any error.

        ``write=True`` takes SQLite's write lock up front (``BEGIN IMMEDIATE``); reads stay deferred."""
        token = _sqlite_write.set(write)
        try:
            async with self.sessionmaker() as session:
                try:
                    yield session
                    await session.commit()
                except BaseException:
                    await session.rollback()
                    raise
        finally:
            _sqlite_write.reset(token)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A bare connection whose statements each commit on their own, for hot paths made of independent
        statements (a token grant: one read, one audit insert). No ORM session, no BEGIN/COMMIT round trips on
        PostgreSQL; on SQLite one short write transaction, committed when the block ends."""
        if self.dialect == "postgresql":
            async with self._autocommit_engine.connect() as conn:
                yield conn
            return
        token = _sqlite_write.set(True)
        try:
            async with self.engine.begin() as conn:
                yield conn
        finally:
            _sqlite_write.reset(token)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def unleased(locked_until: Any, now: datetime) -> Any:
    """Where a row's lease is free: never taken, or run out (its holder died or gave up)."""
    return or_(locked_until.is_(None), locked_until < now)


def claim_query(db: Database, stmt: Select[Any]) -> Select[Any]:
    """Background work is claimed so any replica can take it and two never take the same row: PostgreSQL skips
    rows another transaction holds (``FOR UPDATE SKIP LOCKED``); SQLite's ``BEGIN IMMEDIATE`` already serialises."""
    return stmt.with_for_update(skip_locked=True) if db.dialect == "postgresql" else stmt


# dependencies are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread per request
async def get_db(request: Request) -> Database:
    return request.app.state.db


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Request-scoped session: the request's transaction commits when the endpoint returns, rolls back on error.
    Services never call ``commit()`` themselves."""
    write = request.method not in ("GET", "HEAD", "OPTIONS")
    async with request.app.state.db.session(write=write) as session:
        yield session


#: ``scope="function"``: the commit runs before the response is sent, so a failed commit is never reported as success
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_db)]
