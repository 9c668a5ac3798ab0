from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.models import Person

CHUNK = 900  # stays under SQLite's bound-parameter limit


async def by_number(session: AsyncSession, number: str) -> Person | None:
    return await session.scalar(select(Person).where(Person.id_number == number))


async def by_numbers(session: AsyncSession, numbers: Iterable[str]) -> dict[str, Person]:
    found: dict[str, Person] = {}
    numbers = list(numbers)
    for i in range(0, len(numbers), CHUNK):
        rows: Sequence[Person] = (await session.scalars(select(Person).where(Person.id_number.in_(numbers[i : i + CHUNK])))).all()
        found.update({p.id_number: p for p in rows})
    return found


async def by_id(session: AsyncSession, person_id: uuid.UUID) -> Person | None:
    return await session.get(Person, person_id)
