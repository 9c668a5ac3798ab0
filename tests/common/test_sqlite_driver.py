"""The embedded database's driver arrangement (services/common/sqlite_driver.py), through ``Database`` sessions:
reads on the event loop, writes on the worker thread, a locked database waited out without blocking either."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from services.common.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with database.session() as s:
        await s.execute(text("CREATE TABLE t (x INTEGER)"))
    yield database
    await database.dispose()


def statements_begun(db: Database, wanted: str) -> asyncio.Event:
    """Set once a statement starting with ``wanted`` is sent to the driver (it may then wait for a lock)."""
    begun = asyncio.Event()
    event.listen(db.engine.sync_engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: begun.set() if statement.startswith(wanted) else None)
    return begun


async def _thread_of_statements(db: Database, *, write: bool) -> int:
    seen: list[int] = []
    async with db.session(write=write) as s:
        raw = (await (await s.connection()).get_raw_connection()).driver_connection
        await raw.create_function("whose", 0, lambda: seen.append(threading.get_ident()) or 1)
        await s.execute(text("SELECT whose()"))
    return seen[0]


async def test_reads_run_on_the_event_loop_and_writes_on_one_worker_thread(db: Database) -> None:
    loop_thread = threading.get_ident()
    assert await _thread_of_statements(db, write=False) == loop_thread
    writer = await _thread_of_statements(db, write=True)
    assert writer != loop_thread
    assert await _thread_of_statements(db, write=True) == writer  # the database's one worker


async def test_a_locked_database_is_waited_out_while_the_loop_keeps_serving(db: Database) -> None:
    holding, release = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with db.session() as s:
            await s.execute(text("INSERT INTO t VALUES (1)"))  # BEGIN IMMEDIATE: the write lock is held
            holding.set()
            await release.wait()

    async def second() -> None:
        async with db.session() as s:  # waits for the lock
            await s.execute(text("INSERT INTO t VALUES (2)"))

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    one = asyncio.create_task(first())
    await holding.wait()
    waiting = statements_begun(db, "BEGIN IMMEDIATE")  # from now on: the second session's
    two = asyncio.create_task(second())
    await asyncio.wait_for(waiting.wait(), 10)
    beat = asyncio.create_task(ticker())
    reads = []
    for _ in range(5):  # reads go on meanwhile (WAL: a reader takes no lock the writer holds)
        async with db.session(write=False) as s:
            reads.append((await s.execute(text("SELECT count(*) FROM t"))).scalar())
        await asyncio.sleep(0.02)
    assert not two.done() and ticks >= 5 and reads == [0] * 5
    release.set()
    await asyncio.wait_for(asyncio.gather(one, two), 30)
    beat.cancel()
    async with db.session(write=False) as s:
        assert (await s.execute(text("SELECT x FROM t ORDER BY x"))).scalars().all() == [1, 2]


@pytest.mark.parametrize("writer_changes", [False, True])
async def test_a_read_transactions_first_write_waits_for_the_writer(db: Database, writer_changes: bool) -> None:
    """In WAL mode the read transaction's write waits while another connection writes; it goes on when that
    writer changed nothing, and fails (busy snapshot: it read a state that is gone) when it did."""
    holding, release = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with db.session() as s:
            await s.execute(text("SELECT 1"))  # BEGIN IMMEDIATE
            holding.set()
            await release.wait()
            if writer_changes:
                await s.execute(text("INSERT INTO t VALUES (7)"))

    async def reader() -> None:
        async with db.session(write=False) as s:
            await s.execute(text("SELECT count(*) FROM t"))  # the transaction's snapshot
            await s.execute(text("INSERT INTO t VALUES (8)"))  # its first write

    task = asyncio.create_task(writer())
    await holding.wait()
    attempted = statements_begun(db, "INSERT INTO t VALUES (8)")
    read = asyncio.create_task(reader())
    await asyncio.wait_for(attempted.wait(), 10)  # the write was tried while the writer holds the lock
    release.set()
    await task
    if writer_changes:
        with pytest.raises(OperationalError, match="locked"):
            await asyncio.wait_for(read, 30)
    else:
        await asyncio.wait_for(read, 30)
    async with db.session(write=False) as s:
        rows = (await s.execute(text("SELECT x FROM t"))).scalars().all()
    assert rows == ([7] if writer_changes else [8])
