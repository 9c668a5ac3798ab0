"""The time background loops see: what time it is, and waiting.

Sync and issue jobs, the outbox and its health polls schedule retries with the app's clock (``app.state.clock``),
so tests can play an hour-long outage in seconds with :class:`services.common.testing.FakeClock`."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone

from services.common.db import utcnow


class Clock:
    """Real time."""

    def now(self) -> datetime:
        return utcnow()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:  # noqa: ASYNC109 - in the clock's time (a FakeClock moves it by hand), which asyncio.timeout cannot measure
        """Until ``event`` is set (True) or ``timeout`` seconds have passed (False); the event is not cleared."""
        try:
            await asyncio.wait_for(event.wait(), max(0.0, timeout))
        except TimeoutError:
            return False
        return True


SYSTEM_CLOCK = Clock()

#: Vietnam's time (UTC+7, no daylight saving): due dates, windows and ages are counted in its days
VIETNAM = timezone(timedelta(hours=7))


def vietnam_date(at: datetime) -> date:
    """The date in Vietnam at ``at`` (an aware datetime)."""
    return at.astimezone(VIETNAM).date()
