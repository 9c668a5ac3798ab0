"""Every query of practical tasks, their scores, audit trail and evidence."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.learning.models import PracticalEvidence, PracticalScore, PracticalScoreAudit, PracticalTask


async def tasks(session: AsyncSession, exam_id: uuid.UUID) -> list[PracticalTask]:
    stmt = select(PracticalTask).where(PracticalTask.exam_id == exam_id).order_by(PracticalTask.position)
    return list((await session.scalars(stmt)).all())


async def next_position(session: AsyncSession, exam_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(PracticalTask.position), 0)).where(PracticalTask.exam_id == exam_id)) or 0) + 1


async def scores(session: AsyncSession, task_ids: Iterable[uuid.UUID], candidate_ids: Iterable[uuid.UUID] | None = None) -> list[PracticalScore]:
    stmt = select(PracticalScore).where(PracticalScore.task_id.in_(list(task_ids)))
    if candidate_ids is not None:
        stmt = stmt.where(PracticalScore.candidate_id.in_(list(candidate_ids)))
    return list((await session.scalars(stmt.order_by(PracticalScore.created_at, PracticalScore.id))).all())


async def score_for_update(session: AsyncSession, task_id: uuid.UUID, candidate_id: uuid.UUID, assessor: str, role: str) -> PracticalScore | None:
    stmt = select(PracticalScore).where(PracticalScore.task_id == task_id, PracticalScore.candidate_id == candidate_id,
                                        PracticalScore.assessor == assessor, PracticalScore.role == role)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def audit(session: AsyncSession, task_id: uuid.UUID, candidate_id: uuid.UUID) -> list[PracticalScoreAudit]:
    stmt = (select(PracticalScoreAudit).where(PracticalScoreAudit.task_id == task_id, PracticalScoreAudit.candidate_id == candidate_id)
            .order_by(PracticalScoreAudit.at, PracticalScoreAudit.version, PracticalScoreAudit.id))
    return list((await session.scalars(stmt)).all())


async def evidence(session: AsyncSession, task_id: uuid.UUID, candidate_id: uuid.UUID) -> list[PracticalEvidence]:
    stmt = (select(PracticalEvidence).where(PracticalEvidence.task_id == task_id, PracticalEvidence.candidate_id == candidate_id)
            .order_by(PracticalEvidence.uploaded_at, PracticalEvidence.id))
    return list((await session.scalars(stmt)).all())


async def evidence_count(session: AsyncSession, task_id: uuid.UUID, candidate_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(PracticalEvidence).where(PracticalEvidence.task_id == task_id,
                                                                      PracticalEvidence.candidate_id == candidate_id)
    return int(await session.scalar(stmt) or 0)
