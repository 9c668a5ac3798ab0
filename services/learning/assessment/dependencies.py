"""What assessment's routes take from the request: the time (the app's clock, so tests move it by hand) and the
settings they need."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request


async def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


async def _min_responses(request: Request) -> int:
    return int(request.app.state.settings.assessment_stats_min_responses)


#: now, by the app's clock (``app.state.clock``): exam windows, deadlines and timestamps all read it
Now = Annotated[datetime, Depends(_now)]
#: scored responses an item needs before its p-value sets its difficulty band
MinResponses = Annotated[int, Depends(_min_responses)]
