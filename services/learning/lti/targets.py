"""What an LTI launch opens: a resource kind and an id (``course:<uuid>``). Each kind says what a platform may
launch and offer in deep linking, and what a learner's launch opens for them (their record, ``enrolment/<id>`` for a
course). Courses are the first kind; exams plug in here with a :class:`Target` of their own in :data:`TARGETS`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import utcnow
from services.common.errors import Conflict, NotFound
from services.learning.courses import repository as courses
from services.learning.lti import repository
from services.learning.models import Course, LtiPlatform, LtiUser


@dataclass(frozen=True)
class TargetInfo:
    kind: str
    id: str
    title: str
    text: str | None = None


class Target(Protocol):
    kind: str

    async def describe(self, session: AsyncSession, platform: LtiPlatform, target_id: str) -> TargetInfo:
        """The resource, if this platform may launch it; NotFound otherwise."""

    async def choices(self, session: AsyncSession, platform: LtiPlatform, limit: int) -> list[TargetInfo]:
        """What an instructor of this platform may choose by deep linking."""

    async def open_for_learner(self, session: AsyncSession, platform: LtiPlatform, user: LtiUser, target_id: str) -> str:
        """The learner's record in the resource (created at the first launch), e.g. ``enrolment/<id>``."""


def learner_key(user: LtiUser) -> str:
    """How the courses engine names an LTI learner (``learner_key`` and ``account_sub`` of their enrolments)."""
    return f"lti:{user.id}"


class CourseTarget:
    kind = "course"

    async def _course(self, session: AsyncSession, platform: LtiPlatform, target_id: str) -> Course:
        try:
            key = uuid.UUID(target_id)
        except ValueError:
            raise NotFound(f"No course {target_id}.") from None
        course = await session.get(Course, key)
        # national courses to every platform, a school's own to the school's platform; published ones only
        if course is None or course.status != "published" or course.institution_code not in (None, platform.institution_code):
            raise NotFound(f"No course {target_id} that this platform may launch.")
        return course

    async def describe(self, session: AsyncSession, platform: LtiPlatform, target_id: str) -> TargetInfo:
        course = await self._course(session, platform, target_id)
        return TargetInfo(self.kind, str(course.id), course.title, course.description or None)

    async def choices(self, session: AsyncSession, platform: LtiPlatform, limit: int) -> list[TargetInfo]:
        return [TargetInfo(self.kind, str(c.id), c.title, c.description or None)
                for c in await repository.launchable_courses(session, platform.institution_code, limit)]

    async def open_for_learner(self, session: AsyncSession, platform: LtiPlatform, user: LtiUser, target_id: str) -> str:
        """Enrols the learner at their first launch (method ``lti``, their school the platform's), as a student — or
        as a teacher in a course for teachers (teacher training launched from a school's LMS)."""
        course = await self._course(session, platform, target_id)
        key = learner_key(user)
        enrolment = await courses.enrolment_of(session, course.id, key)
        if enrolment is None:
            await courses.add_enrolments(session, [{
                "id": uuid.uuid4(), "status": "enrolled", "enrolled_at": utcnow(), "course_id": course.id, "run_id": None,
                "learner_key": key, "person_id": None, "account_sub": key, "full_name": user.name, "sex": None,
                "role": "teacher" if course.audience == "teachers" else "student", "institution_code": platform.institution_code,
                "province_code": platform.province_code, "institution_type": platform.institution_type, "method": "lti",
                "enrolled_by": f"lti-platform:{platform.id}",
            }])
            enrolment = await courses.enrolment_of(session, course.id, key)
            assert enrolment is not None
        elif enrolment.status == "withdrawn":
            raise Conflict("Your enrolment in this course was withdrawn by your school; ask them to enrol you again.",
                           enrolment_status="withdrawn")
        return f"enrolment/{enrolment.id}"


TARGETS: dict[str, Target] = {"course": CourseTarget()}


def parse(value: str | None) -> tuple[Target, str] | None:
    """``kind:id`` → its target kind and id; None for anything else."""
    kind, _, target_id = (value or "").partition(":")
    target = TARGETS.get(kind)
    return (target, target_id) if target is not None and target_id else None
