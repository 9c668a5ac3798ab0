from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database
from services.common.prepared import AnySelect, prepared
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


class SummaryRow(NamedTuple):
    id: uuid.UUID
    institution_code: str
    kind: str
    title: str
    holder_name: str
    award_year: int
    status: str
    issued_at: datetime
    created_at: datetime


#: a list's order, newest first (unique with the id): the keyset cursor's keys
SUMMARY_ORDER = (Credential.created_at, Credential.id)


def _summaries(whose: str, status: bool, after: bool) -> AnySelect:
    stmt = select(*SUMMARY)
    if whose == "institution":
        stmt = stmt.where(Credential.institution_code == bindparam("who"))
    elif whose == "person":
        stmt = stmt.where(Credential.person_id == bindparam("who"))
    else:
        stmt = stmt.where(Credential.person_id.is_(None), Credential.learner_id == bindparam("who"))
    if status:
        stmt = stmt.where(Credential.status == bindparam("status"))
    if after:  # (created_at, id) < the cursor's, spelled out for both backends
        stmt = stmt.where(or_(Credential.created_at < bindparam("after_at"),
                              and_(Credential.created_at == bindparam("after_at"), Credential.id < bindparam("after_id"))))
    return stmt.order_by(Credential.created_at.desc(), Credential.id.desc()).limit(bindparam("limit"))


async def summaries(db: Database, whose: str, who: Any, status: str | None, after: list[Any] | None,
                    limit: int) -> list[SummaryRow]:
    """A page of credentials (``limit`` rows, newest first, after the cursor's keys) of an institution, a person
    (``whose="person"``) or a staff account (``"account"``): one statement compiled once per shape, run on the
    driver (services/common/prepared.py) — no session, no transaction round trips."""
    stmt = prepared(("credential-summaries", whose, status is not None, after is not None), db.engine.dialect,
                    lambda: _summaries(whose, status is not None, after is not None))
    params = {"who": who, "status": status, "limit": limit}
    if after is not None:
        params |= {"after_at": after[0], "after_id": after[1]}
    return [SummaryRow(*row) for row in await stmt.fetch_pooled(db.engine, params)]
