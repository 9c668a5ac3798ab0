"""Learning service: Shared digital learning-material library, soft-skills e-courses, course enrolments and progress (xAPI),
online skills assessment (item banks, exams, practical tasks, gradebooks)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.limits import BodyLimit, MiB, set_body_limits
from services.common.metrics import JobQueue
from services.common.worker import LeasedWorker
from services.learning.activity.endpoints import router as activity_router
from services.learning.assessment.exams.endpoints import router as exams_router
from services.learning.assessment.gradebook.endpoints import router as gradebook_router
from services.learning.assessment.items.endpoints import router as items_router
from services.learning.assessment.practical.endpoints import router as practical_router
from services.learning.config import LearningSettings
from services.learning.context import LearningContext
from services.learning.courses.endpoints import router as courses_router
from services.learning.courses.service import on_credential_issued
from services.learning.files.endpoints import router as files_router
from services.learning.library.endpoints import router as library_router
from services.learning.lti.endpoints import router as lti_router
from services.learning.lti.keys import ToolKeys
from services.learning.lti.outcomes import ScoreSender
from services.learning.lti.service import LtiContext, PlatformKeys
from services.learning.packages.endpoints import router as packages_router
from services.learning.search.cache import SearchCache, watch
from services.learning.search.endpoints import router as search_router
from services.learning.sweeper import run_sweeper
from services.learning.xapi.endpoints import router as xapi_router


def lti_scores_worker(app: FastAPI) -> LeasedWorker[Any] | None:
    """Background worker: AGS scores to the platforms' line items, where the outbox is delivered (``outbox_enabled``)."""
    settings: LearningSettings = app.state.settings
    if not (settings.outbox_enabled and settings.lti_scores_poll_seconds > 0):
        return None
    app.state.lti.scores.clock = app.state.clock
    return app.state.lti.scores.worker(settings.lti_scores_poll_seconds)  # type: ignore[no-any-return]


def create_app(settings: LearningSettings | None = None, *, http_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    settings = settings or LearningSettings()
    app = create_service_app(
        settings,
        title="VET platform — learning",
        description="Shared digital learning-material library, soft-skills e-courses, course enrolments and progress (xAPI).",
        routers=[library_router, files_router, packages_router, search_router, courses_router, xapi_router, lti_router,
                 activity_router, items_router, exams_router, practical_router, gradebook_router],
        event_handlers={"vn.vet.credentials.credential.issued": on_credential_issued},
        http_transport=http_transport,
        background=[run_sweeper, lti_scores_worker],
        job_queues=[JobQueue("learning_lti_scores", "lti_scores", "status", ended=("sent",), states=("pending", "failed"),
                             waiting_column=None)],
    )
    ctx = app.state.learning = LearningContext.of_app(app)
    keys = ToolKeys(settings.secret_key, timedelta(hours=settings.lti_key_retire_hours))
    ctx.lti = app.state.lti = LtiContext(keys=keys, platform_keys=PlatformKeys(ctx.http), scores=ScoreSender(
        ctx.db, ctx.http, keys, batch=settings.lti_scores_batch, lease_seconds=settings.lti_scores_lease_seconds))
    # repeated searches reuse their ranking for a few seconds; this service's own changes drop it (search/cache.py)
    ctx.search_cache = SearchCache(settings.search_cache_seconds)
    watch(ctx.db.sessionmaker, ctx.search_cache)
    upload = BodyLimit(settings.max_upload_bytes + 64 * 1024, json=False)  # streamed to the store; a form's own bytes besides
    set_body_limits(app, {
        "PUT /v1/learning-objects/{object_id}/file": upload,
        "POST /v1/learning-objects/{object_id}/file": upload,
        "PUT /v1/uploads/{upload_id}/parts/{number}": BodyLimit(settings.upload_part_size, json=False),
        "PUT /v1/xapi/activities/state": BodyLimit(settings.xapi_state_max_bytes),
        "POST /v1/xapi/activities/state": BodyLimit(settings.xapi_state_max_bytes),
        "POST /v1/xapi/statements": BodyLimit(4 * MiB, max_json_elements=400_000),  # a batch of statements
        # assessment's files, streamed to the store like the library's
        "PUT /v1/exam-attempts/{attempt_id}/responses/{item_id}/file": BodyLimit(settings.assessment_answer_file_max_bytes, json=False),
        "PUT /v1/practical-tasks/{task_id}/evidence/{candidate_id}": BodyLimit(settings.assessment_evidence_max_bytes, json=False),
    })
    return app
