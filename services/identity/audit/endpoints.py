"""Querying the audit trail (admins only; there is no way to change it)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from services.common.auth import require_scopes
from services.common.db import SessionDep
from services.common.pagination import Page, PageDep, paginate
from services.identity.models import AuditEvent

router = APIRouter(prefix="/v1/admin/audit", tags=["audit"])


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    outcome: str
    details: dict[str, Any]
    ip: str | None
    request_id: str | None


@router.get("", response_model=Page[AuditEventRead], dependencies=[Depends(require_scopes("identity:admin"))], summary="Audit events, newest first")
async def list_audit(
    session: SessionDep,
    page: PageDep,
    action: Annotated[str | None, Query(max_length=100)] = None,
    target_type: Annotated[str | None, Query(max_length=50)] = None,
    target_id: Annotated[str | None, Query(max_length=200)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[Any]:
    stmt = select(AuditEvent)
    for column, value in ((AuditEvent.action, action), (AuditEvent.target_type, target_type), (AuditEvent.target_id, target_id), (AuditEvent.actor, actor)):
        if value is not None:
            stmt = stmt.where(column == value)
    return await paginate(session, stmt, (AuditEvent.at, AuditEvent.id), page, descending=True, transform=AuditEventRead.model_validate)
