"""Learning outcomes (chuẩn đầu ra) as sent and read, and the digital-competence statistic."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.records.fields import Code, nfc


class OutcomeIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    code: str = Code
    text: str = Field(min_length=1, max_length=2000)
    #: level of the Vietnamese Qualifications Framework (Khung trình độ quốc gia): 1–3 elementary, 4 intermediate,
    #: 5 college, 6–8 higher education
    vqf_level: int = Field(ge=1, le=8)
    #: the outcome integrates digital competence (năng lực số)
    digital_competence: bool = False
    #: the module the outcome belongs to; absent: an outcome of the whole programme
    module_code: str | None = Field(default=None, min_length=1, max_length=50)

    _n = field_validator("text")(lambda cls, v: nfc(v))


class OutcomesIn(BaseModel):
    """The programme's whole set of outcomes: what is not listed is removed (sending it again changes nothing)."""

    model_config = ConfigDict(extra="forbid")

    outcomes: list[OutcomeIn] = Field(max_length=300)


class OutcomeRead(BaseModel):
    id: uuid.UUID
    code: str
    text: str
    vqf_level: int
    digital_competence: bool
    module_code: str | None


class ProgrammeOutcomes(BaseModel):
    institution_code: str
    programme_code: str
    outcomes: list[OutcomeRead]
    #: at least one outcome integrates digital competence (what the statistic counts)
    integrates_digital_competence: bool


class Target(BaseModel):
    year: int
    value: float
    met: bool
    source_decision: str


class DigitalShareRow(BaseModel):
    group: dict[str, str | None]
    programmes: int
    #: programmes with at least one learning outcome recorded
    with_outcomes: int
    #: programmes with at least one outcome integrating digital competence
    digital: int
    share: float | None
    targets: list[Target]


class DigitalShareReport(BaseModel):
    """Tỷ lệ chương trình có chuẩn đầu ra tích hợp năng lực số (Decision 2222/QĐ-TTg: 70% by 2025, 100% by 2030)."""

    indicator: Literal["outcomes_digital_share"] = "outcomes_digital_share"
    by: Literal["institution", "province"]
    items: list[DigitalShareRow]
    total: DigitalShareRow
