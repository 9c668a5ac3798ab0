"""Every query of exams, rosters, attempts and responses."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import insert_for
from services.common.pagination import Page, PageParams, paginate
from services.learning.models import (
    AssessorInvitation,
    Exam,
    ExamAttempt,
    ExamCandidate,
    ExamResponse,
    ExamResponseEvent,
)


def _locked(session: AsyncSession, stmt: Any) -> Any:
    return stmt.with_for_update() if session.get_bind().dialect.name == "postgresql" else stmt


async def exam(session: AsyncSession, exam_id: uuid.UUID, *, lock: bool = False) -> Exam | None:
    stmt = select(Exam).where(Exam.id == exam_id)
    return (await session.scalars(_locked(session, stmt) if lock else stmt)).first()


async def exams(session: AsyncSession, institutions: set[str], invited: set[uuid.UUID], page: PageParams, *,
                kind: str | None = None, status: str | None = None, transform: Any = None) -> Page[Any]:
    stmt = select(Exam).where(or_(Exam.institution_code.in_(sorted(institutions)), Exam.id.in_(sorted(invited, key=str))))
    if kind:
        stmt = stmt.where(Exam.kind == kind)
    if status:
        stmt = stmt.where(Exam.status == status)
    return await paginate(session, stmt, (Exam.created_at, Exam.id), page, descending=True, transform=transform)


async def candidate(session: AsyncSession, candidate_id: uuid.UUID, *, lock: bool = False) -> ExamCandidate | None:
    stmt = select(ExamCandidate).where(ExamCandidate.id == candidate_id)
    return (await session.scalars(_locked(session, stmt) if lock else stmt)).first()


async def candidates_by_keys(session: AsyncSession, exam_id: uuid.UUID, keys: Sequence[str]) -> dict[str, ExamCandidate]:
    out: dict[str, ExamCandidate] = {}
    for start in range(0, len(keys), 500):
        stmt = select(ExamCandidate).where(ExamCandidate.exam_id == exam_id, ExamCandidate.learner_key.in_(list(keys[start:start + 500])))
        out |= {c.learner_key: c for c in (await session.scalars(stmt)).all()}
    return out


async def candidate_of(session: AsyncSession, exam_id: uuid.UUID, person_id: str | None, account_sub: str) -> ExamCandidate | None:
    """The roster entry of the caller: by account, or by person."""
    who = [ExamCandidate.account_sub == account_sub]
    if person_id:
        who.append(ExamCandidate.person_id == person_id)
    stmt = select(ExamCandidate).where(ExamCandidate.exam_id == exam_id, or_(*who)).order_by(ExamCandidate.added_at)
    return (await session.scalars(stmt)).first()


async def roster(session: AsyncSession, exam_id: uuid.UUID, page: PageParams, transform: Any = None) -> Page[Any]:
    stmt = select(ExamCandidate).where(ExamCandidate.exam_id == exam_id)
    return await paginate(session, stmt, (ExamCandidate.added_at, ExamCandidate.id), page, transform=transform)


async def all_candidates(session: AsyncSession, exam_id: uuid.UUID) -> list[ExamCandidate]:
    stmt = select(ExamCandidate).where(ExamCandidate.exam_id == exam_id).order_by(ExamCandidate.added_at, ExamCandidate.id)
    return list((await session.scalars(stmt)).all())


async def attempt(session: AsyncSession, attempt_id: uuid.UUID, *, lock: bool = False) -> ExamAttempt | None:
    stmt = select(ExamAttempt).where(ExamAttempt.id == attempt_id)
    return (await session.scalars(_locked(session, stmt) if lock else stmt)).first()


async def attempts_of(session: AsyncSession, candidate_id: uuid.UUID) -> list[ExamAttempt]:
    stmt = select(ExamAttempt).where(ExamAttempt.candidate_id == candidate_id).order_by(ExamAttempt.number)
    return list((await session.scalars(stmt)).all())


async def attempts_of_candidates(session: AsyncSession, candidate_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[ExamAttempt]]:
    ids = list(candidate_ids)
    out: dict[uuid.UUID, list[ExamAttempt]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        stmt = select(ExamAttempt).where(ExamAttempt.candidate_id.in_(ids[start:start + 500])).order_by(ExamAttempt.number)
        for a in (await session.scalars(stmt)).all():
            out[a.candidate_id].append(a)
    return out


async def overdue_attempts(session: AsyncSession, exam_id: uuid.UUID, now: datetime) -> list[ExamAttempt]:
    stmt = select(ExamAttempt).where(ExamAttempt.exam_id == exam_id, ExamAttempt.status == "in_progress", ExamAttempt.deadline_at < now)
    return list((await session.scalars(_locked(session, stmt))).all())


async def attempt_counts(session: AsyncSession, exam_id: uuid.UUID) -> dict[str, int]:
    stmt = select(ExamAttempt.status, func.count()).where(ExamAttempt.exam_id == exam_id).group_by(ExamAttempt.status)
    return {status: n for status, n in (await session.execute(stmt)).all()}


async def count_attempts(session: AsyncSession, candidate_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.count()).select_from(ExamAttempt).where(ExamAttempt.candidate_id == candidate_id)) or 0)


async def responses(session: AsyncSession, attempt_id: uuid.UUID) -> dict[uuid.UUID, ExamResponse]:
    stmt = select(ExamResponse).where(ExamResponse.attempt_id == attempt_id)
    return {r.item_id: r for r in (await session.scalars(stmt)).all()}


def add_event(session: AsyncSession, attempt_id: uuid.UUID, item_id: uuid.UUID, answer: Any, at: datetime) -> None:
    session.add(ExamResponseEvent(id=uuid.uuid4(), attempt_id=attempt_id, item_id=item_id, answer=answer, at=at))


async def events(session: AsyncSession, attempt_id: uuid.UUID) -> list[ExamResponseEvent]:
    stmt = select(ExamResponseEvent).where(ExamResponseEvent.attempt_id == attempt_id).order_by(ExamResponseEvent.at, ExamResponseEvent.id)
    return list((await session.scalars(stmt)).all())


async def invitations(session: AsyncSession, exam_id: uuid.UUID) -> list[AssessorInvitation]:
    stmt = select(AssessorInvitation).where(AssessorInvitation.exam_id == exam_id).order_by(AssessorInvitation.created_at)
    return list((await session.scalars(stmt)).all())


async def invitation_by_hash(session: AsyncSession, code_hash: str) -> AssessorInvitation | None:
    stmt = select(AssessorInvitation).where(AssessorInvitation.code_hash == code_hash)
    return (await session.scalars(_locked(session, stmt))).first()


async def invited_exams(session: AsyncSession, account_sub: str) -> set[uuid.UUID]:
    """Exams the account accepted an invitation to assess, still in force."""
    stmt = select(AssessorInvitation.exam_id).where(AssessorInvitation.account_sub == account_sub, AssessorInvitation.revoked_at.is_(None))
    return set((await session.scalars(stmt)).all())


async def exams_of_learner(session: AsyncSession, person_id: str | None, account_sub: str, page: PageParams, transform: Any = None) -> Page[Any]:
    who = [ExamCandidate.account_sub == account_sub]
    if person_id:
        who.append(ExamCandidate.person_id == person_id)
    stmt = select(Exam).where(Exam.status == "published", Exam.id.in_(select(ExamCandidate.exam_id).where(or_(*who))))
    return await paginate(session, stmt, (Exam.created_at, Exam.id), page, descending=True, transform=transform)


async def invitations_of(session: AsyncSession, account_sub: str) -> list[AssessorInvitation]:
    stmt = (select(AssessorInvitation).where(AssessorInvitation.account_sub == account_sub, AssessorInvitation.revoked_at.is_(None))
            .order_by(AssessorInvitation.accepted_at, AssessorInvitation.id))
    return list((await session.scalars(stmt)).all())


async def count_candidates(session: AsyncSession, exam_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.count()).select_from(ExamCandidate).where(ExamCandidate.exam_id == exam_id)) or 0)


async def add_candidate_once(session: AsyncSession, values: dict[str, Any]) -> None:
    """A roster entry unless the learner is on the roster already (two first launches at once add one)."""
    stmt = insert_for(session)(ExamCandidate).values(**values).on_conflict_do_nothing(index_elements=["exam_id", "learner_key"])
    await session.execute(stmt)


async def launchable_exams(session: AsyncSession, institution_code: str, limit: int) -> Sequence[Exam]:
    """Published exams of an institution, the latest window first (what its LMS may link)."""
    stmt = (select(Exam).where(Exam.institution_code == institution_code, Exam.status == "published")
            .order_by(Exam.opens_at.desc(), Exam.id).limit(limit))
    return (await session.scalars(stmt)).all()
