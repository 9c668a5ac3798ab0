"""Sync's data: the jobs (with their row errors and progress), and the OneRoster sourcedIds an institution's zips
carried (:class:`~services.records.models.OneRosterId`): read for the ids a zip refers to without carrying them,
written with the rows their records gave.

The sourcedIds, both in batches: a lookup reads only the ids asked for, :data:`BATCH` per statement (never the whole table); a
write is one statement per chunk on PostgreSQL (arrays, ``unnest``) and one ``executemany`` on SQLite, and changes
a stored row only when what it names differs.

Rows are kept after the record they name is deleted (a ``tobedeleted`` result or enrollment): a delta that sends the
same deletion again must still resolve it, and then changes nothing. That is one row per record a school ever sent
by OneRoster, of the order of the grades table itself, indexed by (institution, kind, sourcedId).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import UTCDateTime, utcnow
from services.common.pagination import Page, PageParams, paginate
from services.records.models import OneRosterId, SyncJob, SyncJobError, SyncJobProgress
from services.records.models.oneroster_id import natural_key_json

BATCH = 1000

#: (kind, sourcedId) → what it names
Known = dict[tuple[str, str], dict[str, str]]


#: canonical JSON (sorted keys, compact): equal keys are equal text, so a write can tell whether a key changed
dumps = natural_key_json


async def lookup(session: AsyncSession, institution_code: str, wanted: Mapping[str, Iterable[str]]) -> Known:
    """What the institution's stored sourcedIds of each kind name, for the ids asked for (those stored only)."""
    found: Known = {}
    for kind, ids in wanted.items():
        ids = sorted(set(ids))
        for start in range(0, len(ids), BATCH):
            rows = await session.execute(
                select(OneRosterId.sourced_id, OneRosterId.natural_key).where(
                    OneRosterId.institution_code == institution_code, OneRosterId.kind == kind,
                    OneRosterId.sourced_id.in_(ids[start : start + BATCH]))
            )
            for sid, key in rows:
                found[(kind, sid)] = json.loads(key)
    return found


_PG_UPSERT = text(
    "INSERT INTO oneroster_ids AS o (institution_code, kind, sourced_id, natural_key, updated_at)"
    " SELECT :institution, k, s, n, :now FROM unnest(CAST(:kinds AS text[]), CAST(:ids AS text[]), CAST(:keys AS text[])) AS x(k, s, n)"
    " ON CONFLICT (institution_code, kind, sourced_id) DO UPDATE SET natural_key = EXCLUDED.natural_key,"
    " updated_at = EXCLUDED.updated_at WHERE o.natural_key <> EXCLUDED.natural_key"
)


_SQLITE_UPSERT = text(
    "INSERT INTO oneroster_ids AS o (institution_code, kind, sourced_id, natural_key, updated_at)"
    " VALUES (:institution, :kind, :sid, :key, :now)"
    " ON CONFLICT (institution_code, kind, sourced_id) DO UPDATE SET natural_key = excluded.natural_key,"
    " updated_at = excluded.updated_at WHERE o.natural_key <> excluded.natural_key"
).bindparams(bindparam("now", type_=UTCDateTime()))


async def remember(session: AsyncSession, institution_code: str, entries: Mapping[tuple[str, str], str]) -> None:
    """Stores (kind, sourcedId) → natural key (:func:`dumps`) for the institution, in the caller's transaction."""
    if not entries:
        return
    now = utcnow()
    items = sorted(entries.items())  # one order for every writer: two jobs never wait on each other crosswise
    if session.get_bind().dialect.name == "postgresql":
        for start in range(0, len(items), 10 * BATCH):
            part = items[start : start + 10 * BATCH]
            await session.execute(_PG_UPSERT, {
                "institution": institution_code, "now": now, "kinds": [k for (k, _), _ in part],
                "ids": [s for (_, s), _ in part], "keys": [n for _, n in part]})
        return
    # a plain executemany: the ORM's bulk insert spent ten times the driver's time on a chunk of ids
    await session.execute(_SQLITE_UPSERT, [
        {"institution": institution_code, "kind": k, "sid": s, "key": n, "now": now} for (k, s), n in items])


# -- sync jobs -----------------------------------------------------------------------------------------------------
async def job(session: AsyncSession, job_id: uuid.UUID) -> SyncJob | None:
    return await session.get(SyncJob, job_id)


async def progress(session: AsyncSession, job_id: uuid.UUID) -> SyncJobProgress | None:
    return await session.get(SyncJobProgress, job_id)


async def errors_page(session: AsyncSession, job_id: uuid.UUID, params: PageParams, transform: Callable[[Any], Any]) -> Page[Any]:
    """A job's row errors, by row."""
    stmt = select(SyncJobError).where(SyncJobError.job_id == job_id)
    return await paginate(session, stmt, (SyncJobError.row, SyncJobError.id), params, transform=transform)


async def jobs_page(session: AsyncSession, institution_code: str, params: PageParams, transform: Callable[[Any], Any]) -> Page[Any]:
    """An institution's sync jobs, newest first."""
    stmt = select(SyncJob).where(SyncJob.institution_code == institution_code)
    return await paginate(session, stmt, (SyncJob.created_at, SyncJob.id), params, descending=True, transform=transform)
