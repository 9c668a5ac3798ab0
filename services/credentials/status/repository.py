from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.credentials.models import StatusList


async def current(session: AsyncSession, issuer_id: uuid.UUID, purpose: str, *, lock: bool) -> StatusList | None:
    """The newest list of an issuer for a purpose; ``lock`` takes its row lock (PostgreSQL) for allocation."""
    stmt = (
        select(StatusList)
        .where(StatusList.issuer_id == issuer_id, StatusList.purpose == purpose)
        .order_by(StatusList.number.desc())
        .limit(1)
    )
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def by_id(session: AsyncSession, list_id: uuid.UUID, *, lock: bool = False) -> StatusList | None:
    stmt = select(StatusList).where(StatusList.id == list_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def by_ids(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, StatusList]:
    if not ids:
        return {}
    rows = (await session.scalars(select(StatusList).where(StatusList.id.in_(list(ids))))).all()
    return {r.id: r for r in rows}
