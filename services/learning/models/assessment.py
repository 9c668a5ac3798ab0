"""Online skills assessment (đánh giá kỹ năng): item banks, scheduled exams with per-learner forms, practical tasks
judged against rubrics by assessors, and gradebooks handed to records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from services.common.db import Entity, JSONType, utcnow
from services.learning.models import Base


class ItemBank(Entity, Base):
    """Ngân hàng câu hỏi of one module (occupation code + module code), shared nationally (``scope`` ``national``)
    or kept by one institution (``scope`` its code)."""

    __tablename__ = "item_banks"
    __table_args__ = (UniqueConstraint("scope", "occupation_code", "module_code", name="uq_item_bank_module"),)

    #: ``national`` or the institution's code
    scope: Mapped[str] = mapped_column(String(20))
    institution_code: Mapped[str | None] = mapped_column(String(20), index=True)
    occupation_code: Mapped[str] = mapped_column(String(10))
    module_code: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(200))


class Item(Entity, Base):
    """One item of a bank. ``answer`` is the key (choices, order, blanks, tolerance; for manual kinds the marking
    guidance). Items are never deleted: a retired item keeps its responses and statistics for history."""

    __tablename__ = "assessment_items"
    __table_args__ = (Index("ix_assessment_items_bank", "bank_id", "status", "created_at"),)

    bank_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("item_banks.id"))
    #: single | multiple | true_false | matching | numeric | ordering | cloze | essay | file_upload
    kind: Mapped[str] = mapped_column(String(20))
    prompt: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column()
    answer: Mapped[dict[str, Any]] = mapped_column()
    points: Mapped[int] = mapped_column(Integer, default=1)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    #: the author's estimate (easy | medium | hard), used until enough responses give a p-value
    declared_difficulty: Mapped[str] = mapped_column(String(10), default="medium")
    #: active | retired
    status: Mapped[str] = mapped_column(String(10), default="active")
    retired_at: Mapped[datetime | None] = mapped_column()
    retired_by: Mapped[str | None] = mapped_column(String(200))
    retire_reason: Mapped[str | None] = mapped_column(String(1000))
    created_by: Mapped[str] = mapped_column(String(200))
    #: classical test theory, as of ``stat_computed_at``: responses counted, p-value (mean credit), point-biserial
    stat_responses: Mapped[int] = mapped_column(Integer, default=0)
    stat_p_value: Mapped[float | None] = mapped_column(Float)
    stat_point_biserial: Mapped[float | None] = mapped_column(Float)
    stat_computed_at: Mapped[datetime | None] = mapped_column()


class ItemTag(Base):
    """An item's tags, one row each (blueprints and listings select by tag)."""

    __tablename__ = "assessment_item_tags"

    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assessment_items.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)


class Exam(Entity, Base):
    """Kỳ thi / bài kiểm tra of an institution: ``written`` (a blueprint drawn from item banks into a form per
    learner, timed on the server) or ``practical`` (tasks judged against rubrics by assessors)."""

    __tablename__ = "exams"
    __table_args__ = (Index("ix_exams_institution", "institution_code", "created_at", "id"),)

    institution_code: Mapped[str] = mapped_column(String(20))
    #: written | practical
    kind: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(300))
    occupation_code: Mapped[str | None] = mapped_column(String(10))
    module_code: Mapped[str | None] = mapped_column(String(50))
    bank_ids: Mapped[list[Any]] = mapped_column(default=list)
    #: ``[{"tag": str | None, "band": "easy" | "medium" | "hard" | "any", "count": n}]``
    blueprint: Mapped[list[Any]] = mapped_column(default=list)
    #: frozen at publication: the candidate item ids of each blueprint row, so forms never depend on later bank edits
    pool: Mapped[list[Any] | None] = mapped_column()
    opens_at: Mapped[datetime] = mapped_column()
    closes_at: Mapped[datetime] = mapped_column()
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer, default=1)
    #: which attempt's score counts: highest | latest
    score_policy: Mapped[str] = mapped_column(String(10), default="highest")
    #: percent of the points needed to pass
    pass_mark: Mapped[float] = mapped_column(Float, default=50.0)
    shuffle_options: Mapped[bool] = mapped_column(Boolean, default=True)
    #: draft | published
    status: Mapped[str] = mapped_column(String(10), default="draft")
    published_at: Mapped[datetime | None] = mapped_column()
    results_released_at: Mapped[datetime | None] = mapped_column()
    released_by: Mapped[str | None] = mapped_column(String(200))
    #: the secret every form of this exam is drawn from (never leaves the server)
    form_secret: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200))


class ExamCandidate(Base):
    """A learner on an exam's roster (``learner_key``: ``person:<id>`` when the person is known, else the account
    subject) with their accommodation: extra minutes on the duration and on the window's close."""

    __tablename__ = "exam_candidates"
    __table_args__ = (
        UniqueConstraint("exam_id", "learner_key", name="uq_exam_candidate"),
        Index("ix_exam_candidates_person", "person_id"),
        Index("ix_exam_candidates_account", "account_sub"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    exam_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exams.id"))
    learner_key: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[str | None] = mapped_column(String(64))
    account_sub: Mapped[str | None] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(300))
    extra_minutes: Mapped[int] = mapped_column(Integer, default=0)
    accommodation_note: Mapped[str | None] = mapped_column(String(1000))
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExamAttempt(Base):
    """One sitting of a written exam: the learner's form (drawn once, stored), its timing and its score.
    ``status``: in_progress → submitted (by the learner) or expired (the deadline passed) → graded (every response
    scored, manual ones by a teacher)."""

    __tablename__ = "exam_attempts"
    __table_args__ = (
        UniqueConstraint("candidate_id", "number", name="uq_exam_attempt_number"),
        Index("ix_exam_attempts_exam", "exam_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    exam_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exams.id"))
    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exam_candidates.id"))
    number: Mapped[int] = mapped_column(Integer)
    #: ``[{"item_id", "choices"?: [ids in the order shown], ...}]``
    form: Mapped[list[Any]] = mapped_column()
    #: hex digest the form was drawn from: HMAC(exam secret, learner key + attempt number)
    form_seed: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="in_progress")
    started_at: Mapped[datetime] = mapped_column()
    deadline_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    points: Mapped[float | None] = mapped_column(Float)
    max_points: Mapped[float] = mapped_column(Float, default=0.0)
    #: percent of the form's points
    score: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    graded_at: Mapped[datetime | None] = mapped_column()


class ExamResponse(Base):
    """A learner's current answer to one item of an attempt, when it was first and last given, and its score
    (``credit`` 0–1 of the item's points; manual items: by the grader)."""

    __tablename__ = "exam_responses"
    __table_args__ = (
        UniqueConstraint("attempt_id", "item_id", name="uq_exam_response"),
        Index("ix_exam_responses_item", "item_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    attempt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exam_attempts.id"))
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assessment_items.id"))
    answer: Mapped[Any | None] = mapped_column(JSONType, nullable=True)
    #: a file-upload answer: the blob holding it
    blob_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("blobs.id"))
    filename: Mapped[str | None] = mapped_column(String(200))
    first_answered_at: Mapped[datetime | None] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column()
    changes: Mapped[int] = mapped_column(Integer, default=0)
    credit: Mapped[float | None] = mapped_column(Float)
    points_awarded: Mapped[float | None] = mapped_column(Float)
    graded_by: Mapped[str | None] = mapped_column(String(200))
    graded_at: Mapped[datetime | None] = mapped_column()
    comment: Mapped[str | None] = mapped_column(Text)


class ExamResponseEvent(Base):
    """Append-only: every answer a learner gave, with its time (what ``exam_responses`` holds is the last one)."""

    __tablename__ = "exam_response_events"
    __table_args__ = (Index("ix_exam_response_events_attempt", "attempt_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    attempt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exam_attempts.id"))
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assessment_items.id"))
    answer: Mapped[Any | None] = mapped_column(JSONType, nullable=True)
    at: Mapped[datetime] = mapped_column()


class PracticalTask(Entity, Base):
    """Bài thực hành of a practical exam, judged with an analytic rubric: criteria × levels with points; critical
    criteria must reach ``min_points`` whatever the total."""

    __tablename__ = "practical_tasks"

    exam_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exams.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    instructions: Mapped[str] = mapped_column(Text, default="")
    #: ``{"criteria": [{"id", "title", "critical", "min_points", "levels": [{"id", "title", "points"}]}]}``
    rubric: Mapped[dict[str, Any]] = mapped_column()
    max_points: Mapped[float] = mapped_column(Float)
    pass_mark: Mapped[float] = mapped_column(Float, default=50.0)
    #: 1, or 2 for double marking
    assessors_required: Mapped[int] = mapped_column(Integer, default=1)
    #: two assessors' totals further apart than this (points) need a moderator
    moderation_threshold: Mapped[float] = mapped_column(Float, default=0.0)


class AssessorInvitation(Base):
    """An invitation for an enterprise assessor (chuyên gia doanh nghiệp) to assess one exam: a one-time code, kept
    as its SHA-256, that binds the capability to the account that accepts it. Revocable; expires."""

    __tablename__ = "assessor_invitations"
    __table_args__ = (Index("ix_assessor_invitations_exam", "exam_id"), Index("ix_assessor_invitations_account", "account_sub"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    exam_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exams.id"))
    name: Mapped[str] = mapped_column(String(300))
    organisation: Mapped[str] = mapped_column(String(300))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    account_sub: Mapped[str | None] = mapped_column(String(200))
    accepted_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[str | None] = mapped_column(String(200))


class PracticalScore(Base):
    """One assessor's (or the moderator's) judgement of one candidate on one task: a level per criterion."""

    __tablename__ = "practical_scores"
    __table_args__ = (UniqueConstraint("task_id", "candidate_id", "assessor", "role", name="uq_practical_score"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practical_tasks.id"))
    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exam_candidates.id"), index=True)
    assessor: Mapped[str] = mapped_column(String(200))
    #: assessor | moderator
    role: Mapped[str] = mapped_column(String(10))
    levels: Mapped[dict[str, Any]] = mapped_column()
    points: Mapped[float] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class PracticalScoreAudit(Base):
    """Append-only: every score given or changed on a practical task — who, when, old → new, why."""

    __tablename__ = "practical_score_audit"
    __table_args__ = (Index("ix_practical_score_audit_task", "task_id", "candidate_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practical_tasks.id"))
    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exam_candidates.id"))
    score_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practical_scores.id"))
    #: the score's version this change made
    version: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))
    old: Mapped[dict[str, Any] | None] = mapped_column()
    new: Mapped[dict[str, Any]] = mapped_column()
    reason: Mapped[str | None] = mapped_column(String(1000))
    at: Mapped[datetime] = mapped_column()


class PracticalEvidence(Base):
    """Minh chứng: a photo, video or file of a candidate's practical work, in the object store (a blob)."""

    __tablename__ = "practical_evidence"
    __table_args__ = (Index("ix_practical_evidence_task", "task_id", "candidate_id", "uploaded_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practical_tasks.id"))
    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exam_candidates.id"))
    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id"))
    filename: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(1000))
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column()


class Gradebook(Entity, Base):
    """Sổ điểm of one class in one module: components with weights (data) and where each score comes from (an
    exam's counted result, or entered), handed to records as one grade per learner (programme, module, term)."""

    __tablename__ = "gradebooks"
    __table_args__ = (Index("ix_gradebooks_institution", "institution_code", "created_at", "id"),)

    institution_code: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    programme_code: Mapped[str] = mapped_column(String(50))
    module_code: Mapped[str] = mapped_column(String(50))
    term_code: Mapped[str] = mapped_column(String(50))
    #: ``[{"key", "label", "weight": "0.4", "source": "exam" | "entered", "exam_id"?}]``
    components: Mapped[list[Any]] = mapped_column()
    #: records' grading policy of the programme, as read when the gradebook was made
    grading_policy: Mapped[dict[str, Any]] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(200))


class GradebookLearner(Base):
    """A learner of a gradebook: entered component scores, and what records answered when the grade was sent."""

    __tablename__ = "gradebook_learners"
    __table_args__ = (UniqueConstraint("gradebook_id", "learner_key", name="uq_gradebook_learner"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    gradebook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gradebooks.id"), index=True)
    learner_key: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[str | None] = mapped_column(String(64))
    account_sub: Mapped[str | None] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(300))
    #: entered scores by component key, decimal strings on the 10-point scale
    entered: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: not_sent | sent | failed
    send_status: Mapped[str] = mapped_column(String(10), default="not_sent")
    #: SHA-256 of what was last sent successfully (a re-send of the same components is skipped)
    sent_fingerprint: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column()
    send_error: Mapped[str | None] = mapped_column(Text)
    records_grade_id: Mapped[str | None] = mapped_column(String(64))
    records_score: Mapped[str | None] = mapped_column(String(10))
    records_letter: Mapped[str | None] = mapped_column(String(2))
    records_passed: Mapped[bool | None] = mapped_column(Boolean)
    records_version: Mapped[int | None] = mapped_column(Integer)
