"""Statistics for officers and yearly reports.

Figures per group: ``learners`` (enrolments in scope), ``enrolled`` / ``suspended`` / ``withdrawn`` /
``graduated`` (current status), and with a ``year``: ``new_enrolments`` (enrolled that year) and ``graduates``
(graduated that year). Groups by any of level, occupation, province, institution, sex, ethnic_minority,
disability, mode, enrolment_year, graduation_year."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Forbidden, ValidationFailed
from services.common.permissions import INSTITUTION_STAFF, is_national_officer, provinces_of
from services.records.access import is_platform_admin
from services.records.models import Enrolment, InstitutionRef, Learner, Programme

DIMENSIONS = {
    "level": Programme.level,
    "occupation": Programme.occupation_code,
    "province": InstitutionRef.province_code,
    "institution": Enrolment.institution_code,
    "sex": Learner.sex,
    "ethnic_minority": Learner.ethnic_minority,
    "disability": Learner.disability,
    "mode": Enrolment.mode,
    #: year the learner enrolled (enrolled_on) / graduated (the graduation decision's year)
    "enrolment_year": func.extract("year", Enrolment.enrolled_on).cast(Integer),
    "graduation_year": Enrolment.graduation_year,
}
STATUSES = ["enrolled", "suspended", "withdrawn", "graduated"]


def scope_of(principal: Principal) -> tuple[set[str] | None, set[str] | None]:
    """(provinces, institutions) the caller may see; None = all."""
    if is_platform_admin(principal) or is_national_officer(principal):
        return None, None
    if not principal.has_scope("records:read"):
        raise Forbidden("Statistics need the records:read scope.")
    provinces = provinces_of(principal)
    institutions = {c for c, roles in principal.roles.items() if set(roles) & INSTITUTION_STAFF}
    if not provinces and not institutions:
        raise Forbidden("Statistics are for officers and schools.")
    return provinces, institutions


async def statistics(
    session: AsyncSession, principal: Principal, *, by: list[str], year: int | None,
    province: str | None = None, institution: str | None = None,
) -> list[dict[str, Any]]:
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise ValidationFailed(f"Unknown grouping {unknown[0]}.", errors=[{"field": "by", "message": f"one of {', '.join(DIMENSIONS)}"}])
    provinces, institutions = scope_of(principal)
    if province and provinces is not None and province not in provinces:
        raise Forbidden(f"You may not see statistics of province {province}.")
    if institution and provinces is not None and institutions is not None:
        ref = await session.get(InstitutionRef, institution)
        if institution not in institutions and (ref is None or ref.province_code not in provinces):
            raise Forbidden(f"You may not see statistics of institution {institution}.")
    cols = [DIMENSIONS[d].label(d) for d in by]
    metrics = [func.count(Enrolment.id).label("learners")]
    metrics += [func.sum(case((Enrolment.status == s, 1), else_=0)).label(s) for s in STATUSES]
    if year is not None:
        metrics.append(func.sum(case((func.extract("year", Enrolment.enrolled_on).cast(Integer) == year, 1), else_=0)).label("new_enrolments"))
        metrics.append(func.sum(case((Enrolment.graduation_year == year, 1), else_=0)).label("graduates"))
    stmt = (
        select(*cols, *metrics)
        .select_from(Enrolment)
        .join(Learner, Enrolment.learner_id == Learner.id)
        .join(Programme, Enrolment.programme_id == Programme.id)
        .join(InstitutionRef, InstitutionRef.code == Enrolment.institution_code)
    )
    if provinces is not None:
        conds = []
        if provinces:
            conds.append(InstitutionRef.province_code.in_(provinces))
        if institutions:
            conds.append(Enrolment.institution_code.in_(institutions))
        from sqlalchemy import or_

        stmt = stmt.where(or_(*conds))
    if province:
        stmt = stmt.where(InstitutionRef.province_code == province)
    if institution:
        stmt = stmt.where(Enrolment.institution_code == institution)
    if cols:
        stmt = stmt.group_by(*[DIMENSIONS[d] for d in by]).order_by(*[DIMENSIONS[d] for d in by])
    rows = (await session.execute(stmt)).mappings().all()
    out = []
    for r in rows:
        item = {k: (bool(v) if k in ("ethnic_minority", "disability") and v is not None else v) for k, v in r.items()}
        for k in ("learners", *STATUSES, "new_enrolments", "graduates"):
            if k in item:
                item[k] = int(item[k] or 0)
        out.append(item)
    return out
