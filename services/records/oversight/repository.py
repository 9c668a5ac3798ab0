"""Every query of national oversight in records."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import insert_for
from services.records.models import (
    Change,
    Enrolment,
    IndicatorSnapshot,
    IndicatorValue,
    Learner,
    LearningOutcome,
    OversightAudit,
    OversightCredential,
    OversightInstitution,
    OversightPull,
    OversightTarget,
    Programme,
    SyncJob,
)

FINISHED = ("succeeded", "completed_with_errors")
#: the change feed's entities behind each kind of data whose freshness the board shows
FEED_KINDS = {"learners": ("learner", "enrolment"), "grades": ("grade",)}


async def institutions(session: AsyncSession, provinces: Iterable[str] | None = None) -> list[OversightInstitution]:
    stmt = select(OversightInstitution).order_by(OversightInstitution.province_code, OversightInstitution.code)
    if provinces is not None:
        stmt = stmt.where(OversightInstitution.province_code.in_(list(provinces)))
    return list((await session.scalars(stmt)).all())


async def institution_map(session: AsyncSession) -> dict[str, OversightInstitution]:
    return {i.code: i for i in (await session.scalars(select(OversightInstitution))).all()}


async def pulls(session: AsyncSession) -> dict[str, OversightPull]:
    return {p.source: p for p in (await session.scalars(select(OversightPull))).all()}


async def pull_row(session: AsyncSession, source: str) -> OversightPull:
    row = await session.get(OversightPull, source)
    if row is None:
        row = OversightPull(source=source)
        session.add(row)
    return row


async def programmes_digital(session: AsyncSession, codes: list[str]) -> tuple[int, int]:
    """(programmes with at least one learning outcome integrating digital competence, all programmes) of these
    institutions."""
    digital = select(LearningOutcome.programme_id).where(LearningOutcome.digital_competence.is_(True))
    stmt = select(func.count(Programme.id), func.count(Programme.id).filter(Programme.id.in_(digital))).where(
        Programme.institution_code.in_(codes))
    total, flagged = (await session.execute(stmt)).one()
    return int(flagged or 0), int(total or 0)


async def last_syncs(session: AsyncSession, codes: list[str]) -> dict[str, datetime]:
    stmt = (select(SyncJob.institution_code, func.max(SyncJob.finished_at))
            .where(SyncJob.institution_code.in_(codes), SyncJob.status.in_(FINISHED)).group_by(SyncJob.institution_code))
    return {code: at for code, at in (await session.execute(stmt)).all() if at is not None}


async def last_errors(session: AsyncSession, codes: list[str]) -> dict[str, SyncJob]:
    """Each institution's latest job that failed or rejected rows."""
    bad = or_(SyncJob.status == "failed", SyncJob.rejected > 0)
    newest = (select(SyncJob.institution_code, func.max(SyncJob.created_at).label("at"))
              .where(SyncJob.institution_code.in_(codes), bad).group_by(SyncJob.institution_code).subquery())
    stmt = select(SyncJob).join(newest, and_(SyncJob.institution_code == newest.c.institution_code,
                                            SyncJob.created_at == newest.c.at)).where(bad)
    return {job.institution_code: job for job in (await session.scalars(stmt)).all()}


async def jobs_since(session: AsyncSession, codes: list[str], since: datetime) -> list[tuple[str, datetime, int, int]]:
    """(institution, created_at, rows read, rows rejected) of the jobs created since ``since``."""
    stmt = (select(SyncJob.institution_code, SyncJob.created_at, SyncJob.rows_read, SyncJob.rejected)
            .where(SyncJob.institution_code.in_(codes), SyncJob.created_at >= since))
    return [(c, at, int(r or 0), int(x or 0)) for c, at, r, x in (await session.execute(stmt)).all()]


async def feed_freshness(session: AsyncSession, codes: list[str]) -> dict[tuple[str, str], datetime]:
    """(institution, kind) → the latest change of that kind in the change feed."""
    out: dict[tuple[str, str], datetime] = {}
    for kind, entities in FEED_KINDS.items():
        stmt = (select(Change.institution_code, func.max(Change.changed_at))
                .where(Change.institution_code.in_(codes), Change.entity.in_(entities)).group_by(Change.institution_code))
        for code, at in (await session.execute(stmt)).all():
            out[(code, kind)] = at
    return out


async def diplomas_freshness(session: AsyncSession, codes: list[str]) -> dict[str, tuple[datetime, int]]:
    stmt = (select(OversightCredential.institution_code, func.max(OversightCredential.issued_at), func.count())
            .where(OversightCredential.institution_code.in_(codes), OversightCredential.kind == "diploma")
            .group_by(OversightCredential.institution_code))
    return {code: (at, int(n)) for code, at, n in (await session.execute(stmt)).all() if code is not None}


async def record_credential(session: AsyncSession, values: dict[str, Any]) -> None:
    """One credential's row from one of its events, in one statement, so that events of the same credential
    delivered at once (issued, suspended, revoked) never race to insert it: the latest event's status wins, the
    earliest event's time stands as the issue time, and facts only some events carry (kind, level, year) are kept."""
    t = OversightCredential.__table__
    stmt = insert_for(session)(OversightCredential).values(**values)
    newer = stmt.excluded.updated_at >= t.c.updated_at
    await session.execute(stmt.on_conflict_do_update(index_elements=["credential_id"], set_={
        "status": case((newer, stmt.excluded.status), else_=t.c.status),
        "updated_at": case((newer, stmt.excluded.updated_at), else_=t.c.updated_at),
        "issued_at": case((stmt.excluded.issued_at < t.c.issued_at, stmt.excluded.issued_at), else_=t.c.issued_at),
        "institution_code": func.coalesce(t.c.institution_code, stmt.excluded.institution_code),
        "level": func.coalesce(t.c.level, stmt.excluded.level),
        "award_year": func.coalesce(t.c.award_year, stmt.excluded.award_year),
        "kind": case((t.c.kind == "credential", stmt.excluded.kind), else_=t.c.kind),
    }))


async def diplomas_of_year(session: AsyncSession, codes: list[str], year: int) -> int:
    stmt = select(func.count()).select_from(OversightCredential).where(
        OversightCredential.institution_code.in_(codes), OversightCredential.kind == "diploma",
        OversightCredential.award_year == year, OversightCredential.status != "revoked")
    return int(await session.scalar(stmt) or 0)


def _year_of(column: Any) -> Any:
    return func.extract("year", column).cast(Integer)


async def graduates_of_year(session: AsyncSession, codes: list[str], year: int) -> int:
    stmt = (select(func.count()).select_from(Enrolment).join(Programme, Enrolment.programme_id == Programme.id)
            .where(Enrolment.institution_code.in_(codes), Enrolment.graduation_year == year,
                   Programme.level.in_(("college", "intermediate"))))
    return int(await session.scalar(stmt) or 0)


async def new_enrolments(session: AsyncSession, codes: list[str], years: list[int]) -> dict[tuple[int, str, str | None], int]:
    """(year, level, sex) → new enrolments in those years at those institutions."""
    year = _year_of(Enrolment.enrolled_on)
    stmt = (select(year, Programme.level, Learner.sex, func.count())
            .select_from(Enrolment).join(Programme, Enrolment.programme_id == Programme.id)
            .join(Learner, Enrolment.learner_id == Learner.id)
            .where(Enrolment.institution_code.in_(codes), year.in_(years)).group_by(year, Programme.level, Learner.sex))
    return {(int(y), level, sex): int(n) for y, level, sex, n in (await session.execute(stmt)).all()}


async def targets(session: AsyncSession, *, provinces: Iterable[str] | None = None, indicator: str | None = None,
                  year: int | None = None) -> list[OversightTarget]:
    """Targets; ``provinces`` narrows to national targets and those of these provinces (the codes as stored)."""
    stmt = select(OversightTarget).order_by(OversightTarget.indicator, OversightTarget.province_code,
                                            OversightTarget.institution_type, OversightTarget.year)
    if provinces is not None:
        stmt = stmt.where(OversightTarget.province_code.in_(["", *provinces]))
    if indicator:
        stmt = stmt.where(OversightTarget.indicator == indicator)
    if year is not None:
        stmt = stmt.where(OversightTarget.year == year)
    return list((await session.scalars(stmt)).all())


async def target(session: AsyncSession, target_id: uuid.UUID) -> OversightTarget | None:
    return await session.get(OversightTarget, target_id)


async def target_by_key(session: AsyncSession, source: str, indicator: str, province: str, kind: str, year: int) -> OversightTarget | None:
    return await session.scalar(select(OversightTarget).where(
        OversightTarget.source_decision == source, OversightTarget.indicator == indicator,
        OversightTarget.province_code == province, OversightTarget.institution_type == kind, OversightTarget.year == year))


async def values(session: AsyncSession, provinces: Iterable[str]) -> list[IndicatorValue]:
    stmt = select(IndicatorValue).where(IndicatorValue.province_code.in_(list(provinces)))
    return list((await session.scalars(stmt)).all())


async def value(session: AsyncSession, indicator: str, province: str, year: int) -> IndicatorValue | None:
    return await session.scalar(select(IndicatorValue).where(
        IndicatorValue.indicator == indicator, IndicatorValue.province_code == province, IndicatorValue.year == year))


async def snapshots(session: AsyncSession, provinces: Iterable[str]) -> list[IndicatorSnapshot]:
    stmt = select(IndicatorSnapshot).where(IndicatorSnapshot.province_code.in_(list(provinces)))
    return list((await session.scalars(stmt)).all())


async def save_snapshot(session: AsyncSession, indicator: str, province: str, year: int, number: float, at: datetime) -> None:
    row = await session.get(IndicatorSnapshot, (indicator, province, year))
    if row is None:
        session.add(IndicatorSnapshot(indicator=indicator, province_code=province, year=year, value=number, computed_at=at))
    else:
        row.value, row.computed_at = number, at


async def audit_of(session: AsyncSession, entity: str, entity_id: uuid.UUID) -> list[OversightAudit]:
    stmt = (select(OversightAudit).where(OversightAudit.entity == entity, OversightAudit.entity_id == entity_id)
            .order_by(OversightAudit.at.desc()))
    return list((await session.scalars(stmt)).all())
