"""The learning service runs its sweeper on its own: started with the service, on the configured schedule."""

from __future__ import annotations

import asyncio
import uuid

from services.learning.sweeper import INCOMING_PREFIX
from tests.support import Platform
from tests.learning.conftest import learning_app


async def _once(data: bytes):  # noqa: ANN202
    yield data


async def test_the_service_sweeps_orphan_files_by_itself(platform: Platform) -> None:
    async with learning_app(platform, sweeper_initial_delay_seconds=0.0, sweeper_interval_seconds=0.05,
                            sweeper_grace_seconds=0.0) as app:
        orphan = f"{INCOMING_PREFIX}{uuid.uuid4().hex}"
        await app.state.store.put(orphan, _once(b"bytes no version records"))
        for _ in range(200):
            if not await app.state.store.exists(orphan):
                break
            await asyncio.sleep(0.05)
        assert not await app.state.store.exists(orphan), "the service's sweeper never removed the orphan file"


async def test_the_sweeper_waits_for_its_first_pass(platform: Platform) -> None:
    async with learning_app(platform, sweeper_initial_delay_seconds=3600.0, sweeper_grace_seconds=0.0) as app:
        orphan = f"{INCOMING_PREFIX}{uuid.uuid4().hex}"
        await app.state.store.put(orphan, _once(b"young"))
        await asyncio.sleep(0.3)
        assert await app.state.store.exists(orphan)
