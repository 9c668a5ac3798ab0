"""Batch issuing for a graduating cohort: one request queues a job; its progress and per-item results are read
back."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.common.links import link
from services.common.pagination import Page, PageDep
from services.credentials.context import CtxDep
from services.credentials.issuing.schemas import BatchIssue
from services.credentials.jobs import service
from services.credentials.jobs.schemas import IssueJobItemRead, IssueJobRead

router = APIRouter(prefix="/v1/issue-jobs", tags=["batch issuing"])


@router.post("", response_model=IssueJobRead, status_code=202,
             summary="Issue a cohort's credentials (up to 20,000) as a background job; send Idempotency-Key")
async def create_job(body: BatchIssue, session: SessionDep, principal: CurrentPrincipal, ctx: CtxDep, response: Response) -> IssueJobRead:
    job = await service.create(session, ctx, principal, body)
    response.headers["Location"] = link(f"/v1/issue-jobs/{job.id}")
    return service.to_read(job)


@router.get("", response_model=Page[IssueJobRead],
            summary="An institution's issue jobs, newest first: batches and the jobs events became (find an event's by its id)")
async def list_jobs(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep,
    institution: Annotated[str, Query(min_length=1, max_length=20, description="institution code")],
    source: Annotated[str | None, Query(pattern="^(request|event)$")] = None,
    source_event_id: Annotated[uuid.UUID | None, Query(description="the CloudEvent id a job was made from")] = None,
    with_failures: Annotated[bool, Query(description="only jobs with at least one failed item")] = False,
) -> Page[Any]:
    return await service.jobs_page(session, principal, institution, page, source=source, source_event_id=source_event_id,
                                   with_failures=with_failures)


@router.get("/{job_id}", response_model=IssueJobRead, summary="A job's progress")
async def get_job(job_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> IssueJobRead:
    return service.to_read(await service.get_for(session, principal, job_id))


@router.get("/{job_id}/items", response_model=Page[IssueJobItemRead], summary="A job's per-item results")
async def job_items(
    job_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, page: PageDep,
    state: Annotated[str | None, Query(pattern="^(pending|issued|existing|failed)$")] = None,
) -> Page[Any]:
    return await service.items_page(session, principal, job_id, page, state)
