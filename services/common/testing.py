"""Test helpers shared by every service's tests: throwaway databases, in-process service wiring, and outages on
demand (a fake clock, a fault-injecting transport, a database connection killer)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from services.common.clock import Clock
from services.common.db import utcnow

PG_ADMIN_DSN = os.environ.get("VET_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


async def postgres_available() -> str | None:
    """None if the server answers, else the reason it does not."""
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL at {PG_ADMIN_DSN} does not answer: {type(exc).__name__}: {exc}"
    await conn.close()
    return None


def _async_url(dsn: str, database: str) -> str:
    base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def create_pg_database(prefix: str = "vet_test", *, template: str | None = None) -> tuple[str, str]:
    """Creates a database, empty or a copy of ``template`` (a file-level copy: a migrated database in a tenth of a
    second; nobody may be connected to the template meanwhile); returns (name, SQLAlchemy async URL)."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE "{template or "template0"}"')
    finally:
        await conn.close()
    return name, _async_url(PG_ADMIN_DSN, name)


async def drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class RoutingTransport(httpx.AsyncBaseTransport):
    """Sends each request to the in-process ASGI app registered for its ``host:port`` (services calling each
    other in tests without sockets); unknown hosts get a connection error, like a service that is down."""

    def __init__(self, apps: Mapping[str, object] | None = None) -> None:
        self.routes: dict[str, httpx.AsyncBaseTransport] = {}
        for authority, app in (apps or {}).items():
            self.add(authority, app)

    def add(self, authority: str, app: object) -> None:
        self.routes[authority] = httpx.ASGITransport(app=app)  # type: ignore[arg-type]

    def remove(self, authority: str) -> None:
        self.routes.pop(authority, None)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        authority = f"{request.url.host}:{request.url.port}"
        transport = self.routes.get(authority)
        if transport is None:
            raise httpx.ConnectError(f"nothing listens on {authority}", request=request)
        return await transport.handle_async_request(request)


@dataclass(eq=False)
class _Sleeper:
    """A task asleep on a :class:`FakeClock` until ``deadline`` (or an event): its future says which woke it."""

    deadline: datetime
    fut: asyncio.Future[bool]
    task: asyncio.Task[Any]


class FakeClock(Clock):
    """A clock a test moves by hand: background loops that sleep on it wake when :meth:`advance` passes their
    deadline, so an hour-long outage plays in seconds. :meth:`advance` goes in steps and, after each, waits (in real
    time) until every loop it woke has gone back to sleep on the clock, so the fake time never runs ahead of the work
    it triggered."""

    def __init__(self, start: datetime | None = None) -> None:
        #: a minute ahead of real time by default, so what the test writes with real timestamps (an event emitted,
        #: a job queued) is already due, as it would be on the real clock
        self._now = start or utcnow() + timedelta(minutes=1)
        self._sleepers: list[_Sleeper] = []
        self._awake: set[asyncio.Task[Any]] = set()

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        await self._park(seconds, None)

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:  # noqa: ASYNC109 - in the clock's time (a FakeClock moves it by hand), which asyncio.timeout cannot measure
        if event.is_set():
            return True
        return await self._park(timeout, event)

    async def _park(self, seconds: float, event: asyncio.Event | None) -> bool:
        task = asyncio.current_task()
        assert task is not None
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        entry = _Sleeper(self._now + timedelta(seconds=max(0.0, seconds)), fut, task)
        self._awake.discard(task)
        if entry.deadline <= self._now:
            return False
        self._sleepers.append(entry)
        watcher = None
        if event is not None:
            watcher = asyncio.ensure_future(event.wait())
            watcher.add_done_callback(lambda w: None if w.cancelled() else self._wake(entry, True))
        try:
            return await fut
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)
            if watcher is not None:
                watcher.cancel()

    def _wake(self, entry: _Sleeper, value: bool) -> None:
        if not entry.fut.done():
            self._awake.add(entry.task)
            entry.task.add_done_callback(self._awake.discard)
            entry.fut.set_result(value)

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Start a background loop the clock waits for (:meth:`settle`) from its first step, not only once it has
        slept on the clock a first time."""
        task = asyncio.ensure_future(coro)
        self._awake.add(task)
        task.add_done_callback(self._awake.discard)
        return task

    @property
    def parked(self) -> int:
        """How many tasks sleep on the clock now."""
        return sum(1 for e in self._sleepers if not e.fut.done())

    async def until_parked(self, count: int, timeout: float = 60.0) -> None:  # noqa: ASYNC109 - polls to a deadline, failing with what it saw (a caller's asyncio.timeout would not say)
        """Wait (real time) until ``count`` tasks sleep on the clock: loops an app's lifespan started have come to
        rest."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.parked < count:
            if loop.time() > deadline:
                raise AssertionError(f"only {self.parked} of {count} tasks came to sleep on the clock within {timeout} s")
            await asyncio.sleep(0.005)

    async def settle(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109 - polls to a deadline, failing with what it saw (a caller's asyncio.timeout would not say)
        """Wait until the loops woken by the clock (or by an event they wait on) are asleep on it again."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await asyncio.sleep(0)
        while self._awake:
            if loop.time() > deadline:
                raise AssertionError(f"{len(self._awake)} task(s) did not go back to sleep within {timeout} s")
            await asyncio.sleep(0.002)

    async def advance(self, seconds: float, *, step: float = 1.0) -> None:
        """Move time ``seconds`` forward, ``step`` at a time, settling after each step."""
        target = self._now + timedelta(seconds=seconds)
        while self._now < target:
            self._now = min(target, self._now + timedelta(seconds=step))
            for entry in sorted(self._sleepers, key=lambda e: e.deadline):
                if entry.deadline <= self._now:
                    self._wake(entry, False)
            await self.settle()

    async def advance_until(self, done: Callable[[], Awaitable[bool]], *, limit: float, step: float = 1.0) -> float:
        """Advance ``step`` at a time until ``await done()``; returns the fake seconds it took. Fails past ``limit``."""
        start = self._now
        while not await done():
            waited = (self._now - start).total_seconds()
            if waited >= limit:
                raise AssertionError(f"not done after {limit} fake seconds")
            await self.advance(step, step=step)
        return (self._now - start).total_seconds()


@dataclass
class Exchange:
    """One request through a :class:`FaultInjectingTransport`: when (on its clock), where, and the answer."""

    at: datetime
    method: str
    url: str
    status: int | None
    idempotency_key: str | None


class FaultInjectingTransport(httpx.AsyncBaseTransport):
    """Wraps a transport; a service marked down (:meth:`fail`) answers as a down service does: a connection error,
    a timeout, or an HTTP status (503, 429 …) — every other request passes through. Each exchange is recorded."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: Clock | None = None) -> None:
        self.inner = inner
        self.clock = clock or Clock()
        self.failing: dict[str, str | int] = {}
        self.exchanges: list[Exchange] = []

    def fail(self, authority: str, how: str | int = "connect") -> None:
        """``how``: ``"connect"`` (connection refused), ``"timeout"`` (read timeout) or an HTTP status code."""
        self.failing[authority] = how

    def restore(self, authority: str) -> None:
        self.failing.pop(authority, None)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        authority = f"{request.url.host}:{request.url.port}"
        how = self.failing.get(authority)
        status: int | None = None
        try:
            if how == "connect":
                raise httpx.ConnectError(f"connection refused by {authority} (injected)", request=request)
            if how == "timeout":
                raise httpx.ReadTimeout(f"{authority} did not answer (injected)", request=request)
            if isinstance(how, int):
                response = httpx.Response(how, json={"status": how, "title": "injected"}, request=request)
            else:
                response = await self.inner.handle_async_request(request)
            status = response.status_code
            return response
        finally:
            self.exchanges.append(Exchange(self.clock.now(), request.method, str(request.url), status,
                                           request.headers.get("idempotency-key")))


class WriteTransactions:
    """Test-only guard: no call to another service while a write transaction is open.

    Watches ``db`` (a :class:`~services.common.db.Database`): a transaction begun by a unit of work that writes
    (``Database.session(write=True)``, the request session of a POST/PUT/PATCH/DELETE, SQLite's ``autocommit``) is
    open, for the task that began it, from its BEGIN to its COMMIT or ROLLBACK. A request that ``http`` (the app's
    client towards other services) sends from that task meanwhile is a violation: recorded in :attr:`violations`
    (what was called, and from where), and raised by :meth:`check` and when the guard closes, so code that swallows
    the error it would cause cannot hide it. The call itself goes on unchanged. Use it as a context manager::

        with WriteTransactions(app.state.db, app.state.http):
            ...  # drive the app; leaving the block fails the test if a call was made inside a write transaction
    """

    def __init__(self, db: Any, http: httpx.AsyncClient) -> None:
        from sqlalchemy import event

        from services.common.sqlite_driver import WRITE

        self._event = event
        self._write = WRITE
        self.db = db
        self.http = http
        #: id of each open write transaction's connection → the task that began it
        self._open: dict[int, asyncio.Task[Any] | None] = {}
        self.violations: list[str] = []
        self._engine = db.engine.sync_engine
        event.listen(self._engine, "begin", self._begin)
        event.listen(self._engine, "commit", self._end)
        event.listen(self._engine, "rollback", self._end)
        http.event_hooks.setdefault("request", []).append(self._request)
        self._closed = False

    def _begin(self, conn: Any) -> None:
        if self._write.get():
            self._open[id(conn)] = _current_task()

    def _end(self, conn: Any) -> None:
        self._open.pop(id(conn), None)

    async def _request(self, request: httpx.Request) -> None:
        task = _current_task()
        if task is not None and any(t is task for t in self._open.values()):
            import traceback

            where = "".join(traceback.format_stack(limit=12)[:-1])
            self.violations.append(f"{request.method} {request.url} inside an open write transaction, from:\n{where}")

    def check(self) -> None:
        if self.violations:
            raise AssertionError(f"{len(self.violations)} call(s) to another service inside an open write transaction:\n"
                                 + "\n".join(self.violations))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for name, fn in (("begin", self._begin), ("commit", self._end), ("rollback", self._end)):
            self._event.remove(self._engine, name, fn)
        hooks = self.http.event_hooks.get("request", [])
        if self._request in hooks:
            hooks.remove(self._request)

    def __enter__(self) -> WriteTransactions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        if exc[0] is None:
            self.check()


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop (a synchronous engine event outside the loop)
        return None


class DatabaseFaults:
    """Outages of one service's database, made with the real drivers so the errors are the ones production sees:

    * :meth:`kill_when` — the connection running a chosen statement is killed just before it runs
      (``pg_terminate_backend`` on PostgreSQL, the aiosqlite connection closed on SQLite);
    * :meth:`terminate_all` — every connection of the service is killed (pooled ones included);
    * ``down = True`` — new connections are refused (``ConnectionRefusedError``, as from a stopped server).
    """

    def __init__(self, db: Any) -> None:
        from sqlalchemy import event

        self.db = db
        self.down = False
        self.kills = 0
        self._rules: list[list[Any]] = []
        self._raw: list[Any] = []
        self._event = event
        engine = db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "do_connect", self._do_connect)
        event.listen(engine, "connect", self._connected)

    def close(self) -> None:
        engine = self.db.engine.sync_engine
        self._event.remove(engine, "before_cursor_execute", self._before)
        self._event.remove(engine, "do_connect", self._do_connect)
        self._event.remove(engine, "connect", self._connected)

    def kill_when(self, predicate: Callable[[str], bool], *, skip: int = 0, then_down: bool = False) -> None:
        """Kill the connection of the ``skip + 1``-th statement (SQL text) that ``predicate`` accepts; with
        ``then_down``, the database also refuses new connections from that moment."""
        self._rules.append([predicate, skip, then_down])

    def _do_connect(self, *_: Any) -> None:
        if self.down:
            raise ConnectionRefusedError(111, "Connect call failed: the database is down (injected)")

    def _connected(self, dbapi_connection: Any, _record: Any) -> None:
        self._raw.append(dbapi_connection)

    def _before(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        for rule in list(self._rules):
            predicate, skip, then_down = rule
            if not predicate(statement):
                continue
            if skip > 0:
                rule[1] -= 1
                continue
            self._rules.remove(rule)
            self.kills += 1
            if then_down:
                self.down = True
            from sqlalchemy.util import await_only

            await_only(self._kill(conn.connection.dbapi_connection))
            return

    async def _kill(self, raw: Any) -> None:
        if self.db.dialect == "postgresql":
            await _terminate("SELECT pg_terminate_backend($1)", raw._connection.get_server_pid())
        else:
            await raw._connection.close()

    async def terminate_all(self) -> None:
        """Kill every connection the service holds (PostgreSQL: every backend on its database)."""
        self.kills += 1
        if self.db.dialect == "postgresql":
            from sqlalchemy.engine import make_url

            name = make_url(self.db.url).database
            await _terminate("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 "
                             "AND pid <> pg_backend_pid()", name)
            return
        for raw in self._raw:
            with contextlib.suppress(Exception):
                await raw._connection.close()
        self._raw.clear()


async def _terminate(sql: str, arg: Any) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql, arg)
    finally:
        await conn.close()
