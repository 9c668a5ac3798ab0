"""``GET /v1/changes?since=&limit=``: what changed after a version, by natural key."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.common.errors import Forbidden
from services.common.permissions import INSTITUTION_STAFF, is_national_officer, provinces_of
from services.common.privacy import masked_key
from services.records.access import is_platform_admin, is_service, may_see_numbers
from services.records.changes import service
from services.records.models import InstitutionRef

router = APIRouter(prefix="/v1/changes", tags=["change feed"])
#: versions are 64-bit integers on every backend
MAX_VERSION = 2**63 - 1


class ChangeRead(BaseModel):
    version: int
    institution_code: str
    entity: str
    operation: str
    key: dict[str, Any]
    old_key: dict[str, Any] | None
    changed_at: datetime


class ChangePage(BaseModel):
    items: list[ChangeRead]
    #: pass as ``since`` to get the next page; equals ``since`` when nothing is new
    next_since: int
    #: highest version handed out so far (a writer still committing may hold a higher one)
    latest_version: int


@router.get("", response_model=ChangePage, summary="Changes after a version (upserts, deletes, key changes by natural key)")
async def list_changes(
    session: SessionDep,
    principal: CurrentPrincipal,
    since: Annotated[int, Query(ge=0, le=MAX_VERSION, description="last version you have seen; 0 for everything")] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> ChangePage:
    scope: set[str] | None
    if is_platform_admin(principal) or is_national_officer(principal) or is_service(principal):
        scope = None
    elif principal.has_scope("records:read"):
        scope = {code for code, roles in principal.roles.items() if set(roles) & INSTITUTION_STAFF}
        provinces = provinces_of(principal)
        if provinces:
            scope |= set((await session.scalars(select(InstitutionRef.code).where(InstitutionRef.province_code.in_(provinces)))).all())
        if not scope:
            raise Forbidden("You may not read the change feed.")
    else:
        raise Forbidden("The change feed needs the records:read scope.")
    rows = await service.since(session, since, limit, scope)
    items = [ChangeRead.model_validate(r, from_attributes=True) for r in rows]
    # personal ID numbers in natural keys follow the rule of every other representation (access.may_see_numbers)
    provinces = dict((await session.execute(
        select(InstitutionRef.code, InstitutionRef.province_code).where(InstitutionRef.code.in_({i.institution_code for i in items}))
    )).all()) if items else {}
    for item in items:
        if not may_see_numbers(principal, provinces.get(item.institution_code), institution_code=item.institution_code):
            item.key, item.old_key = masked_key(item.key) or {}, masked_key(item.old_key)
    return ChangePage(items=items, next_since=items[-1].version if items else since, latest_version=await service.latest(session))
