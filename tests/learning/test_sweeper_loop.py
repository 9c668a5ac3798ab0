"""The learning service runs its sweeper on its own: started with the service, on the configured schedule."""

from __future__ import annotations

import uuid

from services.common.testing import FakeClock
from services.learning.sweeper import INCOMING_PREFIX
from tests.learning.conftest import learning_app
from tests.support import Platform, eventually


async def _once(data: bytes):  # noqa: ANN202
    yield data


async def test_the_service_sweeps_orphan_files_by_itself(platform: Platform) -> None:
    async with learning_app(platform, sweeper_initial_delay_seconds=0.0, sweeper_interval_seconds=0.05,
                            sweeper_grace_seconds=0.0) as app:
        orphan = f"{INCOMING_PREFIX}{uuid.uuid4().hex}"
        await app.state.store.put(orphan, _once(b"bytes no version records"))

        async def swept() -> bool:
            return not await app.state.store.exists(orphan)

        await eventually(swept, what="the service's sweeper removing the orphan file")


async def test_the_sweeper_waits_for_its_first_pass(platform: Platform) -> None:
    """Nothing is swept before the initial delay has passed on the service's clock; the first pass, when it
    comes, is what removes the orphan."""
    clock = FakeClock()
    orphan = f"{INCOMING_PREFIX}{uuid.uuid4().hex}"  # there before the service starts: a pass at start would take it
    await platform.apps["learning"].state.store.put(orphan, _once(b"young"))
    async with learning_app(platform, clock=clock, sweeper_initial_delay_seconds=3600.0, sweeper_interval_seconds=3600.0,
                            sweeper_grace_seconds=0.0) as app:
        await clock.until_parked(1)  # the sweeper sleeps out its initial delay
        await clock.advance(3599, step=3599)  # every loop woken by then has gone back to sleep
        before = await app.state.store.exists(orphan)
        await clock.advance(1)
        after = await app.state.store.exists(orphan)
    assert before, "swept before the first pass was due"
    assert not after, "the first pass did not sweep the orphan"
