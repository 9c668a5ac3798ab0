"""E-courses over HTTP: authoring, enrolment, progress, quizzes, SCORM runtime values. Routes parse, call the
service and shape the answer; the rules live in :mod:`services.learning.courses.service`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from services.common.auth import CurrentPrincipal, OptionalPrincipal
from services.common.db import ReadSessionDep, SessionDep
from services.common.errors import NotFound
from services.common.links import link
from services.common.pagination import Page, PageDep, paginate
from services.common.permissions import person_id_of
from services.common.text import fold
from services.learning.context import CtxDep
from services.learning.courses import access, grading, reports, repository, service
from services.learning.courses.reports import GroupBy, PilotIn, PilotRead, Report, Targets, scope_filter
from services.learning.courses.schemas import (
    AttemptRead,
    AttemptSubmit,
    BatchResult,
    CourseCreate,
    CourseDetail,
    CourseRead,
    CourseUpdate,
    EnrolmentBatch,
    EnrolmentProgress,
    EnrolmentRead,
    LessonCreate,
    LessonProgressRead,
    LessonRead,
    ModuleCreate,
    ModuleRead,
    ProgressIn,
    QuestionCreate,
    QuestionRead,
    QuizCreate,
    QuizRead,
    RunCreate,
    RunRead,
    ScormValuesIn,
    ScormValuesRead,
    SelfEnrol,
    SkillAreaRead,
    WithdrawIn,
)
from services.learning.models import Course, CourseEnrolment

router = APIRouter(tags=["courses"])


@router.get("/v1/skill-areas", response_model=list[SkillAreaRead], summary="Soft-skill areas (data)")
async def skill_areas(session: SessionDep) -> list[Any]:
    return [SkillAreaRead.model_validate(a) for a in await repository.skill_areas(session)]


@router.post("/v1/courses", status_code=201, response_model=CourseRead, summary="Author a course (a draft)")
async def create_course(body: CourseCreate, session: SessionDep, principal: CurrentPrincipal, response: Response) -> Any:
    course = await service.create_course(session, principal, body)
    response.headers["Location"] = link(f"/v1/courses/{course.id}")
    return CourseRead.model_validate(course)


@router.get("/v1/courses", response_model=Page[CourseRead], summary="Published courses you may see (and drafts you author)")
async def list_courses(
    session: SessionDep, principal: OptionalPrincipal, page: PageDep,
    audience: Annotated[Literal["students", "teachers", "both"] | None, Query()] = None,
    skill_area: Annotated[str | None, Query(max_length=40)] = None,
    institution: Annotated[str | None, Query(max_length=20, description="an institution code, or 'national'")] = None,
    q: Annotated[str | None, Query(max_length=200, description="words of the title, with or without diacritics")] = None,
) -> Any:
    stmt = repository.course_listing(access.listing_filter(principal), audience=audience, skill_area=skill_area,
                                     institution=institution, words=fold(q).split() if q else [])
    return await paginate(session, stmt, (Course.created_at, Course.id), page, transform=CourseRead.model_validate)


@router.get("/v1/courses/{course_id}", response_model=CourseDetail, summary="A course with its modules, lessons, quizzes and runs")
async def get_course(course_id: uuid.UUID, session: SessionDep, principal: OptionalPrincipal) -> Any:
    course = await service.load_course(session, course_id)
    access.ensure_see_course(principal, course)
    return await service.detail(session, course)


@router.patch("/v1/courses/{course_id}", response_model=CourseRead, summary="Change a course (a published one gets a new version)")
async def update_course(course_id: uuid.UUID, body: CourseUpdate, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return CourseRead.model_validate(await service.update_course(session, principal, course_id, body))


@router.post("/v1/courses/{course_id}/publish", response_model=CourseRead, summary="Open a course for enrolment")
async def publish_course(course_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return CourseRead.model_validate(await service.publish(session, principal, course_id))


@router.post("/v1/courses/{course_id}/modules", status_code=201, response_model=ModuleRead, summary="Add a module")
async def add_module(course_id: uuid.UUID, body: ModuleCreate, session: SessionDep, principal: CurrentPrincipal) -> Any:
    module = await service.add_module(session, principal, course_id, body)
    return ModuleRead(id=module.id, position=module.position, title=module.title)


@router.post("/v1/courses/{course_id}/modules/{module_id}/lessons", status_code=201, response_model=LessonRead,
             summary="Add a lesson: a library object (pinned version), a SCORM / cmi5 package, or inline text")
async def add_lesson(course_id: uuid.UUID, module_id: uuid.UUID, body: LessonCreate, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return service.lesson_read(await service.add_lesson(session, principal, course_id, module_id, body))


@router.post("/v1/courses/{course_id}/questions", status_code=201, response_model=QuestionRead,
             summary="Add a question to the course's bank (the key is kept on the server and never returned)")
async def add_question(course_id: uuid.UUID, body: QuestionCreate, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return grading.public(await service.add_question(session, principal, course_id, body))


@router.get("/v1/courses/{course_id}/questions", response_model=list[QuestionRead], summary="Authors: the question bank (without keys)")
async def list_questions(course_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Any:
    course = await service.authored_course(session, principal, course_id)
    return [grading.public(q) for q in await repository.questions(session, course.id)]


@router.post("/v1/courses/{course_id}/quizzes", status_code=201, response_model=QuizRead,
             summary="Add a quiz: fixed questions and/or random draws from pools, shuffling, attempt and time limits, pass mark")
async def add_quiz(course_id: uuid.UUID, body: QuizCreate, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return service.quiz_read(await service.add_quiz(session, principal, course_id, body))


@router.post("/v1/courses/{course_id}/runs", status_code=201, response_model=RunRead, summary="Add a run (dates, capacity)")
async def add_run(course_id: uuid.UUID, body: RunCreate, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return RunRead.model_validate(await service.add_run(session, principal, course_id, body))


@router.post("/v1/courses/{course_id}/enrolments", status_code=201, response_model=EnrolmentRead,
             summary="Enrol yourself (201; 200 with your enrolment if you already are, or with your withdrawn one reopened)")
async def self_enrol(course_id: uuid.UUID, ctx: CtxDep, session: SessionDep, principal: CurrentPrincipal,
                     response: Response, body: SelfEnrol | None = None) -> Any:
    enrolment, created = await service.self_enrol(ctx, session, principal, course_id, body.run_id if body else None)
    if not created:
        response.status_code = 200
    response.headers["Location"] = link(f"/v1/enrolments/{enrolment.id}")
    return EnrolmentRead.model_validate(enrolment)


@router.post("/v1/courses/{course_id}/enrolments/batch", response_model=BatchResult,
             summary="A school enrols a class (students); an officer enrols teachers. Learners already enrolled are kept; "
                     "withdrawn enrolments are reopened (the same enrolment, history kept)")
async def batch_enrol(course_id: uuid.UUID, body: EnrolmentBatch, ctx: CtxDep, session: SessionDep,
                      principal: CurrentPrincipal) -> Any:
    items, created, reopened = await service.batch_enrol(ctx, session, principal, course_id, body)
    return BatchResult(created=created, existing=len(items) - created - reopened, reopened=reopened,
                       items=[EnrolmentRead.model_validate(e) for e in items])


@router.get("/v1/courses/{course_id}/enrolments", response_model=Page[EnrolmentRead],
            summary="Enrolments in a course that you oversee (your school's learners; your province's; all for the ministry)")
async def list_enrolments(course_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, page: PageDep,
                          status: Annotated[Literal["enrolled", "completed", "withdrawn"] | None, Query()] = None) -> Any:
    await service.load_course(session, course_id)
    stmt = repository.course_enrolments(course_id, scope_filter(principal), status)
    return await paginate(session, stmt, (CourseEnrolment.enrolled_at, CourseEnrolment.id), page, transform=EnrolmentRead.model_validate)


@router.get("/v1/me/enrolments", response_model=Page[EnrolmentRead], summary="Your own enrolments")
async def my_enrolments(session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Any:
    stmt = repository.learner_enrolments(principal.sub, person_id_of(principal))
    return await paginate(session, stmt, (CourseEnrolment.enrolled_at, CourseEnrolment.id), page, transform=EnrolmentRead.model_validate)


@router.get("/v1/enrolments/{enrolment_id}", response_model=EnrolmentProgress, summary="An enrolment with its progress")
async def get_enrolment(enrolment_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Any:
    enrolment = await service.load_enrolment(session, enrolment_id)
    access.ensure_can_read_enrolment(principal, enrolment)
    return await service.standing(session, enrolment)


@router.post("/v1/enrolments/{enrolment_id}/withdraw", response_model=EnrolmentProgress,
             summary="Withdraw an enrolment (reason required): by the learner, the learner's school, or — for teachers an "
                     "officer enrolled — officers. Progress and attempts are kept; a completed enrolment cannot be withdrawn")
async def withdraw_enrolment(enrolment_id: uuid.UUID, body: WithdrawIn, session: SessionDep, principal: CurrentPrincipal) -> Any:
    enrolment = await service.withdraw(session, principal, enrolment_id, body.reason)
    return await service.standing(session, enrolment)


@router.post("/v1/enrolments/{enrolment_id}/lessons/{lesson_id}/progress", response_model=LessonProgressRead,
             summary="The learner opened or completed a lesson (time spent adds up)")
async def record_progress(enrolment_id: uuid.UUID, lesson_id: uuid.UUID, body: ProgressIn, ctx: CtxDep,
                          session: SessionDep, principal: CurrentPrincipal) -> Any:
    row = await service.record_progress(session, ctx.outbox, principal, enrolment_id, lesson_id, body)
    return LessonProgressRead.model_validate(row)


@router.post("/v1/enrolments/{enrolment_id}/quizzes/{quiz_id}/attempts", status_code=201, response_model=AttemptRead,
             summary="Start an attempt (201), or get the open one back (200); questions come without their keys")
async def start_attempt(enrolment_id: uuid.UUID, quiz_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal,
                        response: Response) -> Any:
    attempt, created = await service.start_attempt(session, principal, enrolment_id, quiz_id)
    if not created:
        response.status_code = 200
    return await service.attempt_read(session, attempt)


@router.get("/v1/attempts/{attempt_id}", response_model=AttemptRead, summary="A quiz attempt (no keys)")
async def get_attempt(attempt_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Any:
    attempt = await repository.get_attempt(session, attempt_id)
    if attempt is None:
        raise NotFound(f"No quiz attempt {attempt_id}.")
    access.ensure_can_read_enrolment(principal, await service.load_enrolment(session, attempt.enrolment_id))
    return await service.attempt_read(session, attempt)


@router.post("/v1/attempts/{attempt_id}/submit", response_model=AttemptRead,
             summary="Submit answers: graded on the server; past the time limit the attempt is expired with no score")
async def submit_attempt(attempt_id: uuid.UUID, body: AttemptSubmit, ctx: CtxDep, session: SessionDep,
                         principal: CurrentPrincipal) -> Any:
    attempt, results = await service.submit_attempt(session, ctx.outbox, principal, attempt_id, body)
    return await service.attempt_read(session, attempt, results)


@router.put("/v1/enrolments/{enrolment_id}/lessons/{lesson_id}/scorm", response_model=ScormValuesRead,
            summary="SCORM runtime: commit CMI values for an attempt (a completed / passed status completes the lesson)")
async def put_scorm(enrolment_id: uuid.UUID, lesson_id: uuid.UUID, body: ScormValuesIn, ctx: CtxDep, session: SessionDep,
                    principal: CurrentPrincipal) -> Any:
    values = await service.put_scorm(session, ctx.outbox, principal, enrolment_id, lesson_id, body.attempt, body.values)
    return ScormValuesRead(attempt=body.attempt, values=values)


@router.get("/v1/enrolments/{enrolment_id}/lessons/{lesson_id}/scorm", response_model=ScormValuesRead,
            summary="SCORM runtime: the CMI values stored for an attempt (to resume)")
async def get_scorm(enrolment_id: uuid.UUID, lesson_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal,
                    attempt: Annotated[int, Query(ge=1, le=1000)] = 1) -> Any:
    enrolment = await service.load_enrolment(session, enrolment_id)
    access.ensure_can_read_enrolment(principal, enrolment)
    return ScormValuesRead(attempt=attempt, values=await repository.scorm_values(session, enrolment.id, lesson_id, attempt))


@router.get("/v1/course-reports", response_model=Report,
            summary="Enrolled, active, completed, certified by course, institution, province, audience or sex (CSV with format=csv)")
async def course_report(
    session: ReadSessionDep, principal: CurrentPrincipal,
    group_by: Annotated[GroupBy, Query()] = "course",
    course_id: Annotated[uuid.UUID | None, Query()] = None,
    institution: Annotated[str | None, Query(max_length=20)] = None,
    province: Annotated[str | None, Query(max_length=10)] = None,
    audience: Annotated[Literal["student", "teacher"] | None, Query()] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """Read on the read replica when ``LEARNING_DATABASE_READ_URL`` is set (a scan of the enrolments in scope;
    counts a moment old are fine for a report). A learner's own progress is read from the primary."""
    result = await reports.report(session, principal, group_by, course_id=course_id, institution=institution, province=province,
                                  audience=audience)
    if format == "csv":
        return Response(reports.to_csv(result), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="course-report-{group_by}.csv"'})
    return result


@router.get("/v1/course-reports/targets", response_model=Targets,
            summary="Progress toward the Decision 123 targets: teachers and students trained, institutions covered by type "
                    "(registry read from identity, kept for a minute)")
async def course_targets(ctx: CtxDep, session: ReadSessionDep, principal: CurrentPrincipal) -> Any:
    """Read on the read replica when ``LEARNING_DATABASE_READ_URL`` is set, like ``/v1/course-reports``: a pilot
    just designated may be counted a moment later."""
    return await reports.targets(ctx, session, principal)


@router.get("/v1/course-pilots", response_model=list[PilotRead], summary="Institutions of the Decision 123 pilot")
async def list_pilots(session: SessionDep, principal: CurrentPrincipal) -> Any:
    reports.scope_name(principal)  # schools and officers
    return [PilotRead.model_validate(p) for p in await reports.pilots(session)]


@router.put("/v1/course-pilots/{institution_code}", response_model=PilotRead,
            summary="National officers: designate an institution for the pilot (idempotent)")
async def designate_pilot(institution_code: str, ctx: CtxDep, session: SessionDep, principal: CurrentPrincipal,
                          body: PilotIn | None = None) -> Any:
    return PilotRead.model_validate(await reports.designate_pilot(ctx, session, principal, institution_code, body.note if body else None))


@router.delete("/v1/course-pilots/{institution_code}", status_code=204, summary="National officers: end a pilot designation")
async def remove_pilot(institution_code: str, session: SessionDep, principal: CurrentPrincipal) -> Response:
    await reports.remove_pilot(session, principal, institution_code)
    return Response(status_code=204)
