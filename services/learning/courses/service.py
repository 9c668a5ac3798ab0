"""The rules of e-courses: authoring, enrolment, progress, quizzes graded on the server, and the completion rule
(evaluated on every relevant change; a completion writes exactly one outbox event per enrolment)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import utcnow
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.common.models import InboxEvent
from services.common.permissions import person_id_of
from services.common.text import fold, nfc
from services.learning.context import LearningContext
from services.learning.courses import access, directory, grading, repository
from services.learning.courses.schemas import (
    AttemptRead,
    AttemptSubmit,
    CompletionRead,
    CourseCreate,
    CourseDetail,
    CourseRead,
    CourseUpdate,
    EnrolmentBatch,
    EnrolmentChangeRead,
    EnrolmentProgress,
    EnrolmentRead,
    LearnerIn,
    LessonCreate,
    LessonProgressRead,
    LessonRead,
    ModuleCreate,
    ModuleRead,
    ProgressIn,
    QuestionCreate,
    QuestionResult,
    QuizCreate,
    QuizRead,
    QuizStanding,
    RunCreate,
    RunRead,
)
from services.learning.library import repository as library
from services.learning.lti import outcomes as lti_outcomes
from services.learning.models import (
    Course,
    CourseEnrolment,
    CourseModule,
    CourseRun,
    Lesson,
    LessonProgress,
    Question,
    Quiz,
    QuizAttempt,
    SkillArea,
)
from services.learning.models.enrolment import EnrolmentChange

COURSE_COMPLETED = "vn.vet.learning.course.completed"
#: xAPI activity ids of lessons: fixed IRIs, so statements stay matched whatever address the platform is served at
ACTIVITY_BASE = "https://vet.gov.vn/xapi/activities/lessons/"
#: a submission this late after the time limit still counts (network delay)
GRACE = timedelta(seconds=5)


def activity_id(lesson_id: uuid.UUID) -> str:
    return f"{ACTIVITY_BASE}{lesson_id}"


def lesson_id_of_activity(activity: str | None) -> uuid.UUID | None:
    if not activity or not activity.startswith(ACTIVITY_BASE):
        return None
    try:
        return uuid.UUID(activity[len(ACTIVITY_BASE):])
    except ValueError:
        return None


def lesson_read(lesson: Lesson) -> LessonRead:
    return LessonRead(id=lesson.id, module_id=lesson.module_id, position=lesson.position, title=lesson.title, kind=lesson.kind,
                      learning_object_id=lesson.learning_object_id, learning_object_version=lesson.learning_object_version,
                      body=lesson.body, required=lesson.required, estimated_minutes=lesson.estimated_minutes,
                      activity_id=activity_id(lesson.id))


def quiz_read(quiz: Quiz) -> QuizRead:
    count = len(quiz.question_ids) + sum(int(p["count"]) for p in quiz.pools)
    return QuizRead(id=quiz.id, title=quiz.title, question_count=count, shuffle=quiz.shuffle, max_attempts=quiz.max_attempts,
                    time_limit_seconds=quiz.time_limit_seconds, pass_mark=quiz.pass_mark, required=quiz.required)


# --- authoring -------------------------------------------------------------------------------------------------


async def _skill_area(session: AsyncSession, code: str) -> None:
    if await session.get(SkillArea, code) is None:
        raise ValidationFailed(f"No skill area {code}.", errors=[{"field": "skill_area", "message": f"unknown skill area {code}; see GET /v1/skill-areas"}])


async def create_course(session: AsyncSession, principal: Principal, body: CourseCreate) -> Course:
    code = body.institution_code
    if body.national:
        if code is not None:
            raise ValidationFailed("A national course belongs to no institution.",
                                   errors=[{"field": "institution_code", "message": "leave out for a national course"}])
    elif code is None:
        staff = sorted(access.staff_institutions(principal))
        if not staff:
            raise Forbidden("Only teachers author courses for their institution, and designated officers national ones.")
        if len(staff) != 1:
            raise ValidationFailed("Say which institution the course belongs to (or that it is national).",
                                   errors=[{"field": "institution_code", "message": "required unless you teach at exactly one institution"}])
        code = staff[0]
    course = Course(id=uuid.uuid4(), institution_code=code, owner_sub=access.actor(principal), title=nfc(body.title),
                    title_folded=fold(body.title)[:300], description=nfc(body.description), skill_area=body.skill_area,
                    audience=body.audience, language=body.language, estimated_hours=body.estimated_hours, version=1,
                    status="draft", release_rule=body.release_rule, self_enrolment=body.self_enrolment)
    access.ensure_author(principal, course)
    await _skill_area(session, body.skill_area)
    session.add(course)
    await session.flush()
    return course


async def load_course(session: AsyncSession, course_id: uuid.UUID, *, lock: bool = False) -> Course:
    course = await (repository.for_update(session, Course, course_id) if lock else session.get(Course, course_id))
    if course is None:
        raise NotFound(f"No course {course_id}.")
    return course


async def authored_course(session: AsyncSession, principal: Principal, course_id: uuid.UUID) -> Course:
    course = await load_course(session, course_id, lock=True)
    if not access.may_author(principal, course):
        access.ensure_see_course(principal, course)
        access.ensure_author(principal, course)
    return course


def _changed(course: Course) -> None:
    """A published course whose content or rules change is a new version (completions name the version taken)."""
    if course.status == "published":
        course.version += 1
    course.updated_at = utcnow()


async def update_course(session: AsyncSession, principal: Principal, course_id: uuid.UUID, body: CourseUpdate) -> Course:
    course = await authored_course(session, principal, course_id)
    changes = body.model_dump(exclude_unset=True)
    for field in ("title", "skill_area", "audience", "language", "estimated_hours", "release_rule", "self_enrolment", "description"):
        if field in changes and changes[field] is None:
            raise ValidationFailed(f"{field} cannot be null.", errors=[{"field": field, "message": "may not be null"}])
    if "skill_area" in changes:
        await _skill_area(session, changes["skill_area"])
    for field, value in changes.items():
        setattr(course, field, nfc(value) if isinstance(value, str) else value)
    if "title" in changes:
        course.title_folded = fold(course.title)[:300]
    if changes:
        _changed(course)
    await session.flush()
    return course


async def publish(session: AsyncSession, principal: Principal, course_id: uuid.UUID) -> Course:
    course = await authored_course(session, principal, course_id)
    lessons = await repository.lessons(session, course.id)
    quizzes = await repository.quizzes(session, course.id)
    if not any(lesson.required for lesson in lessons) and not any(q.required for q in quizzes):
        raise ValidationFailed("A course needs at least one required lesson or quiz before it is published.",
                               errors=[{"field": "lessons", "message": "no required lesson or quiz"}])
    if course.status != "published":
        course.status = "published"
        course.published_at = utcnow()
    return course


async def detail(session: AsyncSession, course: Course) -> CourseDetail:
    lessons = await repository.lessons(session, course.id)
    modules = [ModuleRead(id=m.id, position=m.position, title=m.title,
                          lessons=[lesson_read(lesson) for lesson in lessons if lesson.module_id == m.id])
               for m in await repository.modules(session, course.id)]
    return CourseDetail(**CourseRead.model_validate(course).model_dump(), modules=modules,
                        quizzes=[quiz_read(q) for q in await repository.quizzes(session, course.id)],
                        runs=[RunRead.model_validate(r) for r in await repository.runs(session, course.id)])


async def add_module(session: AsyncSession, principal: Principal, course_id: uuid.UUID, body: ModuleCreate) -> CourseModule:
    course = await authored_course(session, principal, course_id)
    position = await repository.next_position(session, CourseModule.position, CourseModule.course_id == course.id)
    _changed(course)
    module = CourseModule(id=uuid.uuid4(), course_id=course.id, position=position, title=nfc(body.title))
    session.add(module)
    await session.flush()
    return module


async def add_lesson(session: AsyncSession, principal: Principal, course_id: uuid.UUID, module_id: uuid.UUID,
                     body: LessonCreate) -> Lesson:
    course = await authored_course(session, principal, course_id)
    module = await session.get(CourseModule, module_id)
    if module is None or module.course_id != course.id:
        raise NotFound(f"No module {module_id} in course {course_id}.")

    def fail(field: str, message: str) -> ValidationFailed:
        return ValidationFailed(f"The lesson is not valid: {message}.", errors=[{"field": field, "message": message}])

    if body.kind == "text":
        if not body.body:
            raise fail("body", "a text lesson needs its body")
        if body.learning_object_id is not None:
            raise fail("learning_object_id", "a text lesson has no learning object")
    else:
        if body.learning_object_id is None or body.learning_object_version is None:
            field = "learning_object_id" if body.learning_object_id is None else "learning_object_version"
            raise fail(field, "a library lesson pins a learning object and its version")
        version = await library.get_version(session, body.learning_object_id, body.learning_object_version)
        if version is None:
            raise fail("learning_object_version", "no such learning object version in the library")
        # learners must be able to open it: a published version (its visibility is the library's to enforce)
        if version.published_at is None:
            raise fail("learning_object_version", "pin a version the library has published")
        if body.kind == "package":
            packages = await library.packages_by_blob(session, {version.blob_id} if version.blob_id else set())
            if not packages:
                raise fail("learning_object_version", "that version holds no SCORM / cmi5 package")
    position = await repository.next_position(session, Lesson.position, Lesson.module_id == module.id)
    lesson = Lesson(id=uuid.uuid4(), course_id=course.id, module_id=module.id, position=position, title=nfc(body.title),
                    kind=body.kind, learning_object_id=body.learning_object_id, learning_object_version=body.learning_object_version,
                    body=nfc(body.body) if body.body else None, required=body.required, estimated_minutes=body.estimated_minutes)
    _changed(course)
    session.add(lesson)
    await session.flush()
    return lesson


async def add_question(session: AsyncSession, principal: Principal, course_id: uuid.UUID, body: QuestionCreate) -> Question:
    course = await authored_course(session, principal, course_id)
    options, answer = grading.build(body)
    question = Question(id=uuid.uuid4(), course_id=course.id, pool=body.pool, kind=body.kind, prompt=nfc(body.prompt),
                        options=options, answer=answer, points=body.points)
    _changed(course)
    session.add(question)
    await session.flush()
    return question


async def add_quiz(session: AsyncSession, principal: Principal, course_id: uuid.UUID, body: QuizCreate) -> Quiz:
    course = await authored_course(session, principal, course_id)
    if not body.question_ids and not body.pools:
        raise ValidationFailed("A quiz needs fixed questions or draws from pools.",
                               errors=[{"field": "question_ids", "message": "give question_ids or pools"}])
    if body.question_ids:
        found = {q.id for q in await repository.questions(session, course.id, body.question_ids)}
        missing = [i for i, qid in enumerate(body.question_ids) if qid not in found]
        if missing:
            raise ValidationFailed("Some questions are not in this course's bank.",
                                   errors=[{"field": f"question_ids.{i}", "message": "not a question of this course"} for i in missing])
        if len(set(body.question_ids)) != len(body.question_ids):
            raise ValidationFailed("A question is listed twice.", errors=[{"field": "question_ids", "message": "duplicates"}])
    sizes = await repository.pool_sizes(session, course.id)
    for i, draw in enumerate(body.pools):
        if sizes.get(draw.pool, 0) < draw.count:
            raise ValidationFailed(f"Pool {draw.pool} has {sizes.get(draw.pool, 0)} questions.",
                                   errors=[{"field": f"pools.{i}.count", "message": f"pool {draw.pool} has only {sizes.get(draw.pool, 0)} questions"}])
    quiz = Quiz(id=uuid.uuid4(), course_id=course.id, title=nfc(body.title), question_ids=[str(q) for q in body.question_ids],
                pools=[p.model_dump() for p in body.pools], shuffle=body.shuffle, max_attempts=body.max_attempts,
                time_limit_seconds=body.time_limit_seconds, pass_mark=body.pass_mark, required=body.required)
    _changed(course)
    session.add(quiz)
    await session.flush()
    return quiz


async def add_run(session: AsyncSession, principal: Principal, course_id: uuid.UUID, body: RunCreate) -> CourseRun:
    course = await authored_course(session, principal, course_id)
    for field in ("starts_at", "ends_at"):
        value = getattr(body, field)
        if value is not None and value.tzinfo is None:
            raise ValidationFailed("Times carry their zone.", errors=[{"field": field, "message": "give an RFC 3339 time with its offset"}])
    if body.starts_at and body.ends_at and body.ends_at <= body.starts_at:
        raise ValidationFailed("A run ends after it starts.", errors=[{"field": "ends_at", "message": "must be after starts_at"}])
    run = CourseRun(id=uuid.uuid4(), course_id=course.id, title=nfc(body.title), starts_at=body.starts_at, ends_at=body.ends_at,
                    capacity=body.capacity)
    session.add(run)
    await session.flush()
    return run


# --- enrolment -------------------------------------------------------------------------------------------------


def _fits_audience(course: Course, role: str) -> bool:
    return course.audience == "both" or course.audience == f"{role}s"


async def _run_for(session: AsyncSession, course: Course, run_id: uuid.UUID | None, adding: int) -> CourseRun | None:
    if run_id is None:
        return None
    run = await repository.for_update(session, CourseRun, run_id)
    if run is None or run.course_id != course.id:
        raise ValidationFailed("No such run of this course.", errors=[{"field": "run_id", "message": "not a run of this course"}])
    if run.ends_at is not None and run.ends_at <= utcnow():
        raise Conflict("This run of the course has ended.")
    if run.capacity is not None and adding and await repository.run_headcount(session, run.id) + adding > run.capacity:
        raise Conflict(f"This run has room for {run.capacity} learners.", capacity=run.capacity)
    return run


def _enrolment_row(**values: Any) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "status": "enrolled", "enrolled_at": utcnow(), **values}


async def self_enrol(ctx: LearningContext, session: AsyncSession, principal: Principal, course_id: uuid.UUID,
                     run_id: uuid.UUID | None) -> tuple[CourseEnrolment, bool]:
    # identity asked before the transaction opens (the course's own institution is known only once it is read)
    await directory.ask_ahead(ctx, institutions=sorted(access.staff_institutions(principal) | access.member_institutions(principal)),
                              person_id=person_id_of(principal))
    course = await load_course(session, course_id)
    access.ensure_see_course(principal, course)
    if course.status != "published":
        raise Conflict("The course is not published yet.")
    if principal.kind != "user":
        raise Forbidden("Only people enrol themselves.")
    key = access.learner_key(principal)
    existing = await repository.enrolment_of(session, course.id, key)
    if existing is not None and existing.status != "withdrawn":
        return existing, False
    if existing is not None:
        _ensure_may_reopen_self(principal, existing)
    if not course.self_enrolment:
        raise Forbidden("This course takes enrolments from schools and officers only.")
    teaching = sorted(access.staff_institutions(principal))
    studying = any("student" in roles for roles in principal.roles.values())
    role = "teacher" if teaching and (course.audience != "students" or not studying) else "student"
    if not _fits_audience(course, role):
        raise Forbidden(f"This course is for {course.audience}.")
    run = await _run_for(session, course, run_id, 1)
    home = course.institution_code or next(iter(teaching or sorted(access.member_institutions(principal))), None)
    facts = await directory.institution(ctx, home) if home else None
    person = person_id_of(principal)
    row = _enrolment_row(
        course_id=course.id, run_id=run.id if run else None, learner_key=key, person_id=person, account_sub=principal.sub,
        full_name=principal.claims.get("name"), sex=await directory.person_sex(ctx, person) if person else None, role=role,
        institution_code=home, province_code=facts.province_code if facts else None,
        institution_type=facts.type if facts else None, method="self", enrolled_by=access.actor(principal),
    )
    if existing is not None:
        locked = (await repository.lock_enrolments(session, [existing.id]))[existing.id]
        if locked.status == "withdrawn":
            _ensure_may_reopen_self(principal, locked)  # as it is under the lock
            _reopen(session, locked, access.actor(principal), row)
            await session.flush()
        return locked, False
    added = await repository.add_enrolments(session, [row])
    enrolment = await repository.enrolment_of(session, course.id, key)
    assert enrolment is not None
    return enrolment, enrolment.id in added


async def batch_enrol(ctx: LearningContext, session: AsyncSession, principal: Principal, course_id: uuid.UUID,
                      body: EnrolmentBatch) -> tuple[list[CourseEnrolment], int, int]:
    await directory.ask_ahead(ctx, institutions=[body.institution_code])  # before the transaction opens
    course = await load_course(session, course_id)
    if course.status != "published":
        if not access.may_author(principal, course):
            raise NotFound(f"No course {course_id}.")
        raise Conflict("The course is not published yet.")
    facts = await directory.institution(ctx, body.institution_code)
    if body.role == "student":
        if body.institution_code not in access.school_staff(principal) and not access.oversees(principal, None, facts.province_code):
            raise Forbidden(f"You may not enrol learners of institution {body.institution_code}.")
    elif not access.oversees(principal, None, facts.province_code):
        raise Forbidden("Teachers are enrolled by officers of their province or of the ministry.")
    if course.institution_code is not None and course.institution_code != body.institution_code:
        raise ValidationFailed("This course belongs to another institution.",
                               errors=[{"field": "institution_code", "message": f"the course is {course.institution_code}'s own"}])
    if not _fits_audience(course, body.role):
        raise ValidationFailed(f"This course is for {course.audience}.", errors=[{"field": "role", "message": f"the course is for {course.audience}"}])
    keys: list[str] = []
    errors = []
    for i, learner in enumerate(body.learners):
        if learner.person_id is None and learner.account is None:
            errors.append({"field": f"learners.{i}", "message": "give person_id or account"})
        keys.append(f"person:{learner.person_id}" if learner.person_id else str(learner.account))
    seen: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key in seen:
            errors.append({"field": f"learners.{i}", "message": f"the same learner as learners.{seen[key]}"})
        seen.setdefault(key, i)
    if errors:
        raise ValidationFailed("Some learners cannot be enrolled.", errors=errors)
    existing = await repository.enrolments_by_keys(session, course.id, keys)
    withdrawn = await repository.lock_enrolments(session, [e.id for e in existing.values() if e.status == "withdrawn"])
    withdrawn = {e.id: e for e in withdrawn.values() if e.status == "withdrawn"}  # as read under the lock
    fresh = [(k, learner) for k, learner in zip(keys, body.learners, strict=True) if k not in existing]
    reopen = [(k, learner) for k, learner in zip(keys, body.learners, strict=True) if k in existing and existing[k].id in withdrawn]
    run = await _run_for(session, course, body.run_id, len(fresh) + len(reopen))
    actor = access.actor(principal)

    def row(key: str, learner: LearnerIn) -> dict[str, Any]:
        return _enrolment_row(
            course_id=course.id, run_id=run.id if run else None, learner_key=key,
            person_id=str(learner.person_id) if learner.person_id else None, account_sub=learner.account,
            full_name=nfc(learner.full_name), sex=learner.sex, role=body.role, institution_code=body.institution_code,
            province_code=facts.province_code, institution_type=facts.type,
            method="class" if body.role == "student" else "officer", enrolled_by=actor,
        )

    for key, learner in reopen:
        _reopen(session, withdrawn[existing[key].id], actor, row(key, learner))
    if reopen:
        await session.flush()
    added = await repository.add_enrolments(session, [row(key, learner) for key, learner in fresh])
    by_key = await repository.enrolments_by_keys(session, course.id, keys)
    return [by_key[k] for k in keys], len(added), len(reopen)


def _ensure_may_reopen_self(principal: Principal, enrolment: CourseEnrolment) -> None:
    """Learners reopen by enrolling again only what they withdrew themselves: a withdrawal by their school or by an
    officer stands until the school or an officer enrols them again."""
    if enrolment.withdrawn_by is None or enrolment.withdrawn_by == access.actor(principal):
        return
    reason = f" ({enrolment.withdrawal_reason})" if enrolment.withdrawal_reason else ""
    raise Forbidden(f"Your enrolment was withdrawn by your school or an officer{reason}; only they can enrol you again.")


def _reopen(session: AsyncSession, enrolment: CourseEnrolment, actor: str, row: dict[str, Any]) -> None:
    """Re-enrolment reopens the withdrawn enrolment (no second one): the facts and run of this enrolment request,
    its progress, attempts and history kept. The name is the one given now (if any); person, account and sex only
    fill what was unknown."""
    for field in ("run_id", "role", "institution_code", "province_code", "institution_type", "method", "enrolled_by"):
        setattr(enrolment, field, row[field])
    enrolment.full_name = row["full_name"] or enrolment.full_name
    for field in ("person_id", "account_sub", "sex"):
        if row[field] is not None:
            setattr(enrolment, field, getattr(enrolment, field) or row[field])
    enrolment.status = "enrolled"
    enrolment.withdrawn_at = enrolment.withdrawn_by = enrolment.withdrawal_reason = None
    session.add(EnrolmentChange(id=uuid.uuid4(), enrolment_id=enrolment.id, action="reopened", actor=actor, reason=None, at=utcnow()))


async def withdraw(session: AsyncSession, principal: Principal, enrolment_id: uuid.UUID, reason: str) -> CourseEnrolment:
    """Rút khỏi khoá học. The enrolment keeps its progress and attempts, takes no more progress, frees its place in
    a run, and counts apart in reports; a completed one stands (its certificate too). Withdrawing a withdrawn
    enrolment again changes nothing (the first withdrawal stands)."""
    enrolment = await load_enrolment(session, enrolment_id, lock=True)
    access.ensure_may_withdraw(principal, enrolment)
    if enrolment.status == "withdrawn":
        return enrolment
    if enrolment.completed_at is not None:
        raise Conflict("A completed enrolment cannot be withdrawn: the completion and its certificate stand.")
    now, actor = utcnow(), access.actor(principal)
    enrolment.status = "withdrawn"
    enrolment.withdrawn_at, enrolment.withdrawn_by, enrolment.withdrawal_reason = now, actor, nfc(reason)
    session.add(EnrolmentChange(id=uuid.uuid4(), enrolment_id=enrolment.id, action="withdrawn", actor=actor, reason=nfc(reason), at=now))
    await session.flush()
    return enrolment


async def load_enrolment(session: AsyncSession, enrolment_id: uuid.UUID, *, lock: bool = False) -> CourseEnrolment:
    enrolment = await (repository.for_update(session, CourseEnrolment, enrolment_id) if lock else session.get(CourseEnrolment, enrolment_id))
    if enrolment is None:
        raise NotFound(f"No enrolment {enrolment_id}.")
    return enrolment


async def standing(session: AsyncSession, enrolment: CourseEnrolment) -> EnrolmentProgress:
    quizzes = await repository.quizzes(session, enrolment.course_id)
    attempts = await repository.attempts(session, enrolment.id)
    standings = []
    for quiz in quizzes:
        mine = [a for a in attempts if a.quiz_id == quiz.id]
        scores = [a.score for a in mine if a.score is not None]
        standings.append(QuizStanding(
            quiz_id=quiz.id, attempts_used=len(mine),
            attempts_left=None if quiz.max_attempts is None else max(0, quiz.max_attempts - len(mine)),
            best_score=max(scores) if scores else None, passed=any(a.passed for a in mine)))
    completion = await repository.completion_of(session, enrolment.id)
    return EnrolmentProgress(
        **EnrolmentRead.model_validate(enrolment).model_dump(),
        lessons=[LessonProgressRead.model_validate(p) for p in await repository.progress(session, enrolment.id)],
        quizzes=standings, completion=CompletionRead.model_validate(completion) if completion else None,
        history=[EnrolmentChangeRead.model_validate(x) for x in await repository.changes_of(session, enrolment.id)])


# --- progress --------------------------------------------------------------------------------------------------


def _ensure_in_run(run: CourseRun | None, now: datetime) -> None:
    if run is None:
        return
    if run.starts_at is not None and now < run.starts_at:
        raise Conflict("This run of the course has not started yet.")
    if run.ends_at is not None and now > run.ends_at:
        raise Conflict("This run of the course has ended.")


async def active_enrolment(session: AsyncSession, principal: Principal, enrolment_id: uuid.UUID) -> tuple[CourseEnrolment, Course]:
    enrolment = await load_enrolment(session, enrolment_id, lock=True)
    access.ensure_learner(principal, enrolment)
    if enrolment.status == "withdrawn":
        raise Conflict("This enrolment was withdrawn: enrol again to go on (your progress is kept).", enrolment_status="withdrawn")
    course = await load_course(session, enrolment.course_id)
    _ensure_in_run(await session.get(CourseRun, enrolment.run_id) if enrolment.run_id else None, utcnow())
    return enrolment, course


def locked_by(course: Course, lessons: list[Lesson], done: set[uuid.UUID], lesson_id: uuid.UUID) -> Lesson | None:
    """Under ``in_order``, the first required lesson before ``lesson_id`` not yet completed (None: it is open)."""
    if course.release_rule != "in_order":
        return None
    for lesson in lessons:
        if lesson.id == lesson_id:
            return None
        if lesson.required and lesson.id not in done:
            return lesson
    return None


async def apply_progress(session: AsyncSession, outbox: Any, enrolment: CourseEnrolment, course: Course, lesson_id: uuid.UUID,
                         event: str, seconds: int, *, strict: bool = True, by_api: bool = True) -> LessonProgress | None:
    """Record that a lesson was opened or completed; evaluates the completion rule. ``strict``: a locked or unknown
    lesson is an error (the API), else it is skipped (xAPI statements are stored whatever they say). ``by_api``: an
    API call (not an xAPI statement) reports it, so voiding statements never undoes a completion it reported."""
    lessons = await repository.lessons(session, course.id)
    if lesson_id not in {lesson.id for lesson in lessons}:
        if strict:
            raise NotFound(f"No lesson {lesson_id} in this course.")
        return None
    rows = {p.lesson_id: p for p in await repository.progress(session, enrolment.id)}
    done = {k for k, p in rows.items() if p.completed_at is not None}
    blocker = locked_by(course, lessons, done, lesson_id)
    if blocker is not None:
        if strict:
            raise Conflict(f"Complete “{blocker.title}” first: this course opens its lessons in order.", blocking_lesson_id=str(blocker.id))
        return None
    now = utcnow()
    row = rows.get(lesson_id)
    if row is None:
        row = LessonProgress(enrolment_id=enrolment.id, lesson_id=lesson_id, time_spent_seconds=0, completed_by_api=False, updated_at=now)
        session.add(row)
    row.opened_at = row.opened_at or now
    row.time_spent_seconds += seconds
    if event == "completed":
        row.completed_at = row.completed_at or now
        row.completed_by_api = row.completed_by_api or by_api
    enrolment.last_activity_at = now
    await session.flush()
    await evaluate_completion(session, outbox, enrolment, course)
    return row


async def record_progress(session: AsyncSession, outbox: Any, principal: Principal, enrolment_id: uuid.UUID,
                          lesson_id: uuid.UUID, body: ProgressIn) -> LessonProgress:
    enrolment, course = await active_enrolment(session, principal, enrolment_id)
    row = await apply_progress(session, outbox, enrolment, course, lesson_id, body.event, body.time_spent_seconds)
    assert row is not None
    return row


# --- quizzes ---------------------------------------------------------------------------------------------------


async def put_scorm(session: AsyncSession, outbox: Any, principal: Principal, enrolment_id: uuid.UUID, lesson_id: uuid.UUID,
                    attempt: int, values: dict[str, str]) -> dict[str, str]:
    """SCORM runtime: CMI values committed for an attempt; a completed or passed status completes the lesson. The
    values stored for the attempt are returned."""
    enrolment, course = await active_enrolment(session, principal, enrolment_id)
    lessons = {lesson.id: lesson for lesson in await repository.lessons(session, course.id)}
    if lesson_id not in lessons:
        raise NotFound(f"No lesson {lesson_id} in this course.")
    await repository.put_scorm_values(session, enrolment.id, lesson_id, attempt, values, utcnow())
    status = values.get("cmi.core.lesson_status") or values.get("cmi.completion_status")
    success = values.get("cmi.success_status")
    event = "completed" if status in ("completed", "passed") or success == "passed" else "opened"
    await apply_progress(session, outbox, enrolment, course, lesson_id, event, 0, strict=False, by_api=True)
    return await repository.scorm_values(session, enrolment.id, lesson_id, attempt)


async def _quiz_of(session: AsyncSession, course: Course, quiz_id: uuid.UUID) -> Quiz:
    quiz = await session.get(Quiz, quiz_id)
    if quiz is None or quiz.course_id != course.id:
        raise NotFound(f"No quiz {quiz_id} in this course.")
    return quiz


def _expire_if_late(attempt: QuizAttempt, now: datetime) -> bool:
    if attempt.status == "open" and attempt.deadline_at is not None and now > attempt.deadline_at + GRACE:
        attempt.status, attempt.score, attempt.passed, attempt.submitted_at = "expired", 0.0, False, now
        return True
    return False


async def attempt_read(session: AsyncSession, attempt: QuizAttempt, results: list[QuestionResult] | None = None) -> AttemptRead:
    quiz = await session.get(Quiz, attempt.quiz_id)
    assert quiz is not None
    ids = [uuid.UUID(item["question_id"]) for item in attempt.drawn]
    by_id = {q.id: q for q in await repository.questions(session, quiz.course_id, ids)}
    questions = [grading.shown(by_id[uuid.UUID(item["question_id"])], item) for item in attempt.drawn if uuid.UUID(item["question_id"]) in by_id]
    return AttemptRead(id=attempt.id, quiz_id=attempt.quiz_id, enrolment_id=attempt.enrolment_id, number=attempt.number,
                       status=attempt.status, started_at=attempt.started_at, deadline_at=attempt.deadline_at,
                       submitted_at=attempt.submitted_at, questions=questions, score=attempt.score, passed=attempt.passed,
                       results=results)


async def start_attempt(session: AsyncSession, principal: Principal, enrolment_id: uuid.UUID, quiz_id: uuid.UUID) -> tuple[QuizAttempt, bool]:
    enrolment, course = await active_enrolment(session, principal, enrolment_id)
    quiz = await _quiz_of(session, course, quiz_id)
    now = utcnow()
    attempts = await repository.attempts(session, enrolment.id, quiz.id)
    for attempt in attempts:
        _expire_if_late(attempt, now)
        if attempt.status == "open":
            return attempt, False  # one attempt at a time: the open one again
    if quiz.max_attempts is not None and len(attempts) >= quiz.max_attempts:
        raise Conflict(f"All {quiz.max_attempts} attempts of this quiz are used.", max_attempts=quiz.max_attempts)
    fixed_ids = [uuid.UUID(q) for q in quiz.question_ids]
    bank = await repository.questions(session, course.id)
    by_id = {q.id: q for q in bank}
    pools: dict[str, list[Question]] = {}
    for q in bank:
        pools.setdefault(q.pool, []).append(q)
    drawn = grading.draw([by_id[i] for i in fixed_ids if i in by_id], pools, quiz.pools, quiz.shuffle)
    attempt = QuizAttempt(id=uuid.uuid4(), quiz_id=quiz.id, enrolment_id=enrolment.id, number=len(attempts) + 1, drawn=drawn,
                          status="open", started_at=now,
                          deadline_at=now + timedelta(seconds=quiz.time_limit_seconds) if quiz.time_limit_seconds else None)
    session.add(attempt)
    enrolment.last_activity_at = now
    await session.flush()
    return attempt, True


async def submit_attempt(session: AsyncSession, outbox: Any, principal: Principal, attempt_id: uuid.UUID,
                         body: AttemptSubmit) -> tuple[QuizAttempt, list[QuestionResult] | None]:
    attempt = await repository.for_update(session, QuizAttempt, attempt_id)
    if attempt is None:
        raise NotFound(f"No quiz attempt {attempt_id}.")
    enrolment, course = await active_enrolment(session, principal, attempt.enrolment_id)
    if attempt.status != "open":
        raise Conflict(f"This attempt is already {attempt.status}.", status_of_attempt=attempt.status)
    now = utcnow()
    if _expire_if_late(attempt, now):
        await session.flush()
        return attempt, None
    quiz = await _quiz_of(session, course, attempt.quiz_id)
    ids = [uuid.UUID(item["question_id"]) for item in attempt.drawn]
    strangers = [str(k) for k in body.answers if k not in set(ids)]
    if strangers:
        raise ValidationFailed("Answers name questions that are not in this attempt.",
                               errors=[{"field": f"answers.{k}", "message": "not a question of this attempt"} for k in strangers])
    by_id = {q.id: q for q in await repository.questions(session, course.id, ids)}
    questions = [by_id[i] for i in ids if i in by_id]
    answers = {str(k): v for k, v in body.answers.items()}
    score, graded = grading.grade(questions, answers)
    attempt.answers, attempt.score, attempt.passed = answers, score, score >= quiz.pass_mark
    attempt.status, attempt.submitted_at = "submitted", now
    enrolment.last_activity_at = now
    await session.flush()
    await evaluate_completion(session, outbox, enrolment, course)
    return attempt, [QuestionResult(question_id=q.id, correct=ok, points_awarded=q.points if ok else 0) for q, ok in graded]


# --- completion ------------------------------------------------------------------------------------------------


async def evaluate_completion(session: AsyncSession, outbox: Any, enrolment: CourseEnrolment, course: Course) -> bool:
    """The completion rule: every required lesson completed and every required quiz passed. On the first time it
    holds, one completion row (unique per enrolment) and one ``course.completed`` event in the same transaction."""
    if enrolment.completed_at is not None:
        return False
    lessons = [lesson for lesson in await repository.lessons(session, course.id) if lesson.required]
    quizzes = [q for q in await repository.quizzes(session, course.id) if q.required]
    if not lessons and not quizzes:
        return False
    done = {p.lesson_id for p in await repository.progress(session, enrolment.id) if p.completed_at is not None}
    if any(lesson.id not in done for lesson in lessons):
        return False
    attempts = await repository.attempts(session, enrolment.id)
    best: list[float] = []
    for quiz in quizzes:
        passed = [a.score for a in attempts if a.quiz_id == quiz.id and a.passed and a.score is not None]
        if not passed:
            return False
        best.append(max(passed))
    now = utcnow()
    final = round(sum(best) / len(best), 1) if best else None
    completion_id = await repository.insert_completion(session, {
        "id": uuid.uuid4(), "enrolment_id": enrolment.id, "course_id": course.id, "course_version": course.version,
        "completed_at": now, "final_score": final,
    })
    if completion_id is None:
        return False  # another transaction completed it first
    enrolment.status, enrolment.completed_at = "completed", now
    # launched from a school's LMS (LTI): the final score goes back to its line items, queued in this transaction
    await lti_outcomes.course_completed(session, enrolment.id, completion_id, final, now)
    data: dict[str, Any] = {
        "course_id": str(course.id), "version": course.version, "title": course.title, "skill_area": course.skill_area,
        "audience": course.audience, "hours": course.estimated_hours, "person_id": enrolment.person_id,
        # who took it when no person is known (a teacher's account): ``account:<id>`` (additive field)
        "learner_id": enrolment.learner_key,
        "institution_code": course.institution_code, "learner_institution_code": enrolment.institution_code,
        "enrolment_id": str(enrolment.id), "completed_at": now.isoformat(), "final_score": final,
    }
    if enrolment.person_id is None:
        data["holder"] = {"full_name": enrolment.full_name or "?"}
    rows = outbox.emit(session, COURSE_COMPLETED, {k: v for k, v in data.items() if v is not None}, subject=f"enrolment/{enrolment.id}")
    completion = await repository.completion_of(session, enrolment.id)
    if completion is not None and rows:
        completion.event_id = rows[0].id
    await session.flush()
    return True


async def on_credential_issued(session: AsyncSession, event: InboxEvent) -> None:
    """credentials → learning: the certificate for a completion was issued; the enrolment counts as certified."""
    source = event.data.get("source_event_id")
    try:
        source_id = uuid.UUID(str(source))
    except ValueError:
        return
    completion = await repository.completion_by_event(session, source_id)
    if completion is None:
        return
    enrolment = await session.get(CourseEnrolment, completion.enrolment_id)
    if enrolment is not None and enrolment.certified_at is None:
        enrolment.certified_at = utcnow()
        enrolment.credential_id = str(event.data.get("credential_id") or "") or None


async def undo_lesson_completions(session: AsyncSession, enrolment: CourseEnrolment, lesson_ids: set[uuid.UUID],
                                  evidence: set[uuid.UUID]) -> list[uuid.UUID]:
    """Voided xAPI statements had completed these lessons: each whose completion no API call reported and no
    remaining statement (``evidence``: lessons still completed by a non-voided statement) supports is open again.
    A completed course is left as it is — its completion and certificate stand. Returns the lessons reopened."""
    if enrolment.completed_at is not None:
        return []
    undone = []
    for row in await repository.progress(session, enrolment.id):
        if row.lesson_id in lesson_ids and row.completed_at is not None and not row.completed_by_api and row.lesson_id not in evidence:
            row.completed_at = None
            undone.append(row.lesson_id)
    if undone:
        await session.flush()
    return undone
