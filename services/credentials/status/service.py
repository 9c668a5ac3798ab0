"""Bitstring Status Lists: one list credential per issuer and purpose (more when one fills), indexes allocated
at random, the list signed by the issuer again whenever a bit changes; revoke, suspend, unsuspend with reason
and audit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import utcnow
from services.common.httpcache import invalidate_on_commit
from services.credentials.context import CredentialsContext
from services.credentials.issuers import repository as issuers_repo
from services.credentials.models import Issuer, IssuerKey, StatusList
from services.credentials.proofs import dataintegrity
from services.credentials.proofs.contexts import VC_V2
from services.credentials.status import bitstring, repository

PURPOSES = ("revocation", "suspension")


@dataclass(frozen=True)
class Entry:
    list_id: uuid.UUID
    index: int


def list_document(ctx: CredentialsContext, issuer: Issuer, row: StatusList) -> dict[str, Any]:
    url = ctx.status_list_url(row.id)
    return {
        "@context": [VC_V2],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer.did,
        "validFrom": dataintegrity.xsd_datetime(utcnow()),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": row.purpose,
            "encodedList": bitstring.encode(row.bits),
        },
    }


def sign_list(ctx: CredentialsContext, issuer: Issuer, key: IssuerKey, row: StatusList) -> None:
    private = ctx.keys.private_key(issuer.institution_code, key.key_id, key.sealed_private_key)
    now = utcnow()
    row.document = dataintegrity.sign(list_document(ctx, issuer, row), private, f"{issuer.did}#{key.key_id}", created=now)
    row.signed_at = now


async def open_list(session: AsyncSession, ctx: CredentialsContext, issuer: Issuer, key: IssuerKey, purpose: str, *, number: int) -> StatusList:
    size = max(ctx.settings.status_list_size, bitstring.MIN_SIZE)
    row = StatusList(
        id=uuid.uuid4(), issuer_id=issuer.id, purpose=purpose, number=number, size=size, bits=bitstring.empty(size),
        allocated=bitstring.empty(size), allocated_count=0, version=1,
    )
    sign_list(ctx, issuer, key, row)
    session.add(row)
    await session.flush()
    return row


async def allocate(session: AsyncSession, ctx: CredentialsContext, issuer: Issuer, key: IssuerKey, purpose: str, count: int) -> list[Entry]:
    """``count`` random free entries of the issuer's current list for ``purpose``, opening new lists as they fill.
    The list rows are locked for the rest of the transaction, so two issuers of entries never collide."""
    entries: list[Entry] = []
    row = await repository.current(session, issuer.id, purpose, lock=True)
    while len(entries) < count:
        if row is None:
            row = await open_list(session, ctx, issuer, key, purpose, number=1)
        limit = int(row.size * ctx.settings.status_list_fill_limit)
        room = limit - row.allocated_count
        if room <= 0:
            row = await open_list(session, ctx, issuer, key, purpose, number=row.number + 1)
            continue
        take = min(room, count - len(entries))
        row.allocated, indexes = bitstring.allocate(row.allocated, row.size, take)
        row.allocated_count += take
        entries.extend(Entry(row.id, i) for i in indexes)
    await session.flush()
    return entries


async def set_bit(session: AsyncSession, ctx: CredentialsContext, list_id: uuid.UUID, index: int, value: bool) -> StatusList:
    """Sets one entry and signs the list again (with the issuer's current key)."""
    row = await repository.by_id(session, list_id, lock=True)
    if row is None:  # pragma: no cover - foreign key guarantees it
        raise LookupError(list_id)
    if bitstring.get_bit(row.bits, index) != value:
        row.bits = bitstring.set_bit(row.bits, index, value)
        row.version += 1
        issuer = await issuers_repo.by_id(session, row.issuer_id)
        key = await issuers_repo.active_key(session, row.issuer_id)
        assert issuer is not None and key is not None
        sign_list(ctx, issuer, key, row)
        await session.flush()
        invalidate_on_commit(session, ctx.public_cache, f"/v1/status-lists/{row.id}")
    return row


def entry_json(ctx: CredentialsContext, purpose: str, entry: Entry) -> dict[str, Any]:
    url = ctx.status_list_url(entry.list_id)
    return {
        "id": f"{url}#{entry.index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(entry.index),
        "statusListCredential": url,
    }
