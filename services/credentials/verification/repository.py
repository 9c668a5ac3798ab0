"""The verifier's reads, shaped for one round trip: it runs for every public verification."""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.credentials.models import Credential, Issuer, StatusList, VerificationLog


class ListHead(NamedTuple):
    """What a verifier needs to know of a status list before its (cached) bits."""

    id: uuid.UUID
    purpose: str
    size: int
    version: int
    signed: bool


class IssuerRow(NamedTuple):
    """What a verifier reads of an issuer (a plain row: no ORM identity map on the hot path)."""

    id: uuid.UUID
    did: str
    name: str
    institution_code: str
    institution_status: str
    closed_on: str | None

    @classmethod
    def of(cls, issuer: Issuer) -> "IssuerRow":
        return cls(issuer.id, issuer.did, issuer.name, issuer.institution_code, issuer.institution_status, issuer.closed_on)


_successor = (
    select(Credential.superseded_by_id)
    .where(Credential.id == bindparam("credential_id"), Credential.issuer_id == Issuer.id)
    .correlate(Issuer)
    .scalar_subquery()
)

#: built once: SQLAlchemy then reuses its cache key and compiled form instead of recomputing them per verification
_issuer_state = (
    select(Issuer.id, Issuer.did, Issuer.name, Issuer.institution_code, Issuer.institution_status, Issuer.closed_on,
           _successor, StatusList.id, StatusList.purpose, StatusList.size, StatusList.version,
           StatusList.signed_at.is_not(None))
    .outerjoin(StatusList, and_(StatusList.issuer_id == Issuer.id, StatusList.id.in_(bindparam("list_ids", expanding=True))))
    .where(Issuer.did == bindparam("did"))
)


async def issuer_state(
    session: AsyncSession, did: str, credential_id: uuid.UUID | None, list_ids: set[uuid.UUID]
) -> tuple[IssuerRow | None, uuid.UUID | None, dict[uuid.UUID, ListHead]]:
    """The issuer with this DID; the credential that superseded ``credential_id`` if that is one of its own; and
    the heads (not the large bits) of those of ``list_ids`` that are the issuer's lists. One query, run as Core on
    the session's connection."""
    params = {"did": did, "credential_id": credential_id, "list_ids": list(list_ids)}
    rows = (await (await session.connection()).execute(_issuer_state, params)).all()
    if not rows:
        return None, None, {}
    heads = {r[7]: ListHead(*r[7:]) for r in rows if r[7] is not None}
    return IssuerRow(*rows[0][:6]), rows[0][6], heads


_add_log = insert(VerificationLog.__table__)


async def add_log(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Verification log rows, in one Core insert on the session's connection (no unit of work, no ORM bulk path
    for append-only rows)."""
    if rows:
        await (await session.connection()).execute(_add_log, rows)
