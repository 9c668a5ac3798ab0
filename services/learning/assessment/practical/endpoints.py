"""Practical assessment over HTTP: routes parse, call :mod:`services.learning.assessment.practical.service`, shape."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.learning.assessment import uploads
from services.learning.assessment.dependencies import Now
from services.learning.assessment.exams.schemas import FileLink
from services.learning.assessment.practical import service
from services.learning.assessment.practical.schemas import (
    AcceptIn,
    AssessingRead,
    EvidenceRead,
    InvitationCreate,
    InvitationIssued,
    InvitationRead,
    JudgementIn,
    JudgementsRead,
    ScoreRead,
    TaskCreate,
    TaskRead,
)
from services.learning.context import CtxDep
from services.learning.files.service import safe_filename

router = APIRouter(tags=["assessment: practical"])

_BINARY = {"requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


@router.post("/v1/exams/{exam_id}/tasks", status_code=201, response_model=TaskRead,
             summary="Add a task to a draft practical exam: instructions and an analytic rubric (criteria × levels, critical criteria)")
async def add_task(exam_id: uuid.UUID, body: TaskCreate, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return TaskRead.model_validate(await service.add_task(session, principal, exam_id, body))


@router.get("/v1/exams/{exam_id}/tasks", response_model=list[TaskRead], summary="An exam's tasks and rubrics (teachers, assessors, learners)")
async def list_tasks(exam_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return [TaskRead.model_validate(t) for t in await service.tasks(session, principal, exam_id)]


@router.post("/v1/exams/{exam_id}/assessor-invitations", status_code=201, response_model=InvitationIssued,
             summary="Invite an enterprise assessor to this exam: a one-time code (shown once) for them to accept with their account")
async def invite(exam_id: uuid.UUID, body: InvitationCreate, ctx: CtxDep, session: SessionDep, principal: CurrentPrincipal,
                 now: Now) -> Any:
    inv, code = await service.invite(session, principal, exam_id, body, now, ctx.settings.assessment_invitation_days)
    return InvitationIssued(**service.invitation_read(inv).model_dump(), code=code)


@router.get("/v1/exams/{exam_id}/assessor-invitations", response_model=list[InvitationRead], summary="The exam's invitations (teachers)")
async def invitations(exam_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return [service.invitation_read(i) for i in await service.invitations(session, principal, exam_id)]


@router.post("/v1/assessor-invitations/{invitation_id}/revoke", response_model=InvitationRead,
             summary="Withdraw an invitation: its assessor no longer sees or scores the exam (their scores stay, audited)")
async def revoke(invitation_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, now: Now) -> Any:
    return service.invitation_read(await service.revoke(session, principal, invitation_id, now))


@router.post("/v1/assessor-invitations/accept", response_model=InvitationRead,
             summary="Accept an invitation with its code: your account may then assess that exam")
async def accept(body: AcceptIn, session: SessionDep, principal: CurrentPrincipal, now: Now) -> Any:
    return service.invitation_read(await service.accept(session, principal, body.code, now))


@router.get("/v1/me/assessing", response_model=list[AssessingRead], summary="The exams you were invited to assess")
async def assessing(session: SessionDep, principal: CurrentPrincipal) -> Any:
    return await service.assessing(session, principal)


@router.put("/v1/practical-tasks/{task_id}/scores/{candidate_id}", response_model=ScoreRead,
            summary="Your judgement of a candidate (a level per criterion): given or changed, every change audited")
async def judge(task_id: uuid.UUID, candidate_id: uuid.UUID, body: JudgementIn, session: SessionDep, principal: CurrentPrincipal,
                now: Now) -> Any:
    return ScoreRead.model_validate(await service.judge(session, principal, task_id, candidate_id, body, now))


@router.put("/v1/practical-tasks/{task_id}/scores/{candidate_id}/moderation", response_model=ScoreRead,
            summary="A moderator's final judgement when two assessors differ by more than the threshold (a teacher who did not assess)")
async def moderate(task_id: uuid.UUID, candidate_id: uuid.UUID, body: JudgementIn, session: SessionDep, principal: CurrentPrincipal,
                   now: Now) -> Any:
    return ScoreRead.model_validate(await service.judge(session, principal, task_id, candidate_id, body, now, as_moderator=True))


@router.get("/v1/practical-tasks/{task_id}/scores/{candidate_id}", response_model=JudgementsRead,
            summary="Judgements and the outcome (teachers: all of them and the audit trail; an assessor: their own)")
async def judgements(task_id: uuid.UUID, candidate_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return await service.judgements(session, principal, task_id, candidate_id)


@router.put("/v1/practical-tasks/{task_id}/evidence/{candidate_id}", status_code=201, response_model=EvidenceRead,
            openapi_extra=_BINARY,
            summary="Evidence as the raw body (photo, video, audio, PDF, document; type from its bytes, size-limited)")
async def add_evidence(task_id: uuid.UUID, candidate_id: uuid.UUID, request: Request, ctx: CtxDep, principal: CurrentPrincipal,
                       now: Now,
                       filename: Annotated[str | None, Query(max_length=255)] = None,
                       note: Annotated[str | None, Query(max_length=1000)] = None,
                       content_type: Annotated[str | None, Header()] = None) -> Any:
    limit = ctx.settings.assessment_evidence_max_bytes
    uploads.early_limit(request, limit)
    db = ctx.db
    async with db.session(write=False) as session:  # no transaction is held while the bytes stream
        await service.evidence_target(session, principal, task_id, candidate_id, now)
    prepared = await uploads.receive(ctx, request.stream(), declared=content_type, limit=limit)
    try:
        async with db.session(write=True) as session:
            blob = await uploads.record(ctx, session, prepared)
            row = await service.add_evidence(session, principal, task_id, candidate_id, blob.id, safe_filename(filename),
                                             prepared.media_type, prepared.incoming.size, note, ctx.now())
            return EvidenceRead.model_validate(row)
    except BaseException:
        await uploads.discard(ctx, prepared)
        raise


@router.get("/v1/practical-tasks/{task_id}/evidence/{candidate_id}", response_model=list[EvidenceRead],
            summary="A candidate's evidence on a task (the candidate, the exam's teachers and assessors)")
async def list_evidence(task_id: uuid.UUID, candidate_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return [EvidenceRead.model_validate(e) for e in await service.evidence(session, principal, task_id, candidate_id)]


@router.get("/v1/practical-evidence/{evidence_id}/download", response_model=FileLink, summary="A short-lived link to an evidence file")
async def download_evidence(evidence_id: uuid.UUID, ctx: CtxDep, session: SessionDep, principal: CurrentPrincipal) -> Any:
    row, blob = await service.evidence_item(session, principal, evidence_id)
    url, seconds = await uploads.link(ctx, blob, row.filename)
    return FileLink(url=url, expires_in=seconds, filename=row.filename, content_type=blob.content_type, size=blob.size, sha256=blob.sha256)
