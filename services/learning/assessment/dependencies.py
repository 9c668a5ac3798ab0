"""What assessment's routes take from the request: the time (the app's clock, so tests move it by hand) and the
settings they need."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends

from services.learning.context import CtxDep


async def _now(ctx: CtxDep) -> datetime:
    return ctx.now()


async def _min_responses(ctx: CtxDep) -> int:
    return int(ctx.settings.assessment_stats_min_responses)


#: now, by the app's clock (the context's): exam windows, deadlines and timestamps all read it
Now = Annotated[datetime, Depends(_now)]
#: scored responses an item needs before its p-value sets its difficulty band
MinResponses = Annotated[int, Depends(_min_responses)]
