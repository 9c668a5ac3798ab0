from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class IssueJobRead(BaseModel):
    id: uuid.UUID
    institution_code: str
    source: str
    state: str
    total: int
    processed: int
    issued: int
    existing: int
    failed: int
    progress: float
    error: str | None
    #: ``null``, or why the job waits (a transient failure: database connection, identity, a timeout); it is tried
    #: again with a capped back-off and fails only after an outage of ``retry_give_up_seconds``
    waiting: str | None = None
    waiting_since: datetime | None = None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class IssueJobItemRead(BaseModel):
    position: int
    state: str
    credential_id: uuid.UUID | None
    errors: list[Any] | None
