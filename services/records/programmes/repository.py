from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.records.models import Cohort, Enrolment, Learner, Module, Occupation, Programme, Term


async def programmes(session: AsyncSession, institution_code: str) -> list[Programme]:
    stmt = select(Programme).where(Programme.institution_code == institution_code).order_by(Programme.code)
    return list((await session.scalars(stmt)).all())


async def programme(session: AsyncSession, institution_code: str, code: str) -> Programme | None:
    return await session.scalar(select(Programme).where(Programme.institution_code == institution_code, Programme.code == code))


async def modules_of(session: AsyncSession, programme_id: uuid.UUID) -> list[Module]:
    return list((await session.scalars(select(Module).where(Module.programme_id == programme_id).order_by(Module.code))).all())


async def occupation(session: AsyncSession, code: str) -> Occupation | None:
    return await session.get(Occupation, code)


async def terms(session: AsyncSession, institution_code: str) -> list[Term]:
    return list((await session.scalars(select(Term).where(Term.institution_code == institution_code).order_by(Term.code))).all())


async def cohorts(session: AsyncSession, institution_code: str) -> list[Cohort]:
    return list((await session.scalars(select(Cohort).where(Cohort.institution_code == institution_code).order_by(Cohort.code))).all())


async def cohort(session: AsyncSession, cohort_id: uuid.UUID) -> Cohort | None:
    return await session.get(Cohort, cohort_id)


async def cohort_enrolments(session: AsyncSession, cohort_id: uuid.UUID) -> list[tuple[Enrolment, Learner]]:
    """The cohort's enrolments with their learners, by name."""
    rows = await session.execute(
        select(Enrolment, Learner).join(Learner, Enrolment.learner_id == Learner.id)
        .where(Enrolment.cohort_id == cohort_id).order_by(Learner.full_name, Learner.id)
    )
    return [(e, learner) for e, learner in rows.all()]
