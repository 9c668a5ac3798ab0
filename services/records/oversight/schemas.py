from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.records.oversight.indicators import INDICATORS

InstitutionType = Literal["college", "intermediate", "vet_centre", "enterprise", "other"]


class Freshness(BaseModel):
    """When each kind of data last reached the platform for the institution (None: never)."""

    #: the latest learner or enrolment change in records' change feed
    learners: datetime | None
    #: the latest grade change in records' change feed
    grades: datetime | None
    #: the latest diploma issued, as credentials' events told records
    diplomas: datetime | None
    #: the latest learning material published, as learning said at the last pull
    material: datetime | None


class LastError(BaseModel):
    at: datetime
    job_id: uuid.UUID
    message: str


class WeekRows(BaseModel):
    #: ISO week, e.g. 2026-W49
    week: str
    rows: int
    rejected: int


class ConnectionRow(BaseModel):
    code: str
    name: str
    type: str
    ownership: str
    province_code: str
    status: str
    latitude: float | None
    longitude: float | None
    machine_clients_active: int
    last_sync_at: datetime | None
    connected: bool
    #: why not connected: no_active_client | never_synced | sync_older_than_window (None when connected)
    reason: str | None
    diplomas_issued: int
    freshness: Freshness
    last_error: LastError | None
    weeks: list[WeekRows]


class Share(BaseModel):
    province_code: str
    type: str
    institutions: int
    connected: int
    share: float
    #: the connection targets for this province and year (the province's own, else the national ones)
    targets: dict[int, float]


class SourceFreshness(BaseModel):
    source: str
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


class ConnectionBoard(BaseModel):
    as_of: datetime
    window_days: int
    provinces: list[str] | None
    #: the pulled sources (identity's registry and machine clients, learning's activity) and when they were read
    sources: list[SourceFreshness]
    items: list[ConnectionRow]
    shares: list[Share]


class TargetBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("indicator", check_fields=False)
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is not None and v not in INDICATORS:
            raise ValueError(f"unknown indicator; one of {', '.join(INDICATORS)}")
        return v


class TargetCreate(TargetBase):
    source_decision: str = Field(min_length=2, max_length=100, examples=["2222/QĐ-TTg"])
    indicator: str = Field(max_length=60, examples=["connected_share"])
    province_code: str | None = Field(default=None, pattern=r"^\d{3}$", description="absent: a national target")
    institution_type: Literal["college", "intermediate", "vet_centre"] | None = None
    year: int = Field(ge=2000, le=2100)
    value: float = Field(ge=0, le=100_000_000, description="a share as a fraction (0.5 = 50%), or a count")
    note: str | None = Field(default=None, max_length=1000)


class TargetUpdate(TargetBase):
    """Only the fields sent change."""

    value: float | None = Field(default=None, ge=0, le=100_000_000)
    note: str | None = Field(default=None, max_length=1000)
    year: int | None = Field(default=None, ge=2000, le=2100)


class TargetRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source_decision: str
    indicator: str
    scope: Literal["national", "province"]
    province_code: str | None
    institution_type: str | None
    year: int
    value: float
    note: str | None
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    version: int


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
    actor: str
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class ValueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: float = Field(ge=0, le=100_000_000)
    note: str | None = Field(default=None, max_length=1000)


class ValueRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    indicator: str
    province_code: str | None
    year: int
    value: float
    note: str | None
    entered_by: str
    entered_at: datetime


class TargetPoint(BaseModel):
    source_decision: str
    year: int
    value: float
    institution_type: str | None
    scope: Literal["national", "province"]


class IndicatorCard(BaseModel):
    code: str
    name: str
    unit: Literal["share", "count"]
    computed: bool
    basis: str
    year: int
    value: float | None
    #: computed | snapshot | entered | none
    source: str
    entered_by: str | None = None
    entered_at: datetime | None = None
    #: the parts of a computed value (numerator and denominator of a share)
    numerator: float | None = None
    denominator: float | None = None
    targets: list[TargetPoint]
    #: year → value, from the first year followed to this one
    trend: dict[int, float | None]


class IndicatorReport(BaseModel):
    scope: str
    year: int
    as_of: datetime
    cards: list[IndicatorCard]
