"""Programmes (chương trình đào tạo) with their modules, terms and cohorts: the rows a school sends (``…Row``, the
same whether synced or sent one at a time) and what the API answers."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.records.fields import Code, Level, Row, nfc


class ModuleRow(Row):
    code: str = Code
    name: str = Field(min_length=1, max_length=300)
    credits: int = Field(ge=0, le=60)
    weights: dict[str, Any] | None = None
    is_condition: bool = False
    #: only for a module sent on its own (CSV ``modules`` / JSON ``modules``)
    programme_code: str | None = None

    _n = field_validator("name")(lambda cls, v: nfc(v))


class ProgrammeRow(Row):
    code: str = Code
    name: str = Field(min_length=1, max_length=300)
    level: Level
    occupation_code: str | None = Field(default=None, pattern=r"^\d{7}$")
    year: int = Field(ge=1990, le=2100)
    grading_policy: str | None = None
    weights: dict[str, Any] | None = None
    modules: list[ModuleRow] = []

    _n = field_validator("name")(lambda cls, v: nfc(v))


class TermRow(Row):
    code: str = Code
    name: str = Field(min_length=1, max_length=300)
    start_date: date | None = None
    end_date: date | None = None


class CohortRow(Row):
    code: str = Code
    name: str = Field(min_length=1, max_length=300)
    programme_code: str
    start_year: int = Field(ge=1990, le=2100)


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
