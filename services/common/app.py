"""``create_service_app``: the pieces every service shares, wired once.

Request id + problem+json errors, ``/healthz`` and ``/readyz``, public documents' ETags, 304s and short-lived
copies (``services.common.httpcache``), the database, the object store (and the folder
store's signed download route), token verification against identity's JWKS, ``Idempotency-Key`` on POST (per verified caller), the
event receiver and outbox admin routes, and the background workers in the lifespan: the outbox's delivery, the
idempotency keys' purge and the service's own (``background=[…]``: :class:`services.common.worker.LeasedWorker`
factories), started after the start-up hooks and stopped cleanly at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from starlette.middleware.cors import CORSMiddleware

from services.common.auth import JWKSCache, JWKSProvider, TokenVerifier
from services.common.clock import SYSTEM_CLOCK
from services.common.config import ServiceSettings
from services.common.db import Database, ReadDatabase, engine_options, read_engine_options
from services.common.errors import install_error_handlers
from services.common.events import EventHandler, events_router
from services.common.health import health_router
from services.common.httpcache import PublicCache, PublicCacheMiddleware
from services.common.idempotency import IdempotencyMiddleware, purge_worker
from services.common.identity_client import IdentityClient
from services.common.limits import BodyLimit, BodyLimitMiddleware, set_body_limits
from services.common.links import ForwardedPrefix
from services.common.logging import configure_logging
from services.common.metrics import JobQueue, MetricsMiddleware, ServiceMetrics, metrics_router
from services.common.middleware import RequestContextMiddleware
from services.common.outbox import Outbox, OutboxDeliverer
from services.common.replicas import replica_transport
from services.common.service_client import ServiceTokenProvider
from services.common.storage import open_store
from services.common.storage.routes import objects_router
from services.common.worker import LeasedWorker

#: a CloudEvent received on ``/v1/events``
EVENT_MAX_BYTES = 4 * 1024 * 1024

LifespanHook = Callable[[FastAPI], Awaitable[None]]
#: builds one of the service's background workers for the app at start-up (after the start-up hooks, so it sees
#: the app's clock as a test set it); None when the service's settings switch it off
WorkerFactory = Callable[[FastAPI], "LeasedWorker[Any] | None"]


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
    event_handlers: Mapping[str, EventHandler] | None = None,
    jwks_provider: JWKSProvider | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
    on_startup: Sequence[LifespanHook] = (),
    on_shutdown: Sequence[LifespanHook] = (),
    background: Sequence[WorkerFactory] = (),
    idempotency_exempt: Sequence[str] = (),
    job_queues: Sequence[JobQueue] = (),
) -> FastAPI:
    """Build a service app. ``http_transport`` replaces the network for calls to other services (tests pass an
    ``httpx.ASGITransport`` or ``MockTransport``); ``jwks_provider`` lets identity verify its own tokens;
    ``idempotency_exempt`` lists paths ``Idempotency-Key`` never applies to (where callers authenticate or get
    credentials); ``job_queues`` are the job tables whose depth and age ``/metrics`` reports; ``background`` builds
    the service's workers (run for the life of the process, stopped before the ``on_shutdown`` hooks run)."""

    configure_logging(settings.service_name, settings.log_level)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.store.ensure_ready()
        for hook in on_startup:
            await hook(app)
        workers: list[LeasedWorker[Any]] = [w for factory in background if (w := factory(app)) is not None]
        if settings.outbox_enabled:
            workers.append(app.state.deliverer.worker(settings.outbox_poll_seconds))
        if settings.idempotency_retention_hours > 0:
            retention = timedelta(hours=settings.idempotency_retention_hours)
            workers.append(purge_worker(app.state.db, retention, settings.idempotency_purge_seconds))
        #: by name, for operators and tests (``app.state.workers["records sync"].state``)
        app.state.workers = {w.name: w for w in workers}
        tasks = [asyncio.create_task(w.run(), name=w.name) for w in workers]
        try:
            yield
        finally:
            await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
            for task in tasks:  # stopped; a task that ended in an error is collected here
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for hook in on_shutdown:
                await hook(app)
            await app.state.http.aclose()
            await app.state.read_db.dispose()
            await app.state.db.dispose()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.settings = settings
    #: shown by ``/readyz`` as ``notes`` (name → text); start-up hooks add what an operator must act on
    app.state.readiness_notes = {}
    app.state.db = Database(settings.database_url, **engine_options(settings))
    #: read-only sessions of the endpoints that scan: on ``database_read_url`` when set, else on ``db``
    app.state.read_db = ReadDatabase(app.state.db, settings.database_read_url,
                                     retry_seconds=settings.db_read_retry_seconds, **read_engine_options(settings))
    app.state.store = open_store(
        settings.object_store_url,
        s3_endpoint=settings.s3_endpoint,
        s3_access_key=settings.s3_access_key,
        s3_secret_key=settings.s3_secret_key,
        s3_secure=settings.s3_secure,
        s3_region=settings.s3_region,
        s3_public_url=settings.public_object_store_url,
        secret_key=settings.secret_key,
        public_base_url=settings.public_service_url,
    )
    # calls to other services: round robin over their replicas, failover when one cannot be reached
    transport = replica_transport(settings.replica_groups, settings.replica_eject_seconds, http_transport)
    app.state.http = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(10.0, connect=3.0))
    identity = settings.identity_url.rstrip("/")
    app.state.verifier = TokenVerifier(
        # identity reads its own keys from its database: no refetch throttle needed there
        JWKSCache(
            f"{identity}/.well-known/jwks.json",
            client=app.state.http,
            provider=jwks_provider,
            min_refresh_seconds=0.0 if jwks_provider else 1.0,
        ),
        issuer=settings.jwt_issuer,
        audience=settings.service_name,  # a token is accepted only by the services its ``aud`` lists
    )
    app.state.tokens = ServiceTokenProvider(f"{identity}/oauth/token", settings.client_id, settings.client_secret, app.state.http)
    #: every call to identity's API (one error mapping, one cache): ``services.common.identity_client``
    app.state.identity = IdentityClient(
        identity, app.state.http, app.state.tokens, ttl=settings.identity_cache_seconds,
        stale=settings.identity_stale_seconds, max_entries=settings.identity_cache_entries,
        retry_after=settings.unavailable_retry_after_seconds,
    )
    app.state.outbox = Outbox(source=settings.service_name, routes=settings.event_routes)
    #: the time background loops schedule by (tests replace it with ``testing.FakeClock`` before start-up)
    app.state.clock = SYSTEM_CLOCK
    app.state.deliverer = OutboxDeliverer(
        app.state.db, app.state.http, app.state.tokens, max_delay=settings.outbox_max_delay_seconds,
        health_poll_seconds=settings.outbox_health_poll_seconds, lease_seconds=settings.outbox_lease_seconds,
        clock=lambda: app.state.clock,
    )

    #: public documents' copies (services.common.httpcache): routes opt in with ``cache_public``
    app.state.public_cache = PublicCache()
    app.state.metrics = ServiceMetrics(settings.service_name, lambda: app.state.db, tuple(job_queues),
                                       clock=lambda: app.state.clock.now(), read_db=lambda: app.state.read_db)
    app.state.read_db.on_fallback = app.state.metrics.read_fallbacks.inc

    install_error_handlers(app)
    app.include_router(health_router())
    if settings.metrics_enabled:
        app.include_router(metrics_router())
    app.include_router(events_router(settings.service_name, event_handlers))
    if hasattr(app.state.store, "verify_signature"):
        app.include_router(objects_router(lambda request: request.app.state.store))
    for router in routers:
        app.include_router(router)

    # keys belong to the caller the middleware verified itself (never to an unverified token, never to anonymous callers)
    app.add_middleware(IdempotencyMiddleware, db_getter=lambda: app.state.db, verifier_getter=lambda: app.state.verifier,
                       secret=settings.secret_key.encode(), exempt=idempotency_exempt,
                       lease_seconds=settings.idempotency_lease_seconds)
    app.add_middleware(ForwardedPrefix)  # links right behind the gateway (X-Forwarded-Prefix)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"])
    # bodies bounded before anything else reads them (the Idempotency-Key spool, an event's sealing, a route)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes, max_json_depth=settings.max_json_depth,
                       max_json_elements=settings.max_json_elements)
    # an event's body is read only once its sender is authenticated, and parsed with the JSON limits then
    set_body_limits(app, {"POST /v1/events": BodyLimit(EVENT_MAX_BYTES, json=False)})
    # public documents (did:web, status lists, JWKS, the registry) answered from memory or with a 304, before the
    # framework; inside the request id and the metrics, which count those answers too
    app.add_middleware(PublicCacheMiddleware, owner=app)
    app.add_middleware(RequestContextMiddleware)
    if settings.metrics_enabled:  # outermost: counts the last-resort 500s too
        app.add_middleware(MetricsMiddleware, metrics=app.state.metrics.http)
    return app
