from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.records.models import GradingPolicyRow, Occupation


async def occupations(session: AsyncSession, level: str | None = None) -> list[Occupation]:
    stmt = select(Occupation).order_by(Occupation.code)
    if level:
        stmt = stmt.where(Occupation.level == level)
    return list((await session.scalars(stmt)).all())


async def any_occupation(session: AsyncSession) -> bool:
    return await session.scalar(select(Occupation.code).limit(1)) is not None


async def policies(session: AsyncSession) -> list[GradingPolicyRow]:
    return list((await session.scalars(select(GradingPolicyRow).order_by(GradingPolicyRow.code))).all())


async def policy(session: AsyncSession, code: str) -> GradingPolicyRow | None:
    return await session.scalar(select(GradingPolicyRow).where(GradingPolicyRow.code == code))
