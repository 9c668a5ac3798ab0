"""Exams over HTTP: routes parse, call :mod:`services.learning.assessment.exams.service`, and shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.common.pagination import Page, PageDep
from services.learning.assessment import uploads
from services.learning.assessment.dependencies import MinResponses, Now
from services.learning.assessment.exams import service
from services.learning.assessment.exams.schemas import (
    AccommodationIn,
    AttemptRead,
    CandidateRead,
    ExamCreate,
    ExamRead,
    ExamUpdate,
    FileLink,
    GradeIn,
    MyResult,
    ResponseIn,
    ResponseRead,
    ResultRead,
    RosterAdd,
    RosterResult,
    SubmitIn,
)
from services.learning.context import context_of
from services.learning.files.service import safe_filename

router = APIRouter(tags=["assessment: exams"])

_BINARY = {"requestBody": {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


def _response_read(r: Any) -> ResponseRead:
    return ResponseRead(item_id=r.item_id, answer=r.answer, filename=r.filename, first_answered_at=r.first_answered_at,
                        answered_at=r.answered_at, changes=r.changes)


@router.post("/v1/exams", status_code=201, response_model=ExamRead,
             summary="A written exam (banks, blueprint, window, duration, re-sit policy) or a practical one (tasks), as a draft")
async def create_exam(body: ExamCreate, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return service.exam_read(await service.create_exam(session, principal, body))


@router.get("/v1/exams", response_model=Page[ExamRead], summary="Exams of your institutions, and those you were invited to assess")
async def list_exams(session: SessionDep, principal: CurrentPrincipal, page: PageDep,
                     kind: Annotated[Literal["written", "practical"] | None, Query()] = None,
                     status: Annotated[Literal["draft", "published"] | None, Query()] = None) -> Any:
    return await service.list_exams(session, principal, page, kind, status)


@router.get("/v1/me/exams", response_model=Page[ExamRead], summary="Published exams whose roster names you")
async def my_exams(session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Any:
    return await service.my_exams(session, principal, page)


@router.get("/v1/exams/{exam_id}", response_model=ExamRead, summary="An exam (its teachers, assessors and learners)")
async def get_exam(exam_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Any:
    exam, _ = await service.load_exam(session, principal, exam_id, roles=("manager", "assessor", "learner"))
    return service.exam_read(exam)


@router.patch("/v1/exams/{exam_id}", response_model=ExamRead,
              summary="Change a draft; a published exam only its title, or a later close")
async def update_exam(exam_id: uuid.UUID, body: ExamUpdate, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return service.exam_read(await service.update_exam(session, principal, exam_id, body))


@router.post("/v1/exams/{exam_id}/publish", response_model=ExamRead,
             summary="Publish: a written exam's blueprint is frozen into its pool (refused, naming the row, if a row cannot be filled)")
async def publish(exam_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, now: Now, min_responses: MinResponses) -> Any:
    return service.exam_read(await service.publish(session, principal, exam_id, now, min_responses))


@router.post("/v1/exams/{exam_id}/roster", response_model=RosterResult,
             summary="Add learners (a class); those already on the roster are kept as they are")
async def add_learners(exam_id: uuid.UUID, body: RosterAdd, session: SessionDep, principal: CurrentPrincipal, now: Now) -> Any:
    rows, added = await service.add_learners(session, principal, exam_id, body, now)
    return RosterResult(added=added, existing=len(rows) - added, items=[CandidateRead.model_validate(c) for c in rows])


@router.get("/v1/exams/{exam_id}/roster", response_model=Page[CandidateRead], summary="The roster (teachers and assessors)")
async def roster(exam_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Any:
    return await service.roster(session, principal, exam_id, page)


@router.put("/v1/exams/{exam_id}/roster/{candidate_id}/accommodation", response_model=CandidateRead,
            summary="Accommodation: extra minutes for one learner (duration and window), with why")
async def accommodate(exam_id: uuid.UUID, candidate_id: uuid.UUID, body: AccommodationIn, session: SessionDep,
                      principal: CurrentPrincipal) -> Any:
    return CandidateRead.model_validate(await service.accommodate(session, principal, exam_id, candidate_id, body))


@router.delete("/v1/exams/{exam_id}/roster/{candidate_id}", status_code=204,
               summary="Take a learner off the roster (not once they sat or were assessed)")
async def remove_candidate(exam_id: uuid.UUID, candidate_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Response:
    await service.remove_candidate(session, principal, exam_id, candidate_id)
    return Response(status_code=204)


@router.post("/v1/exams/{exam_id}/attempts", status_code=201, response_model=AttemptRead,
             summary="Start an attempt (201) with your form, or get the running one back (200); within the window, attempts left")
async def start_attempt(exam_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, response: Response, now: Now) -> Any:
    attempt, created = await service.start_attempt(session, principal, exam_id, now)
    if not created:
        response.status_code = 200
    exam, _ = await service.load_exam(session, principal, exam_id, roles=("learner",))
    return await service.attempt_read(session, attempt, exam, "learner")


@router.get("/v1/exam-attempts/{attempt_id}", response_model=AttemptRead,
            summary="An attempt: the learner's own (scores once released), or any for the exam's teachers and assessors")
async def get_attempt(attempt_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, now: Now) -> Any:
    attempt, exam, _, role = await service.load_attempt(session, principal, attempt_id, now)
    return await service.attempt_read(session, attempt, exam, role)


@router.put("/v1/exam-attempts/{attempt_id}/responses/{item_id}", response_model=ResponseRead,
            summary="Save an answer (again to change it; every answer is kept with its time); after the deadline: 409")
async def answer(attempt_id: uuid.UUID, item_id: uuid.UUID, body: ResponseIn, session: SessionDep, principal: CurrentPrincipal,
                 now: Now) -> Any:
    return _response_read(await service.answer(session, principal, attempt_id, item_id, body.answer, now))


@router.put("/v1/exam-attempts/{attempt_id}/responses/{item_id}/file", response_model=ResponseRead, openapi_extra=_BINARY,
            summary="A file answer as the raw body (type from its bytes; photos, video, audio, PDF, documents); after the deadline: 409")
async def file_answer(attempt_id: uuid.UUID, item_id: uuid.UUID, request: Request, principal: CurrentPrincipal, now: Now,
                      filename: Annotated[str | None, Query(max_length=255)] = None,
                      content_type: Annotated[str | None, Header()] = None) -> Any:
    ctx = context_of(request)
    limit = ctx.settings.assessment_answer_file_max_bytes
    uploads.early_limit(request, limit)
    db = ctx.db
    async with db.session(write=True) as session:  # no transaction is held while the bytes stream
        item = await service.file_answer_target(session, principal, attempt_id, item_id, now)
        families = item.options.get("accept") or uploads.FAMILIES
    prepared = await uploads.receive(request, request.stream(), declared=content_type, limit=limit, families=families)
    try:
        async with db.session(write=True) as session:
            blob = await uploads.record(request, session, prepared)
            later = ctx.now()  # the deadline is checked again once the bytes are in
            row = await service.file_answer(session, principal, attempt_id, item_id, blob.id, safe_filename(filename),
                                            prepared.media_type, prepared.incoming.size, later)
            return _response_read(row)
    except BaseException:
        await uploads.discard(request, prepared)
        raise


@router.get("/v1/exam-attempts/{attempt_id}/responses/{item_id}/file", response_model=FileLink,
            summary="A short-lived link to a file answer (the learner, the exam's teachers and assessors)")
async def file_answer_link(attempt_id: uuid.UUID, item_id: uuid.UUID, request: Request, session: SessionDep,
                           principal: CurrentPrincipal, now: Now) -> Any:
    row, blob = await service.response_file(session, principal, attempt_id, item_id, now)
    url, seconds = await uploads.link(request, blob, row.filename)
    return FileLink(url=url, expires_in=seconds, filename=row.filename, content_type=blob.content_type, size=blob.size, sha256=blob.sha256)


@router.post("/v1/exam-attempts/{attempt_id}/submit", response_model=AttemptRead,
             summary="Hand in (optionally with last answers): scored at once except essays and files; after the deadline: 409")
async def submit(attempt_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, now: Now, body: SubmitIn | None = None) -> Any:
    attempt = await service.submit(session, principal, attempt_id, body or SubmitIn(), now)
    _, exam, _, role = await service.load_attempt(session, principal, attempt.id, now)
    return await service.attempt_read(session, attempt, exam, role)


@router.put("/v1/exam-attempts/{attempt_id}/responses/{item_id}/grade", response_model=AttemptRead,
            summary="Score an essay or file answer (teachers, the exam's assessors)")
async def grade(attempt_id: uuid.UUID, item_id: uuid.UUID, body: GradeIn, session: SessionDep, principal: CurrentPrincipal,
                now: Now) -> Any:
    attempt = await service.grade(session, principal, attempt_id, item_id, body, now)
    _, exam, _, role = await service.load_attempt(session, principal, attempt.id, now)
    return await service.attempt_read(session, attempt, exam, role)


@router.get("/v1/exam-attempts/{attempt_id}/answer-log", summary="Every answer given in an attempt, with its time (teachers, assessors)")
async def answer_log(attempt_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, now: Now) -> list[dict[str, Any]]:
    return await service.answer_log(session, principal, attempt_id, now)


@router.get("/v1/exams/{exam_id}/results", response_model=Page[ResultRead],
            summary="Every candidate's result by the re-sit policy, on 100 and on the 10-point scale (teachers, assessors)")
async def results(exam_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, page: PageDep, now: Now) -> Any:
    return await service.results(session, principal, exam_id, now, page)


@router.get("/v1/exams/{exam_id}/my-result", response_model=MyResult,
            summary="Your attempts, and your score once the teacher has released the results")
async def my_result(exam_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, now: Now) -> Any:
    return await service.my_result(session, principal, exam_id, now)


@router.post("/v1/exams/{exam_id}/release", response_model=ExamRead,
             summary="Release the results to the learners (refused while attempts run or wait for a score)")
async def release(exam_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, now: Now) -> Any:
    return service.exam_read(await service.release(session, principal, exam_id, now))
