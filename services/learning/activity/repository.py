from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.learning.models import Course, CourseEnrolment, LearningObject

#: the skill area of the teachers' digital-competence courses (Decision 2222)
DIGITAL = "digital"


async def publications(session: AsyncSession) -> dict[str, tuple[int, datetime | None]]:
    stmt = (select(LearningObject.institution_code, func.count(), func.max(LearningObject.published_at))
            .where(LearningObject.status == "published").group_by(LearningObject.institution_code))
    return {code: (int(n), last) for code, n, last in (await session.execute(stmt)).all()}


async def completions(session: AsyncSession) -> dict[str, dict[str, Any]]:
    """Per institution: distinct students who completed any course, distinct teachers who completed a digital
    course, and the latest completion."""
    done = CourseEnrolment.completed_at.is_not(None)
    students = (select(CourseEnrolment.institution_code, func.count(func.distinct(CourseEnrolment.learner_key)),
                       func.max(CourseEnrolment.completed_at))
                .where(done, CourseEnrolment.role == "student", CourseEnrolment.institution_code.is_not(None))
                .group_by(CourseEnrolment.institution_code))
    teachers = (select(CourseEnrolment.institution_code, func.count(func.distinct(CourseEnrolment.learner_key)),
                       func.max(CourseEnrolment.completed_at))
                .join(Course, Course.id == CourseEnrolment.course_id)
                .where(done, CourseEnrolment.role == "teacher", Course.skill_area == DIGITAL,
                       CourseEnrolment.institution_code.is_not(None))
                .group_by(CourseEnrolment.institution_code))
    out: dict[str, dict[str, Any]] = {}
    for key, stmt in (("students", students), ("teachers", teachers)):
        for code, n, last in (await session.execute(stmt)).all():
            if code is None:
                continue
            row = out.setdefault(code, {"students": 0, "teachers": 0, "last": None})
            row[key] = int(n)
            row["last"] = max(filter(None, (row["last"], last)), default=None)
    return out
