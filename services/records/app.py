"""Records service: Programmes, learners, enrolments, grades, school sync jobs, transcripts and statistics."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.limits import BodyLimit, MiB, set_body_limits
from services.common.metrics import JobQueue
from services.common.worker import LeasedWorker
from services.records.admissions.endpoints import router as admissions_router
from services.records.calendar.endpoints import router as calendar_router
from services.records.catalogue import service as catalogue
from services.records.catalogue.endpoints import router as catalogue_router
from services.records.changes.endpoints import router as changes_router
from services.records.config import RecordsSettings
from services.records.context import RecordsContext
from services.records.enterprises.endpoints import router as enterprises_router
from services.records.followup.endpoints import router as followup_router
from services.records.grades.endpoints import router as grades_router
from services.records.learners.endpoints import router as learners_router
from services.records.lmis.endpoints import router as lmis_router
from services.records.outcomes.endpoints import router as outcomes_router
from services.records.oversight.endpoints import router as oversight_router
from services.records.oversight.events import HANDLERS as oversight_event_handlers
from services.records.oversight.pull import oversight_pull_worker
from services.records.programmes.endpoints import router as programmes_router
from services.records.recognition.endpoints import router as recognition_router
from services.records.reports.endpoints import router as reports_router
from services.records.sync.endpoints import router as sync_router
from services.records.sync.retention import ENDED, upload_sweeper_worker
from services.records.sync.runner import SyncRunner, identity_resolver
from services.records.transcripts.endpoints import router as transcripts_router


def sync_worker(app: FastAPI) -> LeasedWorker[Any] | None:
    """Background worker: school sync jobs (leased: any replica takes any job)."""
    ctx: RecordsContext = app.state.records
    if not ctx.settings.sync_worker_enabled or ctx.sync_runner is None:
        return None
    return ctx.sync_runner.worker()


def upload_sweeper(app: FastAPI) -> LeasedWorker[Any] | None:
    """Background worker: old sync uploads removed from the store (one replica at a time)."""
    return upload_sweeper_worker(app.state.records)


def oversight_pull(app: FastAPI) -> LeasedWorker[Any] | None:
    """Background worker: the registry's and learning's facts pulled for national oversight (one replica at a time)."""
    return oversight_pull_worker(app.state.records)


async def load_reference_data(app: FastAPI) -> None:
    async with app.state.db.session(write=True) as session:
        await catalogue.load_occupations(session)


def create_app(settings: RecordsSettings | None = None, *, http_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    settings = settings or RecordsSettings()
    app = create_service_app(
        settings,
        title="VET platform — records",
        description="Programmes, learners, enrolments, grades, school sync jobs, transcripts and statistics.",
        routers=[catalogue_router, programmes_router, learners_router, grades_router, sync_router, changes_router,
                 transcripts_router, reports_router, oversight_router, calendar_router,
                 admissions_router, followup_router, lmis_router, outcomes_router,
                 recognition_router, enterprises_router],
        event_handlers=oversight_event_handlers,
        http_transport=http_transport,
        on_startup=[load_reference_data],
        background=[sync_worker, upload_sweeper, oversight_pull],
        job_queues=[JobQueue("records_sync", "sync_jobs", "status", ended=ENDED)],
    )
    uploads = BodyLimit(settings.sync_max_upload_bytes, json=False)  # stored as sent; the sync job's parser bounds the rest
    set_body_limits(app, {
        "POST /v1/institutions/{code}/sync/json": uploads,
        "POST /v1/institutions/{code}/sync/csv": uploads,
        "POST /v1/institutions/{code}/sync/oneroster": uploads,
        "PUT /v1/occupations": BodyLimit(5 * MiB, json=False),
        "POST /v1/admissions/cohorts": BodyLimit(4 * MiB),  # up to 5,000 graduates with their results
        "PUT /v1/rpl-assessments/{assessment_id}/evidence/{name}": BodyLimit(50 * MiB, json=False),  # a scan, photos, a short video
        "PUT /v1/recognition/me/{institution_code}/{programme_code}": BodyLimit(2 * MiB),  # up to ten signed credentials
    })
    app.state.person_resolver = identity_resolver(app.state.identity)
    ctx = app.state.records = RecordsContext.of_app(app)
    # the runner takes the context it is part of: the sync endpoints wake it through ``ctx.sync_runner``
    ctx.sync_runner = app.state.sync_runner = SyncRunner(ctx)
    return app
