from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import utcnow
from services.learning.models import Base


class CourseRun(Base):
    """Đợt học: a run of a course with optional dates and capacity."""

    __tablename__ = "course_runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    starts_at: Mapped[datetime | None] = mapped_column()
    ends_at: Mapped[datetime | None] = mapped_column()
    capacity: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CourseEnrolment(Base):
    """Ghi danh: one learner in one course. ``learner_key`` is ``person:<id>`` when the person is known, else the
    account subject; the facts reports group by (institution, province, sex, role) are kept as of enrolment."""

    __tablename__ = "course_enrolments"
    __table_args__ = (
        UniqueConstraint("course_id", "learner_key", name="uq_course_enrolment_learner"),
        Index("ix_course_enrolments_institution", "institution_code", "course_id"),
        Index("ix_course_enrolments_person", "person_id"),
        Index("ix_course_enrolments_account", "account_sub"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    run_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("course_runs.id"), index=True)
    learner_key: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[str | None] = mapped_column(String(64))
    account_sub: Mapped[str | None] = mapped_column(String(200))
    full_name: Mapped[str | None] = mapped_column(String(300))
    #: male | female | None (unknown)
    sex: Mapped[str | None] = mapped_column(String(10))
    #: student | teacher
    role: Mapped[str] = mapped_column(String(10))
    institution_code: Mapped[str | None] = mapped_column(String(20))
    province_code: Mapped[str | None] = mapped_column(String(10), index=True)
    #: the registry's type of the institution when the learner enrolled: college | intermediate | vet_centre | other;
    #: None on enrolments made before the type was kept (reports resolve those through the registry)
    institution_type: Mapped[str | None] = mapped_column(String(20))
    #: self | class | officer
    method: Mapped[str] = mapped_column(String(10))
    enrolled_by: Mapped[str] = mapped_column(String(200))
    #: enrolled | completed | withdrawn
    status: Mapped[str] = mapped_column(String(20), default="enrolled")
    enrolled_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    certified_at: Mapped[datetime | None] = mapped_column()
    credential_id: Mapped[str | None] = mapped_column(String(64))
    #: the latest withdrawal while ``status`` is ``withdrawn`` (every withdrawal and reopening is in
    #: :class:`EnrolmentChange`)
    withdrawn_at: Mapped[datetime | None] = mapped_column()
    withdrawn_by: Mapped[str | None] = mapped_column(String(200))
    withdrawal_reason: Mapped[str | None] = mapped_column(String(1000))


class EnrolmentChange(Base):
    """Audit of an enrolment's withdrawals (rút khỏi khoá học) and reopenings: who, when, why."""

    __tablename__ = "course_enrolment_changes"
    __table_args__ = (Index("ix_course_enrolment_changes_enrolment", "enrolment_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    enrolment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("course_enrolments.id", ondelete="CASCADE"))
    #: withdrawn | reopened
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(1000))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class LessonProgress(Base):
    __tablename__ = "lesson_progress"

    enrolment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("course_enrolments.id", ondelete="CASCADE"), primary_key=True)
    lesson_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True)
    opened_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    time_spent_seconds: Mapped[int] = mapped_column(Integer, default=0)
    #: an API call (progress, SCORM runtime) completed the lesson: voiding xAPI statements then leaves it completed
    completed_by_api: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class QuizAttempt(Base):
    """One attempt: the questions drawn (and option order shown), the answers, the server's grade."""

    __tablename__ = "quiz_attempts"
    __table_args__ = (UniqueConstraint("quiz_id", "enrolment_id", "number", name="uq_quiz_attempt_number"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    quiz_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    enrolment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("course_enrolments.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    #: ``[{"question_id", "order": [...option ids shown...], "right_order": [...]}]``
    drawn: Mapped[list[Any]] = mapped_column()
    answers: Mapped[dict[str, Any] | None] = mapped_column()
    #: open | submitted | expired
    status: Mapped[str] = mapped_column(String(20), default="open")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline_at: Mapped[datetime | None] = mapped_column()
    submitted_at: Mapped[datetime | None] = mapped_column()
    score: Mapped[float | None] = mapped_column()
    passed: Mapped[bool | None] = mapped_column(Boolean)


class CourseCompletion(Base):
    """Hoàn thành khoá học: at most one per enrolment (the unique key makes the outbox event exactly-once)."""

    __tablename__ = "course_completions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    enrolment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("course_enrolments.id", ondelete="CASCADE"), unique=True)
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    course_version: Mapped[int] = mapped_column(Integer)
    completed_at: Mapped[datetime] = mapped_column(default=utcnow)
    final_score: Mapped[float | None] = mapped_column()
    event_id: Mapped[uuid.UUID | None] = mapped_column()


class ScormValue(Base):
    """SCORM CMI runtime data (``cmi.core.lesson_status``, ``cmi.suspend_data`` …) per enrolment, lesson and attempt,
    as a browser runtime such as scorm-again commits it."""

    __tablename__ = "scorm_values"

    enrolment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("course_enrolments.id", ondelete="CASCADE"), primary_key=True)
    lesson_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    element: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PilotInstitution(Base):
    """Cơ sở thí điểm: an institution designated for the Decision 123 pilot (students trained there count toward
    the pilot target). Data kept by national officers."""

    __tablename__ = "pilot_institutions"

    institution_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    note: Mapped[str | None] = mapped_column(String(500))
    designated_by: Mapped[str] = mapped_column(String(200))
    designated_at: Mapped[datetime] = mapped_column(default=utcnow)
