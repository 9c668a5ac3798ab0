"""Writing the append-only audit trail (in the same transaction as the change it records)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.common.auth import Principal
from services.common.db import utcnow
from services.common.logging import request_id_var
from services.identity.audit import repository
from services.identity.models import AuditEvent


def _values(
    actor: Principal | str, action: str, target_type: str, target_id: str, details: dict[str, Any] | None, outcome: str, ip: str | None
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "at": utcnow(),
        "actor": actor.sub if isinstance(actor, Principal) else actor,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "details": details or {},
        "outcome": outcome,
        "ip": ip,
        "request_id": request_id_var.get(),
    }


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
    """Adds the entry to the session: it is written with the change, at the next flush."""
    event = AuditEvent(**_values(actor, action, target_type, target_id, details, outcome, ip))
    session.add(event)
    return event


async def record_now(
    session: AsyncSession | AsyncConnection,
    *,
    actor: Principal | str,
    action: str,
    target_type: str,
    target_id: str,
    details: dict[str, Any] | None = None,
    outcome: str = "success",
    ip: str | None = None,
) -> None:
    """The same entry written at once with one Core INSERT, for hot paths (a token grant): no unit of work.
    ``session`` may be a bare connection (:meth:`Database.autocommit`)."""
    await repository.insert_now(session, _values(actor, action, target_type, target_id, details, outcome, ip))
