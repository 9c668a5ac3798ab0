from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity, utcnow
from services.learning.models import Base


class SkillArea(Base):
    """Lĩnh vực kỹ năng mềm: the soft-skill areas of Decision 123, kept as data (seeded by the migration)."""

    __tablename__ = "skill_areas"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Course(Entity, Base):
    """Khoá học kỹ năng mềm / bồi dưỡng nhà giáo: an e-course owned by an institution, or national (no institution)."""

    __tablename__ = "courses"
    __table_args__ = (Index("ix_courses_listing", "status", "created_at", "id"),)

    institution_code: Mapped[str | None] = mapped_column(String(20), index=True)
    owner_sub: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    title_folded: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    skill_area: Mapped[str] = mapped_column(ForeignKey("skill_areas.code"), index=True)
    #: students | teachers | both
    audience: Mapped[str] = mapped_column(String(10))
    language: Mapped[str] = mapped_column(String(10), default="vi")
    estimated_hours: Mapped[float] = mapped_column(default=0.0)
    #: raised on every publication; completions and certificates name the version taken
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: draft | published | archived
    status: Mapped[str] = mapped_column(String(20), default="draft")
    #: in_order: a lesson opens once the required lessons before it are completed; all_open: any order
    release_rule: Mapped[str] = mapped_column(String(20), default="in_order")
    self_enrolment: Mapped[bool] = mapped_column(Boolean, default=True)
    published_at: Mapped[datetime | None] = mapped_column()


class CourseModule(Base):
    __tablename__ = "course_modules"
    __table_args__ = (UniqueConstraint("course_id", "position", name="uq_course_module_position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lesson(Base):
    """Bài học: a library learning object at a pinned version, an imported SCORM / cmi5 package (also a library
    object at a pinned version), or inline rich text."""

    __tablename__ = "lessons"
    __table_args__ = (UniqueConstraint("module_id", "position", name="uq_lesson_position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    module_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("course_modules.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    #: learning_object | package | text
    kind: Mapped[str] = mapped_column(String(20))
    learning_object_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("learning_objects.id"))
    learning_object_version: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(Text)
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    estimated_minutes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Question(Base):
    """Ngân hàng câu hỏi: one question of a course's bank. ``answer`` is the key: it never leaves the server."""

    __tablename__ = "questions"
    __table_args__ = (Index("ix_questions_course_pool", "course_id", "pool"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    pool: Mapped[str] = mapped_column(String(50), default="default")
    #: single | multiple | true_false | matching | numeric
    kind: Mapped[str] = mapped_column(String(20))
    prompt: Mapped[str] = mapped_column(Text)
    #: choices ``[{"id", "text"}]``; matching: ``{"left": [...], "right": [...]}``
    options: Mapped[dict[str, Any]] = mapped_column()
    answer: Mapped[dict[str, Any]] = mapped_column()
    points: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Quiz(Base):
    __tablename__ = "quizzes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    #: fixed question ids, in order
    question_ids: Mapped[list[Any]] = mapped_column(default=list)
    #: random draws: ``[{"pool": "...", "count": n}]``
    pools: Mapped[list[Any]] = mapped_column(default=list)
    shuffle: Mapped[bool] = mapped_column(Boolean, default=True)
    max_attempts: Mapped[int | None] = mapped_column(Integer)
    time_limit_seconds: Mapped[int | None] = mapped_column(Integer)
    #: percent of the points needed to pass
    pass_mark: Mapped[float] = mapped_column(default=50.0)
    #: counts for the completion rule
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
