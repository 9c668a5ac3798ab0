from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.common.text import nfc
from services.records.fields import IdNumber, Sex

MAX_COHORT_ROWS = 5000
SchoolCode = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._\-]+$")]
Score = Annotated[Decimal, Field(ge=0, le=10, max_digits=5, decimal_places=2)]
SubjectCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
APPLICATION_STATES = ("submitted", "reviewed", "offered", "accepted", "declined", "enrolled", "rejected", "withdrawn")
ApplicationStatus = Literal["submitted", "reviewed", "offered", "accepted", "declined", "enrolled", "rejected", "withdrawn"]


class Strict(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class School(Strict):
    """The secondary school whose graduates these are."""

    code: SchoolCode
    name: str = Field(min_length=1, max_length=300)
    province_code: str = Field(pattern=r"^\d{3}$")
    #: the district (or, after the 2025 reform, the commune-level unit) the school reports under
    district: str = Field(min_length=1, max_length=100)

    _n = field_validator("name", "district")(lambda cls, v: nfc(v))


class GraduateRow(Strict):
    """One graduate of a cohort push."""

    id_number: IdNumber
    full_name: str = Field(min_length=1, max_length=300)
    date_of_birth: date
    sex: Sex | None = None
    #: subject code (``toan``, ``ngu_van``, ``tieng_anh``…) → score 0–10
    results: dict[SubjectCode, Score] = Field(default_factory=dict, max_length=30)

    _n = field_validator("full_name")(lambda cls, v: nfc(v))


class CohortPush(Strict):
    school: School
    graduation_year: int = Field(ge=2000, le=2100)
    #: validated row by row: a bad row is reported by its number and field
    graduates: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_COHORT_ROWS)


class RowError(BaseModel):
    row: int
    field: str
    message: str


class CohortResult(BaseModel):
    school_code: str
    graduation_year: int
    created: int
    updated: int
    unchanged: int
    rejected: list[RowError]


class GraduateRead(BaseModel):
    id: uuid.UUID
    id_number: str
    full_name: str
    date_of_birth: date
    sex: str | None
    school_code: str
    school_name: str
    province_code: str
    district: str
    graduation_year: int
    results: dict[str, str]


class ConsentIn(Strict):
    institution_code: SchoolCode


class ShareRead(BaseModel):
    """An institution that received the person's graduate data, and why."""

    institution_code: str
    purpose: Literal["application", "counselling"]
    granted_at: datetime
    withdrawn_at: datetime | None


class Criteria(Strict):
    """Intake criteria, checked against the pushed results when a person applies."""

    min_average: Score | None = None
    required_subjects: list[SubjectCode] = Field(default_factory=list, max_length=20)
    min_birth_year: int | None = Field(default=None, ge=1900, le=2100)


class IntakeIn(Strict):
    programme_code: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9._\-/]+$")
    name: str = Field(min_length=1, max_length=300)
    year: int = Field(ge=2000, le=2100)
    capacity: int = Field(ge=1, le=100_000)
    opens_on: date
    closes_on: date
    criteria: Criteria = Field(default_factory=Criteria)

    _n = field_validator("name")(lambda cls, v: nfc(v))

    @model_validator(mode="after")
    def _dates(self) -> IntakeIn:
        if self.closes_on < self.opens_on:
            raise ValueError("closes_on is before opens_on")
        return self


class IntakeRead(BaseModel):
    id: uuid.UUID
    institution_code: str
    code: str
    programme_code: str
    name: str
    year: int
    capacity: int
    opens_on: date
    closes_on: date
    criteria: dict[str, Any]


class ApplicationIn(Strict):
    """A citizen's application. Without pushed graduate data the person gives their particulars; the ID number
    must be their own (identity resolves it to the signed-in person)."""

    id_number: IdNumber | None = None
    full_name: str | None = Field(default=None, min_length=1, max_length=300)
    date_of_birth: date | None = None
    sex: Sex | None = None


class DecisionIn(Strict):
    note: str | None = Field(default=None, max_length=500)

    _n = field_validator("note")(lambda cls, v: nfc(v) if v else v)


class EnrolIn(Strict):
    cohort_code: str | None = Field(default=None, max_length=50, pattern=r"^[A-Za-z0-9._\-/]+$")
    enrolled_on: date | None = None
    mode: Literal["full_time", "work_study"] = "full_time"


class ApplicationRead(BaseModel):
    id: uuid.UUID
    intake_id: uuid.UUID
    intake_code: str
    programme_code: str
    institution_code: str
    status: ApplicationStatus
    id_number: str
    full_name: str
    date_of_birth: date | None
    sex: str | None
    note: str | None
    learner_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
    #: the pushed secondary-school results, while the applicant's consent to this institution stands
    graduate: GraduateRead | None = None


class MyAdmissions(BaseModel):
    graduate_records: list[GraduateRead]
    shared_with: list[ShareRead]
    applications: list[ApplicationRead]


class StreamingRow(BaseModel):
    province_code: str
    district: str
    graduates: int
    applied_vet: int
    enrolled_vet: int
    #: enrolled in VET over graduates
    rate: float | None
    target: float
    meets_target: bool | None


class StreamingReport(BaseModel):
    graduation_year: int
    target: float
    items: list[StreamingRow]


class IntakeReportRow(BaseModel):
    institution_code: str
    intake_code: str
    programme_code: str
    capacity: int
    applications: int
    offered: int
    accepted: int
    enrolled: int
    #: enrolled over capacity
    fill_rate: float


class IntakeReport(BaseModel):
    year: int
    items: list[IntakeReportRow]
