"""The sweeper through an outage (issue 14): a pass that fails because the database is down is tried again after a
capped back-off, not an hour later. On a fake clock, SQLite and PostgreSQL."""

from __future__ import annotations

import os
import time
from pathlib import Path

from services.common.db import Database
from services.common.storage import open_store
from services.common.testing import DatabaseFaults, FakeClock
from services.learning.sweeper import INCOMING_PREFIX, Sweeper
from tests.support import UrlFactory


async def one(data: bytes):  # noqa: ANN201
    yield data


async def test_a_pass_failed_by_a_database_outage_is_tried_again_within_a_minute(database_factory: UrlFactory, tmp_path: Path) -> None:
    db = Database(await database_factory("learning"))
    store = open_store(f"file://{tmp_path}/objects", secret_key="test-secret", public_base_url="http://testserver")
    await store.ensure_ready()
    key = INCOMING_PREFIX + "orphan-from-a-crash"
    await store.put(key, one(b"bytes nobody recorded"), content_type="application/octet-stream")
    two_days_ago = time.time() - 2 * 86400
    for path in (tmp_path / "objects").rglob("orphan-from-a-crash*"):
        os.utime(path, (two_days_ago, two_days_ago))
    faults = DatabaseFaults(db)
    faults.down = True
    clock = FakeClock()
    sweeper = Sweeper(db, store, clock=clock.now, sleep=clock.sleep)

    async def swept() -> bool:
        return [o.key async for o in store.list_objects(INCOMING_PREFIX)] == []

    task = clock.spawn(sweeper.run_forever(interval=3600, initial_delay=0))
    try:
        await clock.settle()  # the first pass failed: the database refused it
        await clock.advance(30)
        assert not await swept()
        faults.down = False
        took = await clock.advance_until(swept, limit=60)
        assert took <= 60
    finally:
        task.cancel()
        faults.close()
        await db.dispose()
        await store.aclose()
