"""Every query of e-courses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import insert_for
from services.learning.models import (
    Course,
    CourseCompletion,
    CourseEnrolment,
    CourseModule,
    CourseRun,
    Lesson,
    LessonProgress,
    Question,
    Quiz,
    QuizAttempt,
    ScormValue,
    SkillArea,
)
from services.learning.models.enrolment import EnrolmentChange


async def for_update(session: AsyncSession, model: Any, key: Any) -> Any:
    stmt = select(model).where(model.id == key)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def skill_areas(session: AsyncSession) -> Sequence[SkillArea]:
    return (await session.scalars(select(SkillArea).order_by(SkillArea.position, SkillArea.code))).all()


async def modules(session: AsyncSession, course_id: uuid.UUID) -> Sequence[CourseModule]:
    stmt = select(CourseModule).where(CourseModule.course_id == course_id).order_by(CourseModule.position)
    return (await session.scalars(stmt)).all()


async def lessons(session: AsyncSession, course_id: uuid.UUID) -> list[Lesson]:
    """Lessons of a course in their order (module position, then lesson position)."""
    stmt = (
        select(Lesson).join(CourseModule, CourseModule.id == Lesson.module_id)
        .where(Lesson.course_id == course_id).order_by(CourseModule.position, Lesson.position)
    )
    return list((await session.scalars(stmt)).all())


async def quizzes(session: AsyncSession, course_id: uuid.UUID) -> Sequence[Quiz]:
    return (await session.scalars(select(Quiz).where(Quiz.course_id == course_id).order_by(Quiz.created_at, Quiz.id))).all()


async def runs(session: AsyncSession, course_id: uuid.UUID) -> Sequence[CourseRun]:
    stmt = select(CourseRun).where(CourseRun.course_id == course_id).order_by(CourseRun.created_at, CourseRun.id)
    return (await session.scalars(stmt)).all()


async def next_position(session: AsyncSession, column: Any, where: Any) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(column), 0)).where(where)) or 0) + 1


async def questions(session: AsyncSession, course_id: uuid.UUID, ids: Sequence[uuid.UUID] | None = None) -> list[Question]:
    stmt = select(Question).where(Question.course_id == course_id)
    if ids is not None:
        stmt = stmt.where(Question.id.in_(list(ids)))
    return list((await session.scalars(stmt.order_by(Question.created_at, Question.id))).all())


async def pool_sizes(session: AsyncSession, course_id: uuid.UUID) -> dict[str, int]:
    stmt = select(Question.pool, func.count()).where(Question.course_id == course_id).group_by(Question.pool)
    return {pool: n for pool, n in (await session.execute(stmt)).all()}


async def enrolment_of(session: AsyncSession, course_id: uuid.UUID, key: str) -> CourseEnrolment | None:
    stmt = select(CourseEnrolment).where(CourseEnrolment.course_id == course_id, CourseEnrolment.learner_key == key)
    return (await session.scalars(stmt)).first()


async def enrolments_by_keys(session: AsyncSession, course_id: uuid.UUID, keys: Sequence[str]) -> dict[str, CourseEnrolment]:
    out: dict[str, CourseEnrolment] = {}
    for start in range(0, len(keys), 500):
        stmt = select(CourseEnrolment).where(CourseEnrolment.course_id == course_id,
                                             CourseEnrolment.learner_key.in_(list(keys[start:start + 500])))
        out |= {e.learner_key: e for e in (await session.scalars(stmt)).all()}
    return out


async def add_enrolments(session: AsyncSession, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Adds enrolments, skipping learners already enrolled (a concurrent request may have just enrolled them);
    returns the ids actually added."""
    if not rows:
        return set()
    stmt = insert_for(session)(CourseEnrolment).values(rows).on_conflict_do_nothing(index_elements=["course_id", "learner_key"])
    return set((await session.execute(stmt.returning(CourseEnrolment.id))).scalars().all())


async def lock_enrolments(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, CourseEnrolment]:
    """The enrolments, locked on PostgreSQL (in id order, the order every path locks them in), freshly read."""
    if not ids:
        return {}
    stmt = select(CourseEnrolment).where(CourseEnrolment.id.in_(list(ids))).order_by(CourseEnrolment.id)
    stmt = stmt.execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return {e.id: e for e in (await session.scalars(stmt)).all()}


async def changes_of(session: AsyncSession, enrolment_id: uuid.UUID) -> list[EnrolmentChange]:
    stmt = select(EnrolmentChange).where(EnrolmentChange.enrolment_id == enrolment_id).order_by(EnrolmentChange.at, EnrolmentChange.id)
    return list((await session.scalars(stmt)).all())


async def run_headcount(session: AsyncSession, run_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(CourseEnrolment).where(CourseEnrolment.run_id == run_id,
                                                                   CourseEnrolment.status != "withdrawn")
    return int(await session.scalar(stmt) or 0)


async def progress(session: AsyncSession, enrolment_id: uuid.UUID) -> list[LessonProgress]:
    stmt = select(LessonProgress).where(LessonProgress.enrolment_id == enrolment_id)
    return list((await session.scalars(stmt)).all())


async def attempts(session: AsyncSession, enrolment_id: uuid.UUID, quiz_id: uuid.UUID | None = None) -> list[QuizAttempt]:
    stmt = select(QuizAttempt).where(QuizAttempt.enrolment_id == enrolment_id)
    if quiz_id is not None:
        stmt = stmt.where(QuizAttempt.quiz_id == quiz_id)
    return list((await session.scalars(stmt.order_by(QuizAttempt.number))).all())


async def completion_of(session: AsyncSession, enrolment_id: uuid.UUID) -> CourseCompletion | None:
    return (await session.scalars(select(CourseCompletion).where(CourseCompletion.enrolment_id == enrolment_id))).first()


async def insert_completion(session: AsyncSession, values: dict[str, Any]) -> uuid.UUID | None:
    """Adds the completion unless the enrolment has one; returns its id only when this call added it, so two
    concurrent evaluations never both report it."""
    stmt = insert_for(session)(CourseCompletion).values(**values).on_conflict_do_nothing(index_elements=["enrolment_id"])
    result = await session.execute(stmt.returning(CourseCompletion.id))
    return result.scalar_one_or_none()


async def completion_by_event(session: AsyncSession, event_id: uuid.UUID) -> CourseCompletion | None:
    return (await session.scalars(select(CourseCompletion).where(CourseCompletion.event_id == event_id))).first()


async def scorm_values(session: AsyncSession, enrolment_id: uuid.UUID, lesson_id: uuid.UUID, attempt: int) -> dict[str, str]:
    stmt = select(ScormValue).where(ScormValue.enrolment_id == enrolment_id, ScormValue.lesson_id == lesson_id,
                                    ScormValue.attempt == attempt).order_by(ScormValue.element)
    return {v.element: v.value for v in (await session.scalars(stmt)).all()}


async def put_scorm_values(session: AsyncSession, enrolment_id: uuid.UUID, lesson_id: uuid.UUID, attempt: int,
                           values: dict[str, str], now: Any) -> None:
    insert = insert_for(session)
    rows = [{"enrolment_id": enrolment_id, "lesson_id": lesson_id, "attempt": attempt, "element": k, "value": v,
             "updated_at": now} for k, v in values.items()]
    stmt = insert(ScormValue).values(rows)
    stmt = stmt.on_conflict_do_update(index_elements=["enrolment_id", "lesson_id", "attempt", "element"],
                                      set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at})
    await session.execute(stmt)


async def courses_by_ids(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Course]:
    if not ids:
        return {}
    return {c.id: c for c in (await session.scalars(select(Course).where(Course.id.in_(ids)))).all()}


def course_listing(visible: Any, *, audience: str | None, skill_area: str | None, institution: str | None,
                   words: Sequence[str]) -> Select[Course]:
    """Courses matching ``visible`` and the filters (``institution`` "national": the courses of no institution);
    the caller pages them."""
    stmt = select(Course).where(visible)
    if audience:
        stmt = stmt.where(Course.audience.in_([audience, "both"]) if audience != "both" else Course.audience == "both")
    if skill_area:
        stmt = stmt.where(Course.skill_area == skill_area)
    if institution:
        stmt = stmt.where(Course.institution_code.is_(None) if institution == "national" else Course.institution_code == institution)
    for word in words:
        stmt = stmt.where(Course.title_folded.contains(word, autoescape=True))
    return stmt


def course_enrolments(course_id: uuid.UUID, scope: Any, status: str | None) -> Select[CourseEnrolment]:
    """Enrolments in a course within ``scope``, of one status if given; the caller pages them."""
    stmt = select(CourseEnrolment).where(CourseEnrolment.course_id == course_id, scope)
    if status is not None:
        stmt = stmt.where(CourseEnrolment.status == status)
    return stmt


def learner_enrolments(account_sub: str, person_id: str | None) -> Select[CourseEnrolment]:
    """A person's enrolments: by their account, or by their person id; the caller pages them."""
    mine = [CourseEnrolment.account_sub == account_sub]
    if person_id:
        mine.append(CourseEnrolment.person_id == person_id)
    return select(CourseEnrolment).where(or_(*mine))


async def get_attempt(session: AsyncSession, attempt_id: uuid.UUID) -> QuizAttempt | None:
    return await session.get(QuizAttempt, attempt_id)
