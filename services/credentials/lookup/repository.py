from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.credentials.models import Credential, Issuer


async def counts(session: AsyncSession, code: str) -> list[tuple[str, str, int]]:
    """(kind, status, how many) of an institution's credentials."""
    stmt = (select(Credential.kind, Credential.status, func.count()).where(Credential.institution_code == code)
            .group_by(Credential.kind, Credential.status))
    return [(kind, status, int(n)) for kind, status, n in (await session.execute(stmt)).all()]


async def has_issuer(session: AsyncSession, code: str) -> bool:
    return await session.scalar(select(Issuer.id).where(Issuer.institution_code == code)) is not None
