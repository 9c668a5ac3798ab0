"""The report calendar: which reports are due when, from whom, and where each stands — submitted on time or late,
a draft (overdue past its date), not started or missing; and the machine export of a submitted report (JSON
against the published schema, or CSV), signed by the platform.

Dates are Vietnam's (UTC+7): a report due on 15 December is late from 16 December 00:00 in Vietnam. "Now" is the
service's clock (tests move it). Officers see the calendar of what they oversee: national officers every province
and institution, province officers their provinces' institutions and their province's own report."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.common.id_numbers import provinces as province_list
from services.common.permissions import provinces_of, roles_at
from services.records.access import is_platform_admin
from services.records.calendar import repository
from services.records.calendar.schemas import LATE_STATES, Calendar, CalendarEntry, ReportKindIn, ReportKindRead
from services.records.models import ReportKind, YearlyReport
from services.records.oversight.service import is_national, provinces_for
from services.records.reports.service import KIND_OF_SCOPE as KIND_OF_SCOPE  # the calendar's endpoints name them here
from services.records.reports.service import due_date, is_late
from services.records.reports.service import local_date as local_date

SCHEMA_PATH = Path(__file__).resolve().parent / "yearly-report.schema.json"


def schema() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return document


def state_of(report: YearlyReport | None, due: date, now: datetime) -> str:
    today = local_date(now)
    if report is None:
        return "missing" if today > due else "not_started"
    if report.status == "submitted" and report.submitted_at is not None:
        return "submitted_late" if is_late(report.submitted_at, due) else "submitted_on_time"
    return "overdue_draft" if today > due else "draft"


async def calendar(session: AsyncSession, principal: Principal, *, now: datetime, year: int, province: str | None,
                   kind: str | None, late_only: bool) -> Calendar:
    provinces = provinces_for(principal, province)
    kinds = [k for k in await repository.kinds(session, active_only=True) if (kind is None or k.code == kind) and year >= k.first_year]
    named = province_list()
    items: list[CalendarEntry] = []
    for k in kinds:
        due = due_date(k, year)
        reports = await repository.reports_of_year(session, k.scope, year)
        if k.scope == "institution":
            filers = [(i.code, i.name, i.province_code) for i in await repository.active_institutions(session, provinces)]
        else:
            codes = sorted(provinces) if provinces is not None else sorted(c for c, p in named.items() if p.status == "current")
            filers = [(c, named[c].name if c in named else c, c) for c in codes]
        for code, name, prov in filers:
            report = reports.get(code)
            state = state_of(report, due, now)
            items.append(CalendarEntry(kind=k.code, scope=k.scope, scope_code=code, name=name, province_code=prov, due=due,  # type: ignore[arg-type]
                                       state=state, late=state in LATE_STATES, report_id=report.id if report else None,  # type: ignore[arg-type]
                                       submitted_at=report.submitted_at if report else None))
    counts = Counter(i.state for i in items)
    if late_only:
        items = [i for i in items if i.late]
    return Calendar(year=year, as_of=now, kinds=[ReportKindRead.model_validate(k) for k in kinds],
                    counts={s: counts.get(s, 0) for s in ("submitted_on_time", "submitted_late", "draft", "overdue_draft",
                                                           "not_started", "missing")},
                    items=items)


async def list_kinds(session: AsyncSession) -> list[ReportKind]:
    return await repository.kinds(session)


async def put_kind(session: AsyncSession, principal: Principal, code: str, body: ReportKindIn) -> ReportKind:
    if not is_national(principal):
        raise Forbidden("Report kinds are set by the ministry.")
    row = await repository.kind(session, code)
    if row is None:
        row = ReportKind(code=code, **body.model_dump())
        session.add(row)
    else:
        for field, value in body.model_dump().items():
            setattr(row, field, value)
    await session.flush()
    return row


# ---- export --------------------------------------------------------------------------------------------------------

async def exportable(session: AsyncSession, principal: Principal, report_id: Any) -> YearlyReport:
    """A submitted report the caller may read: the filer (the institution's writers, the province's officers) or an
    officer who oversees it (national; the province's officers for an institution of the province)."""
    report = await repository.report(session, report_id)
    if report is None:
        raise NotFound(f"No report {report_id}.")
    allowed = is_national(principal) or is_platform_admin(principal)
    if not allowed and report.scope == "province":
        allowed = report.scope_code in provinces_of(principal)
    if not allowed and report.scope == "institution":
        inst = await repository.institution(session, report.scope_code)
        allowed = bool(roles_at(principal, report.scope_code) & {"school_admin", "school_system"}) or (
            inst is not None and inst.province_code in provinces_of(principal))
    if not allowed:
        raise Forbidden(f"You may not read report {report_id}.")
    if report.status != "submitted" or report.submitted_at is None:
        raise Conflict("Only a submitted report is exported; submit it first.", errors=[{"field": "report_id", "message": "not submitted"}])
    return report


def document(report: YearlyReport, kind: ReportKind | None, *, issuer: str, now: datetime) -> dict[str, Any]:
    due = due_date(kind, report.year)
    assert report.submitted_at is not None
    return {
        "schema_version": "1",
        "report_id": str(report.id),
        "kind": kind.code if kind else KIND_OF_SCOPE[report.scope],
        "scope": report.scope,
        "scope_code": report.scope_code,
        "year": report.year,
        "deadline": due.isoformat(),
        "submitted_at": report.submitted_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "submitted_by": report.submitted_by,
        "late": is_late(report.submitted_at, due),
        "notes": report.notes,
        "issuer": issuer,
        "exported_at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "figures": report.figures,
    }


CSV_FIELDS = ["section", "level", "sex", "ethnic_minority", "disability", "occupation", "learners", "enrolled",
              "suspended", "withdrawn", "graduated", "new_enrolments", "graduates",
              # the follow-up_rates and employer_feedback sections
              "graduation_year", "months_after", "invited", "responded", "response_rate", "employed", "employment_rate",
              "in_trained_occupation", "trained_occupation_rate", "further_study", "graduates_employed", "skills_match_rate",
              "would_hire_again_rate"]


def to_csv(doc: dict[str, Any]) -> bytes:
    """One row per figure group: ``totals``, then each ``by_*`` section's rows; the report's identity in a header
    comment-free first block of ``key,value`` rows would break CSV readers, so it goes in the file name instead."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["report_id", "scope", "scope_code", "year", *CSV_FIELDS], lineterminator="\r\n",
                            extrasaction="ignore")
    writer.writeheader()
    head = {"report_id": doc["report_id"], "scope": doc["scope"], "scope_code": doc["scope_code"], "year": doc["year"]}
    writer.writerow(head | {"section": "totals"} | doc["figures"].get("totals", {}))
    for section, rows in sorted(doc["figures"].items()):
        if section == "totals":
            continue
        for row in rows:
            writer.writerow(head | {"section": section} | {k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue().encode("utf-8")


def check_year(year: int) -> None:
    if not 2000 <= year <= 2100:
        raise ValidationFailed("year out of range", errors=[{"field": "year", "message": "2000–2100"}])
