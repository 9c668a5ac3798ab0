"""Grades: enter one (teacher or school), read, correct with If-Match (412 on a stale ETag), delete, history."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.common.errors import NotFound
from services.common.links import link
from services.common.permissions import person_id_of
from services.records import access
from services.records.context import RecordsContext, RecordsCtxDep
from services.records.grades import service
from services.records.grades.schemas import GradeEntry, GradeRead, GradeUpdate

router = APIRouter(tags=["grades"])


# One change of a grade. Defined here rather than in schemas.py on purpose: oversight has a schema of the same name,
# so the OpenAPI document names this one by its module (services__records__grades__endpoints__AuditRead), and
# clients generated from the document keep that name. (A docstring would become the schema's description.)
class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    changed_at: Any
    actor: str
    source: str
    sync_job_id: uuid.UUID | None
    reason: str | None
    old: dict[str, Any] | None
    new: dict[str, Any] | None


async def _may_read_grade(session: Any, records: RecordsContext, principal: Any, learner: Any) -> None:
    if person_id_of(principal) == str(learner.person_id):
        return
    access.ensure_read(principal, await access.institution(session, records, learner.institution_code))


@router.post("/v1/institutions/{code}/grades", response_model=GradeRead, status_code=201,
             summary="Enter a grade (upsert by learner — personal ID number or person —, programme, module, term)")
async def enter_grade(code: str, body: GradeEntry, records: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal, response: Response) -> GradeRead:
    access.ensure_grade_entry(principal, code)
    await access.institution(session, records, code)
    row = await service.by_number(session, code, body)
    result, ctx = await service.enter_grade(session, code, row.model_dump(mode="json"), actor=access.actor_of(principal))
    if result != "created":
        response.status_code = 200
    response.headers["Grade-Result"] = result  # created | updated | unchanged (a repeat of the same grade)
    response.headers["ETag"] = service.etag(ctx.grade)
    response.headers["Location"] = link(f"/v1/grades/{ctx.grade.id}")
    return service.grade_read(ctx.grade, ctx.programme, ctx.module, ctx.term)


@router.get("/v1/grades/{grade_id}", response_model=GradeRead, summary="A grade (with its ETag)")
async def get_grade(grade_id: uuid.UUID, records: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal, response: Response) -> GradeRead:
    ctx = await service.get_grade(session, grade_id)
    await _may_read_grade(session, records, principal, ctx.learner)
    response.headers["ETag"] = service.etag(ctx.grade)
    return service.grade_read(ctx.grade, ctx.programme, ctx.module, ctx.term)


@router.put("/v1/grades/{grade_id}", response_model=GradeRead, summary="Correct a grade (If-Match required; audited)")
async def update_grade(grade_id: uuid.UUID, body: GradeUpdate, session: SessionDep, principal: CurrentPrincipal,
                       response: Response, if_match: Annotated[str | None, Header()] = None) -> GradeRead:
    ctx = await service.get_grade(session, grade_id, lock=True)
    access.ensure_grade_entry(principal, ctx.grade.institution_code)
    g = await service.correct_grade(session, ctx, body.components, body.reason, if_match, actor=access.actor_of(principal))
    response.headers["ETag"] = service.etag(g)
    return service.grade_read(g, ctx.programme, ctx.module, ctx.term)


@router.delete("/v1/grades/{grade_id}", status_code=204, summary="Remove a grade entered in error (If-Match required; audited)")
async def delete_grade(grade_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal,
                       reason: Annotated[str, Query(min_length=1, max_length=500, description="why the grade is removed (kept in the audit trail)")],
                       if_match: Annotated[str | None, Header()] = None) -> Response:
    ctx = await service.get_grade(session, grade_id, lock=True)
    access.ensure_grade_entry(principal, ctx.grade.institution_code)
    await service.remove_grade(session, ctx, if_match, reason, actor=access.actor_of(principal))
    return Response(status_code=204)


@router.get("/v1/grades/{grade_id}/history", response_model=list[AuditRead], summary="Every change of a grade: who, when, old → new, why, source")
async def grade_history(grade_id: uuid.UUID, records: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> Any:
    audits, grade = await service.history(session, grade_id)
    if grade is None:
        if audits and access.is_platform_admin(principal):
            return audits  # a deleted grade's trail stays readable by the platform operator
        raise NotFound(f"No grade {grade_id}.")
    access.ensure_read(principal, await access.institution(session, records, grade.institution_code))
    return audits
