from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class UploadSessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    size: int = Field(gt=0, description="total bytes of the file")
    content_type: Annotated[str, StringConstraints(max_length=200)] | None = None
    change_note: Annotated[str, StringConstraints(max_length=1000)] | None = None


class PartRead(BaseModel):
    number: int
    size: int
    etag: str


class UploadSessionRead(BaseModel):
    id: uuid.UUID
    object_id: uuid.UUID
    filename: str
    size: int
    part_size: int
    part_count: int
    status: str
    parts: list[PartRead]
    #: part numbers still to send (what a client resuming after a dropped connection sends)
    missing_parts: list[int]
    received_bytes: int
    version: int | None
    expires_at: datetime
    created_at: datetime
