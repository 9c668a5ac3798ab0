"""Participation reports for schools and officers: enrolled, active, completed, certified — by course, institution,
province, audience (students vs teachers) or sex — and progress toward the Decision 123 / Decision 2222 targets.

Counted over enrolments, with the facts as of enrolment. ``enrolled``: enrolments not withdrawn (completed ones
included); ``active``: started (any lesson, attempt or statement), not completed and not withdrawn; ``withdrawn``:
withdrawn enrolments, counted apart (so ``enrolled + withdrawn`` is every enrolment ever made; a learner who withdrew
and enrolled again is one enrolment, counted as it stands now). Scoped by :mod:`services.common.permissions`: a school
sees its learners, a province officer the institutions of the province, national officers everything.

Coverage by institution type (Decision 123: soft-skills training at 100% of colleges, 80% of intermediate schools,
50% of VET centres by 2030): per type, the registry's active institutions of that type (identity's public listing),
and those of them with at least one student who completed a course here (every course of this engine is a
soft-skills course; teachers' completions do not count). An institution counts under the type kept on its learners'
enrolments; enrolments made before the type was kept (null) take the registry's type now — resolved when the report
is read, nothing is written back. Institutions closed or merged since are in neither number."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import utcnow
from services.common.errors import AppError, Forbidden
from services.common.permissions import is_national_officer, provinces_of
from services.learning.context import LearningContext
from services.learning.courses import access, directory
from services.learning.models import Course, CourseEnrolment, PilotInstitution

GroupBy = Literal["course", "institution", "province", "audience", "sex"]

#: Decision 123/QĐ-LĐTBXH: 10,000 managers and teachers trained; about 15,000 students at the (about 30) pilot institutions
TARGETS = {"teachers_trained": 10_000, "students_trained": 15_000}
#: Decision 123/QĐ-LĐTBXH by 2030: share of institutions of each type that train their students in soft skills
COVERAGE_TARGETS = {"college": 1.0, "intermediate": 0.8, "vet_centre": 0.5}


class ReportRow(BaseModel):
    key: str | None
    label: str | None = None
    enrolled: int
    active: int
    completed: int
    certified: int
    withdrawn: int = 0


class Report(BaseModel):
    group_by: str
    scope: str
    rows: list[ReportRow]
    total: ReportRow


class TargetProgress(BaseModel):
    trained: int
    target: int
    share: float


class Coverage(BaseModel):
    #: college | intermediate | vet_centre
    institution_type: str
    #: active institutions of the type in the registry (in the caller's scope)
    institutions: int
    #: of those, institutions with at least one student who completed a course
    institutions_trained: int
    #: institutions_trained / institutions (0 when there are none)
    share: float
    #: the 2030 target share
    target: float


class Targets(BaseModel):
    scope: str
    teachers_trained: TargetProgress
    #: students who completed a course at a pilot institution (the pilot's target)
    students_trained: TargetProgress
    #: students who completed a course anywhere
    students_trained_everywhere: int
    pilot_institutions: int
    institutions_with_completions: int
    #: Decision 123's 2030 coverage targets, by institution type
    institution_coverage: list[Coverage] = []


def scope_filter(principal: Principal) -> Any:
    """SQL condition on enrolments the caller oversees."""
    if is_national_officer(principal) or access.is_platform_admin(principal):
        return CourseEnrolment.id.is_not(None)
    conditions = []
    provinces = provinces_of(principal)
    if provinces:
        conditions.append(CourseEnrolment.province_code.in_(provinces))
    schools = access.school_staff(principal)
    if schools:
        conditions.append(CourseEnrolment.institution_code.in_(schools))
    return or_(*conditions) if conditions else false()


def scope_name(principal: Principal) -> str:
    if is_national_officer(principal) or access.is_platform_admin(principal):
        return "national"
    parts = [f"province:{p}" for p in sorted(provinces_of(principal))] + sorted(access.school_staff(principal))
    if not parts:
        raise Forbidden("Reports are for schools and officers.")
    return " ".join(parts)


def _counts() -> list[Any]:
    withdrawn = CourseEnrolment.status == "withdrawn"
    started = and_(CourseEnrolment.last_activity_at.is_not(None), CourseEnrolment.completed_at.is_(None), ~withdrawn)
    return [
        func.sum(case((withdrawn, 0), else_=1)).label("enrolled"),
        func.sum(case((started, 1), else_=0)).label("active"),
        func.sum(case((CourseEnrolment.completed_at.is_not(None), 1), else_=0)).label("completed"),
        func.sum(case((CourseEnrolment.certified_at.is_not(None), 1), else_=0)).label("certified"),
        func.sum(case((withdrawn, 1), else_=0)).label("withdrawn"),
    ]


async def report(session: AsyncSession, principal: Principal, group_by: GroupBy, *, course_id: uuid.UUID | None = None,
                 institution: str | None = None, province: str | None = None, audience: str | None = None) -> Report:
    scope = scope_name(principal)
    column = {
        "course": CourseEnrolment.course_id, "institution": CourseEnrolment.institution_code,
        "province": CourseEnrolment.province_code, "audience": CourseEnrolment.role, "sex": CourseEnrolment.sex,
    }[group_by]
    where = [scope_filter(principal)]
    if course_id is not None:
        where.append(CourseEnrolment.course_id == course_id)
    if institution:
        where.append(CourseEnrolment.institution_code == institution)
    if province:
        where.append(CourseEnrolment.province_code == province)
    if audience:
        where.append(CourseEnrolment.role == audience)
    stmt = select(column.label("key"), *_counts()).where(*where).group_by(column)
    rows = (await session.execute(stmt)).all()
    titles: dict[Any, str] = {}
    if group_by == "course" and rows:
        ids = [r.key for r in rows]
        titles = {c.id: c.title for c in (await session.scalars(select(Course).where(Course.id.in_(ids)))).all()}
    out = [ReportRow(key=str(r.key) if r.key is not None else None, label=titles.get(r.key), enrolled=int(r.enrolled or 0),
                     active=int(r.active or 0), completed=int(r.completed or 0), certified=int(r.certified or 0),
                     withdrawn=int(r.withdrawn or 0)) for r in rows]
    out.sort(key=lambda r: (r.key is None, r.key or ""))
    total = ReportRow(key=None, label="total", enrolled=sum(r.enrolled for r in out), active=sum(r.active for r in out),
                      completed=sum(r.completed for r in out), certified=sum(r.certified for r in out),
                      withdrawn=sum(r.withdrawn for r in out))
    return Report(group_by=group_by, scope=scope, rows=out, total=total)


def to_csv(result: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([result.group_by, "label", "enrolled", "active", "completed", "certified", "withdrawn"])
    for r in [*result.rows, result.total]:
        writer.writerow([r.key or "", r.label or "", r.enrolled, r.active, r.completed, r.certified, r.withdrawn])
    return buffer.getvalue()


def _in_scope(principal: Principal, facts: directory.InstitutionFacts) -> bool:
    if is_national_officer(principal) or access.is_platform_admin(principal):
        return True
    return facts.province_code in provinces_of(principal) or facts.code in access.school_staff(principal)


async def coverage(ctx: LearningContext, session: AsyncSession, principal: Principal) -> list[Coverage]:
    """Per institution type with a 2030 target: the registry's active institutions in scope, and those of them
    whose students completed a course (the type kept on the enrolment; the registry's for enrolments without it)."""
    registry = {t: {f.code for f in await directory.active_institutions(ctx, t) if _in_scope(principal, f)}
                for t in COVERAGE_TARGETS}
    type_now = {code: t for t, codes in registry.items() for code in codes}
    stmt = select(CourseEnrolment.institution_code, CourseEnrolment.institution_type).where(
        scope_filter(principal), CourseEnrolment.role == "student", CourseEnrolment.completed_at.is_not(None),
        CourseEnrolment.institution_code.is_not(None)).distinct()
    trained: dict[str, set[str]] = {t: set() for t in COVERAGE_TARGETS}
    for code, kept in (await session.execute(stmt)).all():
        kind = kept or type_now.get(code or "")
        if kind in trained and code in type_now:  # active in the registry (in scope)
            trained[kind].add(code)
    return [Coverage(institution_type=t, institutions=len(registry[t]), institutions_trained=len(trained[t]),
                     share=round(len(trained[t]) / len(registry[t]), 4) if registry[t] else 0.0, target=target)
            for t, target in COVERAGE_TARGETS.items()]


async def targets(ctx: LearningContext, session: AsyncSession, principal: Principal) -> Targets:
    """Learners (distinct people) who completed a course, teachers and students apart, against the targets; and
    institutions covered, by type."""
    scope = scope_name(principal)
    base = and_(scope_filter(principal), CourseEnrolment.completed_at.is_not(None))
    trained = {}
    for role in ("teacher", "student"):
        stmt = select(func.count(func.distinct(CourseEnrolment.learner_key))).where(base, CourseEnrolment.role == role)
        trained[role] = int(await session.scalar(stmt) or 0)
    pilots = select(PilotInstitution.institution_code)
    at_pilots = int(await session.scalar(select(func.count(func.distinct(CourseEnrolment.learner_key))).where(
        base, CourseEnrolment.role == "student", CourseEnrolment.institution_code.in_(pilots))) or 0)
    pilot_count = int(await session.scalar(select(func.count()).select_from(PilotInstitution)) or 0)
    institutions = int(await session.scalar(
        select(func.count(func.distinct(CourseEnrolment.institution_code))).where(base, CourseEnrolment.institution_code.is_not(None))) or 0)

    def progress(n: int, target: int) -> TargetProgress:
        return TargetProgress(trained=n, target=target, share=round(n / target, 4))

    return Targets(scope=scope, teachers_trained=progress(trained["teacher"], TARGETS["teachers_trained"]),
                   students_trained=progress(at_pilots, TARGETS["students_trained"]),
                   students_trained_everywhere=trained["student"], pilot_institutions=pilot_count,
                   institutions_with_completions=institutions, institution_coverage=await coverage(ctx, session, principal))


class PilotIn(BaseModel):
    note: str | None = Field(default=None, max_length=500)


class PilotRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    institution_code: str
    note: str | None
    designated_by: str
    designated_at: datetime


def ensure_designator(principal: Principal) -> None:
    """Pilot institutions are designated by the ministry (national officers) or platform admins."""
    if not (is_national_officer(principal) or access.is_platform_admin(principal)):
        raise Forbidden("Pilot institutions are designated by national officers.")


async def pilots(session: AsyncSession) -> list[PilotInstitution]:
    return list((await session.scalars(select(PilotInstitution).order_by(PilotInstitution.institution_code))).all())


async def designate_pilot(ctx: LearningContext, session: AsyncSession, principal: Principal, institution_code: str,
                          note: str | None) -> PilotInstitution:
    """Idempotent: a designated institution keeps its first designation; a new one must be in identity's registry
    (asked before the write transaction opens)."""
    ensure_designator(principal)
    registry: AppError | None = None
    try:  # identity asked before the transaction opens; its answer matters only for a new designation
        await directory.institution(ctx, institution_code, field="institution_code")
    except AppError as exc:
        registry = exc
    pilot = await session.get(PilotInstitution, institution_code)
    if pilot is None:
        if registry is not None:
            raise registry
        pilot = PilotInstitution(institution_code=institution_code, note=note, designated_by=access.actor(principal),
                                 designated_at=utcnow())
        session.add(pilot)
        await session.flush()
    return pilot


async def remove_pilot(session: AsyncSession, principal: Principal, institution_code: str) -> None:
    ensure_designator(principal)
    pilot = await session.get(PilotInstitution, institution_code)
    if pilot is not None:
        await session.delete(pilot)
