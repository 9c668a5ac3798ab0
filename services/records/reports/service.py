"""Statistics for officers and yearly reports.

Figures per group: ``learners`` (enrolments in scope), ``enrolled`` / ``suspended`` / ``withdrawn`` /
``graduated`` (current status), and with a ``year``: ``new_enrolments`` (enrolled that year) and ``graduates``
(graduated that year). Groups by any of level, occupation, province, institution, sex, ethnic_minority,
disability, mode, enrolment_year, graduation_year.

A yearly report (báo cáo năm) of an institution or a province goes draft → submitted: a draft's figures are
recomputed on refresh; a submitted report is frozen, and late if it was submitted after the year's deadline. The
deadline is its report kind's due date (:class:`~services.records.models.ReportKind`, data the ministry keeps; 15
December as loaded), judged by Vietnam's date: a report due on 15 December is late from 16 December 00:00 in Vietnam.
The report calendar (:mod:`services.records.calendar`) uses these same functions.

A yearly report also carries the graduate follow-up of the previous year's graduates (surveyed 6 and 12 months after
graduation, within the report's year): ``followup_rates``, one row per round length with response and employment
rates; and the employers' feedback on them: ``employer_feedback``, one row (:mod:`services.records.followup`,
:mod:`services.records.enterprises`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import vietnam_date
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.common.permissions import INSTITUTION_STAFF, is_national_officer, provinces_of
from services.records.access import is_platform_admin
from services.records.enterprises.service import feedback_report
from services.records.followup.service import report as followup_report
from services.records.models import ReportKind, YearlyReport
from services.records.reports import repository
from services.records.reports.schemas import ReportCreate, ReportRead

STATUSES = ["enrolled", "suspended", "withdrawn", "graduated"]
#: the groupings of a yearly report's figures (besides the totals)
REPORT_DIMENSIONS = [["level"], ["sex"], ["ethnic_minority"], ["disability"], ["occupation"]]


#: Vietnam's time (UTC+7), by whose date a report is late or not
#: the report kind a yearly report of each scope is filed as
KIND_OF_SCOPE = {"institution": "institution-yearly", "province": "province-yearly"}
#: (month, day) a yearly report is due when its kind is not on record: the one the kinds were loaded with
DEFAULT_DUE = (12, 15)


def due_date(kind: ReportKind | None, year: int) -> date:
    """The day a report of ``kind`` on ``year`` is due (the month's last day if the kind's day is past it)."""
    month, day = (kind.due_month, kind.due_day) if kind is not None else DEFAULT_DUE
    while True:
        try:
            return date(year, month, day)
        except ValueError:  # 31 in a 30-day month: the month's last day
            day -= 1


def local_date(at: datetime) -> date:
    """The date in Vietnam at ``at``."""
    return vietnam_date(at)


def is_late(submitted_at: datetime, due: date) -> bool:
    return local_date(submitted_at) > due


async def deadline(session: AsyncSession, scope: str, year: int) -> date:
    """When the yearly report of a ``scope`` (institution, province) on ``year`` is due."""
    return due_date(await repository.kind(session, KIND_OF_SCOPE[scope]), year)


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
    unknown = [d for d in by if d not in repository.DIMENSIONS]
    if unknown:
        raise ValidationFailed(f"Unknown grouping {unknown[0]}.", errors=[{"field": "by", "message": f"one of {', '.join(repository.DIMENSIONS)}"}])
    provinces, institutions = scope_of(principal)
    if province and provinces is not None and province not in provinces:
        raise Forbidden(f"You may not see statistics of province {province}.")
    if institution and provinces is not None and institutions is not None:
        ref = await repository.institution(session, institution)
        if institution not in institutions and (ref is None or ref.province_code not in provinces):
            raise Forbidden(f"You may not see statistics of institution {institution}.")
    rows = await repository.figures(session, by=by, statuses=STATUSES, year=year, provinces=provinces, institutions=institutions,
                                    province=province, institution=institution)
    out = []
    for r in rows:
        item = {k: (bool(v) if k in ("ethnic_minority", "disability") and v is not None else v) for k, v in r.items()}
        for k in ("learners", *STATUSES, "new_enrolments", "graduates"):
            if k in item:
                item[k] = int(item[k] or 0)
        out.append(item)
    return out


# -- yearly reports ------------------------------------------------------------------------------------------------
async def _figures(session: AsyncSession, principal: Principal, scope: str, code: str, year: int) -> dict[str, Any]:
    kw = {"institution": code} if scope == "institution" else {"province": code}
    out: dict[str, Any] = {"totals": (await statistics(session, principal, by=[], year=year, **kw) or [{}])[0]}
    for dims in REPORT_DIMENSIONS:
        out["by_" + "_".join(dims)] = await statistics(session, principal, by=dims, year=year, **kw)
    out |= await _followup_figures(session, principal, scope, code, year - 1)
    return out


async def _followup_figures(session: AsyncSession, principal: Principal, scope: str, code: str, graduation_year: int) -> dict[str, Any]:
    """Follow-up rates (6 and 12 months) and employer feedback of the graduates of ``graduation_year`` in scope."""
    inst = await repository.institution(session, code) if scope == "institution" else None
    if scope == "institution" and inst is None:
        return {"followup_rates": [], "employer_feedback": []}
    province = code if scope == "province" else None
    rates = []
    for months in (6, 12):
        doc = await followup_report(session, principal, graduation_year, months, [], inst, province)
        for item in doc.items:
            rates.append({"graduation_year": graduation_year, "months_after": months} | item.model_dump(exclude={"group"}))
    feedback = await feedback_report(session, principal, graduation_year, "province", inst, province)
    employer = [{"graduation_year": graduation_year} | item.model_dump(exclude={"group"}) for item in feedback.items]
    if len(employer) > 1:  # an institution's rows by province are one; a province's one by definition
        employer = employer[:1]
    return {"followup_rates": rates, "employer_feedback": employer}


async def report_read(session: AsyncSession, r: YearlyReport) -> ReportRead:
    out = ReportRead.model_validate(r)
    out.deadline = await deadline(session, r.scope, r.year)
    return out


def etag(r: YearlyReport) -> str:
    return f'"r{r.version}"'


async def get_report(session: AsyncSession, report_id: uuid.UUID) -> YearlyReport:
    report = await repository.report(session, report_id)
    if report is None:
        raise NotFound(f"No report {report_id}.")
    return report


async def create_report(session: AsyncSession, principal: Principal, body: ReportCreate, *, actor: str) -> tuple[YearlyReport, bool]:
    """The scope's report of the year, drafted with its figures now unless it exists: (report, created)."""
    existing = await repository.report_for(session, body.scope, body.code, body.year)
    if existing is not None:
        return existing, False
    report = YearlyReport(scope=body.scope, scope_code=body.code, year=body.year, status="draft", notes=body.notes,
                          figures=await _figures(session, principal, body.scope, body.code, body.year),
                          created_by=actor, late=False, version=1)
    session.add(report)
    await session.flush()
    return report, True


async def refresh_report(session: AsyncSession, principal: Principal, report: YearlyReport) -> YearlyReport:
    """A draft's figures recomputed."""
    if report.status != "draft":
        raise Conflict("The report was submitted and is frozen.")
    report.figures = await _figures(session, principal, report.scope, report.scope_code, report.year)
    report.version += 1
    return report


async def submit_report(session: AsyncSession, report: YearlyReport, now: datetime, *, actor: str) -> YearlyReport:
    """Submits a draft, frozen from then on; late when ``now`` is after its deadline (:func:`is_late`)."""
    if report.status != "draft":
        raise Conflict("The report was already submitted.")
    report.status, report.submitted_at, report.submitted_by = "submitted", now, actor
    report.late = is_late(now, await deadline(session, report.scope, report.year))
    report.version += 1
    return report
