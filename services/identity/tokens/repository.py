"""Queries for signing keys and API clients."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.identity.models import ApiClient, LoginThrottle, SigningKey


async def active_key(session: AsyncSession) -> SigningKey | None:
    return await session.scalar(
        select(SigningKey).where(SigningKey.status == "active").order_by(SigningKey.created_at.desc()).limit(1)
    )


async def published_keys(session: AsyncSession, now: datetime) -> Sequence[SigningKey]:
    stmt = select(SigningKey).where(
        or_(SigningKey.status == "active", (SigningKey.status == "retiring") & (SigningKey.retire_after > now))
    ).order_by(SigningKey.created_at.desc())
    return (await session.scalars(stmt)).all()


async def all_keys(session: AsyncSession) -> Sequence[SigningKey]:
    return (await session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc()))).all()


async def retire_active(session: AsyncSession, retire_after: datetime) -> None:
    await session.execute(
        update(SigningKey).where(SigningKey.status == "active").values(status="retiring", retire_after=retire_after)
    )


async def expire_retiring(session: AsyncSession, now: datetime) -> None:
    await session.execute(
        update(SigningKey)
        .where(SigningKey.status == "retiring", SigningKey.retire_after <= now)
        .values(status="retired")
    )


_CLIENTS = ApiClient.__table__
_THROTTLES = LoginThrottle.__table__
_PAIR = _THROTTLES.alias("pair")
#: built once: the token grant's hot path only binds values (building a statement per request costs more than
#: running it). The client-secret throttle of this client from this address comes in the same round trip.
_CLIENT_FOR_GRANT = select(
    _CLIENTS.c.client_id, _CLIENTS.c.secret_hash, _CLIENTS.c.scopes, _CLIENTS.c.roles, _CLIENTS.c.institution_code,
    _CLIENTS.c.active,
    select(_PAIR.c.failures).where(_PAIR.c.key == bindparam("pair_key")).scalar_subquery().label("pair_failures"),
    select(_PAIR.c.locked_until).where(_PAIR.c.key == bindparam("pair_key")).scalar_subquery().label("pair_locked_until"),
).where(_CLIENTS.c.client_id == bindparam("client_id"))


async def client_for_grant(conn: AsyncConnection, client_id: str, pair_key: str) -> Row[*tuple[Any, ...]] | None:
    """The client as a plain row (Core, no session, no identity map), with ``pair_failures`` and
    ``pair_locked_until`` of its ``pair_key`` throttle."""
    return (await conn.execute(_CLIENT_FOR_GRANT, {"client_id": client_id, "pair_key": pair_key})).first()


async def client_by_id(session: AsyncSession, client_id: str) -> ApiClient | None:
    return await session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
