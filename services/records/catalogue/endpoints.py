"""Occupations (national list) and grading policies: public reads, admin loads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from services.common.auth import Principal, require_scopes
from services.common.db import SessionDep
from services.common.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from services.common.text import fold
from services.records.catalogue import service
from services.records.grading.rules import GradingPolicy
from services.records.models import GradingPolicyRow, Occupation

router = APIRouter(tags=["reference data"])
Admin = Annotated[Principal, Depends(require_scopes("records:admin"))]


class OccupationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    level: str


@router.get("/v1/occupations", response_model=list[OccupationRead], summary="The national occupation list (public)")
async def list_occupations(session: SessionDep, level: Annotated[str | None, Query(pattern="^(intermediate|college)$")] = None,
                           q: Annotated[str | None, Query(max_length=100)] = None) -> Any:
    stmt = select(Occupation).order_by(Occupation.code)
    if level:
        stmt = stmt.where(Occupation.level == level)
    rows = list((await session.scalars(stmt)).all())
    if q:
        needle = fold(q)
        rows = [o for o in rows if needle in fold(o.name) or o.code.startswith(q)]
    return rows


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
    return [r.rules for r in (await session.scalars(select(GradingPolicyRow).order_by(GradingPolicyRow.code))).all()]


@router.get("/v1/grading-policies/{code}", summary="One grading policy (public)")
async def get_policy(code: str, session: SessionDep) -> dict[str, Any]:
    row = await session.scalar(select(GradingPolicyRow).where(GradingPolicyRow.code == code))
    if row is None:
        raise NotFound(f"No grading policy {code}.")
    return row.rules


@router.post("/v1/grading-policies", status_code=201, summary="Add a grading policy (e.g. after a corrected circular)")
async def create_policy(body: dict[str, Any], session: SessionDep, _: Admin) -> dict[str, Any]:
    try:
        policy = GradingPolicy.from_dict(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed("The grading policy is not valid.", errors=[{"field": "body", "message": str(exc)}]) from None
    if await session.scalar(select(GradingPolicyRow).where(GradingPolicyRow.code == policy.code)) is not None:
        raise Conflict(f"Grading policy {policy.code} exists; policies are never edited, add a new code.")
    session.add(GradingPolicyRow(code=policy.code, rules=policy.to_dict()))
    return policy.to_dict()
