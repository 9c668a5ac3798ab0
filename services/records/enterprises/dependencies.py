"""What the enterprises' endpoints need beyond the session: the link secret and base, the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends

from services.records.context import RecordsCtxDep


@dataclass(frozen=True)
class Links:
    secret: str
    #: the service's public address, under which the links are answered
    base: str


async def get_links(ctx: RecordsCtxDep) -> Links:
    return Links(secret=ctx.settings.secret_key, base=ctx.settings.public_service_url)


async def get_now(ctx: RecordsCtxDep) -> datetime:
    return ctx.now()


LinksDep = Annotated[Links, Depends(get_links)]
NowDep = Annotated[datetime, Depends(get_now)]
