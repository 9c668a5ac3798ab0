from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

CODE = r"^[A-Z0-9][A-Z0-9._\-]{1,19}$"


class IssuerCreate(BaseModel):
    institution_code: str = Field(pattern=CODE, examples=["CD0101"])


class IssuerKeyRead(BaseModel):
    id: str = Field(description="verification method id (DID URL)")
    key_id: str
    type: Literal["Multikey"] = "Multikey"
    public_key_multibase: str
    status: Literal["active", "retired"] = Field(description="active signs new credentials; retired only verifies")
    created_at: datetime
    retired_at: datetime | None


class IssuerRead(BaseModel):
    id: uuid.UUID
    institution_code: str
    did: str
    did_document_url: str
    name: str
    province_code: str | None
    institution_status: str
    keys: list[IssuerKeyRead]
    created_at: datetime
