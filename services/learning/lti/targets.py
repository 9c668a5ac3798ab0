"""What an LTI launch opens: a resource kind and an id (``course:<uuid>``, ``exam:<uuid>``). Each kind says what a
platform may launch and offer in deep linking, what a learner's launch opens for them (their record:
``enrolment/<id>`` in a course, ``exam-candidate/<id>`` on an exam's roster), and what that record has to report
already when a new line item is linked to it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import utcnow
from services.common.errors import Conflict, NotFound
from services.learning.assessment.exams import repository as exams_repository
from services.learning.assessment.exams import service as exams
from services.learning.courses import repository as courses
from services.learning.lti import outcomes, repository
from services.learning.models import Course, Exam, LtiPlatform, LtiUser


@dataclass(frozen=True)
class TargetInfo:
    kind: str
    id: str
    title: str
    text: str | None = None
    #: when learners may submit (a written exam's window): the deep link's ``submission`` window
    window: tuple[datetime, datetime] | None = None


class Target(Protocol):
    kind: str

    async def describe(self, session: AsyncSession, platform: LtiPlatform, target_id: str) -> TargetInfo:
        """The resource, if this platform may launch it; NotFound otherwise."""

    async def choices(self, session: AsyncSession, platform: LtiPlatform, limit: int) -> list[TargetInfo]:
        """What an instructor of this platform may choose by deep linking."""

    async def open_for_learner(self, session: AsyncSession, platform: LtiPlatform, user: LtiUser, target_id: str) -> str:
        """The learner's record in the resource (created at the first launch), e.g. ``enrolment/<id>``."""

    async def report_so_far(self, session: AsyncSession, platform: LtiPlatform, record: str, now: datetime) -> None:
        """A learner's launch linked ``record`` to a line item: what it has to report already is queued for it."""


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

    async def report_so_far(self, session: AsyncSession, platform: LtiPlatform, record: str, now: datetime) -> None:
        """Nothing: the enrolment was made by an LTI launch, whose grade link was there before it completed."""


class ExamTarget:
    """Kiểm tra, thi: a published exam of the platform's school (a national registration launches none: every exam
    belongs to a school). A learner's first launch puts them on its roster; they sit it through the launch's session,
    timed by the server as any sitting (the window, the duration, the extra time their teachers give them); its
    result goes back to the line item once the teachers release it, not before."""

    kind = "exam"

    async def _exam(self, session: AsyncSession, platform: LtiPlatform, target_id: str) -> Exam:
        try:
            key = uuid.UUID(target_id)
        except ValueError:
            raise NotFound(f"No exam {target_id}.") from None
        exam = await exams_repository.exam(session, key)
        if exam is None or exam.status != "published" or platform.institution_code is None or exam.institution_code != platform.institution_code:
            raise NotFound(f"No exam {target_id} that this platform may launch.")
        return exam

    def _info(self, exam: Exam) -> TargetInfo:
        if exam.kind == "written":
            text = (f"Written exam, {exam.duration_minutes} minutes, to start between {exams.iso(exam.opens_at)} and "
                    f"{exams.iso(exam.closes_at)}.")
        else:
            text = f"Practical exam, assessed between {exams.iso(exam.opens_at)} and {exams.iso(exam.closes_at)}."
        return TargetInfo(self.kind, str(exam.id), exam.title, text, window=(exam.opens_at, exam.closes_at) if exam.kind == "written" else None)

    async def describe(self, session: AsyncSession, platform: LtiPlatform, target_id: str) -> TargetInfo:
        return self._info(await self._exam(session, platform, target_id))

    async def choices(self, session: AsyncSession, platform: LtiPlatform, limit: int) -> list[TargetInfo]:
        if platform.institution_code is None:
            return []
        return [self._info(e) for e in await exams_repository.launchable_exams(session, platform.institution_code, limit)]

    async def open_for_learner(self, session: AsyncSession, platform: LtiPlatform, user: LtiUser, target_id: str) -> str:
        exam = await self._exam(session, platform, target_id)
        candidate = await exams.join_from_platform(session, exam, learner_key(user), user.name or f"LTI {user.sub}",
                                                   f"lti-platform:{platform.id}", utcnow())
        return outcomes.exam_record(candidate.id)

    async def report_so_far(self, session: AsyncSession, platform: LtiPlatform, record: str, now: datetime) -> None:
        """A result released before this launch goes to the launch's line item too."""
        candidate = await exams_repository.candidate(session, uuid.UUID(record.partition("/")[2]))
        exam = await exams_repository.exam(session, candidate.exam_id) if candidate is not None else None
        if candidate is not None and exam is not None:
            await exams.report_result(session, exam, candidate, now)


TARGETS: dict[str, Target] = {"course": CourseTarget(), "exam": ExamTarget()}


def parse(value: str | None) -> tuple[Target, str] | None:
    """``kind:id`` → its target kind and id; None for anything else."""
    kind, _, target_id = (value or "").partition(":")
    target = TARGETS.get(kind)
    return (target, target_id) if target is not None and target_id else None
