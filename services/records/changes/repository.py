from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.records.models import Change, InstitutionRef

COLUMNS = ("version", "institution_code", "entity", "operation", "key", "old_key", "changed_at")


async def take_versions(session: AsyncSession, n: int) -> int:
    """Hands out ``n`` versions; returns the last. The counter row stays locked until the transaction ends."""
    return int((await session.execute(
        text("UPDATE change_counter SET value = value + :n WHERE id = 1 RETURNING value"), {"n": n}
    )).scalar_one())


async def copy_changes(session: AsyncSession, records: list[tuple[Any, ...]]) -> None:
    """Rows of :data:`COLUMNS` (keys as JSON text) with ``COPY`` (PostgreSQL)."""
    conn = await session.connection()
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    await driver.copy_records_to_table("changes", columns=COLUMNS, records=records)


async def insert_changes(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(insert(Change), rows)


def dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def since(session: AsyncSession, version: int, limit: int, institutions: Collection[str] | None) -> list[Change]:
    stmt = select(Change).where(Change.version > version).order_by(Change.version).limit(limit)
    if institutions is not None:
        stmt = stmt.where(Change.institution_code.in_(institutions))
    return list((await session.scalars(stmt)).all())


async def latest(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT value FROM change_counter WHERE id = 1"))).scalar_one())


async def institutions_in(session: AsyncSession, provinces: Collection[str]) -> set[str]:
    return set((await session.scalars(select(InstitutionRef.code).where(InstitutionRef.province_code.in_(provinces)))).all())


async def provinces_of(session: AsyncSession, institutions: Collection[str]) -> dict[str, str]:
    """Institution code → its province code."""
    rows = await session.execute(select(InstitutionRef.code, InstitutionRef.province_code).where(InstitutionRef.code.in_(institutions)))
    return {code: province for code, province in rows.all()}
