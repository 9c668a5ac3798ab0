"""Bulk sync for schools: upload JSON, CSV or a OneRoster 1.2 zip → a sync job; follow it; read its row errors."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.common.links import link
from services.common.pagination import Page, PageDep
from services.records import access
from services.records.context import RecordsContext, RecordsCtxDep
from services.records.models import SyncJob
from services.records.sync import service
from services.records.sync.rows import ENTITIES
from services.records.sync.schemas import SyncJobErrorRead, SyncJobRead, SyncMode

router = APIRouter(tags=["sync"])
Mode = Annotated[SyncMode, Query(description="all_or_nothing: any bad row rejects the upload; accept_valid: good rows are applied, bad rows reported")]
Entity = Annotated[str, Query(pattern="^(" + "|".join(ENTITIES) + ")$", description="record type of the CSV file")]


async def _start(request: Request, ctx: RecordsContext, session: Any, principal: Any, code: str, fmt: str, mode: str,
                 entity: str | None, response: Response, tasks: BackgroundTasks) -> SyncJobRead:
    access.ensure_write(principal, code)
    await access.institution(session, ctx, code)
    job = await service.create_job(session, ctx.store, request.stream(), limit=ctx.settings.sync_max_upload_bytes,
                                   actor=access.actor_of(principal), code=code, fmt=fmt, mode=mode, entity=entity)
    if ctx.sync_runner is not None:
        tasks.add_task(ctx.sync_runner.nudge)  # after the response, i.e. after the commit
    response.headers["Location"] = link(f"/v1/sync-jobs/{job.id}")
    return service.to_read(job)


def _body(content_type: str, description: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "description": description, "content": {content_type: {"schema": {"type": "string", "format": "binary"}}}}}


@router.post("/v1/institutions/{code}/sync/json", status_code=202, response_model=SyncJobRead,
             summary="Upload a JSON batch (programmes, modules, terms, cohorts, learners, enrolments, grades)",
             openapi_extra=_body("application/json", "{\"programmes\": [...], \"learners\": [...], \"grades\": [...]} — streamed: as many rows as the upload limit allows"))
async def sync_json(code: str, request: Request, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal, response: Response,
                    tasks: BackgroundTasks, mode: Mode = "all_or_nothing") -> SyncJobRead:
    return await _start(request, ctx, session, principal, code, "json", mode, None, response, tasks)


@router.post("/v1/institutions/{code}/sync/csv", status_code=202, response_model=SyncJobRead,
             summary="Upload a CSV file of one record type", openapi_extra=_body("text/csv", "header row, UTF-8"))
async def sync_csv(code: str, request: Request, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal, response: Response,
                   tasks: BackgroundTasks, entity: Entity, mode: Mode = "all_or_nothing") -> SyncJobRead:
    return await _start(request, ctx, session, principal, code, "csv", mode, entity, response, tasks)


@router.post("/v1/institutions/{code}/sync/oneroster", status_code=202, response_model=SyncJobRead,
             summary="Upload a OneRoster 1.2 CSV zip (bulk or delta per its manifest)",
             openapi_extra=_body("application/zip", "manifest.csv, orgs, academicSessions, courses, classes, users, enrollments, lineItems, results"))
async def sync_oneroster(code: str, request: Request, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal, response: Response,
                         tasks: BackgroundTasks, mode: Mode = "all_or_nothing") -> SyncJobRead:
    return await _start(request, ctx, session, principal, code, "oneroster", mode, None, response, tasks)


async def _job(session: Any, ctx: RecordsContext, principal: Any, job_id: uuid.UUID) -> SyncJob:
    job = await service.get_job(session, job_id)
    access.ensure_read(principal, await access.institution(session, ctx, job.institution_code))
    return job


@router.get("/v1/sync-jobs/{job_id}", response_model=SyncJobRead, summary="A sync job: status and progress counts")
async def get_job(job_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> SyncJobRead:
    job = await _job(session, ctx, principal, job_id)
    return service.to_read(job, await service.running_progress(session, ctx.sync_runner, job))


@router.get("/v1/sync-jobs/{job_id}/errors", response_model=Page[SyncJobErrorRead], summary="Row errors of a job (row, field, message)")
async def job_errors(job_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Page[Any]:
    await _job(session, ctx, principal, job_id)
    return await service.job_errors(session, job_id, page)


@router.get("/v1/institutions/{code}/sync-jobs", response_model=Page[SyncJobRead], summary="An institution's sync jobs, newest first")
async def list_jobs(code: str, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Page[Any]:
    access.ensure_read(principal, await access.institution(session, ctx, code))
    return await service.institution_jobs(session, code, page)
