"""Credit transfer and recognition of prior learning as sent and read."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.records.fields import Code, Level, nfc

SourceKind = Literal["module", "credential", "experience"]


class Strict(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")


def _grade(v: str | None, top: Decimal) -> str | None:
    if v is None:
        return None
    try:
        d = Decimal(v)
    except InvalidOperation:
        raise ValueError("a number") from None
    if not d.is_finite() or d < 0 or d > top:
        raise ValueError(f"between 0 and {top}")
    return format(d.normalize(), "f")


class RuleIn(Strict):
    """Quy tắc quy đổi: which prior result recognises ``module_code`` of the programme, on what conditions."""

    module_code: str = Code
    source_kind: SourceKind
    #: module: the prior module's code (required) and its institution (absent: any institution)
    source_module_code: str | None = Field(default=None, min_length=1, max_length=50)
    source_institution_code: str | None = Field(default=None, min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._\-]+$")
    #: credential: the diploma's occupation code and level (absent: any)
    source_occupation_code: str | None = Field(default=None, pattern=r"^\d{7}$")
    source_level: Level | None = None
    min_credits: int = Field(default=0, ge=0, le=60)
    #: on the source's scale: a module's score 0–10, a diploma's GPA 0–4, an assessment's score 0–10
    min_grade: str | None = Field(default=None, max_length=10)
    max_age_years: int | None = Field(default=None, ge=0, le=50)
    #: the recognised grade counts in the GPA (else toward graduation only)
    in_gpa: bool = False

    @field_validator("min_grade")
    @classmethod
    def _min_grade(cls, v: str | None) -> str | None:
        return _grade(v, Decimal(10))  # a credential rule's (a GPA) is held to 4 by the service


class RuleRead(RuleIn):
    model_config = ConfigDict(extra="ignore")
    id: uuid.UUID
    code: str
    programme_code: str


class RequestIn(Strict):
    """A learner's request to the institution where they are enrolled in a programme: their results recorded
    on the platform are looked up by the platform; diplomas or certificates from elsewhere are presented as signed
    credentials (each verified by the credentials service)."""

    credentials: list[dict[str, Any]] = Field(default_factory=list, max_length=10)


class Check(BaseModel):
    check: Literal["credits", "grade", "age", "verified", "holder", "result", "rule"]
    passed: bool
    detail: str


class ItemRead(BaseModel):
    id: uuid.UUID
    module_code: str
    module_name: str | None
    rule_code: str | None
    source_kind: str
    source: dict[str, Any]
    checks: list[Check]
    status: Literal["pending", "approved", "refused"]
    reason: str | None
    score: str | None
    decided_by: str | None
    decided_at: datetime | None


class RequestRead(BaseModel):
    id: uuid.UUID
    institution_code: str
    programme_code: str
    enrolment_id: uuid.UUID
    learner_name: str
    status: Literal["submitted", "decided"]
    created_at: datetime
    items: list[ItemRead]


class DecisionIn(Strict):
    decision: Literal["approved", "refused"]
    reason: str | None = Field(default=None, max_length=1000)
    #: the recognised grade (0–10) when the rule counts it in the GPA; absent: the prior module's score
    score: str | None = Field(default=None, max_length=10)

    _n = field_validator("reason")(lambda cls, v: nfc(v) if v else v)
    _s = field_validator("score")(lambda cls, v: _grade(v, Decimal(10)))


class PanelMember(Strict):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["chair", "member", "assessor"] = "member"
    organisation: str | None = Field(default=None, max_length=300)
    #: an enterprise registered as an institution (type enterprise), or the institution itself
    institution_code: str | None = Field(default=None, min_length=1, max_length=20, pattern=r"^[A-Za-z0-9._\-]+$")

    _n = field_validator("name", "organisation")(lambda cls, v: nfc(v) if v else v)


class AssessmentIn(Strict):
    """Đánh giá công nhận kỹ năng nghề tích lũy: a learner's work experience assessed against one module."""

    assessor: str = Field(min_length=1, max_length=200)
    panel: list[PanelMember] = Field(default_factory=list, max_length=10)
    experience: str = Field(min_length=1, max_length=4000)

    _n = field_validator("assessor", "experience")(lambda cls, v: nfc(v))


class Evidence(BaseModel):
    name: str
    content_type: str
    size: int
    sha256: str


class AssessmentRead(BaseModel):
    id: uuid.UUID
    institution_code: str
    enrolment_id: uuid.UUID
    module_code: str
    assessor: str
    panel: list[PanelMember]
    experience: str
    evidence: list[Evidence]
    decision: Literal["recognised", "not_recognised"] | None
    score: str | None
    reason: str | None
    decided_by: str | None
    decided_at: datetime | None


class EvidenceDownload(BaseModel):
    name: str
    content_type: str
    #: downloads the file until it expires (no token needed)
    download_url: str
    expires_in: int


class AssessmentDecisionIn(Strict):
    decision: Literal["recognised", "not_recognised"]
    #: the assessment's score (0–10): checked against the rule's minimum grade, in the GPA when the rule says so
    score: str | None = Field(default=None, max_length=10)
    reason: str | None = Field(default=None, max_length=1000)

    _n = field_validator("reason")(lambda cls, v: nfc(v) if v else v)
    _s = field_validator("score")(lambda cls, v: _grade(v, Decimal(10)))


class RecognisedRead(BaseModel):
    module_code: str
    source_kind: str
    source: str
    score: str | None
    in_gpa: bool
    recognised_at: datetime
