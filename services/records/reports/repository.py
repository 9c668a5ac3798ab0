"""The figures of statistics and yearly reports, counted in the database; the yearly reports themselves."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import Integer, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.records.models import Enrolment, InstitutionRef, Learner, Programme, ReportKind, YearlyReport

DIMENSIONS = {
    "level": Programme.level,
    "occupation": Programme.occupation_code,
    "province": InstitutionRef.province_code,
    "institution": Enrolment.institution_code,
    "sex": Learner.sex,
    "ethnic_minority": Learner.ethnic_minority,
    "disability": Learner.disability,
    "mode": Enrolment.mode,
    #: year the learner enrolled (enrolled_on) / graduated (the graduation decision's year)
    "enrolment_year": func.extract("year", Enrolment.enrolled_on).cast(Integer),
    "graduation_year": Enrolment.graduation_year,
}


async def figures(
    session: AsyncSession, *, by: list[str], statuses: list[str], year: int | None, provinces: Collection[str] | None,
    institutions: Collection[str] | None, province: str | None, institution: str | None,
) -> list[dict[str, Any]]:
    """Enrolments counted per group of ``by`` (known :data:`DIMENSIONS`): ``learners``, one count per status, and
    with a ``year`` ``new_enrolments`` and ``graduates``. ``provinces``/``institutions``: the caller's scope (None:
    everything); ``province``/``institution``: the filter asked for."""
    cols: list[Any] = [DIMENSIONS[d].label(d) for d in by]
    metrics = [func.count(Enrolment.id).label("learners")]
    metrics += [func.sum(case((Enrolment.status == s, 1), else_=0)).label(s) for s in statuses]
    if year is not None:
        metrics.append(func.sum(case((func.extract("year", Enrolment.enrolled_on).cast(Integer) == year, 1), else_=0)).label("new_enrolments"))
        metrics.append(func.sum(case((Enrolment.graduation_year == year, 1), else_=0)).label("graduates"))
    stmt = (
        select(*cols, *metrics)
        .select_from(Enrolment)
        .join(Learner, Enrolment.learner_id == Learner.id)
        .join(Programme, Enrolment.programme_id == Programme.id)
        .join(InstitutionRef, InstitutionRef.code == Enrolment.institution_code)
    )
    if provinces is not None:
        conds = []
        if provinces:
            conds.append(InstitutionRef.province_code.in_(provinces))
        if institutions:
            conds.append(Enrolment.institution_code.in_(institutions))
        stmt = stmt.where(or_(*conds))
    if province:
        stmt = stmt.where(InstitutionRef.province_code == province)
    if institution:
        stmt = stmt.where(Enrolment.institution_code == institution)
    if cols:
        stmt = stmt.group_by(*[DIMENSIONS[d] for d in by]).order_by(*[DIMENSIONS[d] for d in by])
    return [dict(r) for r in (await session.execute(stmt)).mappings().all()]


async def institution(session: AsyncSession, code: str) -> InstitutionRef | None:
    return await session.get(InstitutionRef, code)


async def report(session: AsyncSession, report_id: uuid.UUID) -> YearlyReport | None:
    return await session.get(YearlyReport, report_id)


async def report_for(session: AsyncSession, scope: str, code: str, year: int) -> YearlyReport | None:
    return await session.scalar(select(YearlyReport).where(
        YearlyReport.scope == scope, YearlyReport.scope_code == code, YearlyReport.year == year))


async def kind(session: AsyncSession, code: str) -> ReportKind | None:
    return await session.get(ReportKind, code)
