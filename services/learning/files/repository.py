"""The SQL of resumable uploads: their parts."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.learning.models import UploadPart


async def parts(session: AsyncSession, upload_id: uuid.UUID) -> list[UploadPart]:
    stmt = select(UploadPart).where(UploadPart.session_id == upload_id).order_by(UploadPart.number)
    return list((await session.scalars(stmt)).all())


async def replace_part(session: AsyncSession, part: UploadPart) -> None:
    """``part`` in place of any part of the same number (a part sent again replaces the first)."""
    await session.execute(delete(UploadPart).where(UploadPart.session_id == part.session_id, UploadPart.number == part.number))
    session.add(part)
