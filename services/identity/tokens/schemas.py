from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str


class SigningKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kid: str
    algorithm: str
    status: str
    created_at: datetime
    retire_after: datetime | None
    public_jwk: dict[str, Any]
