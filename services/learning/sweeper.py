"""The library's sweeper: a background loop that cleans up after uploads that never finished.

Each pass (:meth:`Sweeper.run_once`):

1. **expired upload sessions** — open resumable uploads past ``expires_at``: the store's multipart upload is
   aborted (S3 multipart abort; the folder store's staging folder removed), their part rows dropped, the session
   marked ``expired``. Claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas never take the same.
2. **stray multipart uploads** — open in the store under ``learning/incoming/`` with no open session (a crash
   between the store and the database, or an abort that failed): aborted once older than the grace period.
3. **orphan objects** — files under ``learning/incoming/`` that no blob row names (a process that died between
   writing the bytes and recording them, a refused upload whose delete failed): deleted once older than the
   grace period, so uploads still being streamed or checked are never touched.
4. **orphan package contents** — unpacked SCORM / cmi5 folders ``learning/packages/<sha256>/`` that no package
   row names, when their newest file is older than the grace period.

Blob rows themselves are never deleted here: every blob is recorded together with the version that holds it,
and versions are never deleted.

Register it with the service's background workers: ``create_service_app(..., background=[run_sweeper])``
(:class:`~services.common.worker.LeasedWorker`, per process); tests call :meth:`Sweeper.run_once` directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TypeVar

from fastapi import FastAPI
from sqlalchemy import delete, select

from services.common.db import Database, claim_query, utcnow
from services.common.retry import RetryPolicy
from services.common.storage import ObjectStore
from services.common.worker import LeasedWorker
from services.learning.models import Blob, Package, UploadPart, UploadSession

log = logging.getLogger("services.learning.sweeper")

INCOMING_PREFIX = "learning/incoming/"
PACKAGES_PREFIX = "learning/packages/"
#: how often a replica sweeps
DEFAULT_INTERVAL_SECONDS = 3600.0
#: how old an unreferenced object or stray upload must be before it is removed
DEFAULT_GRACE_SECONDS = 24 * 3600.0
#: the first pass waits this long after start (a starting service has better things to do)
DEFAULT_INITIAL_DELAY_SECONDS = 60.0
#: rows claimed / keys checked per database round trip
BATCH = 200

T = TypeVar("T")


@dataclass
class SweepReport:
    expired_sessions: int = 0
    stray_uploads: int = 0
    orphan_objects: int = 0
    orphan_package_files: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


class Sweeper:
    """One pass at a time over the learning database and its object store. ``clock`` and ``sleep`` are replaceable
    in tests. A pass that fails for a transient cause (the database or the store unreachable) is tried again after a
    capped back-off (1 s doubling to ``retry.max_delay``), not only at the next interval."""

    def __init__(self, db: Database, store: ObjectStore, *, grace: timedelta = timedelta(seconds=DEFAULT_GRACE_SECONDS),
                 clock: Callable[[], datetime] = utcnow, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 retry: RetryPolicy | None = None) -> None:
        self.db = db
        self.store = store
        self.grace = grace
        self.clock = clock
        self.sleep = sleep
        self.retry = retry or RetryPolicy()

    async def run_once(self) -> SweepReport:
        report = SweepReport()
        report.expired_sessions = await self.expire_sessions()
        report.stray_uploads = await self.abort_stray_uploads()
        report.orphan_objects = await self.delete_orphan_objects()
        report.orphan_package_files = await self.delete_orphan_packages()
        return report

    def worker(self, interval: float = DEFAULT_INTERVAL_SECONDS,
               initial_delay: float = DEFAULT_INITIAL_DELAY_SECONDS) -> LeasedWorker[bool]:
        """The sweeping loop: after ``initial_delay``, a pass every ``interval`` on ``sleep``. Per process, no
        lease (:meth:`LeasedWorker.periodic`): every replica sweeps, each expired session claimed with ``FOR UPDATE
        SKIP LOCKED``, the store's deletes harmless twice. A pass that fails for a transient cause is tried again
        after the back-off (``retry``), one that fails otherwise at the next interval."""
        return LeasedWorker.periodic("learning sweeper", self._pass, poll_seconds=interval, initial_delay=initial_delay,
                                     sleep=self.sleep, policy=self.retry, logger=log)

    async def run_forever(self, interval: float = DEFAULT_INTERVAL_SECONDS,
                          initial_delay: float = DEFAULT_INITIAL_DELAY_SECONDS) -> None:
        """:meth:`worker` run in the caller's task until it is cancelled."""
        await self.worker(interval, initial_delay).run()

    async def _pass(self) -> bool:
        report = await self.run_once()
        if report.total:
            log.info("sweep: %d expired upload sessions, %d stray uploads, %d orphan objects, %d orphan package files",
                     report.expired_sessions, report.stray_uploads, report.orphan_objects, report.orphan_package_files)
        return False

    # -- the four steps ----------------------------------------------------------------------------------------

    async def expire_sessions(self) -> int:
        """Mark every open session past its expiry ``expired`` (dropping its part rows), then abort its upload in
        the store. The store is called after the commit, so no write transaction waits on it (on SQLite that
        would hold the database's one write lock); an abort that fails leaves an upload no open session owns,
        which :meth:`abort_stray_uploads` removes on a later pass."""
        done = 0
        while True:
            now = self.clock()
            async with self.db.session(write=True) as session:
                stmt = (select(UploadSession)
                        .where(UploadSession.status == "open", UploadSession.expires_at < now)
                        .order_by(UploadSession.expires_at).limit(BATCH))
                uploads = list((await session.scalars(claim_query(self.db, stmt))).all())
                for upload in uploads:
                    upload.status = "expired"
                if uploads:
                    await session.execute(delete(UploadPart).where(UploadPart.session_id.in_([u.id for u in uploads])))
                expired = [(u.object_key, u.store_upload_id) for u in uploads]
            for key, upload_id in expired:
                try:
                    await self.store.abort_multipart(key, upload_id)
                except Exception:  # noqa: BLE001 - left to abort_stray_uploads
                    log.warning("could not abort the expired upload of %s; a later pass retries", key, exc_info=True)
            done += len(expired)
            if len(expired) < BATCH:
                return done

    async def abort_stray_uploads(self) -> int:
        """Abort multipart uploads under ``learning/incoming/`` that no open session owns, once past the grace."""
        cutoff = self.clock() - self.grace
        candidates = [u async for u in self.store.list_multipart(INCOMING_PREFIX)
                      if u.initiated is None or u.initiated < cutoff]
        done = 0
        for chunk in _chunks(candidates, BATCH):
            async with self.db.session(write=False) as session:
                stmt = select(UploadSession.store_upload_id).where(
                    UploadSession.store_upload_id.in_([u.upload_id for u in chunk]), UploadSession.status == "open")
                owned = set((await session.scalars(stmt)).all())
            for upload in chunk:
                if upload.upload_id not in owned:
                    await self.store.abort_multipart(upload.key, upload.upload_id)
                    done += 1
        return done

    async def delete_orphan_objects(self) -> int:
        """Delete objects under ``learning/incoming/`` older than the grace that no blob row names."""
        cutoff = self.clock() - self.grace
        done = 0
        batch: list[str] = []
        async for info in self.store.list_objects(INCOMING_PREFIX):
            if info.last_modified is not None and info.last_modified < cutoff:
                batch.append(info.key)
            if len(batch) >= BATCH:
                done += await self._delete_unreferenced(batch)
                batch = []
        if batch:
            done += await self._delete_unreferenced(batch)
        return done

    async def delete_orphan_packages(self) -> int:
        """Delete unpacked package folders no package row names, when all their files are past the grace."""
        cutoff = self.clock() - self.grace
        newest: dict[str, datetime | None] = {}
        async for info in self.store.list_objects(PACKAGES_PREFIX):
            folder, sep, _ = info.key[len(PACKAGES_PREFIX):].partition("/")
            if not sep:
                continue
            prefix = PACKAGES_PREFIX + folder
            seen = newest.get(prefix)
            if prefix not in newest or (info.last_modified is not None and (seen is None or info.last_modified > seen)):
                newest[prefix] = info.last_modified
        stale = [p for p, at in newest.items() if at is not None and at < cutoff]
        done = 0
        for chunk in _chunks(stale, BATCH):
            async with self.db.session(write=False) as session:
                stmt = select(Package.content_prefix).where(Package.content_prefix.in_(chunk))
                referenced = set((await session.scalars(stmt)).all())
            for prefix in chunk:
                if prefix not in referenced:
                    keys = [info.key async for info in self.store.list_objects(prefix + "/")]
                    for key in keys:
                        await self.store.delete(key)
                    done += len(keys)
        return done

    async def _delete_unreferenced(self, keys: list[str]) -> int:
        async with self.db.session(write=False) as session:
            referenced = set((await session.scalars(select(Blob.object_key).where(Blob.object_key.in_(keys)))).all())
        orphans = [k for k in keys if k not in referenced]
        for key in orphans:
            await self.store.delete(key)
        return len(orphans)


def _chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def sweeper_worker(*, interval_seconds: float = DEFAULT_INTERVAL_SECONDS, grace_seconds: float = DEFAULT_GRACE_SECONDS,
                   initial_delay_seconds: float = DEFAULT_INITIAL_DELAY_SECONDS) -> Callable[[FastAPI], LeasedWorker[bool]]:
    """A background worker factory for ``create_service_app(background=[...])``. Settings named
    ``sweeper_interval_seconds``, ``sweeper_grace_seconds`` and ``sweeper_initial_delay_seconds``, when the
    service's settings have them, override the arguments. The sweeper runs on the app's clock."""

    def build(app: FastAPI) -> LeasedWorker[bool]:
        settings = app.state.settings
        clock = app.state.clock
        sweeper = Sweeper(app.state.db, app.state.store,
                          grace=timedelta(seconds=getattr(settings, "sweeper_grace_seconds", grace_seconds)),
                          clock=clock.now, sleep=clock.sleep,
                          retry=RetryPolicy(max_delay=getattr(settings, "retry_max_delay_seconds", 60.0)))
        return sweeper.worker(getattr(settings, "sweeper_interval_seconds", interval_seconds),
                              getattr(settings, "sweeper_initial_delay_seconds", initial_delay_seconds))

    return build


#: the worker with the defaults (hourly, 24 hours' grace): ``background=[run_sweeper]``
run_sweeper = sweeper_worker()
