from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: where a report stands on its calendar
State = Literal["submitted_on_time", "submitted_late", "draft", "overdue_draft", "not_started", "missing"]
LATE_STATES = ("submitted_late", "overdue_draft", "missing")


class ReportKindIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=3, max_length=300)
    scope: Literal["institution", "province"]
    filed_by: str = Field(min_length=2, max_length=200)
    received_by: str = Field(min_length=2, max_length=200)
    due_month: int = Field(ge=1, le=12)
    due_day: int = Field(ge=1, le=31)
    first_year: int = Field(ge=2000, le=2100)
    active: bool = True
    basis: str | None = Field(default=None, max_length=300)


class ReportKindRead(ReportKindIn):
    model_config = ConfigDict(from_attributes=True)

    code: str


class CalendarEntry(BaseModel):
    kind: str
    scope: Literal["institution", "province"]
    scope_code: str
    name: str
    province_code: str
    due: date
    state: State
    #: past its due date without a submission, or submitted after it
    late: bool
    report_id: uuid.UUID | None
    submitted_at: datetime | None


class Calendar(BaseModel):
    year: int
    as_of: datetime
    kinds: list[ReportKindRead]
    counts: dict[str, int]
    items: list[CalendarEntry]
