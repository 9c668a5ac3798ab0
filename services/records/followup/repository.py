"""Follow-up's SQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.records.models import (
    Enrolment,
    InstitutionRef,
    Learner,
    Programme,
    SurveyInvitation,
    SurveyResponse,
    SurveyRound,
)


async def round_of(session: AsyncSession, code: str, year: int, months: int) -> SurveyRound | None:
    stmt = select(SurveyRound).where(SurveyRound.institution_code == code, SurveyRound.graduation_year == year,
                                     SurveyRound.months_after == months)
    return (await session.scalars(stmt)).first()


async def round_by_id(session: AsyncSession, round_id: uuid.UUID) -> SurveyRound | None:
    return await session.get(SurveyRound, round_id)


async def graduates_not_invited(session: AsyncSession, survey: SurveyRound) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(enrolment, person) of the institution's graduates of the round's year who have no invitation yet."""
    invited = select(SurveyInvitation.enrolment_id).where(SurveyInvitation.round_id == survey.id)
    stmt = (select(Enrolment.id, Learner.person_id).join(Learner, Enrolment.learner_id == Learner.id)
            .where(Enrolment.institution_code == survey.institution_code, Enrolment.status == "graduated",
                   Enrolment.graduation_year == survey.graduation_year, Enrolment.id.not_in(invited))
            .order_by(Enrolment.id))
    return [(e, p) for e, p in (await session.execute(stmt)).all()]


async def counts(session: AsyncSession, round_id: uuid.UUID) -> tuple[int, int]:
    stmt = select(func.count(SurveyInvitation.id), func.count(SurveyInvitation.responded_at)).where(SurveyInvitation.round_id == round_id)
    invited, responded = (await session.execute(stmt)).one()
    return invited, responded


async def invitations(session: AsyncSession, round_id: uuid.UUID, limit: int, offset: int) -> list[tuple[SurveyInvitation, str, str]]:
    stmt = (select(SurveyInvitation, Learner.full_name, Programme.code)
            .join(Enrolment, SurveyInvitation.enrolment_id == Enrolment.id).join(Learner, Enrolment.learner_id == Learner.id)
            .join(Programme, Enrolment.programme_id == Programme.id)
            .where(SurveyInvitation.round_id == round_id).order_by(Learner.full_name, SurveyInvitation.id).limit(limit).offset(offset))
    return [(i, n, p) for i, n, p in (await session.execute(stmt)).all()]


async def invitation(session: AsyncSession, invitation_id: uuid.UUID) -> SurveyInvitation | None:
    return await session.get(SurveyInvitation, invitation_id)


async def invitations_of_person(session: AsyncSession, person_id: uuid.UUID) -> list[SurveyInvitation]:
    stmt = select(SurveyInvitation).where(SurveyInvitation.person_id == person_id).order_by(SurveyInvitation.created_at)
    return list((await session.scalars(stmt)).all())


async def programme_of_enrolment(session: AsyncSession, enrolment_id: uuid.UUID) -> Programme | None:
    stmt = select(Programme).join(Enrolment, Enrolment.programme_id == Programme.id).where(Enrolment.id == enrolment_id)
    return (await session.scalars(stmt)).first()


async def report_rows(session: AsyncSession, year: int, months: int, institutions: Iterable[str] | None,
                      provinces: Iterable[str] | None) -> list[dict[str, Any]]:
    """One row per invitation with what the report groups by and the answer's indicators (None: no answer)."""
    stmt = (select(SurveyRound.institution_code, InstitutionRef.province_code, Programme.occupation_code, Programme.level, Learner.sex,
                   SurveyInvitation.responded_at, SurveyResponse.employed, SurveyResponse.in_trained_occupation,
                   SurveyResponse.further_study)
            .select_from(SurveyInvitation).join(SurveyRound, SurveyInvitation.round_id == SurveyRound.id)
            .join(Enrolment, SurveyInvitation.enrolment_id == Enrolment.id).join(Learner, Enrolment.learner_id == Learner.id)
            .join(Programme, Enrolment.programme_id == Programme.id)
            .outerjoin(InstitutionRef, InstitutionRef.code == SurveyRound.institution_code)
            .outerjoin(SurveyResponse, SurveyResponse.invitation_id == SurveyInvitation.id)
            .where(SurveyRound.graduation_year == year, SurveyRound.months_after == months))
    if institutions is not None:
        stmt = stmt.where(SurveyRound.institution_code.in_(list(institutions)))
    if provinces is not None:
        stmt = stmt.where(InstitutionRef.province_code.in_(list(provinces)))
    keys = ("institution", "province", "occupation", "level", "sex", "responded_at", "employed", "in_trained_occupation", "further_study")
    return [dict(zip(keys, row, strict=True)) for row in (await session.execute(stmt)).all()]
