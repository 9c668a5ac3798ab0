"""What the learning service's code needs beyond the request: settings, the database, the object store, the HTTP
client, token and client towards identity, the outbox, the clock, caches. One instance per app, at ``app.state.learning``;
endpoints take it as :data:`CtxDep` and pass it (or the parts they need) to service code, which never reads
``app.state`` nor takes the raw request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import httpx
from fastapi import Depends, FastAPI, Request

from services.common.clamav import ClamdScanner
from services.common.clock import Clock
from services.common.db import Database
from services.common.identity_client import IdentityClient
from services.common.outbox import Outbox
from services.common.service_client import ServiceTokenProvider
from services.common.storage import ObjectStore
from services.learning.config import LearningSettings

if TYPE_CHECKING:
    from services.learning.lti.service import LtiContext
    from services.learning.search.cache import SearchCache


@dataclass
class LearningContext:
    settings: LearningSettings
    db: Database
    store: ObjectStore
    http: httpx.AsyncClient
    tokens: ServiceTokenProvider
    #: the kit's client towards identity (its cache of institutions and persons)
    identity: IdentityClient
    outbox: Outbox
    #: the app's clock, read when asked (a test puts its own clock on the app after creating it)
    clock_source: Callable[[], Clock]
    #: the LTI tool's keys and score sender (set by the app)
    lti: LtiContext | None = None
    #: repeated searches' rankings, for a few seconds (search/cache.py)
    search_cache: SearchCache | None = None

    @classmethod
    def of_app(cls, app: FastAPI) -> LearningContext:
        state = app.state
        return cls(settings=state.settings, db=state.db, store=state.store, http=state.http, tokens=state.tokens,
                   identity=state.identity, outbox=state.outbox, clock_source=lambda: app.state.clock)

    @property
    def clock(self) -> Clock:
        return self.clock_source()

    def now(self) -> datetime:
        return self.clock.now()

    def scanner(self) -> ClamdScanner | None:
        """The ClamAV scanner uploads stream through, when clamd is configured."""
        s = self.settings
        if not s.clamd_address:
            return None
        return ClamdScanner(s.clamd_address, timeout=s.clamd_timeout_seconds, max_bytes=s.clamd_max_stream_bytes)


def context_of(request: Request) -> LearningContext:
    """The app's context, for code that still takes the request (assessment's exam routes, until they take
    :data:`CtxDep`)."""
    return request.app.state.learning  # type: ignore[no-any-return]


# ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop per request
async def get_context(request: Request) -> LearningContext:
    return request.app.state.learning  # type: ignore[no-any-return]


CtxDep = Annotated[LearningContext, Depends(get_context)]
