"""What records' code needs beyond the request: settings, the database, the object store, identity's client, the
HTTP client and token towards other services, the outbox, the clock, the person resolver and the sync worker. One instance per app, at
``app.state.records``; endpoints take it as :data:`RecordsCtxDep` and pass what a service function needs explicitly
(services never see the request)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import httpx
from fastapi import Depends, FastAPI, Request

from services.common.clock import Clock
from services.common.db import Database
from services.common.identity_client import IdentityClient
from services.common.outbox import Outbox
from services.common.service_client import ServiceTokenProvider
from services.common.storage import ObjectStore
from services.records.config import RecordsSettings

if TYPE_CHECKING:
    from services.records.learners.service import PersonResolver
    from services.records.sync.runner import SyncRunner


@dataclass
class RecordsContext:
    settings: RecordsSettings
    db: Database
    #: identity's registry and persons (``services.common.identity_client``: one error mapping, one cache)
    identity: IdentityClient
    http: httpx.AsyncClient
    tokens: ServiceTokenProvider
    outbox: Outbox
    #: persons resolved in identity (:func:`services.records.sync.runner.identity_resolver`)
    person_resolver: PersonResolver
    #: this process's sync worker (woken when a job is queued; its progress of running jobs), if it has one
    sync_runner: SyncRunner | None
    #: the app's clock and object store, looked up when used: tests replace them on a running app
    clock_source: Callable[[], Clock]
    store_source: Callable[[], ObjectStore]

    @classmethod
    def of_app(cls, app: FastAPI) -> RecordsContext:
        """From what :func:`services.common.app.create_service_app` and records' ``create_app`` put on the app."""
        state = app.state
        return cls(settings=state.settings, db=state.db, identity=state.identity, http=state.http, tokens=state.tokens, outbox=state.outbox,
                   person_resolver=state.person_resolver, sync_runner=getattr(state, "sync_runner", None),
                   clock_source=lambda: state.clock, store_source=lambda: state.store)

    @property
    def clock(self) -> Clock:
        return self.clock_source()

    def now(self) -> datetime:
        return self.clock_source().now()

    @property
    def store(self) -> ObjectStore:
        return self.store_source()


# ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop per request
async def get_context(request: Request) -> RecordsContext:
    return request.app.state.records  # type: ignore[no-any-return]


RecordsCtxDep = Annotated[RecordsContext, Depends(get_context)]
