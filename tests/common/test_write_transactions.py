"""The test kit's guard against calls to other services while a write transaction is open
(``services.common.testing.WriteTransactions``), on both databases: a call from the task that holds an open write
transaction is recorded and fails the check; a call with no transaction, in a read transaction, before the write
session's first statement, after its commit or rollback, or from another task is not."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text

from services.common.db import Database
from services.common.testing import WriteTransactions
from tests.support import UrlFactory


async def test_calls_inside_an_open_write_transaction_are_caught(database_factory: UrlFactory) -> None:
    db = Database(await database_factory("records"))
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    guard = WriteTransactions(db, http)
    try:
        await http.get("http://identity.test/no-transaction")
        async with db.session(write=False) as s:
            await s.execute(text("SELECT 1"))
            await http.get("http://identity.test/read-transaction")
        async with db.session(write=True) as s:
            await http.get("http://identity.test/not-begun-yet")
            await s.execute(text("SELECT 1"))
            await http.get("http://identity.test/inside")
        await http.get("http://identity.test/after-commit")
        with pytest.raises(RuntimeError):
            async with db.session(write=True) as s:
                await s.execute(text("SELECT 1"))
                raise RuntimeError("rolled back")
        await http.get("http://identity.test/after-rollback")

        # another task's write transaction is not this task's
        held, release = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with db.session(write=True) as s:
                await s.execute(text("SELECT 1"))
                held.set()
                await release.wait()

        holder = asyncio.create_task(hold())
        await held.wait()
        await http.get("http://identity.test/other-task")
        release.set()
        await holder

        assert [v.split(" inside an open")[0] for v in guard.violations] == ["GET http://identity.test/inside"]
        assert "test_write_transactions.py" in guard.violations[0]  # says where the call came from
        with pytest.raises(AssertionError, match="1 call"):
            guard.check()
        guard.close()
        async with db.session(write=True) as s:
            await s.execute(text("SELECT 1"))
            await http.get("http://identity.test/unwatched")
        assert len(guard.violations) == 1  # closed: watching nothing
    finally:
        guard.close()
        await http.aclose()
        await db.dispose()


async def test_as_a_context_manager_it_fails_on_leaving(database_factory: UrlFactory) -> None:
    db = Database(await database_factory("records"))
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    try:
        with pytest.raises(AssertionError, match="inside an open write transaction"):
            with WriteTransactions(db, http):
                async with db.session(write=True) as s:
                    await s.execute(text("SELECT 1"))
                    await http.post("http://identity.test/v1/persons/resolve", json={})
        with WriteTransactions(db, http):
            async with db.session(write=True) as s:
                await s.execute(text("SELECT 1"))
            await http.post("http://identity.test/v1/persons/resolve", json={})
    finally:
        await http.aclose()
        await db.dispose()
