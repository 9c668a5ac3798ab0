"""Credentials service: Issuers, signed diplomas and certificates (W3C VC 2.0 / Open Badges 3.0), status lists, verification."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from services.common.app import create_service_app
from services.common.httpcache import cache_public
from services.common.idempotency import IdempotencyMiddleware
from services.common.limits import BodyLimit, MiB, set_body_limits
from services.common.metrics import JobQueue
from services.common.middleware import sample_access_log
from services.common.worker import LeasedWorker
from services.credentials.config import CredentialsSettings
from services.credentials.context import CredentialsContext
from services.credentials.events import SealIdNumbers, handlers
from services.credentials.issuers.endpoints import router as issuers_router
from services.credentials.issuing import restatus
from services.credentials.issuing.endpoints import router as credentials_router
from services.credentials.jobs.endpoints import router as jobs_router
from services.credentials.jobs.service import JobRunner
from services.credentials.lookup.endpoints import router as lookup_router
from services.credentials.sharing.endpoints import router as sharing_router
from services.credentials.status.endpoints import router as status_router
from services.credentials.verification.endpoints import MAX_CREDENTIAL_BYTES, contexts_router
from services.credentials.verification.endpoints import router as verify_router


def issue_jobs_worker(app: FastAPI) -> LeasedWorker[Any] | None:
    """Background worker: batch issuing jobs (leased: any replica takes any job)."""
    settings: CredentialsSettings = app.state.settings
    if not settings.jobs_enabled:
        return None
    return app.state.job_runner.worker(settings.jobs_poll_seconds)  # type: ignore[no-any-return]


def restatus_worker(app: FastAPI) -> LeasedWorker[Any] | None:
    """Background step: documents issued with a two-entry credentialStatus signed again with one (resumable)."""
    settings: CredentialsSettings = app.state.settings
    if settings.restatus_poll_seconds <= 0:
        return None
    ctx: CredentialsContext = app.state.credentials
    return restatus.worker(app.state.db, ctx.keys, ctx.signer, batch_size=settings.restatus_batch,
                           poll_seconds=settings.restatus_poll_seconds)


def verification_log_worker(app: FastAPI) -> LeasedWorker[Any]:
    """Background loop: the verification log's batches; flushes what waits when it stops at shutdown."""
    return app.state.credentials.verification_log.worker()  # type: ignore[no-any-return]


async def close_signer(app: FastAPI) -> None:
    """At shutdown, once the workers have stopped: the signing pool closes."""
    app.state.credentials.signer.close()


def create_app(settings: CredentialsSettings | None = None, *, http_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    settings = settings or CredentialsSettings()
    app = create_service_app(
        settings,
        title="VET platform — credentials",
        description="Issuers, signed diplomas and certificates (W3C VC 2.0 / Open Badges 3.0), status lists, verification.",
        # public verification first: routes are matched in order, and it is the busiest
        routers=[verify_router, contexts_router, status_router, credentials_router, sharing_router, jobs_router, issuers_router,
                 lookup_router],
        event_handlers=handlers(settings.platform_issuer_code),
        http_transport=http_transport,
        background=[issue_jobs_worker, verification_log_worker, restatus_worker],
        on_shutdown=[close_signer],
        job_queues=[JobQueue("credentials_issue", "issue_jobs", "state", ended=("completed", "failed"))],
    )
    # the holder's ID number is sealed before the event receiver — and the Idempotency-Key store in front of it —
    # sees the body: placed just outside the kit's idempotency middleware
    at = next((i for i, m in enumerate(app.user_middleware) if m.cls is IdempotencyMiddleware), 0)
    app.user_middleware.insert(at, Middleware(SealIdNumbers, secret_key=settings.secret_key,
                                              platform_issuer=settings.platform_issuer_code))
    sample_access_log(app, "/v1/verify", settings.verify_access_log_sample)
    set_body_limits(app, {
        "POST /v1/verify": BodyLimit(MAX_CREDENTIAL_BYTES),
        # up to bulk_verify_max (1,000) credentials of a few KiB each; up to batch_max_items (20,000) issuing inputs
        "POST /v1/verify/bulk": BodyLimit(16 * MiB, max_json_elements=500_000),
        "POST /v1/issue-jobs": BodyLimit(32 * MiB, max_json_elements=1_000_000),
    })
    ctx = CredentialsContext.create(settings, app.state.http, app.state.outbox, app.state.db, app.state.identity)
    # issuers' DID documents and status lists answered from memory (services.common.httpcache); a key rotation and
    # a status change invalidate them when they commit
    ctx.public_cache = app.state.public_cache
    ctx.store_source = lambda: app.state.store
    cache_public(app, "/issuers/{code}/did.json", settings.public_cache_seconds)
    cache_public(app, "/v1/status-lists/{list_id}", settings.public_cache_seconds)
    app.state.credentials = ctx
    app.state.job_runner = JobRunner(app.state.db, ctx, app.state.tokens, clock=lambda: app.state.clock)
    return app
