from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

ROLE_PATTERN = r"^(platform_admin|ministry_officer|province_officer|school_admin|teacher|student)$"
AT_PATTERN = r"^(national|province:\d{3}|[A-Z0-9][A-Z0-9._\-]{1,19})$"


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=256)


class SessionTokens(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str
    scope: str


class LogoutRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


class MembershipIn(BaseModel):
    at: str = Field(pattern=AT_PATTERN, description="institution code, province:<code> or national")
    role: str = Field(pattern=ROLE_PATTERN)


class MembershipRead(MembershipIn):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    granted_by: str
    created_at: datetime


class AccountCreate(BaseModel):
    username: str = Field(min_length=3, max_length=100, pattern=r"^[a-z0-9._\-]+$")
    full_name: str = Field(min_length=1, max_length=300)
    password: str = Field(min_length=1, max_length=256)
    memberships: list[MembershipIn] = Field(default_factory=list, max_length=20)


class AccountUpdate(BaseModel):
    active: bool | None = Field(default=None, description="false disables the account: no sign-in, every session ended")


class AccountRead(BaseModel):
    id: uuid.UUID
    username: str
    full_name: str
    person_id: uuid.UUID | None
    active: bool
    memberships: list[MembershipRead]
    created_at: datetime
