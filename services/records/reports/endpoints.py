"""Statistics (JSON or CSV) and yearly reports: draft → submit (by its deadline, :func:`~services.records.reports.service.deadline`) → frozen."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from services.common.auth import CurrentPrincipal, Principal
from services.common.db import ReadSessionDep, SessionDep
from services.common.errors import Forbidden
from services.common.permissions import may_manage_province
from services.records import access
from services.records.context import RecordsContext, RecordsCtxDep
from services.records.models import YearlyReport
from services.records.reports import service
from services.records.reports.schemas import ReportCreate, ReportRead

router = APIRouter(tags=["statistics and reports"])


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


async def _ensure_reporter(session: Any, ctx: RecordsContext, principal: Principal, scope: str, code: str) -> None:
    if scope == "institution":
        await access.institution(session, ctx, code)
        access.ensure_write(principal, code)
    elif not may_manage_province(principal, code):
        raise Forbidden(f"You may not report for province {code}.")


@router.post("/v1/reports", response_model=ReportRead, status_code=201, summary="Draft the yearly report of an institution or province")
async def create_report(body: ReportCreate, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal, response: Response) -> ReportRead:
    await _ensure_reporter(session, ctx, principal, body.scope, body.code)
    report, created = await service.create_report(session, principal, body, actor=access.actor_of(principal))
    if not created:
        response.status_code = 200
        return await service.report_read(session, report)
    response.headers["ETag"] = service.etag(report)
    return await service.report_read(session, report)


async def _report(session: Any, ctx: RecordsContext, principal: Principal, report_id: uuid.UUID) -> YearlyReport:
    report = await service.get_report(session, report_id)
    try:
        await _ensure_reporter(session, ctx, principal, report.scope, report.scope_code)
    except Forbidden:
        provinces, _ = service.scope_of(principal)  # officers of a wider scope may read
        if provinces is not None:
            raise
    return report


@router.get("/v1/reports/{report_id}", response_model=ReportRead, summary="A yearly report")
async def get_report(report_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> ReportRead:
    return await service.report_read(session, await _report(session, ctx, principal, report_id))


@router.post("/v1/reports/{report_id}/refresh", response_model=ReportRead, summary="Recompute a draft's figures")
async def refresh_report(report_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> ReportRead:
    report = await _report(session, ctx, principal, report_id)
    await _ensure_reporter(session, ctx, principal, report.scope, report.scope_code)
    return await service.report_read(session, await service.refresh_report(session, principal, report))


@router.post("/v1/reports/{report_id}/submit", response_model=ReportRead, summary="Submit a report; it is frozen from then on")
async def submit_report(report_id: uuid.UUID, ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal) -> ReportRead:
    report = await _report(session, ctx, principal, report_id)
    await _ensure_reporter(session, ctx, principal, report.scope, report.scope_code)
    now = ctx.now()  # the report calendar's clock (tests move it past the deadline)
    return await service.report_read(session, await service.submit_report(session, report, now, actor=access.actor_of(principal)))
