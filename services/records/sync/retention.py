"""Uploaded sync files are personal data (names, 12-digit personal ID numbers): kept while their job may need them,
deleted from the object store once the job has ended and the retention window has passed.

Each pass (:meth:`UploadSweeper.run_once`):

1. **ended jobs' uploads** — jobs ``succeeded``, ``completed_with_errors`` or ``failed`` whose ``finished_at`` is
   older than ``RECORDS_SYNC_UPLOAD_RETENTION_DAYS`` (default 30) and whose upload is still there: the object is
   deleted, then ``upload_deleted_at`` is set on the job. The job keeps the file's SHA-256 (``upload_sha256``,
   taken while the upload streamed in; a job from before it was recorded has its file hashed just before the
   delete), its size, who sent it and when, so what was sent stays provable without the file.
2. **orphan uploads** — objects under ``records/sync/`` that no job names (a request that died between storing
   the file and committing its job), once a day old.

All state is in the database (the jobs' ``finished_at`` and ``upload_deleted_at``), so a pass after a restart, or
on another replica, picks up where any other left off; deleting twice is harmless (a missing object is no error).
The passes run on one replica at a time (a singleton :class:`~services.common.worker.LeasedWorker` under the
named lease ``records sync upload retention``), so the store is listed once per period, not once per replica.
The store is called outside any write transaction (on SQLite that would hold the one write lock).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from services.common.db import Database, utcnow
from services.common.errors import NotFound
from services.common.retry import RetryPolicy
from services.common.storage import ObjectStore
from services.common.worker import LeasedWorker
from services.records.context import RecordsContext
from services.records.models import SyncJob

log = logging.getLogger("services.records.retention")

UPLOAD_PREFIX = "records/sync/"
#: statuses of a job that has ended: its upload is never read again
ENDED = ("succeeded", "completed_with_errors", "failed")
#: an object under records/sync/ that no job names is deleted once this old (its job's commit may still be coming)
ORPHAN_GRACE = timedelta(days=1)
#: jobs handled, keys checked per database round trip
BATCH = 200


@dataclass
class RetentionReport:
    deleted_uploads: int = 0
    orphan_uploads: int = 0


class UploadSweeper:
    """One pass at a time; holds no state of its own. ``clock`` is replaceable in tests."""

    def __init__(self, db: Database, store: ObjectStore, *, retention: timedelta,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.store = store
        self.retention = retention
        self.clock = clock

    async def run_once(self) -> RetentionReport:
        return RetentionReport(await self.delete_ended_uploads(), await self.delete_orphan_uploads())

    async def run_pass(self) -> RetentionReport:
        """:meth:`run_once`, saying what it deleted."""
        report = await self.run_once()
        if report.deleted_uploads or report.orphan_uploads:
            log.info("sync uploads deleted: %d of ended jobs past retention, %d orphans",
                     report.deleted_uploads, report.orphan_uploads)
        return report

    async def delete_ended_uploads(self) -> int:
        done = 0
        while True:
            now = self.clock()
            async with self.db.session(write=False) as session:
                stmt = (select(SyncJob.id, SyncJob.object_key, SyncJob.upload_sha256)
                        .where(SyncJob.upload_deleted_at.is_(None), SyncJob.finished_at < now - self.retention,
                               SyncJob.status.in_(ENDED))
                        .order_by(SyncJob.finished_at).limit(BATCH))
                due = list((await session.execute(stmt)).all())
            for job_id, key, sha256 in due:
                if sha256 is None:  # uploaded before hashes were recorded: keep the hash of what is deleted
                    sha256 = await self._hash(key)
                await self.store.delete(key)
                async with self.db.session(write=True) as session:
                    values = {"upload_deleted_at": now} | ({"upload_sha256": sha256} if sha256 else {})
                    await session.execute(update(SyncJob).where(SyncJob.id == job_id).values(**values))
            done += len(due)
            if len(due) < BATCH:
                return done

    async def delete_orphan_uploads(self) -> int:
        cutoff = self.clock() - ORPHAN_GRACE
        done = 0
        batch: dict[uuid.UUID, str] = {}
        async for info in self.store.list_objects(UPLOAD_PREFIX):
            if info.last_modified is None or info.last_modified >= cutoff:
                continue
            job_id = _job_id(info.key)
            if job_id is None:
                continue  # not a job's upload: not ours to judge
            batch[job_id] = info.key
            if len(batch) >= BATCH:
                done += await self._delete_unclaimed(batch)
                batch = {}
        if batch:
            done += await self._delete_unclaimed(batch)
        return done

    async def _delete_unclaimed(self, keys: dict[uuid.UUID, str]) -> int:
        async with self.db.session(write=False) as session:
            known = set((await session.scalars(select(SyncJob.id).where(SyncJob.id.in_(list(keys))))).all())
        orphans = [key for job_id, key in keys.items() if job_id not in known]
        for key in orphans:
            await self.store.delete(key)
        return len(orphans)

    async def _hash(self, key: str) -> str | None:
        digest = hashlib.sha256()
        try:
            async for chunk in self.store.get(key):
                digest.update(chunk)
        except NotFound:
            return None
        return digest.hexdigest()


def _job_id(key: str) -> uuid.UUID | None:
    """The job id of an upload key ``records/sync/<institution>/<job id>``."""
    parts = key.split("/")
    if len(parts) != 4:
        return None
    try:
        return uuid.UUID(parts[3])
    except ValueError:
        return None


#: how long the sweeping replica holds the lease without a heartbeat (renewed every third of it while it sweeps)
LEASE_SECONDS = 300.0


def upload_sweeper_worker(ctx: RecordsContext) -> LeasedWorker[Any] | None:
    """The service's background worker (built for records' app by ``services.records.app``): after
    ``sync_upload_sweep_initial_delay_seconds``, a pass every ``sync_upload_sweep_seconds`` (real time) on one
    replica at a time. A pass that fails (the store or the database) is logged and tried again after a back-off
    (1 s doubling, at most a minute), not a whole period later."""
    settings = ctx.settings
    if settings.sync_upload_sweep_seconds <= 0:
        return None
    sweeper = UploadSweeper(ctx.db, ctx.store, retention=timedelta(days=settings.sync_upload_retention_days))
    return LeasedWorker.singleton("records sync upload retention", sweeper.run_pass, db=ctx.db,
                                  lease_seconds=LEASE_SECONDS, poll_seconds=settings.sync_upload_sweep_seconds,
                                  initial_delay=settings.sync_upload_sweep_initial_delay_seconds, logger=log,
                                  policy=RetryPolicy(max_delay=min(60.0, settings.sync_upload_sweep_seconds)))
