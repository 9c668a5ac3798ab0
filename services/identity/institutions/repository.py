from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.pagination import Page, PageParams, paginate
from services.common.text import fold
from services.identity.institutions.schemas import InstitutionRead
from services.identity.models import Institution


async def by_code(session: AsyncSession, code: str) -> Institution | None:
    return await session.scalar(select(Institution).where(Institution.code == code))


async def by_codes(session: AsyncSession, codes: Iterable[str]) -> dict[str, Institution]:
    codes = list(set(codes))
    found: dict[str, Institution] = {}
    for i in range(0, len(codes), 900):
        rows = (await session.scalars(select(Institution).where(Institution.code.in_(codes[i : i + 900])))).all()
        found.update({r.code: r for r in rows})
    return found


def filtered(
    *,
    province_code: str | None = None,
    type: str | None = None,
    ownership: str | None = None,
    status: str | None = None,
    q: str | None = None,
) -> Select[Institution]:
    stmt = select(Institution)
    if province_code:
        stmt = stmt.where(Institution.province_code == province_code)
    if type:
        stmt = stmt.where(Institution.type == type)
    if ownership:
        stmt = stmt.where(Institution.ownership == ownership)
    if status:
        stmt = stmt.where(Institution.status == status)
    if q:
        for word in fold(q).split():
            stmt = stmt.where(Institution.name_folded.contains(word, autoescape=True))
    return stmt


async def page(session: AsyncSession, page: PageParams, **filters: Any) -> Page[Any]:
    """The registry's listing (:func:`filtered`), by code."""
    return await paginate(session, filtered(**filters), (Institution.code,), page, transform=InstitutionRead.model_validate)


async def mapped(session: AsyncSession, **filters: Any) -> Sequence[Institution]:
    """Every institution matching :func:`filtered` that has coordinates, by code (the map)."""
    stmt: Select[Any] = filtered(**filters).where(Institution.latitude.is_not(None), Institution.longitude.is_not(None))
    return (await session.scalars(stmt.order_by(Institution.code))).all()
