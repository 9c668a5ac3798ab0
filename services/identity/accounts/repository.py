"""Queries for accounts, memberships, refresh tokens and the sign-in throttle rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.models import Account, LoginThrottle, Membership, RefreshToken

# -- accounts and memberships ---------------------------------------------------------------------------------


async def account(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id)


async def account_by_username(session: AsyncSession, username: str) -> Account | None:
    return await session.scalar(select(Account).where(Account.username == username))


async def account_by_person(session: AsyncSession, person_id: uuid.UUID) -> Account | None:
    return await session.scalar(select(Account).where(Account.person_id == person_id))


async def username_taken(session: AsyncSession, username: str) -> bool:
    return await session.scalar(select(Account.id).where(Account.username == username)) is not None


async def memberships(session: AsyncSession, account_id: uuid.UUID) -> Sequence[Membership]:
    return (await session.scalars(select(Membership).where(Membership.account_id == account_id))).all()


async def membership(session: AsyncSession, membership_id: uuid.UUID) -> Membership | None:
    return await session.get(Membership, membership_id)


async def membership_held(session: AsyncSession, account_id: uuid.UUID, at: str, role: str) -> Membership | None:
    return await session.scalar(
        select(Membership).where(Membership.account_id == account_id, Membership.at == at, Membership.role == role)
    )


# -- refresh tokens -------------------------------------------------------------------------------------------


async def refresh_token(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    return await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))


async def revoke_account_tokens(session: AsyncSession, account_id: uuid.UUID, reason: str, now: datetime) -> int:
    """Revokes every live refresh token of the account; returns how many families were live."""
    live = (RefreshToken.account_id == account_id, RefreshToken.revoked_at.is_(None))
    families = (await session.scalars(select(RefreshToken.family_id).where(*live).distinct())).all()
    await session.execute(update(RefreshToken).where(*live).values(revoked_at=now, revoked_reason=reason))
    return len(families)


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, reason: str, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


# -- throttle rows (rules in throttle.py); ``conn``: a session or a bare connection ----------------------------

#: a declarative model's ``__table__`` is a ``Table``; SQLAlchemy types it as any ``FromClause``, which Core's
#: insert/update do not take
_T = cast(Table, LoginThrottle.__table__)


async def throttle_rows(conn: Any, keys: list[str]) -> list[Any]:
    """``key, failures, locked_until, last_success_at`` of the keys that have a row."""
    result = await conn.execute(select(_T.c.key, _T.c.failures, _T.c.locked_until, _T.c.last_success_at).where(_T.c.key.in_(keys)))
    return list(result)


async def ensure_throttle(conn: Any, key: str) -> None:
    """The key's row, created with no failures unless it exists (concurrent callers both succeed)."""
    dialect = conn.dialect if hasattr(conn, "dialect") else conn.bind.dialect
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    await conn.execute(insert(_T).values(key=key, failures=0, lockouts=0).on_conflict_do_nothing(index_elements=["key"]))


async def count_failure(conn: Any, key: str, now: datetime, stale: datetime) -> int:
    """One more failure (atomically, so concurrent guesses all count; the first after ``stale`` starts afresh);
    returns the count."""
    return (await conn.execute(  # type: ignore[no-any-return]
        update(_T).where(_T.c.key == key)
        .values(failures=case((or_(_T.c.last_failure_at.is_(None), _T.c.last_failure_at < stale), 1), else_=_T.c.failures + 1),
                last_failure_at=now)
        .returning(_T.c.failures)
    )).scalar_one()


async def lock(conn: Any, key: str, until: datetime, lockouts: int) -> None:
    await conn.execute(update(_T).where(_T.c.key == key).values(locked_until=until, lockouts=lockouts))


async def reset_throttle(conn: Any, key: str, *, success_at: datetime | None = None) -> None:
    """No count, no wait; ``success_at``: also when this key last succeeded."""
    values: dict[str, Any] = {"failures": 0, "lockouts": 0, "locked_until": None}
    if success_at is not None:
        values["last_success_at"] = success_at
    await conn.execute(update(_T).where(_T.c.key == key).values(**values))


async def reset_throttles(conn: Any, key: str, prefix: str) -> int:
    """No count, no wait for ``key`` and every key starting with ``prefix`` (taken literally); returns how many
    rows changed."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    result = await conn.execute(
        update(_T).where(or_(_T.c.key == key, _T.c.key.like(f"{escaped}%", escape="\\")))
        .values(failures=0, lockouts=0, locked_until=None)
    )
    return result.rowcount or 0
