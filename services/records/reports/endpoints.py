"""Statistics (JSON or CSV) and yearly reports: draft → submit (deadline 15 December) → frozen."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.common.auth import CurrentPrincipal, Principal
from services.common.db import ReadSessionDep, SessionDep
from services.common.errors import Conflict, Forbidden, NotFound
from services.common.permissions import may_manage_province
from services.records import access
from services.records.models import YearlyReport
from services.records.reports import service

router = APIRouter(tags=["statistics and reports"])
REPORT_DIMENSIONS = [["level"], ["sex"], ["ethnic_minority"], ["disability"], ["occupation"]]


@router.get("/v1/statistics", summary="Learners, statuses, new enrolments and graduates, grouped (JSON or CSV)")
async def statistics(
    session: ReadSessionDep,
    principal: CurrentPrincipal,
    by: Annotated[str, Query(description="comma-separated: level, occupation, province, institution, sex, ethnic_minority, disability, mode, enrolment_year, graduation_year")] = "",
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    province: Annotated[str | None, Query(pattern=r"^\d{3}$")] = None,
    institution: str | None = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Read on the read replica when ``RECORDS_DATABASE_READ_URL`` is set: a scan of every enrolment in scope, and
    figures a moment old are still right for an officer. Yearly reports are computed and stored on the primary
    (their figures are frozen when submitted, and must include the sync that was just committed)."""
    dims = [d.strip() for d in by.split(",") if d.strip()]
    rows = await service.statistics(session, principal, by=dims, year=year, province=province, institution=institution)
    if format == "csv":
        buf = io.StringIO()
        fields = dims + ["learners", *service.STATUSES] + (["new_enrolments", "graduates"] if year is not None else [])
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="statistics-{year or "all"}.csv"'})
    return {"by": dims, "year": year, "items": rows}


class ReportCreate(BaseModel):
    scope: Literal["institution", "province"]
    code: str = Field(min_length=3, max_length=20)
    year: int = Field(ge=2000, le=2100)
    notes: str | None = Field(default=None, max_length=4000)


class ReportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    scope: str
    scope_code: str
    year: int
    status: str
    figures: dict[str, Any]
    notes: str | None
    deadline: date | None = None
    late: bool
    submitted_at: datetime | None
    submitted_by: str | None
    version: int


async def _ensure_reporter(session: Any, request: Request, principal: Principal, scope: str, code: str) -> None:
    if scope == "institution":
        await access.institution(session, request, code)
        access.ensure_write(principal, code)
    elif not may_manage_province(principal, code):
        raise Forbidden(f"You may not report for province {code}.")


async def _figures(session: Any, principal: Principal, scope: str, code: str, year: int) -> dict[str, Any]:
    kw = {"institution": code} if scope == "institution" else {"province": code}
    out: dict[str, Any] = {"totals": (await service.statistics(session, principal, by=[], year=year, **kw) or [{}])[0]}
    for dims in REPORT_DIMENSIONS:
        out["by_" + "_".join(dims)] = await service.statistics(session, principal, by=dims, year=year, **kw)
    return out


def _read(r: YearlyReport) -> ReportRead:
    out = ReportRead.model_validate(r)
    out.deadline = date(r.year, 12, 15)
    return out


@router.post("/v1/reports", response_model=ReportRead, status_code=201, summary="Draft the yearly report of an institution or province")
async def create_report(body: ReportCreate, request: Request, session: SessionDep, principal: CurrentPrincipal, response: Response) -> ReportRead:
    await _ensure_reporter(session, request, principal, body.scope, body.code)
    from sqlalchemy import select

    existing = await session.scalar(select(YearlyReport).where(
        YearlyReport.scope == body.scope, YearlyReport.scope_code == body.code, YearlyReport.year == body.year))
    if existing is not None:
        response.status_code = 200
        return _read(existing)
    report = YearlyReport(scope=body.scope, scope_code=body.code, year=body.year, status="draft", notes=body.notes,
                          figures=await _figures(session, principal, body.scope, body.code, body.year),
                          created_by=access.actor_of(principal), late=False, version=1)
    session.add(report)
    await session.flush()
    response.headers["ETag"] = f'"r{report.version}"'
    return _read(report)


async def _report(session: Any, request: Request, principal: Principal, report_id: uuid.UUID) -> YearlyReport:
    report = await session.get(YearlyReport, report_id)
    if report is None:
        raise NotFound(f"No report {report_id}.")
    try:
        await _ensure_reporter(session, request, principal, report.scope, report.scope_code)
    except Forbidden:
        service.scope_of(principal)  # officers of a wider scope may read
        provinces, _ = service.scope_of(principal)
        if provinces is not None:
            raise
    return report


@router.get("/v1/reports/{report_id}", response_model=ReportRead, summary="A yearly report")
async def get_report(report_id: uuid.UUID, request: Request, session: SessionDep, principal: CurrentPrincipal) -> ReportRead:
    return _read(await _report(session, request, principal, report_id))


@router.post("/v1/reports/{report_id}/refresh", response_model=ReportRead, summary="Recompute a draft's figures")
async def refresh_report(report_id: uuid.UUID, request: Request, session: SessionDep, principal: CurrentPrincipal) -> ReportRead:
    report = await _report(session, request, principal, report_id)
    await _ensure_reporter(session, request, principal, report.scope, report.scope_code)
    if report.status != "draft":
        raise Conflict("The report was submitted and is frozen.")
    report.figures = await _figures(session, principal, report.scope, report.scope_code, report.year)
    report.version += 1
    return _read(report)


@router.post("/v1/reports/{report_id}/submit", response_model=ReportRead, summary="Submit a report; it is frozen from then on")
async def submit_report(report_id: uuid.UUID, request: Request, session: SessionDep, principal: CurrentPrincipal) -> ReportRead:
    report = await _report(session, request, principal, report_id)
    await _ensure_reporter(session, request, principal, report.scope, report.scope_code)
    if report.status != "draft":
        raise Conflict("The report was already submitted.")
    now = request.app.state.clock.now()  # the report calendar's clock (tests move it past the deadline)
    report.status, report.submitted_at, report.submitted_by = "submitted", now, access.actor_of(principal)
    report.late = now.date() > date(report.year, 12, 15)
    report.version += 1
    return _read(report)
