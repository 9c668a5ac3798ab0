from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import utcnow
from services.common.pagination import Page, PageParams, paginate
from services.records.models import Enrolment, Grade, Learner, LearnerKeyChange, Module, OneRosterId, Programme, Term
from services.records.models.oneroster_id import natural_key_json


async def learner(session: AsyncSession, learner_id: uuid.UUID, *, lock: bool = False) -> Learner | None:
    """The learner; ``lock``: its row locked until the transaction ends (PostgreSQL; SQLite's writes are serial)."""
    return await session.get(Learner, learner_id, with_for_update=lock or None, populate_existing=lock)


async def page(session: AsyncSession, institution_code: str, params: PageParams) -> Page[Learner]:
    return await paginate(session, select(Learner).where(Learner.institution_code == institution_code), (Learner.created_at, Learner.id), params)


async def of_person(session: AsyncSession, person_id: uuid.UUID) -> list[Learner]:
    stmt = select(Learner).where(Learner.person_id == person_id).order_by(Learner.institution_code)
    return list((await session.scalars(stmt)).all())


async def enrolments_with_programmes(session: AsyncSession, learner_id: uuid.UUID) -> list[tuple[Enrolment, Programme]]:
    rows = await session.execute(
        select(Enrolment, Programme).join(Programme, Enrolment.programme_id == Programme.id)
        .where(Enrolment.learner_id == learner_id).order_by(Programme.code)
    )
    return [(e, p) for e, p in rows.all()]


async def key_changes(session: AsyncSession, learner_id: uuid.UUID) -> list[LearnerKeyChange]:
    stmt = select(LearnerKeyChange).where(LearnerKeyChange.learner_id == learner_id).order_by(LearnerKeyChange.changed_at, LearnerKeyChange.id)
    return list((await session.scalars(stmt)).all())


async def number_taken(session: AsyncSession, institution_code: str, id_number: str) -> bool:
    stmt = select(Learner.id).where(Learner.institution_code == institution_code, Learner.id_number == id_number)
    return await session.scalar(stmt) is not None


async def enrolled_programme_codes(session: AsyncSession, learner_id: uuid.UUID) -> list[str]:
    stmt = (select(Programme.code).select_from(Enrolment).join(Programme, Enrolment.programme_id == Programme.id)
            .where(Enrolment.learner_id == learner_id).order_by(Programme.code))
    return list((await session.execute(stmt)).scalars().all())


async def grade_keys(session: AsyncSession, learner_id: uuid.UUID) -> list[tuple[str, str, str]]:
    """(programme, module, term) codes of every grade of the learner's."""
    stmt = (
        select(Programme.code, Module.code, Term.code).select_from(Grade)
        .join(Enrolment, Grade.enrolment_id == Enrolment.id).join(Programme, Enrolment.programme_id == Programme.id)
        .join(Module, Grade.module_id == Module.id).join(Term, Grade.term_id == Term.id)
        .where(Enrolment.learner_id == learner_id).order_by(Programme.code, Term.code, Module.code)
    )
    return [(p, m, t) for p, m, t in (await session.execute(stmt)).all()]


async def renumber_oneroster_users(session: AsyncSession, institution_code: str, old_number: str, new_number: str) -> None:
    """The OneRoster users remembered with the old personal ID number name the new one (in the correction's
    transaction), so a later delta naming such a user finds the learner."""
    await session.execute(
        update(OneRosterId)
        .where(OneRosterId.institution_code == institution_code, OneRosterId.kind == "users",
               OneRosterId.natural_key == natural_key_json({"id_number": old_number}))
        .values(natural_key=natural_key_json({"id_number": new_number}), updated_at=utcnow())
    )
