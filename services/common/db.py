"""Async SQLAlchemy for SQLite (embedded default) and PostgreSQL (production), one code path.

* :class:`Database` owns the engine and session factory of one service.
* SQLite is set up on connect (foreign keys, WAL, synchronous=NORMAL) and write transactions start with ``BEGIN
  IMMEDIATE`` so a read-then-write transaction never dies with "database is locked"; its driver runs reads on the
  event loop, writes on a worker thread and waits out a locked database asynchronously (``sqlite_driver``).
* PostgreSQL uses an asyncpg pool sized from the service's settings (:func:`engine_options`: size, overflow,
  timeout, recycle, pre-ping) and a PgBouncer mode (transaction pooling: no prepared-statement caches).
* :class:`ReadDatabase`: read-only sessions for endpoints that scan (statistics, reports, search facets), on a
  replica when ``<SVC>_DATABASE_READ_URL`` is set, else on the primary; falls back to the primary while the
  replica is unreachable.
* Portable column types: :class:`UTCDateTime` (always tz-aware UTC), ``Uuid``, :data:`JSONType`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import JSON, DateTime, Select, event, or_, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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
from sqlalchemy.util import await_only

from services.common import sqlite_driver

JSONType = JSON().with_variant(JSONB(), "postgresql")

#: the unit of work writes: ``BEGIN IMMEDIATE``, and its SQLite calls on the database's worker thread
_sqlite_write = sqlite_driver.WRITE
log = logging.getLogger("services.db")


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


def insert_for(session: AsyncSession) -> Any:
    """The session's dialect's INSERT, which has ON CONFLICT (PostgreSQL's and SQLite's alike) for an upsert that
    two writers may race to."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql_insert
    if name == "sqlite":
        return sqlite_insert
    raise RuntimeError(f"no upsert for the {name} dialect")


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
    pool_size: int = 10,
    max_overflow: int = 0,
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
        # reads on the event loop, writes on one worker thread, lock waits asynchronous (services/common/sqlite_driver.py)
        worker = sqlite_driver.new_worker()
        engine = create_async_engine(url, connect_args={"async_creator_fn": sqlite_driver.connector(worker)},
                                     pool_pre_ping=pool_pre_ping)
        event.listen(engine.sync_engine, "engine_disposed", lambda _engine: worker.shutdown())
        if pool_pre_ping:  # a file has no server to lose: the pre-ping only asks whether the connection is open
            engine.sync_engine.dialect.do_ping = sqlite_driver.is_open  # type: ignore[method-assign]

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # take over transaction control from the driver so BEGIN IMMEDIATE is ours to issue
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            # busy_timeout stays 0: a locked database is waited out by the driver with asyncio.sleep, never by
            # blocking the event loop or the worker thread (sqlite_driver.BUSY_SECONDS)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            if _sqlite_write.get():
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif not conn.connection.driver_connection.begin_read():  # a read's BEGIN costs no statement round
                conn.exec_driver_sql("BEGIN")

        return engine
    connect_args: dict[str, Any] = {"statement_cache_size": statement_cache_size, "command_timeout": 60}
    if pgbouncer:
        # transaction pooling hands each transaction any server connection: no statement may be cached on one,
        # and names must never collide with a statement another client left there (asyncpg issue 837)
        connect_args |= {"statement_cache_size": 0, "prepared_statement_cache_size": 0,
                         "prepared_statement_name_func": _unique_statement_name}
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=pool_recycle,
        pool_pre_ping=pool_pre_ping,
        connect_args=connect_args,
    )
    if pool_pre_ping and not pgbouncer:
        # SQLAlchemy's asyncpg ping wraps its ";" in BEGIN … ROLLBACK for PgBouncer's transaction mode: three round
        # trips at every checkout. Straight to the server one is enough
        engine.sync_engine.dialect.do_ping = _ping_once  # type: ignore[method-assign]
    return engine


#: set while the caller of a checkout retries its statement on a fresh connection should the pooled one turn out
#: dead (:meth:`services.common.prepared.DriverStatement.fetch_pooled`): its pre-ping is skipped
_unpinged: ContextVar[bool] = ContextVar("vet_db_unpinged", default=False)


@contextmanager
def unpinged() -> Iterator[None]:
    """Checkouts in this block skip the pre-ping (a round trip, a tenth of a hot read's CPU): for a caller that
    sends one statement that may be sent again, and sends it again on a fresh connection if the pooled one was
    dead (:func:`is_disconnect`)."""
    token = _unpinged.set(True)
    try:
        yield
    finally:
        _unpinged.reset(token)


def is_disconnect(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection is gone (the server restarted, failed over, or ended the backend), or
    that the driver's state on it is broken (an ended backend's message arriving while the connection waited in the
    pool leaves asyncpg's protocol "in another operation")."""
    import asyncpg

    return isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.InternalClientError,
                            ConnectionError)) or (
        isinstance(exc, asyncpg.PostgresError) and getattr(exc, "sqlstate", "") in ("57P01", "57P02", "57P03"))


def _ping_once(dbapi_connection: Any) -> bool:
    if _unpinged.get():
        return True
    try:
        await_only(dbapi_connection._connection.fetchrow(";"))
    except Exception as error:
        dbapi_connection._handle_exception(error)
    return True


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

        ``write=True`` takes SQLite's write lock up front (``BEGIN IMMEDIATE``); reads stay deferred. The session's
        ``info["write"]`` says which it is (code that must call another service first can tell)."""
        token = _sqlite_write.set(write)
        try:
            async with self.sessionmaker() as session:
                session.info["write"] = write
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
    db: Database = request.app.state.db
    return db


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Request-scoped session: the request's transaction commits when the endpoint returns, rolls back on error.
    Services never call ``commit()`` themselves."""
    write = request.method not in ("GET", "HEAD", "OPTIONS")
    async with request.app.state.db.session(write=write) as session:
        yield session


#: ``scope="function"``: the commit runs before the response is sent, so a failed commit is never reported as success
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_db)]


# -- read-only sessions, on a replica when there is one ----------------------------------------------------------


def read_engine_options(settings: Any) -> dict[str, Any]:
    """:func:`engine_options` for the read replica: its own small pool, a short connect timeout, and its own
    PgBouncer mode (``db_read_pgbouncer``; unset: as the primary's)."""
    pgbouncer = settings.db_read_pgbouncer
    return engine_options(settings) | {
        "pool_size": settings.db_read_pool_size,
        "max_overflow": settings.db_read_max_overflow,
        "pgbouncer": settings.db_pgbouncer if pgbouncer is None else pgbouncer,
        "connect_timeout": settings.db_read_connect_timeout_seconds,
    }


def create_read_engine(url: str, *, connect_timeout: float = 3.0, **engine_kw: Any) -> AsyncEngine:
    """:func:`create_engine` for a replica: a connection attempt gives up after ``connect_timeout`` seconds (asyncpg
    waits 60 by default, and every statistics request would wait that long for a replica that is gone), and on
    SQLite the connection refuses writes (``PRAGMA query_only``)."""
    engine = create_engine(url, **engine_kw)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _query_only(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA query_only=ON")
            cursor.close()

    else:

        @event.listens_for(engine.sync_engine, "do_connect")
        def _connect_timeout(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
            cparams["timeout"] = connect_timeout

    return engine


def _read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, every transaction ``BEGIN READ ONLY`` on PostgreSQL (a statement that writes fails
    with SQLSTATE 25006). Per transaction, not per connection, so it is right behind PgBouncer's transaction pooling
    too; nothing is left set on a connection given back to the pool."""
    return engine.execution_options(postgresql_readonly=True) if engine.dialect.name == "postgresql" else engine


class ReadDatabase:
    """Read-only sessions for the endpoints that scan many rows and may read a moment in the past: statistics,
    reports computed on the fly, search facets, full listings. Everything else — and every endpoint whose reader
    expects to see what was just written (read-your-writes) — stays on :class:`Database`.

    * With ``url`` (``<SVC>_DATABASE_READ_URL``, a streaming replica: CloudNativePG's ``<cluster>-ro`` service or a
      PgBouncer in front of it), sessions run there on an engine of their own with a small pool
      (:func:`read_engine_options`). A replica lags the primary (milliseconds, seconds under a bulk load, more
      while it catches up after a restart): what a request reads there may miss the last commits.
    * Without, sessions run on the primary, on its engine and pool: embedded SQLite and single-database
      deployments behave as before.
    * Every read session is read-only on PostgreSQL, on the replica and on the primary alike: a write by mistake
      fails at once (SQLSTATE 25006), in tests and single-database deployments as it would on a hot standby.
      SQLite's primary is not guarded (the embedded default; the tests run the same endpoints on PostgreSQL).
    * A replica that cannot be reached (refused, timed out, starting up, the wrong password — anything that keeps
      a connection from opening) does not fail the request: it runs on the primary, a warning is logged and
      ``on_fallback`` is called (the ``vet_db_read_fallbacks_total`` metric). For ``retry_seconds`` after that the
      replica is not tried (no connect timeout per request during an outage), then the next request tries it again.
      A replica's pool with no free connection is not an outage: that request waits (and gets the usual 503 with
      ``Retry-After`` after ``db_pool_timeout_seconds``) rather than moving scans onto the primary. A replica lost
      in the middle of a query answers that request 503 with ``Retry-After`` and counts as down, so the retry runs
      on the primary.
    """

    def __init__(self, primary: Database, url: str = "", *, connect_timeout: float = 3.0, retry_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, **engine_kw: Any) -> None:
        self.primary = primary
        self.url = url or None
        self.retry_seconds = retry_seconds
        self.clock = clock
        #: called once per request served by the primary because the replica is unreachable
        self.on_fallback: Callable[[], None] | None = None
        self.engine: AsyncEngine | None = (
            create_read_engine(url, connect_timeout=connect_timeout, **engine_kw) if url else None)
        self._on_primary = async_sessionmaker(_read_only(primary.engine), expire_on_commit=False, autoflush=False)
        self._on_replica = (async_sessionmaker(_read_only(self.engine), expire_on_commit=False, autoflush=False)
                            if self.engine is not None else None)
        self._down_until: float | None = None

    @property
    def replica_up(self) -> bool | None:
        """None without a replica; False while requests go to the primary because it was unreachable."""
        if self.engine is None:
            return None
        return not self._is_down()

    def _is_down(self) -> bool:
        return self._down_until is not None and self.clock() < self._down_until

    def _mark_down(self, exc: BaseException) -> None:
        if not self._is_down():
            log.warning("read replica unreachable, read-only requests use the primary for %.0f s: %s: %s",
                        self.retry_seconds, type(exc).__name__, str(exc)[:200])
        self._down_until = self.clock() + self.retry_seconds

    def _fell_back(self) -> None:
        if self.on_fallback is not None:
            self.on_fallback()

    async def _replica_session(self) -> AsyncSession | None:
        """A session holding a replica connection already (so an unreachable replica is known before the endpoint
        runs), or None: no replica, or it is down."""
        if self._on_replica is None:
            return None
        if self._is_down():
            self._fell_back()
            return None
        session = self._on_replica()
        try:
            await session.connection()  # checks a connection out (pre-pinged), opening one if needed
        except sa_exc.TimeoutError:  # the pool is busy, the replica is not down
            await session.close()
            raise
        except Exception as exc:  # noqa: BLE001 - whatever keeps the replica from answering: the primary answers
            await session.close()
            self._mark_down(exc)
            self._fell_back()
            return None
        if self._down_until is not None:
            self._down_until = None
            log.warning("read replica reachable again: read-only requests use it")
        return session

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One read-only unit of work; its transaction is rolled back at the end (there is nothing to commit)."""
        replica = await self._replica_session()
        if replica is None:
            token = _sqlite_write.set(False)
            try:
                async with self._on_primary() as session:
                    yield session
            finally:
                _sqlite_write.reset(token)
            return
        async with replica:
            try:
                yield replica
            except Exception as exc:
                from services.common.retry import is_database_error, transient_reason

                lost = is_database_error(exc) and transient_reason(exc) is not None
                if lost and not isinstance(exc, sa_exc.TimeoutError):
                    self._mark_down(exc)  # lost mid-query: the client's retry (503 Retry-After) runs on the primary
                raise

    async def dispose(self) -> None:
        """The replica's engine only (the primary's belongs to its :class:`Database`)."""
        if self.engine is not None:
            await self.engine.dispose()


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Request-scoped read-only session for endpoints that scan (:class:`ReadDatabase`): on the read replica when
    one is configured. Only for GET endpoints whose readers accept data a moment old."""
    async with request.app.state.read_db.session() as session:
        yield session


#: a read-only session, on the replica if there is one: see :class:`ReadDatabase` before using it
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
