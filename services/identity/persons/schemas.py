from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Gender = Literal["male", "female"]


class PersonIn(BaseModel):
    """A person as a school's system or an officer knows them."""

    model_config = ConfigDict(str_strip_whitespace=True)

    id_number: str = Field(description="12-digit personal identification number", examples=["001203001234"])
    full_name: str = Field(min_length=1, max_length=300, examples=["Nguyễn Văn An"])
    date_of_birth: date | None = None
    gender: Gender | None = None
    birth_place: str | None = Field(default=None, max_length=300)

    @field_validator("full_name", "birth_place")
    @classmethod
    def _nfc(cls, v: str | None) -> str | None:
        import unicodedata

        return unicodedata.normalize("NFC", v) if v is not None else None


class PersonRead(BaseModel):
    id: uuid.UUID
    id_number: str = Field(description="masked (e.g. 001******789) unless you are the person or an authorised officer")
    id_number_masked: bool
    full_name: str
    date_of_birth: date | None
    gender: Gender | None
    birth_place: str | None
    province_code: str = Field(description="province of birth registration, from the number")
    current_province_code: str = Field(description="that province after the 2025 merger")
    created_at: datetime
    updated_at: datetime


class ResolveRequest(BaseModel):
    persons: list[PersonIn] = Field(min_length=1, max_length=10_000)


class ResolveError(BaseModel):
    field: str
    rule: str
    message: str


class ResolveResult(BaseModel):
    index: int
    status: Literal["created", "existing", "conflict", "invalid"]
    person_id: uuid.UUID | None = None
    id_number_masked: str | None = None
    errors: list[ResolveError] = []


class ResolveResponse(BaseModel):
    results: list[ResolveResult]
    created: int
    existing: int
    rejected: int


class LookupRequest(BaseModel):
    id_number: str
