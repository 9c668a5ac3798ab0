from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.credentials.models import Issuer, IssuerKey


async def by_id(session: AsyncSession, issuer_id: uuid.UUID) -> Issuer | None:
    return await session.get(Issuer, issuer_id)


async def by_code(session: AsyncSession, code: str) -> Issuer | None:
    return await session.scalar(select(Issuer).where(Issuer.institution_code == code))


async def by_did(session: AsyncSession, did: str) -> Issuer | None:
    return await session.scalar(select(Issuer).where(Issuer.did == did))


async def did_of(session: AsyncSession, issuer_id: uuid.UUID) -> str:
    return str(await session.scalar(select(Issuer.did).where(Issuer.id == issuer_id)))


async def keys_of(session: AsyncSession, issuer_id: uuid.UUID) -> list[IssuerKey]:
    stmt = select(IssuerKey).where(IssuerKey.issuer_id == issuer_id).order_by(IssuerKey.created_at, IssuerKey.key_id)
    return list((await session.scalars(stmt)).all())


async def key(session: AsyncSession, issuer_id: uuid.UUID, key_id: str) -> IssuerKey | None:
    return await session.scalar(select(IssuerKey).where(IssuerKey.issuer_id == issuer_id, IssuerKey.key_id == key_id))


async def active_key(session: AsyncSession, issuer_id: uuid.UUID) -> IssuerKey | None:
    return await session.scalar(select(IssuerKey).where(IssuerKey.issuer_id == issuer_id, IssuerKey.status == "active"))


async def key_count(session: AsyncSession, issuer_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.count()).select_from(IssuerKey).where(IssuerKey.issuer_id == issuer_id)) or 0)


async def public_key(session: AsyncSession, issuer_id: uuid.UUID, key_id: str) -> bytes | None:
    return await session.scalar(select(IssuerKey.public_key).where(IssuerKey.issuer_id == issuer_id, IssuerKey.key_id == key_id))
