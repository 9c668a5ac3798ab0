from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.credentials.models import ShareLink


async def by_token_hash(session: AsyncSession, token_hash: str) -> ShareLink | None:
    return await session.scalar(select(ShareLink).where(ShareLink.token_hash == token_hash))


async def by_id(session: AsyncSession, link_id: uuid.UUID, *, lock: bool = False) -> ShareLink | None:
    stmt = select(ShareLink).where(ShareLink.id == link_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def of_credential(session: AsyncSession, credential_id: uuid.UUID) -> list[ShareLink]:
    stmt = select(ShareLink).where(ShareLink.credential_id == credential_id).order_by(ShareLink.created_at.desc())
    return list((await session.scalars(stmt)).all())
