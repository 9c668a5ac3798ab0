from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

#: a headcount no institution reaches (the largest colleges have a few thousand staff)
MAX_STAFF = 100_000


class StaffCountIn(BaseModel):
    """An institution's headcount in a year, as the school reports it."""

    model_config = ConfigDict(extra="forbid")

    teachers: int = Field(ge=0, le=MAX_STAFF, description="nhà giáo: teachers, full- and part-time, in headcount")
    managers: int = Field(ge=0, le=MAX_STAFF, description="cán bộ quản lý: managers, in headcount")


class StaffCountRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    institution_code: str
    year: int
    teachers: int
    managers: int
    reported_by: str
    reported_at: datetime


class OversightInstitution(BaseModel):
    """One institution as national oversight needs it: the registry's facts, whether a school system can sync
    for it, and its latest staff counts."""

    code: str
    name: str
    type: str
    ownership: str
    province_code: str
    status: str
    latitude: float | None
    longitude: float | None
    #: active machine clients acting for the institution that may sync records (``records:sync``)
    machine_clients_active: int
    #: the most recent year's staff counts the school reported, if any
    staff: StaffCountRead | None


class OversightInstitutions(BaseModel):
    items: list[OversightInstitution]
