"""Every service's Alembic tree upgrades and downgrades on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from services.common.migrations import downgrade, upgrade
from services.registry import SERVICES
from tests.support import UrlFactory


async def tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", list(SERVICES))
async def test_upgrade_downgrade_upgrade(service: str, database_factory: UrlFactory) -> None:
    url = await database_factory(service, migrated=False)
    await upgrade(service, url)
    after_up = await tables(url)
    assert {"idempotency_records", "outbox_events", "inbox_events", "alembic_version"} <= after_up
    if service == "identity":
        assert {"signing_keys", "api_clients", "institutions", "accounts"} <= after_up
    await downgrade(service, url, "base")
    assert await tables(url) <= {"alembic_version"}
    await upgrade(service, url)
    assert await tables(url) == after_up
