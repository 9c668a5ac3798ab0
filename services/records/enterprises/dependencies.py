"""What the enterprises' endpoints need beyond the session: the link secret and base, the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request


@dataclass(frozen=True)
class Links:
    secret: str
    #: the service's public address, under which the links are answered
    base: str


async def get_links(request: Request) -> Links:
    settings = request.app.state.settings
    return Links(secret=settings.secret_key, base=settings.public_service_url)


async def get_now(request: Request) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


LinksDep = Annotated[Links, Depends(get_links)]
NowDep = Annotated[datetime, Depends(get_now)]
