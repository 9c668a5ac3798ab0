"""Sync jobs: accept an upload (streamed into the object store), queue it, report on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import NotFound, PayloadTooLarge, ValidationFailed
from services.common.links import link
from services.common.pagination import Page, PageParams
from services.common.storage import ObjectStore, StoredObject
from services.records.models import SyncJob
from services.records.sync import repository
from services.records.sync.schemas import SyncJobErrorRead, SyncJobRead

CONTENT_TYPES = {"json": "application/json", "csv": "text/csv", "oneroster": "application/zip"}


async def store_upload(store: ObjectStore, key: str, fmt: str, upload: AsyncIterable[bytes], limit: int) -> StoredObject:
    """The upload streamed into the store under ``key``: at most ``limit`` bytes, and not empty."""
    size = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal size
        async for chunk in upload:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"The upload is larger than {limit // (1024 * 1024)} MiB.")
            if chunk:
                yield chunk

    stored = await store.put(key, body(), content_type=CONTENT_TYPES[fmt])
    if size == 0:
        await store.delete(key)
        raise ValidationFailed("The upload is empty.", errors=[{"field": "body", "message": "empty"}])
    return stored


async def create_job(
    session: AsyncSession, store: ObjectStore, upload: AsyncIterable[bytes], *, limit: int, actor: str, code: str, fmt: str, mode: str,
    entity: str | None,
) -> SyncJob:
    """A queued job for the upload (stored first, so the job's file is there before the job is)."""
    job_id = uuid.uuid4()
    key = f"records/sync/{code}/{job_id}"
    stored = await store_upload(store, key, fmt, upload, limit)
    processing = None
    if fmt == "oneroster":
        processing = "bulk"  # read from the manifest by the worker; "bulk" until then
    job = SyncJob(
        id=job_id, institution_code=code, format=fmt, entity=entity, mode=mode, processing=processing, status="queued",
        object_key=key, upload_bytes=stored.size, upload_sha256=stored.sha256, created_by=actor,
    )
    session.add(job)
    await session.flush()
    return job


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> SyncJob:
    job = await repository.job(session, job_id)
    if job is None:
        raise NotFound(f"No sync job {job_id}.")
    return job


async def running_progress(session: AsyncSession, runner: Any, job: SyncJob) -> tuple[int, int] | None:
    """(rows read, rows rejected) so far of a running all_or_nothing job, whose own counts commit only at its end:
    from the runner in this process, else from ``sync_job_progress`` (written by whichever replica runs it)."""
    if job.status != "running" or job.mode != "all_or_nothing":
        return None
    if (mine := runner.progress.get(job.id)) is not None:
        return mine  # type: ignore[no-any-return]
    row = await repository.progress(session, job.id)
    return (row.rows_read, row.rejected) if row is not None else None


def to_read(job: SyncJob, progress: tuple[int, int] | None = None) -> SyncJobRead:
    out = SyncJobRead.model_validate(job)
    if progress is not None and progress[0] > out.rows_read:
        out.rows_read, out.rejected = progress
    out.accepted = job.created + job.updated + job.unchanged
    out.errors_url = link(f"/v1/sync-jobs/{job.id}/errors")
    return out


async def job_errors(session: AsyncSession, job_id: uuid.UUID, params: PageParams) -> Page[Any]:
    return await repository.errors_page(session, job_id, params, SyncJobErrorRead.model_validate)


async def institution_jobs(session: AsyncSession, code: str, params: PageParams) -> Page[Any]:
    return await repository.jobs_page(session, code, params, to_read)
