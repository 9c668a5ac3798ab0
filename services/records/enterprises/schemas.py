"""Enterprises' invitations, answers and the employer feedback report, as sent and read."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.common.text import nfc

Purpose = Literal["programme_review", "assessment_panel", "employer_feedback"]
SKILLS_MATCH = ["fully", "mostly", "partly", "not"]
#: the employer feedback form's standard questions (codes fixed: the report reads them)
EMPLOYER_QUESTIONS: list[dict[str, Any]] = [
    {"code": "graduates_employed", "text": "Số người tốt nghiệp năm đó của trường đang làm việc tại doanh nghiệp?", "kind": "count",
     "options": [], "required": True},
    {"code": "skills_match", "text": "Mức độ đáp ứng yêu cầu công việc của người tốt nghiệp?", "kind": "choice", "options": SKILLS_MATCH,
     "required": True},
    {"code": "would_hire_again", "text": "Doanh nghiệp có tiếp tục tuyển người tốt nghiệp của trường không?", "kind": "boolean",
     "options": [], "required": False},
    {"code": "skills_gaps", "text": "Kỹ năng cần bổ sung trong chương trình đào tạo", "kind": "text", "options": [], "required": False},
]


class Strict(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


class InvitationIn(Strict):
    enterprise_code: str = Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._\-]+$")
    purpose: Purpose
    #: programme_review: the programme whose outcomes are reviewed
    programme_code: str | None = Field(default=None, min_length=1, max_length=50)
    #: assessment_panel: the RPL assessment
    assessment_id: uuid.UUID | None = None
    #: employer_feedback: the graduates of this year
    graduation_year: int | None = Field(default=None, ge=2000, le=2100)
    message: str | None = Field(default=None, max_length=2000)
    closes_on: date | None = None

    _n = field_validator("message")(lambda cls, v: nfc(v) if v else v)


class InvitationRead(BaseModel):
    id: uuid.UUID
    institution_code: str
    enterprise_code: str
    purpose: Purpose
    subject: str
    message: str | None
    closes_on: date | None
    #: the signed link the enterprise answers by (no account needed)
    link: str
    responded_at: datetime | None
    channel: str | None


class InvitationForm(BaseModel):
    """What the enterprise sees: what it is asked about."""

    invitation_id: uuid.UUID
    institution_code: str
    institution_name: str | None
    enterprise_code: str
    purpose: Purpose
    message: str | None
    closes_on: date | None
    responded: bool
    #: programme_review: the programme and its outcomes with the comments given so far
    programme: dict[str, Any] | None = None
    #: assessment_panel: the module assessed and the experience claimed (no personal data beyond that)
    assessment: dict[str, Any] | None = None
    #: employer_feedback: the graduation year and the questions
    graduation_year: int | None = None
    questions: list[dict[str, Any]] | None = None


class Comment(Strict):
    outcome_code: str = Field(min_length=1, max_length=50)
    comment: str = Field(min_length=1, max_length=4000)

    _n = field_validator("comment")(lambda cls, v: nfc(v))


class AnswerIn(Strict):
    """One of, as the invitation's purpose asks: comments on outcomes, a panel member, the feedback form's answers."""

    comments: list[Comment] | None = Field(default=None, max_length=100)
    member_name: str | None = Field(default=None, min_length=1, max_length=200)
    #: the panel member's own account on the platform (their person id): bound by the answer, that person (and no one
    #: else of the enterprise) sees the assessment's evidence files
    member_person_id: uuid.UUID | None = None
    answers: dict[str, bool | int | str | None] | None = Field(default=None, max_length=40)

    _n = field_validator("member_name")(lambda cls, v: nfc(v) if v else v)

    @field_validator("answers")
    @classmethod
    def _bounded(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        for key, value in v.items():
            if len(key) > 40 or (isinstance(value, str) and len(value) > 2000):
                raise ValueError(f"{key[:40]}: too long")
        return {k: nfc(x) if isinstance(x, str) else x for k, x in v.items()}


class CommentRead(BaseModel):
    enterprise_code: str
    outcome_code: str
    comment: str
    updated_at: datetime


class FeedbackRow(BaseModel):
    group: dict[str, str | None]
    invited: int
    responded: int
    response_rate: float | None
    graduates_employed: int
    #: share of responding enterprises saying the graduates meet the job's requirements fully or mostly
    skills_match_rate: float | None
    would_hire_again_rate: float | None


class FeedbackReport(BaseModel):
    graduation_year: int
    by: Literal["institution", "province"]
    items: list[FeedbackRow]
