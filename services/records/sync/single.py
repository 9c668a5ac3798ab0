"""One row through the same rules as a sync job (used by the direct API endpoints)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import ValidationFailed
from services.records.access import actor_of
from services.records.sync.apply import Applier, Item
from services.records.sync.runner import identity_resolver


async def apply_one(session: AsyncSession, request: Request, principal: Principal, code: str, entity: str,
                    data: dict[str, Any], op: str = "upsert") -> tuple[str, Applier]:
    applier = Applier(session, code, actor=actor_of(principal), source="api", resolver=identity_resolver(request.app))
    (outcome,) = await applier.apply([Item(1, 1, entity, entity, data, op)])
    if outcome.result == "rejected":
        raise ValidationFailed(
            "; ".join(f"{f}: {m}" for f, m in outcome.errors),
            errors=[{"field": f, "message": m} for f, m in outcome.errors],
        )
    return outcome.result, applier
