"""What a workspace reads: an institution's catalogue and reference data at its start, then the learners a chunk's
rows name with their enrolments (and, for grades written through the ORM, their stored grades)."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.records.models import Cohort, Enrolment, Grade, GradingPolicyRow, Learner, Module, Occupation, Programme, Term


async def programmes(session: AsyncSession, institution_code: str) -> list[Programme]:
    return list((await session.scalars(select(Programme).where(Programme.institution_code == institution_code))).all())


async def modules(session: AsyncSession, programme_ids: Collection[uuid.UUID]) -> list[Module]:
    return list((await session.scalars(select(Module).where(Module.programme_id.in_(programme_ids)))).all())


async def terms(session: AsyncSession, institution_code: str) -> list[Term]:
    return list((await session.scalars(select(Term).where(Term.institution_code == institution_code))).all())


async def cohorts(session: AsyncSession, institution_code: str) -> list[Cohort]:
    return list((await session.scalars(select(Cohort).where(Cohort.institution_code == institution_code))).all())


async def grading_policies(session: AsyncSession) -> list[GradingPolicyRow]:
    return list((await session.scalars(select(GradingPolicyRow))).all())


async def occupations(session: AsyncSession) -> list[Occupation]:
    return list((await session.scalars(select(Occupation))).all())


async def learners(session: AsyncSession, institution_code: str, id_numbers: Collection[str]) -> list[Learner]:
    stmt = select(Learner).where(Learner.institution_code == institution_code, Learner.id_number.in_(id_numbers))
    return list((await session.scalars(stmt)).all())


async def enrolments(session: AsyncSession, learner_ids: Collection[uuid.UUID]) -> list[Enrolment]:
    return list((await session.scalars(select(Enrolment).where(Enrolment.learner_id.in_(learner_ids)))).all())


async def grades(session: AsyncSession, enrolment_ids: Collection[uuid.UUID]) -> list[Grade]:
    return list((await session.scalars(select(Grade).where(Grade.enrolment_id.in_(enrolment_ids)))).all())
