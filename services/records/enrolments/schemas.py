"""Enrolments (a learner in a programme) and their status history: the row a school sends and what the API
answers."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from services.records.fields import IdNumber, Mode, Row, Status


class EnrolmentRow(Row):
    id_number: IdNumber
    programme_code: str
    cohort_code: str | None = None
    mode: Mode = "full_time"
    status: Status = "enrolled"
    enrolled_on: date | None = None
    status_reason: str | None = Field(default=None, max_length=500)


class StatusChangeIn(BaseModel):
    status: Status
    reason: str = Field(min_length=1, max_length=500)


class StatusChangeRead(BaseModel):
    previous_status: str | None
    status: str
    reason: str | None
    source: str
    actor: str
    changed_at: Any
