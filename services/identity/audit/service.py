"""Writing the append-only audit trail (in the same transaction as the change it records)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.logging import request_id_var
from services.identity.models import AuditEvent


def record(
    session: AsyncSession,
    *,
    actor: Principal | str,
    action: str,
    target_type: str,
    target_id: str,
    details: dict[str, Any] | None = None,
    outcome: str = "success",
    ip: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor.sub if isinstance(actor, Principal) else actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details or {},
        outcome=outcome,
        ip=ip,
        request_id=request_id_var.get(),
    )
    session.add(event)
    return event
