"""The labour-market feed's SQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.records.models import Change, Enrolment, InstitutionRef, Learner, LmisRecipient, Programme

COLUMNS = (Enrolment.id, Enrolment.institution_code, InstitutionRef.province_code, Learner.id_number, Learner.full_name, Learner.sex,
           Learner.date_of_birth, Programme.code, Programme.occupation_code, Programme.level, Enrolment.graduation_year,
           Enrolment.graduated_on, Enrolment.classification)
NAMES = ("id", "institution_code", "province_code", "id_number", "full_name", "sex", "date_of_birth", "programme_code",
         "occupation_code", "level", "graduation_year", "graduated_on", "classification")


def _graduates() -> Any:
    return (select(*COLUMNS).select_from(Enrolment).join(Learner, Enrolment.learner_id == Learner.id)
            .join(Programme, Enrolment.programme_id == Programme.id)
            .outerjoin(InstitutionRef, InstitutionRef.code == Enrolment.institution_code)
            .where(Enrolment.status == "graduated"))


async def graduates(session: AsyncSession, *, year: int, provinces: Iterable[str] | None, occupation: str | None, level: str | None,
                    after: uuid.UUID | None, limit: int) -> list[dict[str, Any]]:
    stmt = _graduates().where(Enrolment.graduation_year == year)
    if provinces is not None:
        stmt = stmt.where(InstitutionRef.province_code.in_(list(provinces)))
    if occupation is not None:
        stmt = stmt.where(Programme.occupation_code == occupation)
    if level is not None:
        stmt = stmt.where(Programme.level == level)
    if after is not None:
        stmt = stmt.where(Enrolment.id > after)
    stmt = stmt.order_by(Enrolment.id).limit(limit)
    return [dict(zip(NAMES, row, strict=True)) for row in (await session.execute(stmt)).all()]


async def max_version(session: AsyncSession) -> int:
    return int((await session.scalar(select(func.max(Change.version)))) or 0)


async def enrolment_changes(session: AsyncSession, since: int, upto: int, limit: int) -> list[Change]:
    stmt = (select(Change).where(Change.version > since, Change.version <= upto, Change.entity == "enrolment")
            .order_by(Change.version).limit(limit))
    return list((await session.scalars(stmt)).all())


async def graduate_by_key(session: AsyncSession, institution_code: str, id_number: str, programme_code: str) -> dict[str, Any] | None:
    stmt = _graduates().where(Enrolment.institution_code == institution_code, Learner.id_number == id_number,
                              Programme.code == programme_code, Programme.institution_code == institution_code)
    row = (await session.execute(stmt)).first()
    return dict(zip(NAMES, row, strict=True)) if row is not None else None


async def recipient(session: AsyncSession, client_id: str) -> LmisRecipient | None:
    return await session.get(LmisRecipient, client_id)
