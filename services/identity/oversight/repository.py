"""Queries of the oversight facts: staff counts, machine clients per institution."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.models import ApiClient, Institution, StaffCount


async def staff_count(session: AsyncSession, code: str, year: int) -> StaffCount | None:
    return await session.scalar(select(StaffCount).where(StaffCount.institution_code == code, StaffCount.year == year))


async def staff_counts(session: AsyncSession, code: str) -> list[StaffCount]:
    stmt = select(StaffCount).where(StaffCount.institution_code == code).order_by(StaffCount.year.desc())
    return list((await session.scalars(stmt)).all())


async def institutions(session: AsyncSession, provinces: Iterable[str] | None) -> list[Institution]:
    stmt = select(Institution).order_by(Institution.code)
    if provinces is not None:
        stmt = stmt.where(Institution.province_code.in_(list(provinces)))
    return list((await session.scalars(stmt)).all())


async def sync_clients_by_institution(session: AsyncSession) -> dict[str, int]:
    """Active machine clients that act for an institution and may sync its records, counted per institution (the
    scopes are one space-separated string, split here: a few thousand school systems at most)."""
    stmt = select(ApiClient.institution_code, ApiClient.scopes).where(
        ApiClient.active.is_(True), ApiClient.institution_code.is_not(None))
    counts: dict[str, int] = {}
    for code, scopes in (await session.execute(stmt)).all():
        if code is not None and "records:sync" in scopes.split():
            counts[code] = counts.get(code, 0) + 1
    return counts


async def latest_staff_counts(session: AsyncSession) -> dict[str, StaffCount]:
    """Each institution's staff counts of its most recent reported year."""
    newest = (select(StaffCount.institution_code, func.max(StaffCount.year).label("year"))
              .group_by(StaffCount.institution_code).subquery())
    stmt = select(StaffCount).join(newest, (StaffCount.institution_code == newest.c.institution_code)
                                   & (StaffCount.year == newest.c.year))
    return {row.institution_code: row for row in (await session.scalars(stmt)).all()}
