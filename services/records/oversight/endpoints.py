"""National oversight: the connection board (JSON, CSV), targets, indicators, entered values. HTTP only."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Response

from services.common.auth import CurrentPrincipal
from services.common.db import ReadSessionDep, SessionDep
from services.common.errors import Forbidden
from services.records.context import RecordsCtxDep
from services.records.oversight import pull, service
from services.records.oversight.schemas import (
    AuditRead,
    ConnectionBoard,
    IndicatorReport,
    TargetCreate,
    TargetRead,
    TargetUpdate,
    ValueIn,
    ValueRead,
)

router = APIRouter(prefix="/v1/oversight", tags=["oversight"])
Province = Annotated[str | None, Query(pattern=r"^\d{3}$", description="province code (old codes map to the current province)")]
Year = Annotated[int | None, Query(ge=2000, le=2100)]


@router.get("/connections", response_model=ConnectionBoard,
            summary="Connection board: per institution, connected or not and why, freshness per kind of data, last error, "
                    "rows per week; shares of connected schools per province and type against the targets (JSON or CSV)")
async def connections(
    ctx: RecordsCtxDep, session: ReadSessionDep, principal: CurrentPrincipal, province: Province = None,
    type: Annotated[Literal["college", "intermediate", "vet_centre", "enterprise", "other"] | None, Query()] = None,
    window_days: Annotated[int | None, Query(ge=1, le=365, description="synced within this many days (default: the setting)")] = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    settings = ctx.settings
    result = await service.board(session, principal, now=ctx.now(), window_days=window_days or settings.oversight_connected_days,
                                 weeks=settings.oversight_weeks, province=province, kind=type)
    if format == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=service.BOARD_CSV_FIELDS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(service.board_csv_rows(result))
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="connections.csv"'})
    return result


@router.post("/refresh", summary="National officers: pull the registry and learning's activity now (it also runs every few minutes)")
async def refresh(ctx: RecordsCtxDep, principal: CurrentPrincipal) -> dict[str, str]:
    if not service.is_national(principal):
        raise Forbidden("Only national officers refresh the oversight facts.")
    return await pull.refresh(ctx)


@router.get("/indicators", response_model=IndicatorReport,
            summary="Every indicator for the nation or a province: its value in the year, how it was obtained, the targets, the trend by year")
async def indicators(ctx: RecordsCtxDep, session: ReadSessionDep, principal: CurrentPrincipal, province: Province = None,
                     year: Year = None) -> Any:
    settings = ctx.settings
    return await service.indicators(session, principal, now=ctx.now(), window_days=settings.oversight_connected_days,
                                    province=province, year=year)


@router.put("/indicator-values/{indicator}/{year}", response_model=ValueRead,
            summary="Enter the value of an indicator the platform does not compute (national: the ministry; a province: its officers)")
async def enter_value(ctx: RecordsCtxDep, indicator: str, year: Annotated[int, Path(ge=2000, le=2100)], body: ValueIn,
                      session: SessionDep, principal: CurrentPrincipal, province: Province = None) -> Any:
    row = await service.enter_value(session, principal, indicator, year, province, body, now=ctx.now())
    return ValueRead(indicator=row.indicator, province_code=row.province_code or None, year=row.year, value=row.value,
                     note=row.note, entered_by=row.entered_by, entered_at=row.entered_at)


@router.get("/targets", response_model=list[TargetRead], summary="Targets (national, and of the provinces you oversee)")
async def list_targets(session: ReadSessionDep, principal: CurrentPrincipal, province: Province = None,
                       indicator: Annotated[str | None, Query(max_length=60)] = None, year: Year = None) -> Any:
    return await service.list_targets(session, principal, province=province, indicator=indicator, year=year)


@router.post("/targets", response_model=TargetRead, status_code=201, summary="The ministry: add a target (audited)")
async def create_target(ctx: RecordsCtxDep, body: TargetCreate, session: SessionDep, principal: CurrentPrincipal,
                        response: Response) -> Any:
    target, created = await service.create_target(session, principal, body, now=ctx.now())
    if not created:
        response.status_code = 200
    response.headers["ETag"] = f'"t{target.version}"'
    return service.target_read(target)


@router.patch("/targets/{target_id}", response_model=TargetRead, summary="The ministry: change a target (If-Match; audited)")
async def update_target(ctx: RecordsCtxDep, target_id: uuid.UUID, body: TargetUpdate, session: SessionDep,
                        principal: CurrentPrincipal, response: Response,
                        if_match: Annotated[str | None, Header()] = None) -> Any:
    target = await service.update_target(session, principal, target_id, body, now=ctx.now(), if_match=if_match)
    response.headers["ETag"] = f'"t{target.version}"'
    return service.target_read(target)


@router.delete("/targets/{target_id}", status_code=204, summary="The ministry: remove a target (audited)")
async def delete_target(ctx: RecordsCtxDep, target_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Response:
    await service.delete_target(session, principal, target_id, now=ctx.now())
    return Response(status_code=204)


@router.get("/targets/{target_id}/history", response_model=list[AuditRead], summary="Who changed a target, when, from what to what")
async def target_history(target_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return [AuditRead.model_validate(a) for a in await service.target_history(session, principal, target_id)]
