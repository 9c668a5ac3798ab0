"""API shapes of practical assessment: tasks with rubrics, assessors' invitations, judgements, evidence."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Text = Annotated[str, StringConstraints(max_length=20_000)]


class LevelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    points: float = Field(ge=0, le=1000)


class CriterionIn(BaseModel):
    """A criterion and its levels (2–10, e.g. chưa đạt / đạt / tốt); ``critical`` ones must reach ``min_points``."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    critical: bool = False
    min_points: float | None = Field(default=None, ge=0, le=1000)
    levels: list[LevelIn] = Field(min_length=2, max_length=10)


class RubricIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    criteria: list[CriterionIn] = Field(min_length=1, max_length=30)


class TaskCreate(BaseModel):
    """A task of a practical exam. ``assessors_required`` 2 is double marking: totals further apart than
    ``moderation_threshold`` points go to a moderator."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    instructions: Text = ""
    rubric: RubricIn
    pass_mark: float = Field(default=50.0, ge=0, le=100)
    assessors_required: int = Field(default=1, ge=1, le=2)
    moderation_threshold: float = Field(default=0.0, ge=0, le=10_000)


class TaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    exam_id: uuid.UUID
    position: int
    title: str
    instructions: str
    rubric: dict[str, Any]
    max_points: float
    pass_mark: float
    assessors_required: int
    moderation_threshold: float


class InvitationCreate(BaseModel):
    """An enterprise assessor to invite: who, from which enterprise, and how many days the code may be accepted."""

    model_config = ConfigDict(extra="forbid")

    name: Title
    organisation: Title
    valid_days: int | None = Field(default=None, ge=1, le=90)


class InvitationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    exam_id: uuid.UUID
    name: str
    organisation: str
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    accepted_by: str | None = None
    revoked_at: datetime | None


class InvitationIssued(InvitationRead):
    #: the one-time code to hand to the assessor (shown once; kept only as its hash)
    code: str


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=16, max_length=200)]


class JudgementIn(BaseModel):
    """One level per criterion (``{"c1": "c1.l3", …}``), a comment, and — when changing a score after the results
    were released, or as a moderator — why."""

    model_config = ConfigDict(extra="forbid")

    levels: dict[Annotated[str, StringConstraints(max_length=20)], Annotated[str, StringConstraints(max_length=20)]] = Field(max_length=30)
    comment: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)] | None = None


class ScoreRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    assessor: str
    role: str
    levels: dict[str, Any]
    points: float
    comment: str | None
    version: int
    updated_at: datetime


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    actor: str
    role: str
    version: int
    old: dict[str, Any] | None
    new: dict[str, Any]
    reason: str | None
    at: datetime


class OutcomeRead(BaseModel):
    #: unscored | pending | needs_moderation | final
    status: str
    points: float | None = None
    max_points: float
    percent: float | None = None
    passed: bool | None = None
    criteria: dict[str, float] = {}
    critical_failed: list[str] = []
    difference: float | None = None


class JudgementsRead(BaseModel):
    """A candidate's judgements on a task: the scores the caller may see (an invited assessor: their own), the
    outcome, and the audit trail (teachers)."""

    task_id: uuid.UUID
    candidate_id: uuid.UUID
    scores: list[ScoreRead]
    outcome: OutcomeRead
    audit: list[AuditRead] = []


class EvidenceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    task_id: uuid.UUID
    candidate_id: uuid.UUID
    filename: str | None
    content_type: str
    size: int
    note: str | None
    uploaded_by: str
    uploaded_at: datetime


class AssessingRead(BaseModel):
    """An exam you were invited to assess."""

    exam_id: uuid.UUID
    title: str
    institution_code: str
    invitation_id: uuid.UUID
    organisation: str
