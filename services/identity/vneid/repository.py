"""Queries for pending sign-ins through the upstream provider."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.models import OidcAuthRequest


async def by_state(session: AsyncSession, state: str) -> OidcAuthRequest | None:
    return await session.scalar(select(OidcAuthRequest).where(OidcAuthRequest.state == state))


async def by_code_hash(session: AsyncSession, code_hash: str) -> OidcAuthRequest | None:
    return await session.scalar(select(OidcAuthRequest).where(OidcAuthRequest.code_hash == code_hash))


async def by_id(session: AsyncSession, request_id: uuid.UUID) -> OidcAuthRequest | None:
    return await session.get(OidcAuthRequest, request_id)
