from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

SyncMode = Literal["all_or_nothing", "accept_valid"]


class SyncJobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    institution_code: str
    format: str
    entity: str | None
    mode: str
    processing: str | None
    status: str
    upload_bytes: int
    #: hex SHA-256 of the uploaded file; kept once the file itself is deleted
    upload_sha256: str | None = None
    #: the file is deleted from the store this long after the job ended (``RECORDS_SYNC_UPLOAD_RETENTION_DAYS``)
    upload_deleted_at: datetime | None = None
    rows_total: int | None
    rows_read: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    #: accepted = created + updated + unchanged
    accepted: int = 0
    applied_through: int
    attempts: int
    error: str | None
    #: ``null``, or why the job waits (a transient failure: database connection, identity, a timeout); it is
    #: tried again with a capped back-off and fails only after an outage of ``retry_give_up_seconds``
    waiting: str | None = None
    waiting_since: datetime | None = None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    errors_url: str = ""


class SyncJobErrorRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    row: int
    source: str | None
    field: str
    message: str
