"""SQLite connections for SQLAlchemy's ``sqlite+aiosqlite`` dialect without a thread hop per call.

aiosqlite runs every call on a thread of its own per connection: a statement through SQLAlchemy is four hops
(cursor, execute, fetch, close), each a queue put, a thread wake-up, the GIL handed over and back and a loop
wake-up. On the embedded default that was most of a small read's cost (``bench/read_paths.py``: 13 hops and
~2.5 ms of CPU per request for the institution list). These connections keep aiosqlite's interface — the dialect
and the code that reaches the driver (``execute_fetchall``) do not change — and run each call where it is cheapest:

* **reads run on the event loop**, in the calling coroutine: a read transaction in WAL mode never waits for a
  lock, and a small query takes microseconds, far less than a hop. Statements, fetches and the cursor's close are
  one call;
* **writes run on one worker thread per database** (a session opened with ``write=True``, :func:`write_mode`):
  commits may checkpoint and fsync, bulk inserts take milliseconds — work the loop should not wait through. A
  statement and its fetch are one hop;
* **heavy reads** (a full-text search with facet counts) can ask for the thread as well (:func:`heavy`), so a
  long query does not hold every other request;
* **no call ever blocks on a lock**: the connection's ``busy_timeout`` is 0 and a busy database (another
  connection, or another process, holds the write lock) is waited out with ``asyncio.sleep`` and tried again — up
  to ``busy_seconds`` (30 s): a statement that takes a transaction's first lock (``BEGIN IMMEDIATE``, a statement
  outside a transaction, the first one after a deferred ``BEGIN``) and a ``COMMIT``, as SQLite's own busy handler
  does, and — in WAL mode, where readers never block the writer — a read transaction's first write (SQLite's
  handler gives up on that at once, for the rollback journal's sake); if the writer it waited for changed the
  database, that write fails with ``SQLITE_BUSY_SNAPSHOT``, which is never waited for. A writer in the
  worker thread thus never stalls the thread (and the writers queued behind it) while another connection holds
  the lock, and an inline reader never stalls the loop.

One connection is never used by two calls at once (SQLAlchemy serialises a connection's calls), so a connection may
move between the loop and the worker thread from one call to the next (``check_same_thread=False``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, TypeVar

#: the current unit of work writes (``BEGIN IMMEDIATE``): its calls go to the worker thread
WRITE: ContextVar[bool] = ContextVar("sqlite_write", default=False)
#: the current read is heavy: its calls go to the worker thread too
_HEAVY: ContextVar[bool] = ContextVar("sqlite_heavy", default=False)

BUSY_SECONDS = 30.0
_BUSY = {5, 261}  # SQLITE_BUSY, SQLITE_BUSY_RECOVERY (never SQLITE_BUSY_SNAPSHOT: a stale snapshot stays stale)
_FIRST_WAIT, _LONGEST_WAIT = 0.001, 0.05

T = TypeVar("T")


@contextlib.contextmanager
def heavy() -> Iterator[None]:
    """Reads in this block run on the database's worker thread (long queries: search with facets)."""
    token = _HEAVY.set(True)
    try:
        yield
    finally:
        _HEAVY.reset(token)


def _offloaded() -> bool:
    return WRITE.get() or _HEAVY.get()


def _retryable(error: sqlite3.OperationalError, conn: sqlite3.Connection, sql: str | None, fresh: bool) -> bool:
    """Whether a busy statement may wait and run again: it did nothing, and waiting cannot deadlock."""
    if getattr(error, "sqlite_errorcode", None) not in _BUSY:
        return False
    if not conn.in_transaction or fresh:
        # BEGIN IMMEDIATE, a statement in autocommit, the first statement after a deferred BEGIN (its first lock):
        # what SQLite's own busy handler waits for
        return True
    if sql is not None and sql.lstrip()[:6].upper() == "COMMIT":
        return True
    # a read transaction's first write, while another connection writes. SQLite's handler gives up at once, for
    # the rollback journal's sake (two readers wanting to write would wait for each other for ever); in WAL mode
    # readers never block the writer, so waiting is safe: when the writer ends, the write goes on, or — if the
    # writer changed the database since this transaction's snapshot — fails with SQLITE_BUSY_SNAPSHOT, which is
    # not waited for
    mode: str = conn.execute("PRAGMA journal_mode").fetchone()[0]
    return mode == "wal"


class _Worker:
    """The database's worker thread (started on first use)."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        future = asyncio.wrap_future(self._pool.submit(fn))
        # its caller gets the outcome through a shield; a caller cancelled meanwhile leaves it to no one
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        return future

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


class Cursor:
    """aiosqlite's cursor interface over rows fetched with the statement."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._rows: deque[Any] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.close()

    def _take(self, cursor: sqlite3.Cursor, rows: list[Any] | None) -> None:
        self.description, self.rowcount, self.lastrowid = cursor.description, cursor.rowcount, cursor.lastrowid
        self._rows = deque(rows or ())

    async def execute(self, sql: str, parameters: Any = None) -> Cursor:
        def call() -> tuple[sqlite3.Cursor, list[Any] | None]:
            cursor = self._conn._raw().cursor()
            cursor.execute(sql, () if parameters is None else parameters)
            rows = cursor.fetchall() if cursor.description else None
            cursor.close()
            return cursor, rows

        self._take(*await self._conn._run(call, sql))
        return self

    async def executemany(self, sql: str, parameters: Any) -> Cursor:
        def call() -> tuple[sqlite3.Cursor, None]:
            cursor = self._conn._raw().cursor()
            cursor.executemany(sql, parameters)
            cursor.close()
            return cursor, None

        self._take(*await self._conn._run(call, sql))
        return self

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        n = min(size or self.arraysize, len(self._rows))
        return [self._rows.popleft() for _ in range(n)]

    async def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()

    def __aiter__(self) -> Cursor:
        return self

    async def __anext__(self) -> Any:
        if not self._rows:
            raise StopAsyncIteration
        return self._rows.popleft()


class _Inline:
    """What SQLAlchemy's dialect puts on aiosqlite's queue (``(future, function)``, to set the isolation level): run
    at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting caller
            future.set_exception(exc)


class Connection:
    """aiosqlite's ``Connection`` interface, as SQLAlchemy's aiosqlite dialect and this code base use it."""

    def __init__(self, conn: sqlite3.Connection, worker: _Worker, busy_seconds: float = BUSY_SECONDS) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._worker = worker
        self._busy_seconds = busy_seconds
        self._tx = _Inline()
        #: the call on the worker thread, while it runs (an inline call waits for it: one call at a time)
        self._inflight: asyncio.Future[Any] | None = None
        #: a deferred BEGIN ran and no statement since: the transaction holds no lock yet
        self._fresh = False

    # the dialect tests ``connection._connection`` for "still open"
    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    def _raw(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")  # what aiosqlite raises; the dialect maps it to a disconnect
        return self._conn

    async def _run(self, fn: Callable[[], T], sql: str | None = None) -> T:
        raw = self._raw()
        deadline, wait = None, _FIRST_WAIT
        while True:
            try:
                if self._inflight is not None and not self._inflight.done():
                    await asyncio.wait([self._inflight])  # a call whose caller was cancelled is still running
                if _offloaded():
                    self._inflight = self._worker.submit(fn)
                    result: T = await asyncio.shield(self._inflight)
                else:
                    result = fn()
                self._fresh = sql is not None and sql.lstrip()[:5].upper() == "BEGIN" and raw.in_transaction
                return result
            except sqlite3.OperationalError as exc:
                if not _retryable(exc, raw, sql, self._fresh):
                    raise
                now = time.monotonic()
                deadline = deadline or now + self._busy_seconds
                if now >= deadline:
                    raise
                await asyncio.sleep(wait)
                wait = min(wait * 2, _LONGEST_WAIT)

    def begin_read(self) -> bool:
        """``BEGIN`` (deferred: no lock until the first read) at once, on the loop: it touches no file. False when
        the connection is closed (the caller then goes the usual way, which reports that as SQLAlchemy does)."""
        if self._conn is None or (self._inflight is not None and not self._inflight.done()):
            return False
        self._conn.execute("BEGIN")
        self._fresh = True
        return True

    @property
    def isolation_level(self) -> str | None:
        return self._raw().isolation_level

    def cursor(self) -> Cursor:
        """A cursor (used as ``async with`` or entered by the dialect; nothing runs until a statement)."""
        return Cursor(self)

    async def execute(self, sql: str, parameters: Any = None) -> Cursor:
        return await Cursor(self).execute(sql, parameters)

    async def execute_fetchall(self, sql: str, parameters: Any = None) -> list[Any]:
        def call() -> list[Any]:
            return self._raw().execute(sql, () if parameters is None else parameters).fetchall()

        return await self._run(call, sql)

    async def commit(self) -> None:
        await self._run(lambda: self._raw().commit(), "COMMIT")

    async def rollback(self) -> None:
        await self._run(lambda: self._raw().rollback())

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._raw().create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._inflight is not None and not self._inflight.done():  # never closed under a running statement
            self._inflight.add_done_callback(lambda _future: conn.close())
        else:
            conn.close()


def connector(worker: _Worker) -> Callable[..., Any]:
    """What the dialect calls with the arguments it made of the URL (``connect_args={"async_creator_fn": …}``,
    so SQLAlchemy's own connect path and its ``do_connect`` events stay in place): ``sqlite3.connect`` as a
    :class:`Connection`; every connection of one engine shares ``worker``."""
    async def connect(*args: Any, **kwargs: Any) -> Connection:
        conn = sqlite3.connect(*args, **(kwargs | {"check_same_thread": False, "timeout": 0}))
        return Connection(conn, worker)

    return connect


def is_open(dbapi_connection: Any) -> bool:
    """The pool's pre-ping: a SQLite connection is usable while it is open (closed: the pool opens a new one)."""
    return dbapi_connection._connection._conn is not None


def new_worker() -> _Worker:
    return _Worker()
