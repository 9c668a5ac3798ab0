from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.credentials.verification.schemas import LookupResult


class ShareLinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in_days: int = Field(default=30, ge=1, le=90, description="at most 90 days")
    label: str | None = Field(default=None, max_length=200, description="the holder's note, e.g. the employer's name")


class ShareLinkRead(BaseModel):
    id: uuid.UUID
    credential_id: uuid.UUID
    label: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    state: str = Field(description="active | expired | revoked")
    views: int
    last_viewed_at: datetime | None


class ShareLinkCreated(ShareLinkRead):
    url: str = Field(description="the link to hand out; shown only now (only a hash of its token is kept)")


class SharedCredential(LookupResult):
    """What anyone holding a share link sees: the verification result, the diploma's fields, the signed document."""

    expires_at: datetime
    document: dict | None = None
