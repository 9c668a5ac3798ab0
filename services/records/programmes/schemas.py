from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict


class ModuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    code: str
    name: str
    credits: int
    weights: dict[str, Any] | None
    is_condition: bool


class ProgrammeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    institution_code: str
    code: str
    name: str
    level: str
    occupation_code: str | None
    occupation_name: str | None = None
    year: int
    grading_policy_code: str
    weights: dict[str, Any]
    credits: int = 0
    modules: list[ModuleRead] = []


class TermRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    code: str
    name: str
    start_date: date | None
    end_date: date | None


class CohortRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    code: str
    name: str
    programme_id: uuid.UUID
    start_year: int
    graduation_decision_number: str | None
    graduation_decision_date: date | None


class GraduationIn(BaseModel):
    decision_number: str
    decision_date: date
    #: graduation year printed on the diploma; defaults to the decision date's year
    year: int | None = None


class GraduationLine(BaseModel):
    enrolment_id: uuid.UUID
    learner_id: uuid.UUID
    full_name: str
    outcome: str  # graduated | not_eligible | already_graduated | skipped
    gpa: str | None = None
    classification: str | None = None
    reasons: list[str] = []


class GraduationResult(BaseModel):
    cohort_code: str
    graduated: int
    not_eligible: int
    lines: list[GraduationLine]
