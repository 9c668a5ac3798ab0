"""API shapes of gradebooks: components with weights, learners, scores, and what records answered."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.learning.assessment.items.schemas import InstitutionCode

RecordsCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._\-/]{1,50}$")]
ComponentKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,29}$")]


class ComponentIn(BaseModel):
    """A component of the module score (đánh giá thường xuyên, giữa kỳ, thi kết thúc, thực hành): its key — the
    name records weighs it by in the module — its weight, and where its score comes from: an exam of the
    institution (its counted result on the 10-point scale) or entered by the teacher."""

    model_config = ConfigDict(extra="forbid")

    key: ComponentKey
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    weight: Decimal = Field(gt=0, le=1, max_digits=6, decimal_places=4)
    source: Literal["exam", "entered"] = "entered"
    exam_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _source(self) -> ComponentIn:
        if (self.source == "exam") != (self.exam_id is not None):
            raise ValueError("an exam component names its exam_id; an entered one has none")
        return self


class GradebookLearnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: uuid.UUID | None = None
    account: Annotated[str, StringConstraints(pattern=r"^account:[0-9a-fA-F-]{36}$")] | None = None
    full_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]

    @model_validator(mode="after")
    def _someone(self) -> GradebookLearnerIn:
        if self.person_id is None and self.account is None:
            raise ValueError("give person_id or account")
        return self


class GradebookCreate(BaseModel):
    """A class's gradebook for one module of a programme in a term (records' codes). The components and their
    weights must be the module's own in records (its weights, or the programme's), so the score records computes
    is the one shown here. Learners are listed, or copied from an exam's roster (``roster_from_exam``)."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    institution_code: InstitutionCode | None = None
    programme_code: RecordsCode
    module_code: RecordsCode
    term_code: RecordsCode
    components: list[ComponentIn] = Field(min_length=1, max_length=10)
    learners: list[GradebookLearnerIn] = Field(default_factory=list, max_length=2000)
    roster_from_exam: uuid.UUID | None = None


class LearnersAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    learners: list[GradebookLearnerIn] = Field(min_length=1, max_length=2000)


class ScoreEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    learner_id: uuid.UUID
    component: ComponentKey
    #: 0–10, at most two decimals; null clears it
    score: Decimal | None = Field(ge=0, le=10, max_digits=4, decimal_places=2)


class ScoresIn(BaseModel):
    """Scores of entered components (``a way to post a score for a learner``: a teacher, or later a tool's pass-back)."""

    model_config = ConfigDict(extra="forbid")

    entries: list[ScoreEntry] = Field(min_length=1, max_length=5000)


class RecordsState(BaseModel):
    #: not_sent | sent | failed
    status: str
    grade_id: str | None = None
    score: str | None = None
    letter: str | None = None
    passed: bool | None = None
    version: int | None = None
    sent_at: datetime | None = None
    error: str | None = None


class GradebookRow(BaseModel):
    learner_id: uuid.UUID
    person_id: str | None
    account_sub: str | None
    full_name: str
    #: component key → score on the 10-point scale (None: not yet)
    components: dict[str, str | None]
    missing: list[str]
    #: the weighted module score by records' rules (its grading policy), once every component has a score
    module_score: str | None = None
    letter: str | None = None
    passed: bool | None = None
    records: RecordsState


class ComponentRead(BaseModel):
    key: str
    label: str
    weight: str
    source: str
    exam_id: uuid.UUID | None = None
    #: an exam component: whether the exam's results are released (sending needs them released)
    released: bool | None = None


class GradebookRead(BaseModel):
    id: uuid.UUID
    institution_code: str
    title: str
    programme_code: str
    module_code: str
    term_code: str
    grading_policy_code: str
    components: list[ComponentRead]
    created_at: datetime
    rows: list[GradebookRow] = []


class GradebookSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    institution_code: str
    title: str
    programme_code: str
    module_code: str
    term_code: str
    created_at: datetime


class SentRow(BaseModel):
    learner_id: uuid.UUID
    full_name: str
    #: created | updated | unchanged | incomplete | failed
    outcome: str
    score: str | None = None
    letter: str | None = None
    grade_id: str | None = None
    error: str | None = None
    errors: list[dict[str, Any]] | None = None


class SendResult(BaseModel):
    created: int
    updated: int
    unchanged: int
    incomplete: int
    failed: int
    items: list[SentRow]
