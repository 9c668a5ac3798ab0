from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.common.text import nfc

QuestionKind = Literal["boolean", "choice", "text"]
EMPLOYER_TYPES = ["state", "private", "fdi", "self_employed", "household", "other"]
INCOME_BANDS = ["under_5m", "5m_10m", "10m_15m", "over_15m"]
#: the Ministry's standard employment indicators, asked in every round (codes fixed: the reports read them)
STANDARD_QUESTIONS: list[dict[str, Any]] = [
    {"code": "employed", "text": "Anh/chị hiện có việc làm không?", "kind": "boolean", "options": [], "required": True},
    {"code": "in_trained_occupation", "text": "Công việc có đúng nghề được đào tạo không?", "kind": "boolean", "options": [], "required": False},
    {"code": "employer_type", "text": "Nơi làm việc thuộc loại hình nào?", "kind": "choice", "options": EMPLOYER_TYPES, "required": False},
    {"code": "income_band", "text": "Thu nhập bình quân hằng tháng?", "kind": "choice", "options": INCOME_BANDS, "required": False},
    {"code": "further_study", "text": "Anh/chị có đang học tiếp không?", "kind": "boolean", "options": [], "required": False},
]
STANDARD_CODES = {q["code"] for q in STANDARD_QUESTIONS}
Dimension = Literal["institution", "occupation", "level", "province", "sex"]


class Strict(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class Question(Strict):
    code: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")
    text: str = Field(min_length=1, max_length=500)
    kind: QuestionKind
    options: list[str] = Field(default_factory=list, max_length=30)
    required: bool = False

    _n = field_validator("text")(lambda cls, v: nfc(v))

    @model_validator(mode="after")
    def _options(self) -> Question:
        if self.kind == "choice" and not self.options:
            raise ValueError("a choice question lists its options")
        if self.code in STANDARD_CODES:
            raise ValueError(f"{self.code} is a standard question, asked in every round")
        return self


class RoundIn(Strict):
    opens_on: date
    closes_on: date
    #: the institution's own questions, after the standard ones
    extra_questions: list[Question] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _dates(self) -> RoundIn:
        if self.closes_on < self.opens_on:
            raise ValueError("closes_on is before opens_on")
        return self


class RoundRead(BaseModel):
    id: uuid.UUID
    institution_code: str
    graduation_year: int
    months_after: int
    opens_on: date
    closes_on: date
    questions: list[dict[str, Any]]
    invited: int
    responded: int


class InvitationRead(BaseModel):
    id: uuid.UUID
    full_name: str
    programme_code: str
    #: the one-time link to the survey, no account needed
    link: str
    responded_at: datetime | None


class SurveyForm(BaseModel):
    """What a graduate sees on the link (or in their account)."""

    invitation_id: uuid.UUID
    institution_code: str
    programme_name: str
    graduation_year: int
    months_after: int
    closes_on: date
    questions: list[dict[str, Any]]
    responded: bool


class AnswersIn(Strict):
    answers: dict[str, bool | str | None] = Field(max_length=40)

    @field_validator("answers")
    @classmethod
    def _bounded(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key, value in v.items():
            if len(key) > 40 or (isinstance(value, str) and len(value) > 2000):
                raise ValueError(f"{key[:40]}: too long")
        return {k: nfc(x) if isinstance(x, str) else x for k, x in v.items()}


class ReportRow(BaseModel):
    group: dict[str, str | None]
    invited: int
    responded: int
    response_rate: float | None
    employed: int
    employment_rate: float | None
    in_trained_occupation: int
    trained_occupation_rate: float | None
    further_study: int


class FollowupReport(BaseModel):
    graduation_year: int
    months_after: int
    by: list[str]
    items: list[ReportRow]
