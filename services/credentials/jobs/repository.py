"""The queries of batch issuing jobs and their items (the worker's claim and chunk reads stay with the worker)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.credentials.models import IssueJob, IssueJobItem

#: a job list's order (newest first) and an item list's, unique together: the keyset pagination's keys
JOB_ORDER = (IssueJob.created_at, IssueJob.id)
ITEM_ORDER = (IssueJobItem.position,)


async def by_id(session: AsyncSession, job_id: uuid.UUID) -> IssueJob | None:
    return await session.get(IssueJob, job_id)


async def add_items(session: AsyncSession, rows: Sequence[dict[str, Any]], *, per_statement: int = 1000) -> None:
    """A job's items as multi-row inserts of ``per_statement`` rows (no ORM objects for a cohort of 20,000)."""
    for start in range(0, len(rows), per_statement):
        await session.execute(insert(IssueJobItem), rows[start : start + per_statement])


def institution_jobs(institution_code: str, *, source: str | None = None, source_event_id: uuid.UUID | None = None,
                     with_failures: bool = False) -> Select[IssueJob]:
    stmt = select(IssueJob).where(IssueJob.institution_code == institution_code)
    if source:
        stmt = stmt.where(IssueJob.source == source)
    if source_event_id:
        stmt = stmt.where(IssueJob.source_event_id == source_event_id)
    if with_failures:
        stmt = stmt.where(IssueJob.failed > 0)
    return stmt


def job_items(job_id: uuid.UUID, state: str | None = None) -> Select[IssueJobItem]:
    stmt = select(IssueJobItem).where(IssueJobItem.job_id == job_id)
    if state:
        stmt = stmt.where(IssueJobItem.state == state)
    return stmt
