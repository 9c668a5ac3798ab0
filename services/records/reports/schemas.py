from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ReportCreate(BaseModel):
    scope: Literal["institution", "province"]
    code: str = Field(min_length=3, max_length=20)
    year: int = Field(ge=2000, le=2100)
    notes: str | None = Field(default=None, max_length=4000)


class ReportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    scope: str
    scope_code: str
    year: int
    status: str
    figures: dict[str, Any]
    notes: str | None
    deadline: date | None = None
    late: bool
    submitted_at: datetime | None
    submitted_by: str | None
    version: int
