"""API shapes of exams: creation, rosters and accommodations, attempts as the learner and as the teacher see them,
results. A learner's view carries no key, and no score before the teacher releases the results."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator, model_validator

from services.learning.assessment.items.schemas import InstitutionCode, ItemShown, ModuleCode, OccupationCode, Tag

Band = Literal["easy", "medium", "hard", "any"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class BlueprintRow(BaseModel):
    """``count`` items with ``tag`` (any tag when left out) in difficulty ``band``. An item fits the first row it
    matches, so rows never compete for one item."""

    model_config = ConfigDict(extra="forbid")

    tag: Tag | None = None
    band: Band = "any"
    count: int = Field(ge=1, le=200)


class ExamCreate(BaseModel):
    """A written exam draws a form per learner from ``bank_ids`` by ``blueprint`` and is timed (``duration_minutes``
    from the start, within the window ``opens_at``–``closes_at``); a practical exam holds tasks scored by assessors.
    ``max_attempts`` and ``score_policy`` are the re-sit policy: how many sittings, and which one counts."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["written", "practical"] = "written"
    title: Title
    institution_code: InstitutionCode | None = None
    occupation_code: OccupationCode | None = None
    module_code: ModuleCode | None = None
    bank_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    blueprint: list[BlueprintRow] = Field(default_factory=list, max_length=50)
    opens_at: datetime
    closes_at: datetime
    duration_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    max_attempts: int = Field(default=1, ge=1, le=10)
    score_policy: Literal["highest", "latest"] = "highest"
    pass_mark: float = Field(default=50.0, ge=0, le=100)
    shuffle_options: bool = True

    @field_validator("opens_at", "closes_at")
    @classmethod
    def _zoned(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give an RFC 3339 time with its offset")
        return value

    @field_validator("closes_at")
    @classmethod
    def _after_opening(cls, value: datetime, info: ValidationInfo) -> datetime:
        opens = info.data.get("opens_at")
        if opens is not None and value <= opens:
            raise ValueError("must be after opens_at")
        return value


class ExamUpdate(BaseModel):
    """A draft may change anything; a published exam only its title and a later close (to give more time)."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    bank_ids: list[uuid.UUID] | None = Field(default=None, max_length=20)
    blueprint: list[BlueprintRow] | None = Field(default=None, max_length=50)
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    duration_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    max_attempts: int | None = Field(default=None, ge=1, le=10)
    score_policy: Literal["highest", "latest"] | None = None
    pass_mark: float | None = Field(default=None, ge=0, le=100)
    shuffle_options: bool | None = None

    @field_validator("opens_at", "closes_at")
    @classmethod
    def _zoned(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give an RFC 3339 time with its offset")
        return value


class ExamRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    institution_code: str
    title: str
    occupation_code: str | None
    module_code: str | None
    bank_ids: list[uuid.UUID]
    blueprint: list[BlueprintRow]
    opens_at: datetime
    closes_at: datetime
    duration_minutes: int | None
    max_attempts: int
    score_policy: str
    pass_mark: float
    shuffle_options: bool
    status: str
    published_at: datetime | None
    results_released_at: datetime | None
    created_at: datetime
    #: the questions a form holds (written exams)
    form_length: int = 0


class LearnerIn(BaseModel):
    """A learner: the person (from identity; what records knows them by) and/or the account (``account:<id>``)."""

    model_config = ConfigDict(extra="forbid")

    person_id: uuid.UUID | None = None
    account: Annotated[str, StringConstraints(pattern=r"^account:[0-9a-fA-F-]{36}$")] | None = None
    full_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    extra_minutes: int = Field(default=0, ge=0, le=24 * 60)

    @model_validator(mode="after")
    def _someone(self) -> LearnerIn:
        if self.person_id is None and self.account is None:
            raise ValueError("give person_id or account")
        return self


class RosterAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    learners: list[LearnerIn] = Field(min_length=1, max_length=2000)


class CandidateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    exam_id: uuid.UUID
    person_id: str | None
    account_sub: str | None
    full_name: str
    extra_minutes: int
    accommodation_note: str | None
    added_at: datetime


class RosterResult(BaseModel):
    added: int
    existing: int
    items: list[CandidateRead]


class AccommodationIn(BaseModel):
    """Extra time for one learner (minutes on the duration and on the window's close), with why."""

    model_config = ConfigDict(extra="forbid")

    extra_minutes: int = Field(ge=0, le=24 * 60)
    note: Reason


class ResponseIn(BaseModel):
    """An answer by kind: a choice id (single), choice ids (multiple), true/false, ``{left id: right id}``
    (matching), a number (numeric), step ids in order (ordering), one text per blank (cloze), text (essay)."""

    model_config = ConfigDict(extra="forbid")

    answer: Any = None


class SubmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: last answers, by item id, saved before the attempt is handed in
    answers: dict[uuid.UUID, Any] = Field(default_factory=dict, max_length=500)


class GradeIn(BaseModel):
    """A person's score of an essay or file answer: points out of the item's, and a comment for the learner."""

    model_config = ConfigDict(extra="forbid")

    points: float = Field(ge=0, le=100)
    comment: Annotated[str, StringConstraints(max_length=10_000)] | None = None


class ResponseRead(BaseModel):
    item_id: uuid.UUID
    answer: Any = None
    filename: str | None = None
    first_answered_at: datetime | None = None
    answered_at: datetime | None = None
    changes: int = 0
    #: with scores (teachers; the learner once results are released)
    points_awarded: float | None = None
    credit: float | None = None
    comment: str | None = None
    graded_by: str | None = None


class AttemptRead(BaseModel):
    id: uuid.UUID
    exam_id: uuid.UUID
    candidate_id: uuid.UUID
    number: int
    status: str
    started_at: datetime
    deadline_at: datetime
    ended_at: datetime | None
    items: list[ItemShown]
    responses: list[ResponseRead]
    #: whether scores are shown (teachers always; learners once results are released)
    scores_visible: bool
    points: float | None = None
    max_points: float | None = None
    score: float | None = None
    passed: bool | None = None
    #: manual responses still to score
    pending: int | None = None


class AttemptSummary(BaseModel):
    id: uuid.UUID
    number: int
    status: str
    started_at: datetime
    ended_at: datetime | None
    score: float | None = None
    passed: bool | None = None


class ResultRead(BaseModel):
    """A candidate's result: the attempts (or, for a practical exam, the tasks) and the score that counts by the
    exam's policy, in percent and on the 10-point scale."""

    candidate: CandidateRead
    attempts: list[AttemptSummary] = []
    tasks: list[dict[str, Any]] = []
    #: complete | pending (something is still to score) | absent (nothing to score)
    status: str
    score: float | None = None
    score_10: str | None = None
    passed: bool | None = None


class MyResult(BaseModel):
    exam_id: uuid.UUID
    title: str
    released: bool
    attempts: list[AttemptSummary]
    attempts_left: int
    score: float | None = None
    score_10: str | None = None
    passed: bool | None = None
    tasks: list[dict[str, Any]] = []


class FileLink(BaseModel):
    url: str
    expires_in: int
    filename: str | None
    content_type: str
    size: int
    sha256: str
