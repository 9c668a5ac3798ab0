"""Learning outcomes' SQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.records.models import InstitutionRef, LearningOutcome, Module, OversightTarget, Programme


async def programme(session: AsyncSession, institution_code: str, code: str) -> Programme | None:
    return await session.scalar(select(Programme).where(Programme.institution_code == institution_code, Programme.code == code))


async def modules_of(session: AsyncSession, programme_id: uuid.UUID) -> list[Module]:
    return list((await session.scalars(select(Module).where(Module.programme_id == programme_id))).all())


async def outcomes_of(session: AsyncSession, programme_id: uuid.UUID) -> list[LearningOutcome]:
    stmt = select(LearningOutcome).where(LearningOutcome.programme_id == programme_id).order_by(LearningOutcome.position, LearningOutcome.code)
    return list((await session.scalars(stmt)).all())


async def delete_outcomes(session: AsyncSession, ids: Iterable[uuid.UUID]) -> None:
    ids = list(ids)
    if ids:
        await session.execute(delete(LearningOutcome).where(LearningOutcome.id.in_(ids)))


async def programme_rows(session: AsyncSession, institutions: Iterable[str] | None, provinces: Iterable[str] | None) -> list[dict[str, Any]]:
    """One row per programme: its institution and province, how many outcomes it has, how many are digital."""
    digital = func.sum(case((LearningOutcome.digital_competence.is_(True), 1), else_=0))
    stmt = (select(Programme.id, Programme.institution_code, InstitutionRef.province_code, func.count(LearningOutcome.id), digital)
            .select_from(Programme)
            .outerjoin(InstitutionRef, InstitutionRef.code == Programme.institution_code)
            .outerjoin(LearningOutcome, LearningOutcome.programme_id == Programme.id)
            .group_by(Programme.id, Programme.institution_code, InstitutionRef.province_code))
    if institutions is not None:
        stmt = stmt.where(Programme.institution_code.in_(list(institutions)))
    if provinces is not None:
        stmt = stmt.where(InstitutionRef.province_code.in_(list(provinces)))
    return [{"institution": i, "province": p, "outcomes": int(n or 0), "digital": int(d or 0)}
            for _, i, p, n, d in (await session.execute(stmt)).all()]


async def targets(session: AsyncSession, indicator: str) -> list[OversightTarget]:
    stmt = select(OversightTarget).where(OversightTarget.indicator == indicator).order_by(OversightTarget.year)
    return list((await session.scalars(stmt)).all())
