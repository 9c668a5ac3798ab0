"""Every query of gradebooks and their learners."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.pagination import Page, PageParams, paginate
from services.learning.models import Gradebook, GradebookLearner


async def gradebook(session: AsyncSession, gradebook_id: uuid.UUID, *, lock: bool = False) -> Gradebook | None:
    stmt = select(Gradebook).where(Gradebook.id == gradebook_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def gradebooks(session: AsyncSession, institutions: set[str], page: PageParams, transform: Any = None) -> Page[Any]:
    stmt = select(Gradebook).where(Gradebook.institution_code.in_(sorted(institutions)))
    return await paginate(session, stmt, (Gradebook.created_at, Gradebook.id), page, descending=True, transform=transform)


async def learners(session: AsyncSession, gradebook_id: uuid.UUID) -> list[GradebookLearner]:
    stmt = select(GradebookLearner).where(GradebookLearner.gradebook_id == gradebook_id).order_by(GradebookLearner.full_name, GradebookLearner.id)
    return list((await session.scalars(stmt)).all())
