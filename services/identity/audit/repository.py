"""Queries on the audit trail: the admins' filtered listing, and the one-statement insert of hot paths."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.common.pagination import Page, PageParams, paginate
from services.identity.audit.schemas import AuditEventRead
from services.identity.models import AuditEvent

#: built once; each row binds its own values. A declarative model's ``__table__`` is a ``Table``; SQLAlchemy
#: types it as any ``FromClause``, which Core's insert does not take
_INSERT = insert(cast(Table, AuditEvent.__table__))


async def insert_now(conn: AsyncSession | AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(_INSERT, values)


async def page(session: AsyncSession, page: PageParams, *, action: str | None = None, target_type: str | None = None,
               target_id: str | None = None, actor: str | None = None) -> Page[Any]:
    """Events matching every given filter, newest first."""
    stmt = select(AuditEvent)
    for column, value in ((AuditEvent.action, action), (AuditEvent.target_type, target_type),
                          (AuditEvent.target_id, target_id), (AuditEvent.actor, actor)):
        if value is not None:
            stmt = stmt.where(column == value)
    return await paginate(session, stmt, (AuditEvent.at, AuditEvent.id), page, descending=True, transform=AuditEventRead.model_validate)
