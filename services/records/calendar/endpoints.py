"""The report calendar, report kinds, and the signed machine export of submitted reports. HTTP only."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse

from services.common.auth import CurrentPrincipal
from services.common.db import ReadSessionDep, SessionDep
from services.records.calendar import repository, service, signing
from services.records.calendar.schemas import Calendar, ReportKindIn, ReportKindRead
from services.records.context import RecordsCtxDep

router = APIRouter(tags=["report calendar"])
Code = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9\-]{1,49}$")]


@router.get("/v1/report-calendar", response_model=Calendar,
            summary="Reports due in a year and where each stands: submitted on time or late, draft, overdue, not started, missing")
async def report_calendar(
    ctx: RecordsCtxDep, session: ReadSessionDep, principal: CurrentPrincipal,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    province: Annotated[str | None, Query(pattern=r"^\d{3}$")] = None,
    kind: Annotated[str | None, Query(max_length=50)] = None,
    late: Annotated[bool, Query(description="only the late ones: overdue drafts, missing, submitted late")] = False,
) -> Any:
    now = ctx.now()
    return await service.calendar(session, principal, now=now, year=year or service.local_date(now).year,
                                  province=province, kind=kind, late_only=late)


@router.get("/v1/report-kinds", response_model=list[ReportKindRead], summary="Kinds of periodic report (public)")
async def report_kinds(session: ReadSessionDep) -> Any:
    return [ReportKindRead.model_validate(k) for k in await service.list_kinds(session)]


@router.put("/v1/report-kinds/{code}", response_model=ReportKindRead, summary="The ministry: add or change a kind of report")
async def put_report_kind(code: Code, body: ReportKindIn, session: SessionDep, principal: CurrentPrincipal) -> Any:
    return ReportKindRead.model_validate(await service.put_kind(session, principal, code, body))


@router.get("/v1/report-schemas/yearly-report", summary="The JSON Schema of an exported yearly report (public)",
            responses={200: {"content": {"application/schema+json": {}}}})
async def yearly_report_schema() -> Response:
    return JSONResponse(service.schema(), media_type="application/schema+json", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/v1/report-signing-keys", summary="The keys that sign exported reports, as a JWKS (public)")
async def report_signing_keys(ctx: RecordsCtxDep) -> Response:
    return JSONResponse(signing.jwks(ctx.settings.secret_key), headers={"Cache-Control": "public, max-age=3600"})


@router.get("/v1/reports/{report_id}/export",
            summary="A submitted report for the Government reporting system: JSON (the published schema), CSV, or a JWS "
                    "with the JSON as payload; JSON and CSV carry the platform's detached JWS in Signature-JWS",
            responses={200: {"content": {"application/json": {}, "text/csv": {}, "application/jose": {}}}})
async def export_report(
    report_id: uuid.UUID, ctx: RecordsCtxDep, session: ReadSessionDep, principal: CurrentPrincipal,
    format: Literal["json", "csv", "jws"] = "json",
) -> Response:
    report = await service.exportable(session, principal, report_id)
    kind = await repository.kind(session, service.KIND_OF_SCOPE[report.scope])
    settings = ctx.settings
    doc = service.document(report, kind, issuer=settings.public_base_url.rstrip("/"), now=ctx.now())
    name = f"bao-cao-{report.scope}-{report.scope_code}-{report.year}"
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    if format == "jws":
        return Response(signing.sign(settings.secret_key, body, "application/json", detached=False), media_type="application/jose",
                        headers={"Content-Disposition": f'attachment; filename="{name}.jws"', "Cache-Control": "no-store"})
    media = "application/json"
    if format == "csv":
        body, media = service.to_csv(doc), "text/csv; charset=utf-8"
    headers = {"Signature-JWS": signing.sign(settings.secret_key, body, media.split(";")[0], detached=True),
               "Content-Disposition": f'attachment; filename="{name}.{format}"', "Cache-Control": "no-store"}
    return Response(body, media_type=media, headers=headers)
