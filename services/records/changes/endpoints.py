"""``GET /v1/changes?since=&limit=``: what changed after a version, by natural key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.records.changes import service
from services.records.changes.schemas import ChangeRead

router = APIRouter(prefix="/v1/changes", tags=["change feed"])
#: versions are 64-bit integers on every backend
MAX_VERSION = 2**63 - 1


# Defined here rather than in schemas.py on purpose: lmis has a schema of the same name, so the OpenAPI document names
# this one by its module (services__records__changes__endpoints__ChangePage), and clients generated from the document
# keep that name.
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
    items, latest = await service.page(session, principal, since, limit)
    return ChangePage(items=items, next_since=items[-1].version if items else since, latest_version=latest)
