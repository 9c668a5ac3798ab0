"""Connection pools: sized from settings, and a whole platform under load stays within Σ (pool + overflow).

PostgreSQL only (SQLite has no server connections to count); the connections are counted by the server itself,
in ``pg_stat_activity``, while every service answers many concurrent requests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from services.common.testing import PG_ADMIN_DSN
from services.registry import SERVICES
from tests.support import TEST_POOL, Platform, UrlFactory, running_platform, service_settings


@pytest.fixture
def pg_only(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("connection pools are a PostgreSQL matter")


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


class ConnectionCounter:
    """Samples ``pg_stat_activity`` for some databases until stopped; keeps each one's peak."""

    def __init__(self, databases: dict[str, str]) -> None:
        self.databases = databases  # service → database name
        self.peak = {name: 0 for name in databases}
        self.peak_total = 0
        self._stop = asyncio.Event()

    async def count(self, conn) -> dict[str, int]:  # noqa: ANN001 - asyncpg connection
        rows = await conn.fetch("SELECT datname, count(*) AS n FROM pg_stat_activity WHERE datname = ANY($1::text[]) "
                                "GROUP BY datname", list(self.databases.values()))
        by_db = {r["datname"]: r["n"] for r in rows}
        return {name: by_db.get(db, 0) for name, db in self.databases.items()}

    async def run(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            while not self._stop.is_set():
                counts = await self.count(conn)
                for name, n in counts.items():
                    self.peak[name] = max(self.peak[name], n)
                self.peak_total = max(self.peak_total, sum(counts.values()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 0.005)
        finally:
            await conn.close()

    async def now(self) -> dict[str, int]:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            return await self.count(conn)
        finally:
            await conn.close()

    @contextlib.asynccontextmanager
    async def sampling(self) -> AsyncIterator[ConnectionCounter]:
        task = asyncio.create_task(self.run())
        try:
            yield self
        finally:
            self._stop.set()
            await task


async def test_pool_settings_reach_the_engine(pg_only: None, database_factory: UrlFactory, tmp_path: Path) -> None:
    from services.records.app import create_app

    settings = service_settings("records", await database_factory("records"), tmp_path / "objects",
                                db_pool_size=3, db_max_overflow=2, db_pool_timeout_seconds=7.0,
                                db_pool_recycle_seconds=600, db_pool_pre_ping=True, db_pgbouncer=True)
    app = create_app(settings)
    pool = app.state.db.engine.pool
    try:
        assert (pool.size(), pool._max_overflow, pool._timeout, pool._recycle, pool._pre_ping) == (3, 2, 7.0, 600, True)
        async with app.state.db.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            adapted, driver = raw.dbapi_connection, raw.driver_connection
            # PgBouncer mode: neither asyncpg nor SQLAlchemy keeps a prepared statement on the server connection,
            # and every statement gets a name of its own
            assert driver._stmt_cache.get_max_size() == 0
            assert adapted._prepared_statement_cache is None
            assert adapted._prepared_statement_name_func() != adapted._prepared_statement_name_func()
            assert (await conn.exec_driver_sql("SELECT 41 + 1")).scalar() == 42
    finally:
        await app.state.db.dispose()

    # the production defaults (tests give every other app a smaller pool: tests/support.TEST_POOL)
    fields = type(settings).model_fields
    defaults = create_app(service_settings("records", settings.database_url, tmp_path / "objects",
                                           **{name: fields[name].default for name in TEST_POOL}))
    pool = defaults.state.db.engine.pool
    try:
        assert (pool.size(), pool._max_overflow, pool._recycle, pool._pre_ping) == (10, 0, 1800, True)
    finally:
        await defaults.state.db.dispose()


async def test_a_platform_under_load_stays_within_its_pools(pg_only: None, database_factory: UrlFactory, tmp_path: Path) -> None:
    """Each service in turn gets 40 concurrent requests that each need a connection (``/readyz`` pings the
    database); the server never sees more than pool + overflow connections from a service, the idle ones fall back
    to the pool size, and the platform's total stays within Σ (pool + overflow). Pools of 2 + 1 here (5 + 5 in
    production): the same rule, within the suite's connection cap."""
    urls: dict[str, str] = {}
    sizes = {"db_pool_size": 2, "db_max_overflow": 1}

    async def url_for(service: str) -> str:
        urls[service] = await database_factory(service)
        return urls[service]

    async with running_platform(url_for, tmp_path, {name: dict(sizes) for name in SERVICES}) as platform:
        counter = ConnectionCounter({name: database_name(url) for name, url in urls.items()})
        limit = {name: platform.settings[name].db_pool_size + platform.settings[name].db_max_overflow for name in SERVICES}
        assert set(limit.values()) == {3}
        async with counter.sampling():
            for name in SERVICES:
                await load(platform, name, 40)
        assert all(0 < counter.peak[name] <= limit[name] for name in SERVICES), (counter.peak, limit)
        assert counter.peak_total <= sum(limit.values()), counter.peak_total
        # overflow connections are closed when given back: what stays open is at most the pool
        idle = await counter.now()
        assert all(idle[name] <= 2 for name in SERVICES), idle


async def load(platform: Platform, name: str, concurrency: int) -> None:
    async with platform.client(name) as c:
        answers = await asyncio.gather(*(c.get("/readyz") for _ in range(concurrency)))
    assert [r.status_code for r in answers] == [200] * concurrency, [r.text for r in answers if r.status_code != 200][:1]
