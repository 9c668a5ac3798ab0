"""Every query of item banks and items."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.pagination import Page, PageParams, paginate
from services.learning.models import ExamAttempt, ExamResponse, Item, ItemBank, ItemTag

#: attempts whose responses count in statistics: every response scored
SCORED = "graded"


async def bank_by_module(session: AsyncSession, scope: str, occupation_code: str, module_code: str) -> ItemBank | None:
    stmt = select(ItemBank).where(ItemBank.scope == scope, ItemBank.occupation_code == occupation_code,
                                  ItemBank.module_code == module_code)
    return (await session.scalars(stmt)).first()


async def banks(session: AsyncSession, scopes: set[str], page: PageParams, *, occupation_code: str | None = None,
                module_code: str | None = None, transform: Any = None) -> Page[Any]:
    stmt = select(ItemBank).where(ItemBank.scope.in_(sorted(scopes)))
    if occupation_code:
        stmt = stmt.where(ItemBank.occupation_code == occupation_code)
    if module_code:
        stmt = stmt.where(ItemBank.module_code == module_code)
    return await paginate(session, stmt, (ItemBank.created_at, ItemBank.id), page, transform=transform)


async def banks_by_ids(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ItemBank]:
    ids = list(ids)
    if not ids:
        return {}
    return {b.id: b for b in (await session.scalars(select(ItemBank).where(ItemBank.id.in_(ids)))).all()}


async def items(session: AsyncSession, bank_id: uuid.UUID, page: PageParams, *, tag: str | None = None, status: str | None = None,
                kind: str | None = None, transform: Any = None) -> Page[Any]:
    stmt = select(Item).where(Item.bank_id == bank_id)
    if tag:
        stmt = stmt.where(Item.id.in_(select(ItemTag.item_id).where(ItemTag.tag == tag)))
    if status:
        stmt = stmt.where(Item.status == status)
    if kind:
        stmt = stmt.where(Item.kind == kind)
    return await paginate(session, stmt, (Item.created_at, Item.id), page, transform=transform)


async def items_by_ids(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Item]:
    ids = list(ids)
    out: dict[uuid.UUID, Item] = {}
    for start in range(0, len(ids), 500):
        out |= {i.id: i for i in (await session.scalars(select(Item).where(Item.id.in_(ids[start:start + 500])))).all()}
    return out


async def active_items(session: AsyncSession, bank_ids: Sequence[uuid.UUID]) -> list[Item]:
    """Every active item of the banks, in a stable order (creation, id)."""
    if not bank_ids:
        return []
    stmt = select(Item).where(Item.bank_id.in_(list(bank_ids)), Item.status == "active").order_by(Item.created_at, Item.id)
    return list((await session.scalars(stmt)).all())


async def all_items(session: AsyncSession, bank_id: uuid.UUID) -> list[Item]:
    stmt = select(Item).where(Item.bank_id == bank_id).order_by(Item.created_at, Item.id)
    return list((await session.scalars(stmt)).all())


async def set_tags(session: AsyncSession, item: Item, tags: list[str]) -> None:
    await session.execute(delete(ItemTag).where(ItemTag.item_id == item.id))
    session.add_all(ItemTag(item_id=item.id, tag=t) for t in tags)
    item.tags = tags


async def scored_responses(session: AsyncSession, item_ids: Sequence[uuid.UUID]) -> list[tuple[uuid.UUID, float, float]]:
    """(item, credit, the attempt's score %) of every scored response to these items in a fully scored attempt."""
    out: list[tuple[uuid.UUID, float, float]] = []
    ids = list(item_ids)
    for start in range(0, len(ids), 500):
        stmt = (
            select(ExamResponse.item_id, ExamResponse.credit, ExamAttempt.score)
            .join(ExamAttempt, ExamAttempt.id == ExamResponse.attempt_id)
            .where(ExamResponse.item_id.in_(ids[start:start + 500]), ExamAttempt.status == SCORED,
                   ExamResponse.credit.is_not(None), ExamAttempt.score.is_not(None))
        )
        out += [(i, float(c or 0.0), float(s or 0.0)) for i, c, s in (await session.execute(stmt)).all()]  # NULLs filtered above
    return out

