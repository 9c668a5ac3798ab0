from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.common.text import nfc

#: the columns of the CSV file, in order (the JSON records carry the same names)
COLUMNS = ["person_key", "id_number_form", "full_name", "sex", "birth_year", "institution_code", "province_code", "programme_code",
           "occupation_code", "level", "graduation_year", "graduated_on", "classification"]


class GraduateRecord(BaseModel):
    """One graduate (a graduated enrolment) as a labour-market information system loads it."""

    #: the personal ID number — in full, masked (``001******345``) or as this recipient's pseudonym, per its rule
    person_key: str
    id_number_form: Literal["full", "masked", "pseudonym"]
    #: only for recipients whose rule includes names
    full_name: str | None
    sex: str | None
    birth_year: int | None
    institution_code: str
    province_code: str | None
    programme_code: str
    #: the national occupation code (danh mục ngành, nghề; 7 digits)
    occupation_code: str | None
    #: college | intermediate | elementary …
    level: str
    graduation_year: int | None
    graduated_on: date | None
    classification: str | None


class GraduatePage(BaseModel):
    items: list[GraduateRecord]
    #: pass as ``after`` for the next page; null at the end
    next_after: str | None


class GraduateChange(BaseModel):
    version: int
    #: upsert: the record as it stands; delete: the graduate left the feed (record null, key named)
    operation: Literal["upsert", "delete"]
    institution_code: str
    programme_code: str
    person_key: str
    record: GraduateRecord | None


class ChangePage(BaseModel):
    items: list[GraduateChange]
    #: pass as ``since`` next time
    next_since: int


class RecipientIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")
    name: str = Field(min_length=1, max_length=300)
    id_numbers: Literal["full", "masked", "pseudonym"] = "masked"
    names: bool = False
    provinces: list[str] | None = Field(default=None, max_length=40)

    _n = field_validator("name")(lambda cls, v: nfc(v))

    @field_validator("provinces")
    @classmethod
    def _codes(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and any(len(p) != 3 or not p.isdigit() for p in v):
            raise ValueError("province codes have 3 digits")
        return v


class RecipientRead(RecipientIn):
    model_config = ConfigDict(from_attributes=True)
    client_id: str
    updated_by: str
    updated_at: datetime
