"""Occupations (national list) and grading policies: public reads, admin loads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from services.common.auth import Principal, require_scopes
from services.common.db import SessionDep
from services.common.errors import PayloadTooLarge
from services.records.catalogue import service
from services.records.catalogue.schemas import OccupationRead

router = APIRouter(tags=["reference data"])
Admin = Annotated[Principal, Depends(require_scopes("records:admin"))]


@router.get("/v1/occupations", response_model=list[OccupationRead], summary="The national occupation list (public)")
async def list_occupations(session: SessionDep, level: Annotated[str | None, Query(pattern="^(intermediate|college)$")] = None,
                           q: Annotated[str | None, Query(max_length=100)] = None) -> Any:
    return await service.list_occupations(session, level, q)


@router.put("/v1/occupations", summary="Load the occupation list from CSV (code,name); all rows or none",
            openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}})
async def import_occupations(request: Request, session: SessionDep, _: Admin) -> dict[str, int]:
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > 5 * 1024 * 1024:
            raise PayloadTooLarge("The occupation list is larger than 5 MiB.")
    return await service.upsert_occupations(session, service.parse_occupations(service.decode_upload(bytes(raw))))


@router.get("/v1/grading-policies", summary="Grading policies (thresholds as data; public)")
async def list_policies(session: SessionDep) -> list[dict[str, Any]]:
    return await service.list_policies(session)


@router.get("/v1/grading-policies/{code}", summary="One grading policy (public)")
async def get_policy(code: str, session: SessionDep) -> dict[str, Any]:
    return await service.get_policy(session, code)


@router.post("/v1/grading-policies", status_code=201, summary="Add a grading policy (e.g. after a corrected circular)")
async def create_policy(body: dict[str, Any], session: SessionDep, _: Admin) -> dict[str, Any]:
    return await service.create_policy(session, body)
