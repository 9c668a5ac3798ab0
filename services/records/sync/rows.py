"""The records a school sends, one per row, whatever the format (JSON batch, CSV, OneRoster): validated with
these schemas, then applied by :mod:`services.records.sync.apply`."""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from services.common import id_numbers

Level = Literal["elementary", "intermediate", "college", "short_course"]
Mode = Literal["full_time", "work_study"]
Status = Literal["enrolled", "suspended", "withdrawn", "graduated"]
Sex = Literal["male", "female"]
Code = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9._\-/]+$")


def _id_number(v: str) -> str:
    """Số định danh cá nhân, checked by the kit's rules (:mod:`services.common.id_numbers`, the ones identity
    applies); the date of birth and sex are checked against it when identity resolves the learner. The message
    never repeats the number (errors are stored and shown)."""
    broken = id_numbers.check(v)
    if broken and broken[0].rule == "shape":
        kind = "digits" if v.isascii() and v.isdigit() else "characters, not all digits"
        raise ValueError(f"a personal ID number has 12 digits; this one has {len(v)} {kind}")
    if broken:
        raise ValueError("; ".join(r.message for r in broken))
    return v


IdNumber = Annotated[str, AfterValidator(_id_number), Field(description="12-digit personal identification number",
                                                             json_schema_extra={"pattern": r"^\d{12}$"})]


def _nfc(v: str | None) -> str | None:
    return unicodedata.normalize("NFC", v) if isinstance(v, str) else v


class Row(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class ModuleRow(Row):
    code: str = Code
    name: str = Field(min_length=1, max_length=300)
    credits: int = Field(ge=0, le=60)
    weights: dict[str, Any] | None = None
    is_condition: bool = False
    #: only for a module sent on its own (CSV ``modules`` / JSON ``modules``)
    programme_code: str | None = None

    _n = field_validator("name")(lambda cls, v: _nfc(v))


class ProgrammeRow(Row):
    code: str = Code
    name: str = Field(min_length=1, max_length=300)
    level: Level
    occupation_code: str | None = Field(default=None, pattern=r"^\d{7}$")
    year: int = Field(ge=1990, le=2100)
    grading_policy: str | None = None
    weights: dict[str, Any] | None = None
    modules: list[ModuleRow] = []

    _n = field_validator("name")(lambda cls, v: _nfc(v))


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


class EnrolmentRow(Row):
    id_number: IdNumber
    programme_code: str
    cohort_code: str | None = None
    mode: Mode = "full_time"
    status: Status = "enrolled"
    enrolled_on: date | None = None
    status_reason: str | None = Field(default=None, max_length=500)


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

    _n = field_validator("full_name", "birth_place", "ethnicity")(lambda cls, v: _nfc(v))


class GradeRow(Row):
    id_number: IdNumber
    programme_code: str
    module_code: str
    term_code: str
    #: component scores 0–10, named as the module's weights are (default ``continuous`` and ``final``)
    components: dict[str, Any] = Field(min_length=1)
    reason: str | None = Field(default=None, max_length=500)


class GradeDelete(Row):
    id_number: IdNumber
    programme_code: str
    module_code: str
    term_code: str


ENTITIES: dict[str, type[Row]] = {
    "programmes": ProgrammeRow,
    "modules": ModuleRow,
    "terms": TermRow,
    "cohorts": CohortRow,
    "learners": LearnerRow,
    "enrolments": EnrolmentRow,
    "grades": GradeRow,
}
#: the order in which a JSON batch is applied, so a batch can define what its later rows refer to
ORDER = ["programmes", "modules", "terms", "cohorts", "learners", "enrolments", "grades"]
