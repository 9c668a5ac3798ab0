"""The institution registry (the digital map of VET institutions): public reads, GeoJSON, officer writes."""

from __future__ import annotations

import tempfile
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from services.common.auth import CurrentPrincipal
from services.common.db import ReadSessionDep, SessionDep
from services.common.errors import NotFound, PayloadTooLarge
from services.common.httpcache import invalidate_on_commit
from services.common.pagination import Page, PageDep
from services.identity.context import IdentityContext, IdentityCtxDep
from services.identity.institutions import repository, service
from services.identity.institutions.schemas import (
    ImportResult,
    InstitutionCreate,
    InstitutionRead,
    InstitutionType,
    InstitutionUpdate,
    Ownership,
    Status,
)
from services.identity.persons.numbers import current_province

router = APIRouter(prefix="/v1/institutions", tags=["institutions"])
MAX_CSV_BYTES = 20 * 1024 * 1024


def _filters(province: str | None, type: str | None, ownership: str | None, status: str | None, q: str | None) -> dict[str, Any]:
    # a pre-2025 province code finds the institutions of the province it merged into
    return {"province_code": current_province(province) if province else None, "type": type, "ownership": ownership,
            "status": status, "q": q}


Province = Annotated[str | None, Query(pattern=r"^\d{3}$", description="province code, old or current")]
Search = Annotated[str | None, Query(max_length=200, description="name search, with or without diacritics")]
#: the registry is public and changes rarely: shared caches may keep a page for a minute (the service keeps its own
#: copy a few seconds, dropped by every write: services.common.httpcache)
PUBLIC = "public, max-age=60"


def _changed(ctx: IdentityContext, session: Any) -> None:
    invalidate_on_commit(session, ctx.public_cache, "/v1/institutions")


@router.get("", response_model=Page[InstitutionRead], summary="Institutions (public)")
async def list_institutions(
    session: SessionDep,
    page: PageDep,
    response: Response,
    province: Province = None,
    type: InstitutionType | None = None,
    ownership: Ownership | None = None,
    status: Status | None = None,
    q: Search = None,
) -> Page[Any]:
    response.headers["Cache-Control"] = PUBLIC
    return await repository.page(session, page, **_filters(province, type, ownership, status, q))


@router.get(".geojson", summary="The digital map: institutions as a GeoJSON FeatureCollection (public)",
            responses={200: {"content": {"application/geo+json": {}}}})
async def institutions_geojson(
    session: ReadSessionDep,
    province: Province = None,
    type: InstitutionType | None = None,
    ownership: Ownership | None = None,
    status: Status | None = None,
    q: Search = None,
) -> JSONResponse:
    """Every institution with coordinates, read on the read replica when ``IDENTITY_DATABASE_READ_URL`` is set: the
    whole registry for a public map, cached by clients for five minutes anyway. The registry's listing and one
    institution (what an officer just registered or changed) are read from the primary."""
    features = [service.to_feature(i) for i in await repository.mapped(session, **_filters(province, type, ownership, status, q))]
    return JSONResponse(
        {"type": "FeatureCollection", "features": features},
        media_type="application/geo+json",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/{code}", response_model=InstitutionRead, summary="One institution (public)")
async def get_institution(code: str, session: SessionDep, response: Response) -> Any:
    inst = await repository.by_code(session, code)
    if inst is None:
        raise NotFound(f"No institution {code}.")
    response.headers["ETag"] = service.etag(inst)
    response.headers["Cache-Control"] = PUBLIC
    return inst


@router.post("", response_model=InstitutionRead, status_code=201, summary="Register an institution (ministry, or the province's officers)")
async def create_institution(body: InstitutionCreate, ctx: IdentityCtxDep, session: SessionDep, principal: CurrentPrincipal,
                             response: Response) -> Any:
    inst = await service.create(session, principal, body)
    _changed(ctx, session)
    response.headers["ETag"] = service.etag(inst)
    return inst


@router.patch("/{code}", response_model=InstitutionRead, summary="Change an institution (If-Match guards concurrent edits)")
async def update_institution(
    code: str,
    body: InstitutionUpdate,
    ctx: IdentityCtxDep,
    session: SessionDep,
    principal: CurrentPrincipal,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> Any:
    inst = await service.update(session, principal, code, body, if_match)
    _changed(ctx, session)
    response.headers["ETag"] = service.etag(inst)
    return inst


@router.post(
    "/import",
    response_model=ImportResult,
    summary="Bulk import from CSV (all rows or none; upsert by code)",
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}},
)
async def import_institutions(request: Request, ctx: IdentityCtxDep, session: SessionDep, principal: CurrentPrincipal) -> ImportResult:
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_CSV_BYTES:
                raise PayloadTooLarge(f"The CSV file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MiB.")
            spool.write(chunk)
        spool.seek(0)
        result = await service.import_csv(session, principal, spool)  # type: ignore[arg-type]
    _changed(ctx, session)
    return result
