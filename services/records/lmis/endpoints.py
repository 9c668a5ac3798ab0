"""The labour-market feed over HTTP: the bulk file, the change feed, the documented schema, recipients' rules."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.records.context import RecordsCtxDep
from services.records.lmis import service
from services.records.lmis.schemas import ChangePage, GraduatePage, GraduateRecord, RecipientIn, RecipientRead

router = APIRouter(tags=["labour-market feed"])


@router.get("/v1/lmis/schema", summary="The JSON Schema of a graduate record of the feed, and the CSV column order (public)")
async def lmis_schema() -> dict[str, Any]:
    from services.records.lmis.schemas import COLUMNS

    return {"record": GraduateRecord.model_json_schema(), "csv_columns": COLUMNS,
            "notes": "person_key is the personal ID number in the form id_number_form names (full, masked, or this recipient's pseudonym)"}


@router.get("/v1/lmis/graduates", response_model=GraduatePage,
            summary="Graduates of a year by occupation, level and province (records:lmis), JSON pages or CSV",
            responses={200: {"content": {"application/json": {}, "text/csv": {}}}})
async def graduates(ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal,
                    graduation_year: Annotated[int, Query(ge=2000, le=2100)],
                    province: Annotated[str | None, Query(pattern=r"^\d{3}$")] = None,
                    occupation: Annotated[str | None, Query(pattern=r"^\d{7}$")] = None,
                    level: Annotated[str | None, Query(max_length=20)] = None,
                    after: uuid.UUID | None = None,
                    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
                    format: Literal["json", "csv"] = "json") -> Any:
    page = await service.graduates(session, principal, ctx.settings.secret_key, year=graduation_year, province=province,
                                   occupation=occupation, level=level, after=after, limit=limit)
    if format == "csv":
        headers = {"Content-Disposition": f'attachment; filename="tot-nghiep-{graduation_year}.csv"'}
        if page.next_after:
            headers["Link"] = f'<?graduation_year={graduation_year}&format=csv&limit={limit}&after={page.next_after}>; rel="next"'
        return Response(service.to_csv(page.items), media_type="text/csv; charset=utf-8", headers=headers)
    return page


@router.get("/v1/lmis/changes", response_model=ChangePage,
            summary="Graduates added, changed or removed since a version of records' change log (records:lmis)")
async def changes(ctx: RecordsCtxDep, session: SessionDep, principal: CurrentPrincipal,
                  since: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> Any:
    return await service.changes(session, principal, ctx.settings.secret_key, since=since, limit=limit)


@router.put("/v1/lmis/recipients/{client_id}", response_model=RecipientRead,
            summary="National officers: what a labour-market system receives (ID numbers full, masked or pseudonymous; names; provinces)")
async def put_recipient(client_id: Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._\-]+$")], body: RecipientIn,
                        ctx: RecordsCtxDep, response: Response, session: SessionDep, principal: CurrentPrincipal) -> Any:
    read, created = await service.put_recipient(session, principal, client_id, body, ctx.now())
    response.status_code = 201 if created else 200
    return read
