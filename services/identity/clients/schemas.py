from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ClientCreate(BaseModel):
    client_id: str = Field(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9._\-]+$")
    name: str = Field(min_length=1, max_length=300)
    scopes: list[str] = Field(default_factory=list, max_length=50)
    institution_code: str | None = Field(default=None, max_length=20)
    roles: list[str] = Field(
        default_factory=list, max_length=20,
        description="role at the client's institution, or role@place (place: national, province:<code>, an institution code)",
    )


class ClientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    client_id: str
    name: str
    scopes: str
    institution_code: str | None
    roles: list[str]
    active: bool
    created_at: datetime


class ClientCreated(ClientRead):
    client_secret: str = Field(description="shown once; store it now")


class ClientUpdate(BaseModel):
    active: bool | None = None
    scopes: list[str] | None = Field(default=None, max_length=50)
    name: str | None = Field(default=None, min_length=1, max_length=300)
