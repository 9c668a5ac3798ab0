from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.credentials.models import Credential, RegisterCounter


async def by_id(session: AsyncSession, credential_id: uuid.UUID, *, lock: bool = False) -> Credential | None:
    stmt = select(Credential).where(Credential.id == credential_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def latest_by_natural_keys(
    session: AsyncSession, institution_code: str, learner_refs: Iterable[str]
) -> dict[tuple[str, str, str, int], Credential]:
    """The newest revision of every credential of these learners at the institution, by natural key."""
    refs = list(set(learner_refs))
    found: dict[tuple[str, str, str, int], Credential] = {}
    for i in range(0, len(refs), 500):
        stmt = select(Credential).where(Credential.institution_code == institution_code, Credential.learner_ref.in_(refs[i : i + 500]))
        for row in (await session.scalars(stmt)).all():
            key = (row.institution_code, row.learner_ref, row.achievement_code, row.award_year)
            if key not in found or found[key].revision < row.revision:
                found[key] = row
    return found


async def register_numbers_taken(session: AsyncSession, institution_code: str, year: int, numbers: Iterable[str]) -> dict[str, Credential]:
    nums = list(set(numbers))
    taken: dict[str, Credential] = {}
    for i in range(0, len(nums), 500):
        stmt = select(Credential).where(
            Credential.institution_code == institution_code, Credential.register_year == year,
            Credential.register_number.in_(nums[i : i + 500]),
        )
        for row in (await session.scalars(stmt)).all():
            taken[row.register_number] = row
    return taken


async def reserve_register_numbers(session: AsyncSession, institution_code: str, year: int, count: int) -> int:
    """Reserves ``count`` consecutive numbers of the institution's register for ``year``; returns the first. The
    counter row stays locked until the transaction ends."""
    stmt = select(RegisterCounter).where(RegisterCounter.institution_code == institution_code, RegisterCounter.year == year)
    counter = await session.scalar(stmt.with_for_update())
    if counter is None:
        try:
            async with session.begin_nested():
                session.add(RegisterCounter(institution_code=institution_code, year=year, next_value=1))
        except IntegrityError:
            pass  # created by a concurrent transaction
        counter = await session.scalar(stmt.with_for_update())
        assert counter is not None
    first = counter.next_value
    counter.next_value = first + count
    await session.flush()
    return first


#: what a list of credentials shows (``CredentialSummary``): never the signed documents, which a list does not need
SUMMARY = (Credential.id, Credential.institution_code, Credential.kind, Credential.title, Credential.holder_name,
           Credential.award_year, Credential.status, Credential.issued_at, Credential.created_at)


def for_person(person_id: uuid.UUID) -> Select[Any]:
    return select(*SUMMARY).where(Credential.person_id == person_id)


def for_account(sub: str) -> Select[Any]:
    """Credentials issued to a staff account that has no person record (``learner_id`` ``account:<id>``)."""
    return select(*SUMMARY).where(Credential.person_id.is_(None), Credential.learner_id == sub)


def for_institution(code: str) -> Select[Any]:
    return select(*SUMMARY).where(Credential.institution_code == code)
