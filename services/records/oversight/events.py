"""Credentials' events, kept as counts for oversight: which institution issued which kind of credential, of which
year, and its status now. No personal data is kept (no person, learner or holder)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import utcnow
from services.common.models import InboxEvent
from services.records.oversight import repository


async def on_credential_event(session: AsyncSession, event: InboxEvent) -> None:
    data = event.data
    try:
        credential_id = uuid.UUID(str(data["credential_id"]))
    except (KeyError, ValueError):
        return  # not one of ours to count; the event stays in the inbox
    at = event.event_time or event.received_at or utcnow()
    status = str(data.get("status") or ("revoked" if event.type.endswith(".revoked") else "active"))[:20]
    award_year = data.get("award_year")
    await repository.record_credential(session, {
        "credential_id": credential_id, "institution_code": data.get("institution_code") or None,
        "kind": str(data.get("type") or "credential")[:30], "level": str(data["level"])[:30] if data.get("level") else None,
        "award_year": award_year if isinstance(award_year, int) and not isinstance(award_year, bool) else None,
        "status": status, "issued_at": at, "updated_at": at})


HANDLERS = {
    "vn.vet.credentials.credential.issued": on_credential_event,
    "vn.vet.credentials.credential.revoked": on_credential_event,
    "vn.vet.credentials.credential.suspended": on_credential_event,
}
