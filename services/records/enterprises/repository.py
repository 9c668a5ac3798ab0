"""Enterprises' SQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.records.models import EnterpriseInvitation, InstitutionRef, OutcomeComment, Programme, RplAssessment


async def invitation_by_key(session: AsyncSession, institution_code: str, enterprise_code: str, purpose: str,
                            subject: str) -> EnterpriseInvitation | None:
    stmt = select(EnterpriseInvitation).where(
        EnterpriseInvitation.institution_code == institution_code, EnterpriseInvitation.enterprise_code == enterprise_code,
        EnterpriseInvitation.purpose == purpose, EnterpriseInvitation.subject == subject)
    return await session.scalar(stmt)


async def invitation(session: AsyncSession, invitation_id: uuid.UUID) -> EnterpriseInvitation | None:
    return await session.get(EnterpriseInvitation, invitation_id)


async def invitations_of_institution(session: AsyncSession, code: str) -> list[EnterpriseInvitation]:
    stmt = (select(EnterpriseInvitation).where(EnterpriseInvitation.institution_code == code)
            .order_by(EnterpriseInvitation.created_at, EnterpriseInvitation.id))
    return list((await session.scalars(stmt)).all())


async def invitations_of_enterprise(session: AsyncSession, code: str) -> list[EnterpriseInvitation]:
    stmt = (select(EnterpriseInvitation).where(EnterpriseInvitation.enterprise_code == code)
            .order_by(EnterpriseInvitation.created_at, EnterpriseInvitation.id))
    return list((await session.scalars(stmt)).all())


async def programme(session: AsyncSession, institution_code: str, code: str) -> Programme | None:
    return await session.scalar(select(Programme).where(Programme.institution_code == institution_code, Programme.code == code))


async def programme_by_id(session: AsyncSession, programme_id: uuid.UUID) -> Programme | None:
    return await session.get(Programme, programme_id)


async def assessment(session: AsyncSession, assessment_id: uuid.UUID) -> RplAssessment | None:
    return await session.get(RplAssessment, assessment_id)


async def institution(session: AsyncSession, code: str) -> InstitutionRef | None:
    return await session.get(InstitutionRef, code)


async def comments_of_invitation(session: AsyncSession, invitation_id: uuid.UUID) -> dict[str, OutcomeComment]:
    stmt = select(OutcomeComment).where(OutcomeComment.invitation_id == invitation_id)
    return {c.outcome_code: c for c in (await session.scalars(stmt)).all()}


async def comments_of_programme(session: AsyncSession, programme_id: uuid.UUID) -> list[tuple[OutcomeComment, str]]:
    stmt = (select(OutcomeComment, EnterpriseInvitation.enterprise_code)
            .join(EnterpriseInvitation, OutcomeComment.invitation_id == EnterpriseInvitation.id)
            .where(OutcomeComment.programme_id == programme_id)
            .order_by(OutcomeComment.outcome_code, EnterpriseInvitation.enterprise_code))
    return [(c, e) for c, e in (await session.execute(stmt)).all()]


async def feedback_rows(session: AsyncSession, year: int, institutions: Iterable[str] | None,
                        provinces: Iterable[str] | None) -> list[dict[str, Any]]:
    """One row per employer feedback invitation of the graduation year: its institution, province and answer."""
    stmt = (select(EnterpriseInvitation.institution_code, InstitutionRef.province_code, EnterpriseInvitation.responded_at,
                   EnterpriseInvitation.response)
            .outerjoin(InstitutionRef, InstitutionRef.code == EnterpriseInvitation.institution_code)
            .where(EnterpriseInvitation.purpose == "employer_feedback", EnterpriseInvitation.graduation_year == year))
    if institutions is not None:
        stmt = stmt.where(EnterpriseInvitation.institution_code.in_(list(institutions)))
    if provinces is not None:
        stmt = stmt.where(InstitutionRef.province_code.in_(list(provinces)))
    return [{"institution": i, "province": p, "responded_at": r, "response": resp} for i, p, r, resp in (await session.execute(stmt)).all()]
