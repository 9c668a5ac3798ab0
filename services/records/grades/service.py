"""Grades of an enrolment and where the learner stands (GPA, eligibility), from the stored grading policy."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import NotFound
from services.records.grading.rules import DEFAULT_POLICY, GradingPolicy, ModuleResult, Standing, standing, term_gpa
from services.records.models import Enrolment, Grade, GradingPolicyRow, Learner, Module, Programme, Term


async def number_of_person(session: AsyncSession, institution_code: str, person_id: uuid.UUID) -> str | None:
    """The personal ID number of the institution's learner linked to this person (grades are keyed by it)."""
    stmt = select(Learner.id_number).where(Learner.institution_code == institution_code, Learner.person_id == person_id)
    number: str | None = await session.scalar(stmt)
    return number


@dataclass
class EnrolmentRecord:
    enrolment: Enrolment
    programme: Programme
    policy: GradingPolicy
    modules: dict[str, Module]
    grades: list[tuple[Grade, Module, Term]]
    standing: Standing
    term_gpas: dict[str, str | None]


async def policy_for(session: AsyncSession, programme: Programme) -> GradingPolicy:
    row = await session.scalar(select(GradingPolicyRow).where(GradingPolicyRow.code == programme.grading_policy_code))
    return GradingPolicy.from_dict(row.rules) if row else DEFAULT_POLICY


async def record_of(session: AsyncSession, enrolment: Enrolment) -> EnrolmentRecord:
    programme = await session.get(Programme, enrolment.programme_id)
    if programme is None:
        raise NotFound("The enrolment's programme is gone.")
    policy = await policy_for(session, programme)
    modules = {m.code: m for m in (await session.scalars(select(Module).where(Module.programme_id == programme.id))).all()}
    rows = (await session.execute(
        select(Grade, Module, Term).join(Module, Grade.module_id == Module.id).join(Term, Grade.term_id == Term.id)
        .where(Grade.enrolment_id == enrolment.id).order_by(Term.code, Module.code)
    )).all()
    grades = [(g, m, t) for g, m, t in rows]
    sittings = [ModuleResult(m.code, m.credits, g.score, m.is_condition, t.code) for g, m, t in grades]
    st = standing(policy, {c: (m.credits, m.is_condition) for c, m in modules.items()}, sittings)
    terms = sorted({t.code for _, _, t in grades})
    term_gpas = {code: (str(v) if (v := term_gpa(policy, sittings, code)) is not None else None) for code in terms}
    return EnrolmentRecord(enrolment, programme, policy, modules, grades, st, term_gpas)
