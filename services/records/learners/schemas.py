"""Learners (người học) of an institution: the row a school sends and what the API answers. Personal ID numbers
are shown in full or masked by :func:`services.records.access.may_see_numbers`."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from pydantic import BaseModel, Field, field_validator

from services.records.fields import IdNumber, Mode, Row, Sex, Status, nfc


class LearnerRow(Row):
    id_number: IdNumber
    full_name: str = Field(min_length=1, max_length=300)
    date_of_birth: date | None = None
    sex: Sex | None = None
    birth_place: str | None = Field(default=None, max_length=300)
    ethnicity: str | None = Field(default=None, max_length=50)
    disability: bool = False
    learner_code: str | None = Field(default=None, max_length=50)
    #: optional enrolment on the same row
    programme_code: str | None = None
    cohort_code: str | None = None
    mode: Mode | None = None
    status: Status | None = None
    enrolled_on: date | None = None

    _n = field_validator("full_name", "birth_place", "ethnicity")(lambda cls, v: nfc(v))


class EnrolmentRead(BaseModel):
    id: uuid.UUID
    programme_code: str
    programme_name: str
    cohort_id: uuid.UUID | None
    mode: str
    status: str
    enrolled_on: date | None
    graduated_on: date | None
    gpa: str | None
    classification: str | None
    transcript_url: str


class LearnerRead(BaseModel):
    id: uuid.UUID
    institution_code: str
    person_id: uuid.UUID
    id_number: str
    id_number_masked: bool
    learner_code: str | None
    full_name: str
    date_of_birth: date | None
    sex: str | None
    birth_place: str | None
    ethnicity: str | None
    ethnic_minority: bool
    disability: bool
    enrolments: list[EnrolmentRead] = []


class IdNumberCorrection(BaseModel):
    id_number: str = Field(pattern=r"^\d{12}$", description="the correct 12-digit personal identification number")
    reason: str = Field(min_length=1, max_length=500, description="why (kept in the audit trail)")


class KeyChangeRead(BaseModel):
    old_id_number: str
    new_id_number: str
    reason: str
    actor: str
    changed_at: Any
