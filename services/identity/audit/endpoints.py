"""Querying the audit trail (admins only; there is no way to change it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from services.common.auth import require_scopes
from services.common.db import SessionDep
from services.common.pagination import Page, PageDep
from services.identity.audit import repository
from services.identity.audit.schemas import AuditEventRead

router = APIRouter(prefix="/v1/admin/audit", tags=["audit"])


@router.get("", response_model=Page[AuditEventRead], dependencies=[Depends(require_scopes("identity:admin"))], summary="Audit events, newest first")
async def list_audit(
    session: SessionDep,
    page: PageDep,
    action: Annotated[str | None, Query(max_length=100)] = None,
    target_type: Annotated[str | None, Query(max_length=50)] = None,
    target_id: Annotated[str | None, Query(max_length=200)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[Any]:
    return await repository.page(session, page, action=action, target_type=target_type, target_id=target_id, actor=actor)
