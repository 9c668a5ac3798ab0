"""Admissions' SQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.records.models import AdmissionConsent, Application, InstitutionRef, Intake, Learner, SecondaryGraduate


async def graduates_by_key(session: AsyncSession, school_code: str, year: int, numbers: Iterable[str]) -> dict[str, SecondaryGraduate]:
    numbers = list(numbers)
    out: dict[str, SecondaryGraduate] = {}
    for start in range(0, len(numbers), 500):
        stmt = select(SecondaryGraduate).where(SecondaryGraduate.school_code == school_code, SecondaryGraduate.graduation_year == year,
                                               SecondaryGraduate.id_number.in_(numbers[start:start + 500]))
        out.update({g.id_number: g for g in (await session.scalars(stmt)).all()})
    return out


async def graduates_of_person(session: AsyncSession, person_id: uuid.UUID) -> list[SecondaryGraduate]:
    stmt = select(SecondaryGraduate).where(SecondaryGraduate.person_id == person_id).order_by(SecondaryGraduate.graduation_year.desc())
    return list((await session.scalars(stmt)).all())


async def consents_of_person(session: AsyncSession, person_id: uuid.UUID) -> list[AdmissionConsent]:
    stmt = select(AdmissionConsent).where(AdmissionConsent.person_id == person_id).order_by(AdmissionConsent.institution_code, AdmissionConsent.purpose)
    return list((await session.scalars(stmt)).all())


async def consent(session: AsyncSession, person_id: uuid.UUID, institution_code: str, purpose: str) -> AdmissionConsent | None:
    stmt = select(AdmissionConsent).where(AdmissionConsent.person_id == person_id, AdmissionConsent.institution_code == institution_code,
                                          AdmissionConsent.purpose == purpose)
    return (await session.scalars(stmt)).first()


async def persons_sharing_with(session: AsyncSession, institution_code: str, person_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Of ``person_ids``, those whose data the institution may see now (a consent not withdrawn)."""
    ids = list(set(person_ids))
    if not ids:
        return set()
    stmt = select(AdmissionConsent.person_id).where(AdmissionConsent.institution_code == institution_code,
                                                    AdmissionConsent.withdrawn_at.is_(None), AdmissionConsent.person_id.in_(ids))
    return set((await session.scalars(stmt)).all())


async def counselling_graduates(session: AsyncSession, institution_code: str, limit: int) -> list[SecondaryGraduate]:
    stmt = (select(SecondaryGraduate).join(AdmissionConsent, and_(
        AdmissionConsent.person_id == SecondaryGraduate.person_id, AdmissionConsent.institution_code == institution_code,
        AdmissionConsent.purpose == "counselling", AdmissionConsent.withdrawn_at.is_(None)))
        .order_by(SecondaryGraduate.full_name, SecondaryGraduate.id).limit(limit))
    return list((await session.scalars(stmt)).all())


async def intake(session: AsyncSession, intake_id: uuid.UUID) -> Intake | None:
    return await session.get(Intake, intake_id)


async def intake_by_code(session: AsyncSession, institution_code: str, code: str) -> Intake | None:
    stmt = select(Intake).where(Intake.institution_code == institution_code, Intake.code == code)
    return (await session.scalars(stmt)).first()


async def intakes(session: AsyncSession, institution_code: str | None, year: int | None) -> list[Intake]:
    stmt = select(Intake).order_by(Intake.institution_code, Intake.code)
    if institution_code is not None:
        stmt = stmt.where(Intake.institution_code == institution_code)
    if year is not None:
        stmt = stmt.where(Intake.year == year)
    return list((await session.scalars(stmt)).all())


async def intakes_by_id(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Intake]:
    ids = list(set(ids))
    if not ids:
        return {}
    return {i.id: i for i in (await session.scalars(select(Intake).where(Intake.id.in_(ids)))).all()}


async def application(session: AsyncSession, application_id: uuid.UUID) -> Application | None:
    return await session.get(Application, application_id)


async def application_of(session: AsyncSession, intake_id: uuid.UUID, person_id: uuid.UUID) -> Application | None:
    stmt = select(Application).where(Application.intake_id == intake_id, Application.person_id == person_id)
    return (await session.scalars(stmt)).first()


async def applications_of_person(session: AsyncSession, person_id: uuid.UUID) -> list[Application]:
    stmt = select(Application).where(Application.person_id == person_id).order_by(Application.created_at, Application.id)
    return list((await session.scalars(stmt)).all())


async def applications_to(session: AsyncSession, institution_code: str, status: str | None, limit: int, offset: int) -> list[Application]:
    stmt = select(Application).where(Application.institution_code == institution_code)
    if status is not None:
        stmt = stmt.where(Application.status == status)
    stmt = stmt.order_by(Application.created_at, Application.id).limit(limit).offset(offset)
    return list((await session.scalars(stmt)).all())


async def graduates_by_id(session: AsyncSession, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, SecondaryGraduate]:
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    return {g.id: g for g in (await session.scalars(select(SecondaryGraduate).where(SecondaryGraduate.id.in_(wanted)))).all()}


async def latest_graduate(session: AsyncSession, person_id: uuid.UUID) -> SecondaryGraduate | None:
    stmt = (select(SecondaryGraduate).where(SecondaryGraduate.person_id == person_id)
            .order_by(SecondaryGraduate.graduation_year.desc(), SecondaryGraduate.updated_at.desc()))
    return (await session.scalars(stmt)).first()


async def counts_by_status(session: AsyncSession, intake_id: uuid.UUID) -> dict[str, int]:
    stmt = select(Application.status, func.count()).where(Application.intake_id == intake_id).group_by(Application.status)
    return {status: n for status, n in (await session.execute(stmt)).all()}


async def streaming(session: AsyncSession, year: int, provinces: Iterable[str] | None) -> list[tuple[str, str, int, int, int]]:
    """(province, district, graduates, of them applied to any VET intake, of them enrolled) for a graduation year;
    a person counted once per district."""
    applied = select(Application.person_id).distinct().subquery()
    enrolled = select(Application.person_id).where(Application.status == "enrolled").distinct().subquery()
    stmt = (select(SecondaryGraduate.province_code, SecondaryGraduate.district,
                   func.count(func.distinct(SecondaryGraduate.person_id)),
                   func.count(func.distinct(applied.c.person_id)),
                   func.count(func.distinct(enrolled.c.person_id)))
            .select_from(SecondaryGraduate)
            .outerjoin(applied, applied.c.person_id == SecondaryGraduate.person_id)
            .outerjoin(enrolled, enrolled.c.person_id == SecondaryGraduate.person_id)
            .where(SecondaryGraduate.graduation_year == year)
            .group_by(SecondaryGraduate.province_code, SecondaryGraduate.district)
            .order_by(SecondaryGraduate.province_code, SecondaryGraduate.district))
    if provinces is not None:
        stmt = stmt.where(SecondaryGraduate.province_code.in_(list(provinces)))
    return [(p, d, g, a, e) for p, d, g, a, e in (await session.execute(stmt)).all()]


async def intake_counts(session: AsyncSession, year: int, institutions: Iterable[str] | None) -> list[tuple[Intake, dict[str, int]]]:
    stmt = (select(Intake, Application.status, func.count(Application.id))
            .outerjoin(Application, Application.intake_id == Intake.id)
            .where(Intake.year == year).group_by(Intake.id, Application.status)
            .order_by(Intake.institution_code, Intake.code))
    if institutions is not None:
        stmt = stmt.where(Intake.institution_code.in_(list(institutions)))
    out: dict[uuid.UUID, tuple[Intake, dict[str, int]]] = {}
    for intake_row, status, n in (await session.execute(stmt)).all():
        entry = out.setdefault(intake_row.id, (intake_row, {}))
        if status is not None:
            entry[1][status] = n
    return list(out.values())


async def institutions_in(session: AsyncSession, provinces: set[str]) -> list[str]:
    stmt = select(InstitutionRef.code).where(InstitutionRef.province_code.in_(sorted(provinces)))
    return list((await session.scalars(stmt)).all())


async def learner_id(session: AsyncSession, institution_code: str, id_number: str) -> uuid.UUID | None:
    stmt = select(Learner.id).where(Learner.institution_code == institution_code, Learner.id_number == id_number)
    return (await session.scalars(stmt)).first()


async def lock_intake(session: AsyncSession, intake_id: uuid.UUID) -> None:
    """Holds the intake's row until the transaction ends, so two offers cannot both take its last place."""
    await session.execute(select(Intake.id).where(Intake.id == intake_id).with_for_update())
