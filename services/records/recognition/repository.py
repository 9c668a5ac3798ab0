"""Credit transfer's and RPL's SQL."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.records.models import (
    Enrolment,
    EnterpriseInvitation,
    EquivalenceRule,
    Grade,
    Learner,
    Module,
    Programme,
    RecognisedModule,
    RecognitionItem,
    RecognitionRequest,
    RplAssessment,
    Term,
)


async def programme(session: AsyncSession, institution_code: str, code: str) -> Programme | None:
    return await session.scalar(select(Programme).where(Programme.institution_code == institution_code, Programme.code == code))


async def programme_by_id(session: AsyncSession, programme_id: uuid.UUID) -> Programme | None:
    return await session.get(Programme, programme_id)


async def modules_of(session: AsyncSession, programme_id: uuid.UUID) -> dict[str, Module]:
    return {m.code: m for m in (await session.scalars(select(Module).where(Module.programme_id == programme_id))).all()}


async def rules_of(session: AsyncSession, programme_id: uuid.UUID) -> list[EquivalenceRule]:
    stmt = select(EquivalenceRule).where(EquivalenceRule.programme_id == programme_id).order_by(EquivalenceRule.code)
    return list((await session.scalars(stmt)).all())


async def rule(session: AsyncSession, programme_id: uuid.UUID, code: str) -> EquivalenceRule | None:
    return await session.scalar(select(EquivalenceRule).where(EquivalenceRule.programme_id == programme_id, EquivalenceRule.code == code))


async def rules_by_id(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, EquivalenceRule]:
    if not ids:
        return {}
    return {r.id: r for r in (await session.scalars(select(EquivalenceRule).where(EquivalenceRule.id.in_(ids)))).all()}


async def person_enrolment(session: AsyncSession, person_id: uuid.UUID, institution_code: str,
                           programme_code: str) -> tuple[Enrolment, Learner, Programme] | None:
    stmt = (select(Enrolment, Learner, Programme).join(Learner, Enrolment.learner_id == Learner.id)
            .join(Programme, Enrolment.programme_id == Programme.id)
            .where(Learner.person_id == person_id, Enrolment.institution_code == institution_code, Programme.code == programme_code)
            .order_by(Enrolment.created_at.desc()))
    row = (await session.execute(stmt)).first()
    return (row[0], row[1], row[2]) if row else None


async def enrolment(session: AsyncSession, enrolment_id: uuid.UUID) -> tuple[Enrolment, Learner, Programme] | None:
    stmt = (select(Enrolment, Learner, Programme).join(Learner, Enrolment.learner_id == Learner.id)
            .join(Programme, Enrolment.programme_id == Programme.id).where(Enrolment.id == enrolment_id))
    row = (await session.execute(stmt)).first()
    return (row[0], row[1], row[2]) if row else None


async def request_of_enrolment(session: AsyncSession, enrolment_id: uuid.UUID) -> RecognitionRequest | None:
    return await session.scalar(select(RecognitionRequest).where(RecognitionRequest.enrolment_id == enrolment_id))


async def request(session: AsyncSession, request_id: uuid.UUID) -> RecognitionRequest | None:
    return await session.get(RecognitionRequest, request_id)


async def requests_of_institution(session: AsyncSession, code: str, status: str | None) -> list[RecognitionRequest]:
    stmt = select(RecognitionRequest).where(RecognitionRequest.institution_code == code)
    if status:
        stmt = stmt.where(RecognitionRequest.status == status)
    return list((await session.scalars(stmt.order_by(RecognitionRequest.created_at, RecognitionRequest.id))).all())


async def requests_of_person(session: AsyncSession, person_id: uuid.UUID) -> list[RecognitionRequest]:
    stmt = select(RecognitionRequest).where(RecognitionRequest.person_id == person_id).order_by(RecognitionRequest.created_at)
    return list((await session.scalars(stmt)).all())


async def items_of(session: AsyncSession, request_id: uuid.UUID) -> list[RecognitionItem]:
    stmt = select(RecognitionItem).where(RecognitionItem.request_id == request_id).order_by(RecognitionItem.module_code, RecognitionItem.source_key)
    return list((await session.scalars(stmt)).all())


async def item(session: AsyncSession, item_id: uuid.UUID) -> RecognitionItem | None:
    return await session.get(RecognitionItem, item_id)


async def prior_results(session: AsyncSession, person_id: uuid.UUID, other_than: uuid.UUID) -> list[dict[str, Any]]:
    """Every sitting of the person's other enrolments (at any institution) with what a rule looks at."""
    stmt = (select(Enrolment.id, Enrolment.institution_code, Programme.code, Programme.name, Programme.level, Module.code, Module.name,
                   Module.credits, Grade.score, Grade.passed, Term.end_date, Enrolment.graduated_on)
            .select_from(Grade).join(Enrolment, Grade.enrolment_id == Enrolment.id).join(Learner, Enrolment.learner_id == Learner.id)
            .join(Programme, Enrolment.programme_id == Programme.id).join(Module, Grade.module_id == Module.id)
            .join(Term, Grade.term_id == Term.id)
            .where(Learner.person_id == person_id, Enrolment.id != other_than)
            .order_by(Enrolment.id, Module.code, Grade.score.desc()))
    keys = ("enrolment_id", "institution_code", "programme_code", "programme_name", "level", "module_code", "module_name", "credits",
            "score", "passed", "term_end", "graduated_on")
    return [dict(zip(keys, row, strict=True)) for row in (await session.execute(stmt)).all()]


async def recognised_of(session: AsyncSession, enrolment_id: uuid.UUID) -> list[RecognisedModule]:
    stmt = select(RecognisedModule).where(RecognisedModule.enrolment_id == enrolment_id).order_by(RecognisedModule.module_code)
    return list((await session.scalars(stmt)).all())


async def recognised(session: AsyncSession, enrolment_id: uuid.UUID, module_code: str) -> RecognisedModule | None:
    return await session.get(RecognisedModule, (enrolment_id, module_code))


async def assessment(session: AsyncSession, enrolment_id: uuid.UUID, module_code: str) -> RplAssessment | None:
    return await session.scalar(select(RplAssessment).where(RplAssessment.enrolment_id == enrolment_id, RplAssessment.module_code == module_code))


def assessments_of_person(person_id: uuid.UUID) -> Select[Any]:
    """The person's RPL assessments, at any institution (paginated by the caller on created_at, id)."""
    return select(RplAssessment).where(RplAssessment.person_id == person_id)


async def panel_invitations(session: AsyncSession, assessment_id: uuid.UUID) -> list[EnterpriseInvitation]:
    """The enterprises invited to sit on an assessment's panel."""
    stmt = select(EnterpriseInvitation).where(EnterpriseInvitation.assessment_id == assessment_id,
                                              EnterpriseInvitation.purpose == "assessment_panel")
    return list((await session.scalars(stmt)).all())


async def assessment_by_id(session: AsyncSession, assessment_id: uuid.UUID) -> RplAssessment | None:
    return await session.get(RplAssessment, assessment_id)


def result_date(row: dict[str, Any]) -> date | None:
    """When a prior result was obtained: its term's end, else the enrolment's graduation."""
    value = row["term_end"] or row["graduated_on"]
    return value if isinstance(value, date) else None
