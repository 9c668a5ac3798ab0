from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.records.models import Enrolment, EnrolmentStatusChange, Learner, Programme


async def enrolment(session: AsyncSession, enrolment_id: uuid.UUID) -> Enrolment | None:
    return await session.get(Enrolment, enrolment_id)


async def learner(session: AsyncSession, learner_id: uuid.UUID) -> Learner | None:
    return await session.get(Learner, learner_id)


async def programme(session: AsyncSession, programme_id: uuid.UUID) -> Programme | None:
    return await session.get(Programme, programme_id)


async def status_history(session: AsyncSession, enrolment_id: uuid.UUID) -> list[EnrolmentStatusChange]:
    stmt = select(EnrolmentStatusChange).where(EnrolmentStatusChange.enrolment_id == enrolment_id).order_by(EnrolmentStatusChange.changed_at)
    return list((await session.scalars(stmt)).all())
