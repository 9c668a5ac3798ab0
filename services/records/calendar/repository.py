from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.records.models import OversightInstitution, ReportKind, YearlyReport


async def kinds(session: AsyncSession, *, active_only: bool = False) -> list[ReportKind]:
    stmt = select(ReportKind).order_by(ReportKind.code)
    if active_only:
        stmt = stmt.where(ReportKind.active.is_(True))
    return list((await session.scalars(stmt)).all())


async def kind(session: AsyncSession, code: str) -> ReportKind | None:
    return await session.get(ReportKind, code)


async def active_institutions(session: AsyncSession, provinces: Iterable[str] | None) -> list[OversightInstitution]:
    stmt = select(OversightInstitution).where(OversightInstitution.status == "active").order_by(OversightInstitution.code)
    if provinces is not None:
        stmt = stmt.where(OversightInstitution.province_code.in_(list(provinces)))
    return list((await session.scalars(stmt)).all())


async def reports_of_year(session: AsyncSession, scope: str, year: int) -> dict[str, YearlyReport]:
    stmt = select(YearlyReport).where(YearlyReport.scope == scope, YearlyReport.year == year)
    return {r.scope_code: r for r in (await session.scalars(stmt)).all()}


async def report(session: AsyncSession, report_id: uuid.UUID) -> YearlyReport | None:
    return await session.get(YearlyReport, report_id)


async def institution(session: AsyncSession, code: str) -> OversightInstitution | None:
    return await session.get(OversightInstitution, code)
