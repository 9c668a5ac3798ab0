from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

InstitutionType = Literal["college", "intermediate", "vet_centre", "enterprise", "other"]
Ownership = Literal["public", "private", "foreign_invested"]
Status = Literal["active", "merged", "closed"]

CODE = r"^[A-Z0-9][A-Z0-9._\-]{1,19}$"


def _nfc(v: str | None) -> str | None:
    import unicodedata

    return unicodedata.normalize("NFC", v).strip() if v is not None else None


class InstitutionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE, examples=["CD0101"])
    name: str = Field(min_length=2, max_length=500, examples=["Trường Cao đẳng Kỹ thuật Công nghệ Hà Nội"])
    type: InstitutionType
    ownership: Ownership = "public"
    province_code: str = Field(pattern=r"^\d{3}$", description="province code; pre-2025 codes are mapped to the merged province")
    address: str | None = Field(default=None, max_length=500)
    latitude: float | None = Field(default=None, ge=8.0, le=24.0)
    longitude: float | None = Field(default=None, ge=102.0, le=118.0)
    status: Status = "active"
    established_on: date | None = None
    closed_on: date | None = None
    parent_code: str | None = Field(default=None, pattern=CODE)
    merged_into_code: str | None = Field(default=None, pattern=CODE)

    _norm = field_validator("name", "address")(_nfc)


class InstitutionUpdate(BaseModel):
    """All fields optional; only the fields sent are changed (``null`` clears a nullable field)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=2, max_length=500)
    type: InstitutionType | None = None
    ownership: Ownership | None = None
    province_code: str | None = Field(default=None, pattern=r"^\d{3}$")
    address: str | None = Field(default=None, max_length=500)
    latitude: float | None = Field(default=None, ge=8.0, le=24.0)
    longitude: float | None = Field(default=None, ge=102.0, le=118.0)
    status: Status | None = None
    established_on: date | None = None
    closed_on: date | None = None
    parent_code: str | None = Field(default=None, pattern=CODE)
    merged_into_code: str | None = Field(default=None, pattern=CODE)

    _norm = field_validator("name", "address")(_nfc)


class InstitutionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    type: str
    ownership: str
    province_code: str
    address: str | None
    latitude: float | None
    longitude: float | None
    status: str
    established_on: date | None
    closed_on: date | None
    parent_code: str | None
    merged_into_code: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class ImportRowError(BaseModel):
    row: int = Field(description="line number in the file, the header being line 1")
    field: str
    message: str


class ImportResult(BaseModel):
    created: int
    updated: int
    unchanged: int


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[dict[str, Any]]
