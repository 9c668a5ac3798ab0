"""People's sessions: access tokens with roles from memberships, rotating refresh tokens in families (reuse of a
rotated token revokes the family), logout."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import token_audience
from services.common.db import utcnow
from services.identity.accounts import repository
from services.identity.models import Account, RefreshToken
from services.identity.tokens.service import TokenService

#: scopes a person's token carries, by role (machine clients get scopes per client instead)
ROLE_SCOPES: dict[str, list[str]] = {
    "platform_admin": ["identity:admin", "identity:keys", "identity:clients", "identity:persons", "identity:persons:unmasked",
                       "learning:admin", "records:admin", "credentials:admin", "records:read"],
    "ministry_officer": ["identity:persons", "records:read", "learning:moderate"],
    "province_officer": ["records:read", "learning:moderate"],
    "school_admin": ["records:sync", "records:read", "credentials:issue"],
    "teacher": ["learning:publish", "records:read"],
    "student": [],
}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def roles_of(session: AsyncSession, account_id: uuid.UUID) -> dict[str, list[str]]:
    rows = await repository.memberships(session, account_id)
    roles: dict[str, list[str]] = {}
    for m in rows:
        roles.setdefault(m.at, []).append(m.role)
    return roles


class SessionService:
    def __init__(self, tokens: TokenService) -> None:
        self.tokens = tokens
        self.settings = tokens.settings

    async def access_token(self, session: AsyncSession, account: Account) -> tuple[str, str]:
        roles = await roles_of(session, account.id)
        scopes = sorted({s for rs in roles.values() for r in rs for s in ROLE_SCOPES.get(r, [])})
        now = utcnow()
        claims: dict[str, Any] = {
            "iss": self.settings.jwt_issuer,
            "sub": f"account:{account.id}",
            "aud": token_audience(scopes, person=True),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self.settings.access_token_ttl_seconds)).timestamp()),
            "jti": uuid.uuid4().hex,
            "typ": "access",
            "kind": "user",
            "username": account.username,
            "name": account.full_name,
            "scope": " ".join(scopes),
            "roles": roles,
        }
        if account.person_id:
            claims["person_id"] = str(account.person_id)
        return await self.tokens.sign(session, claims), claims["scope"]

    async def issue(self, session: AsyncSession, account: Account, *, family_id: uuid.UUID | None = None) -> dict[str, Any]:
        """A new access token and refresh token (a new family unless rotating within one)."""
        access, scope = await self.access_token(session, account)
        refresh = secrets.token_urlsafe(32)
        now = utcnow()
        session.add(
            RefreshToken(
                family_id=family_id or uuid.uuid4(),
                account_id=account.id,
                token_hash=token_hash(refresh),
                issued_at=now,
                expires_at=now + timedelta(seconds=self.settings.refresh_token_ttl_seconds),
            )
        )
        await session.flush()
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.settings.access_token_ttl_seconds,
            "refresh_token": refresh,
            "scope": scope,
        }

    async def find(self, session: AsyncSession, refresh: str) -> RefreshToken | None:
        return await repository.refresh_token(session, token_hash(refresh))

    async def revoke_account(self, session: AsyncSession, account_id: uuid.UUID, reason: str, now: datetime | None = None) -> int:
        """Revokes every live refresh token of the account (all its sign-in sessions); returns how many families."""
        return await repository.revoke_account_tokens(session, account_id, reason, now or utcnow())

    async def revoke_family(self, session: AsyncSession, family_id: uuid.UUID, reason: str, now: datetime | None = None) -> None:
        await repository.revoke_family(session, family_id, reason, now or utcnow())
