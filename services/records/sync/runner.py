"""The sync-job worker: claims a job with a lease, applies its rows in committed chunks, survives crashes.

* **Claim**: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite has one writer anyway) of a job that is
  queued, or running with an expired lease (its replica died). Any replica may run any job; two never run the same.
* **accept_valid**: rows are applied chunk by chunk; each chunk's rows, its row errors, the counts and
  ``applied_through`` (the last row of the chunk) commit in one transaction. A job resumed after a crash starts
  after ``applied_through``, so no row is applied twice and none is skipped. The lease is renewed every chunk.
* **all_or_nothing**: all rows in one transaction, which also holds the job row's lock; any row error rolls the
  lot back and the errors are recorded. A crash rolls back too, and the job starts again from its first row. On
  SQLite (one writer at a time) an upload of grades only is validated first without the write lock, so a broken
  upload never holds it; a valid one is applied in one write transaction (validated again under the lock).
* **Ahead of the write** (PostgreSQL): while a chunk of grades is being written, the next chunk is read and, if it
  holds grades only, validated on a read-only session of its own. The validation reads the catalogue, learners and
  enrolments, which a chunk of grades does not change; existing grades (the audit's ``old``) are read and locked
  only in the writing transaction. After any other chunk, the next is read only once it has committed.
* **Transient failures** (a lost or refused database connection, identity unreachable or answering 5xx / 408 / 429,
  a timeout: :mod:`services.common.retry`): the job is not failed. What the failed transaction wrote rolls back (in
  accept_valid, that chunk only: the committed ones stay, and ``applied_through`` says where to resume); the job
  shows ``waiting: <reason>`` and is released to be claimed again after a capped back-off (1 s doubling to
  ``retry_max_delay_seconds``); it fails only once it has waited ``retry_give_up_seconds`` (an hour) without a
  chunk committing. If even that cannot be recorded (the database is down), its lease runs out and it is claimed
  again all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Generator, Iterable, Iterator
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.common.clock import Clock
from services.common.db import claim_query, unleased, utcnow
from services.common.errors import AppError
from services.common.identity_client import IdentityClient
from services.common.retry import RetryPolicy, transient_reason
from services.common.worker import LeasedWorker
from services.records.context import RecordsContext
from services.records.grades.repository import GradesExist
from services.records.learners.schemas import LearnerRow
from services.records.learners.service import RESOLVE_BATCH, PersonResolver, person_in
from services.records.models import SyncJob, SyncJobError, SyncJobProgress
from services.records.sync import apply, oneroster, parsers, repository
from services.records.sync.apply import PreparedGrades
from services.records.sync.items import SOURCED_IDS, YIELD_EVERY, Item, Outcome
from services.records.workspace.service import Workspace

log = logging.getLogger("services.records.sync")


#: generation-0 threshold of the cyclic garbage collector while a job runs (Python's default is 700)
GC_THRESHOLD = 50_000


@contextlib.contextmanager
def bulk_collector() -> Iterator[None]:
    """Tunes the cyclic garbage collector for a sync job, which allocates millions of short-lived objects that hold
    no cycles (rows, dicts, tuples): the objects alive when the job starts (the framework, modules, caches) are
    frozen out of the collector's scans, and generation 0 is collected every 50,000 allocations rather than 700.
    Measured on a 50,000-row grade sync: the collector went from about 45% of the worker's CPU to under 10%.
    Undone when the job ends (the frozen objects go back to the oldest generation)."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], GC_THRESHOLD), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


class LeaseLost(Exception):
    pass


class Rollback(Exception):
    pass


def identity_resolver(identity: IdentityClient) -> PersonResolver:
    """Resolves persons through identity (the app's :class:`~services.common.identity_client.IdentityClient`).
    Identity unavailable, or refusing this service's token even after fetching a fresh one, is a 503 the retry rules
    know as transient (a job waits, a request answers 503 with ``Retry-After``); any other unexpected answer is an
    error."""

    async def resolve(persons: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return await identity.resolve_persons(persons)

    return resolve


def _person_key(person: dict[str, Any]) -> str:
    return json.dumps(person, sort_keys=True, default=str)


class ResolvedAhead:
    """Identity's answers for learner rows, asked *before* the transaction that writes them opens (no call to another
    service while a write transaction holds its locks), then replayed to :func:`~services.records.sync.apply.apply_chunk`
    as its resolver. A person not asked ahead (none should be) is asked when the chunk needs it."""

    def __init__(self, resolve: PersonResolver) -> None:
        self.resolve = resolve
        self.answers: dict[str, dict[str, Any]] = {}

    async def ask(self, items: Iterable[Item]) -> None:
        """Resolves the persons of ``items``' learner rows (rows that do not parse are left to the apply, which
        reports them), :data:`~services.records.learners.service.RESOLVE_BATCH` per call."""
        wanted: dict[str, dict[str, Any]] = {}
        for item in items:
            if item.entity != "learners" or item.errors or item.data is None:
                continue
            try:
                row = LearnerRow.model_validate(item.data)
            except ValidationError:
                continue
            person = person_in(row.id_number, row.full_name, row.date_of_birth, row.sex, row.birth_place)
            key = _person_key(person)
            if key not in self.answers:
                wanted.setdefault(key, person)
            if len(wanted) >= RESOLVE_BATCH:
                await self._ask(list(wanted.values()))
                wanted.clear()
        if wanted:
            await self._ask(list(wanted.values()))

    async def _ask(self, persons: list[dict[str, Any]]) -> None:
        for person, answer in zip(persons, await self.resolve(persons), strict=True):
            self.answers[_person_key(person)] = answer

    async def __call__(self, persons: list[dict[str, Any]]) -> list[dict[str, Any]]:
        missing = {k: p for p in persons if (k := _person_key(p)) not in self.answers}
        if missing:
            await self._ask(list(missing.values()))
        return [self.answers[_person_key(p)] for p in persons]


class SyncRunner:
    def __init__(self, ctx: RecordsContext) -> None:
        self.ctx = ctx
        self.db = ctx.db
        settings = ctx.settings
        self.chunk_rows: int = settings.sync_chunk_rows
        self.lease = timedelta(seconds=settings.sync_lease_seconds)
        self.poll = settings.sync_poll_seconds
        #: grades written set-based (COPY into a staging table, one INSERT … ON CONFLICT) on PostgreSQL
        self.bulk = self.db.dialect == "postgresql" and settings.sync_bulk_writes
        #: an accept_valid job's chunks of grades COPY'd as new at once (no read of the stored grades, no savepoint)
        #: until one finds a grade stored (``grades.repository`` "Optimistic")
        self.optimistic = True
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.limits = parsers.Limits(
            max_depth=settings.max_json_depth, max_row_values=settings.sync_max_row_values,
            max_token_bytes=settings.sync_max_token_bytes, max_member_bytes=settings.sync_zip_max_member_bytes,
            max_ratio=settings.sync_zip_max_ratio,
        )
        self.retry = RetryPolicy(max_delay=settings.retry_max_delay_seconds, give_up_after=settings.retry_give_up_seconds)
        self._wake = asyncio.Event()
        #: (rows read, rows rejected) of the all_or_nothing jobs this process runs, whose counts commit only at
        #: their end; on PostgreSQL also written to ``sync_job_progress`` for every replica to read
        self.progress: dict[uuid.UUID, tuple[int, int]] = {}

    @property
    def clock(self) -> Clock:
        return self.ctx.clock

    def nudge(self) -> None:
        """A new job: the worker claims it now rather than at its next poll."""
        self._wake.set()

    def worker(self) -> LeasedWorker[SyncJob]:
        """The sync worker (:class:`~services.common.worker.LeasedWorker`, leased items): claims the oldest due job
        under its lease (:meth:`claim`) and processes it, then the next at once; with nothing due it waits
        ``sync_poll_seconds`` or until :meth:`nudge`. The lease is renewed with every chunk's commit and, on
        PostgreSQL, heartbeated every third of ``sync_lease_seconds`` while the job runs (its download, its
        counting, a long all_or_nothing transaction: :meth:`heartbeat`); a job whose lease another worker took
        over stops (``LeaseLost``). Transient failures are waited out per job (:meth:`_wait_out`); a round that
        fails to claim (the database) backs off by the retry policy."""
        beat = self.db.dialect == "postgresql"
        return LeasedWorker("records sync", claim=self.claim, work=self._work, poll_seconds=self.poll, policy=self.retry,
                            clock=lambda: self.clock, wake=self._wake, logger=log,
                            heartbeat=self.heartbeat if beat else None, heartbeat_seconds=self.lease.total_seconds() / 3)

    async def run_forever(self) -> None:
        """:meth:`worker` run in the caller's task until it is cancelled."""
        await self.worker().run()

    async def _work(self, job: SyncJob) -> bool:
        await self.process(job)
        return True

    async def heartbeat(self, job: SyncJob) -> bool:
        """Extend the job's lease; False if another worker holds it now. A job row locked by a transaction (this
        worker's chunk or all_or_nothing transaction, which holds it for its whole length) is skipped, not waited
        for: while that lock is held no other worker can claim the job anyway."""
        now = self.clock.now()
        async with self.db.session(write=True) as s:
            row = await s.scalar(select(SyncJob).where(SyncJob.id == job.id).with_for_update(skip_locked=True))
            if row is None:
                return True
            if row.locked_by == self.worker_id:
                row.locked_until = now + self.lease
                return True
            # released (the job ended, or waits out an outage) is not lost; running under another worker is
            return not (row.status == "running" and row.locked_by is not None)

    async def run_once(self) -> bool:
        job = await self.claim()
        if job is None:
            return False
        await self.process(job)
        return True

    async def claim(self) -> SyncJob | None:
        now = self.clock.now()
        async with self.db.session(write=True) as s:
            stmt = (
                select(SyncJob)
                .where(SyncJob.status.in_(("queued", "running")), unleased(SyncJob.locked_until, now))
                .order_by(SyncJob.created_at)
                .limit(1)
            )
            job = await s.scalar(claim_query(self.db, stmt))
            if job is None:
                return None
            job.status, job.locked_by, job.locked_until = "running", self.worker_id, now + self.lease
            job.attempts += 1
            job.started_at = job.started_at or now
            return job

    async def _download(self, job: SyncJob, target: Path) -> None:
        with target.open("wb") as f:
            async for chunk in self.ctx.store.get(job.object_key):
                f.write(chunk)

    def _items(self, job: SyncJob, path: Path, outline: dict[str, int] | None = None,
               known: repository.Known | None = None) -> Iterator[Item]:
        if job.format == "json":
            return parsers.json_items(path, outline)
        if job.format == "csv":
            return parsers.csv_items(path, job.entity or "", self.limits)
        return oneroster.items(path, job.institution_code, known, self.limits)

    async def _remembered_ids(self, job: SyncJob, path: Path) -> repository.Known:
        """The institution's remembered OneRoster sourcedIds that the zip names without carrying them (a delta's
        users, classes, line items…): only those ids are read, in batches; then, for a ``tobedeleted`` result or
        enrollment that carried only its own sourcedId, the ids it was remembered with."""
        wanted = oneroster.references(path, self.limits)
        if not wanted:
            return {}
        async with self.db.session(write=False) as s:
            known = await repository.lookup(s, job.institution_code, wanted)
            more = oneroster.referenced_by(known)
            if any(more.values()):
                known |= await repository.lookup(s, job.institution_code, more)
        return known

    async def process(self, job: SyncJob) -> None:
        with bulk_collector():
            try:
                await self._process(job)
            finally:
                with contextlib.suppress(Exception):  # a leftover row is harmless: read only while the job runs
                    await self._forget_progress(job.id)

    async def _process(self, job: SyncJob) -> None:
        try:
            with tempfile.TemporaryDirectory(prefix="records-sync-") as tmp:
                path = Path(tmp) / "upload"
                await self._download(job, path)
                known = None
                if job.format == "oneroster":
                    await self._update(job.id, processing=oneroster.processing_mode(path, self.limits))
                    known = await self._remembered_ids(job, path)
                # a JSON batch's shape is checked whole before any row is applied (and its rows counted)
                outline = parsers.json_outline(path, self.limits) if job.format == "json" else None
                if job.rows_total is None:
                    total = sum(outline.values()) if outline is not None else parsers.count_rows(path, job.format, job.entity, self.limits)
                    if total is None:
                        total = sum(1 for i in self._items(job, path, known=known) if i.entity != SOURCED_IDS)
                    await self._update(job.id, rows_total=total)
                items = (i for i in self._items(job, path, outline, known) if i.seq > job.applied_through)
                if job.mode == "all_or_nothing":
                    if not self.bulk and await self._rejected_before_writing(job, self._items(job, path, outline, known)):
                        return
                    # identity is asked for every learner row now, before the job's one transaction opens
                    resolver = ResolvedAhead(self.ctx.person_resolver)
                    if outline is None or outline.get("learners"):
                        ahead = self._items(job, path, outline, known)
                        try:
                            await resolver.ask(ahead)
                        finally:
                            if isinstance(ahead, Generator):
                                ahead.close()
                    await self._all_or_nothing(job, items, resolver)
                else:
                    await self._accept_valid(job, items)
        except LeaseLost:
            log.warning("sync job %s: lease lost to another worker; stopping here", job.id)
        except parsers.UploadError as err:
            await self._fail(job, f"{err.field}: {err.message}", [(err.row, "file", err.field, err.message)])
        except Exception as exc:
            if (reason := transient_reason(exc)) is not None:
                await self._wait_out(job, reason)
            elif isinstance(exc, AppError):
                await self._fail(job, exc.detail, [])
            else:  # a bug: keep the job, say so, never retry blindly
                log.exception("sync job %s failed", job.id)
                await self._fail(job, f"internal error ({type(exc).__name__}); the rows of committed chunks stay applied", [])

    async def _wait_out(self, job: SyncJob, reason: str) -> None:
        """A transient failure: the job shows ``waiting: <reason>`` and is released until the back-off has passed
        (any worker may take it then), or fails if it has waited ``retry_give_up_seconds`` without progress. If the
        database cannot record even that, the job's lease runs out and it is taken again all the same."""
        now = self.clock.now()
        try:
            async with self.db.session(write=True) as s:
                row = await s.get(SyncJob, job.id)
                if row is None or row.locked_by != self.worker_id or row.status != "running":
                    return
                since = row.waiting_since or now
                waited = (now - since).total_seconds()
                if self.retry.gives_up(waited):
                    log.warning("sync job %s failed after waiting %.0f s: %s", job.id, waited, reason)
                    row.status, row.finished_at, row.locked_until, row.locked_by = "failed", utcnow(), None, None
                    row.error = f"gave up after {waited / 60:.0f} minutes without progress; last: {reason}"[:4000]
                    return
                delay = self.retry.delay_after_waiting(waited)
                row.waiting, row.waiting_since = reason[:1000], since
                row.locked_until, row.locked_by = now + timedelta(seconds=delay), None
            log.warning("sync job %s waits %.0f s: %s", job.id, delay, reason)
        except Exception as exc:
            log.warning("sync job %s waits (%s) and could not say so (%s); its lease runs out and it is taken again",
                        job.id, reason, transient_reason(exc) or type(exc).__name__)

    async def _update(self, job_id: uuid.UUID, **values: Any) -> None:
        async with self.db.session(write=True) as s:
            job = await s.get(SyncJob, job_id)
            if job is not None:
                for k, v in values.items():
                    setattr(job, k, v)

    async def _fail(self, job: SyncJob, message: str, errors: list[tuple[int, str, str, str]]) -> None:
        async with self.db.session(write=True) as s:
            row = await s.get(SyncJob, job.id)
            if row is None:
                return
            row.status, row.error, row.finished_at, row.locked_until, row.locked_by = "failed", message[:4000], utcnow(), None, None
            row.waiting = None
            if errors:
                await s.execute(insert(SyncJobError), [
                    {"id": uuid.uuid4(), "job_id": job.id, "row": r, "source": src, "field": f, "message": m[:1000], "created_at": utcnow()}
                    for r, src, f, m in errors
                ])

    async def _locked_job(self, s: Any, job_id: uuid.UUID) -> SyncJob:
        stmt = select(SyncJob).where(SyncJob.id == job_id)
        if self.db.dialect == "postgresql":
            stmt = stmt.with_for_update()
        job = await s.scalar(stmt)
        if job is None or job.locked_by != self.worker_id:
            raise LeaseLost()
        return job

    def _workspace(self, s: Any, job: SyncJob, *, bulk: bool | None = None) -> Workspace:
        """What a chunk's writes share (one per transaction)."""
        source = "oneroster" if job.format == "oneroster" else "sync"
        return Workspace(s, job.institution_code, actor=job.created_by, source=source, job_id=job.id,
                         bulk=self.bulk if bulk is None else bulk)

    @staticmethod
    def _error_rows(job_id: uuid.UUID, outcomes: list[Outcome]) -> list[dict[str, Any]]:
        now = utcnow()
        return [
            {"id": uuid.uuid4(), "job_id": job_id, "row": o.item.row, "source": o.item.source, "field": f[:100], "message": m[:1000], "created_at": now}
            for o in outcomes if o.result == "rejected" for f, m in (o.errors or [("row", "rejected")])
        ]

    @staticmethod
    def _count(job: SyncJob, outcomes: list[Outcome]) -> None:
        outcomes = [o for o in outcomes if o.result != "remembered"]  # sourcedIds only: no row of the upload
        tally = {"created": 0, "updated": 0, "deleted": 0, "unchanged": 0, "rejected": 0, "pending": 0}
        for o in outcomes:
            tally[o.result] = tally.get(o.result, 0) + 1
        job.rejected += tally["rejected"]
        job.created += tally["created"]
        job.updated += tally["updated"] + tally["deleted"]
        job.unchanged += len(outcomes) - tally["rejected"] - tally["created"] - tally["updated"] - tally["deleted"]
        job.rows_read += len(outcomes)

    # -- chunks: read, validated ahead, written ----------------------------------------------------------------
    async def _read_chunk(self, items: Iterator[Item]) -> list[Item]:
        chunk: list[Item] = []
        while len(chunk) < self.chunk_rows:
            piece = list(islice(items, min(YIELD_EVERY, self.chunk_rows - len(chunk))))
            if not piece:
                break
            chunk += piece
            await asyncio.sleep(0)  # a write in flight goes on meanwhile
        return chunk

    async def _next(self, job: SyncJob, items: Iterator[Item], *, ahead: bool) -> tuple[list[Item], PreparedGrades | None]:
        """The next chunk and, if it holds grade rows only and ``ahead`` allows (no uncommitted change the
        validation would need to see), its rows validated and graded on a read-only session of their own
        (:func:`~services.records.sync.apply.prepare_grades`)."""
        chunk = await self._read_chunk(items)
        if not (ahead and self.bulk and chunk and apply.grades_only(chunk)):
            return chunk, None
        async with self.db.session(write=False) as s:
            return chunk, await apply.prepare_grades(self._workspace(s, job, bulk=True), chunk)

    def _ahead(self, job: SyncJob, items: Iterator[Item], *, ahead: bool = True) -> asyncio.Task[tuple[list[Item], PreparedGrades | None]]:
        return asyncio.ensure_future(self._next(job, items, ahead=ahead))

    @staticmethod
    async def _cancel(task: asyncio.Task[Any] | None) -> None:
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _accept_valid(self, job: SyncJob, items: Iterator[Item]) -> None:
        """Chunk by chunk, each in its own transaction. While a chunk of grades is being written, the next chunk is
        read and validated (PostgreSQL): the validation needs only what a chunk of grades does not change."""
        task: asyncio.Task[tuple[list[Item], PreparedGrades | None]] | None = self._ahead(job, items)
        #: new grades are COPY'd without reading the stored ones first until a chunk finds one stored
        optimistic = self.bulk and self.optimistic
        try:
            while True:
                assert task is not None
                chunk, prepared = await task
                task = None
                if not chunk:
                    break
                resolver: ResolvedAhead | None = None
                if prepared is not None:
                    task = self._ahead(job, items)
                else:  # identity is asked now, before the chunk's transaction opens
                    resolver = ResolvedAhead(self.ctx.person_resolver)
                    await resolver.ask(chunk)
                try:
                    await self._commit_chunk(job, chunk, prepared, resolver, optimistic=optimistic and prepared is not None)
                except GradesExist:  # rolled back: the chunk again, reading (and locking) the stored grades first
                    optimistic = False
                    await self._commit_chunk(job, chunk, prepared, resolver, optimistic=False)
                if task is None:  # this chunk may have changed what the next one is validated against
                    task = self._ahead(job, items)
        finally:
            await self._cancel(task)
        async with self.db.session(write=True) as s:
            row = await self._locked_job(s, job.id)
            row.status = "succeeded" if row.rejected == 0 else "completed_with_errors"
            row.finished_at, row.locked_until, row.locked_by, row.error = utcnow(), None, None, None
            row.waiting = row.waiting_since = None

    async def _commit_chunk(self, job: SyncJob, chunk: list[Item], prepared: PreparedGrades | None,
                            resolver: ResolvedAhead | None, *, optimistic: bool) -> None:
        """One chunk of an accept_valid job in its own transaction: its rows, its row errors, the counts and
        ``applied_through``. ``optimistic``: the prepared grades are COPY'd as new without reading the stored ones
        (:class:`~services.records.grades.repository.GradesExist` if one was stored; nothing of the chunk stays)."""
        async with self.db.session(write=True) as s:
            row = await self._locked_job(s, job.id)
            ws = self._workspace(s, row)
            ws.optimistic = optimistic
            outcomes = await (apply.write_prepared(ws, prepared) if prepared is not None
                              else apply.apply_chunk(ws, chunk, resolver))
            errors = self._error_rows(job.id, outcomes)
            if errors:
                await s.execute(insert(SyncJobError), errors)
            self._count(row, outcomes)
            row.applied_through = chunk[-1].seq
            row.locked_until = self.clock.now() + self.lease
            row.waiting = row.waiting_since = None  # progress: an outage before this one is over

    async def _note_progress(self, job_id: uuid.UUID, tally: SyncJob) -> None:
        """Progress of an all_or_nothing job, outside its transaction: in this process, and on PostgreSQL in a row
        of its own committed at once (SQLite's one write lock is the job's until it ends, so there it stays here).
        It never goes back: on SQLite the rows read by the validation pass stay read while the write pass runs."""
        if (job_id in self.progress and self.progress[job_id] >= (tally.rows_read, tally.rejected)):
            return
        self.progress[job_id] = (tally.rows_read, tally.rejected)
        if self.db.dialect != "postgresql":
            return
        values = {"rows_read": tally.rows_read, "rejected": tally.rejected, "updated_at": utcnow()}
        stmt = pg_insert(SyncJobProgress).values(job_id=job_id, **values)
        async with self.db.autocommit() as conn:
            await conn.execute(stmt.on_conflict_do_update(index_elements=["job_id"], set_=values))

    async def _forget_progress(self, job_id: uuid.UUID) -> None:
        if self.progress.pop(job_id, None) is not None and self.db.dialect == "postgresql":
            async with self.db.autocommit() as conn:
                await conn.execute(delete(SyncJobProgress).where(SyncJobProgress.job_id == job_id))

    async def _rejected_before_writing(self, job: SyncJob, items: Iterator[Item]) -> bool:
        """SQLite has one writer at a time, and an all_or_nothing job holds the write lock from its first row to its
        last. An upload of grades only is therefore validated first, in short read transactions that take no write
        lock: if any row is broken, the job fails here (True) with every row error, having locked nothing but the
        moment it takes to record them. Otherwise (False; also at once for uploads with other record types, whose
        rows need the earlier rows written to be validated) the rows are applied in the one write transaction,
        which validates them again, so what is written is checked against the data as it is under the lock."""
        errors: list[dict[str, Any]] = []
        tally = SyncJob(rows_read=0, created=0, updated=0, unchanged=0, rejected=0)
        try:
            while chunk := await self._read_chunk(items):
                if not apply.grades_only(chunk):
                    return False
                async with self.db.session(write=False) as s:
                    prepared = await apply.prepare_grades(self._workspace(s, job, bulk=True), chunk)
                errors += self._error_rows(job.id, prepared.outcomes)
                self._count(tally, prepared.outcomes)
                await self._note_progress(job.id, tally)
        finally:
            if isinstance(items, Generator):
                items.close()  # its files (a zip, a scratch database) are closed now, not when it is collected
        if not errors:
            return False  # the write pass follows; the progress is forgotten when the job ends (process)
        await self._record_rejection(job, errors, tally)
        return True

    async def _record_rejection(self, job: SyncJob, errors: list[dict[str, Any]], tally: SyncJob) -> None:
        async with self.db.session(write=True) as s:
            row = await self._locked_job(s, job.id)
            await s.execute(insert(SyncJobError), errors)
            row.rows_read, row.rejected = tally.rows_read, tally.rejected
            row.status, row.finished_at, row.locked_until, row.locked_by = "failed", utcnow(), None, None
            row.error = f"{tally.rejected} row(s) are not valid; nothing was applied (all_or_nothing)"
            row.waiting = row.waiting_since = None

    async def _all_or_nothing(self, job: SyncJob, items: Iterator[Item], resolver: PersonResolver) -> None:
        """One transaction. Chunks of grades are validated ahead of their write (outside the transaction) as long as
        the transaction has written nothing but grades; once a row is found broken, such chunks are only validated,
        not written (everything rolls back anyway), so every row error is still reported."""
        errors: list[dict[str, Any]] = []
        tally = SyncJob(rows_read=0, created=0, updated=0, unchanged=0, rejected=0)
        task: asyncio.Task[tuple[list[Item], PreparedGrades | None]] | None = None
        try:
            async with self.db.session(write=True) as s:
                row = await self._locked_job(s, job.id)
                ws = self._workspace(s, row)
                grades_only = True  # what this transaction wrote so far: grades only (committed state is current)
                task = self._ahead(job, items)
                while True:
                    chunk, prepared = await task
                    task = None
                    if not chunk:
                        break
                    if prepared is not None:
                        task = self._ahead(job, items)
                        outcomes = prepared.outcomes if errors else await apply.write_prepared(ws, prepared)
                    else:
                        grades_only = grades_only and apply.grades_only(chunk)
                        outcomes = await apply.apply_chunk(ws, chunk, resolver)
                        task = self._ahead(job, items, ahead=grades_only)
                    errors += self._error_rows(job.id, outcomes)
                    self._count(tally, outcomes)
                    await self._note_progress(job.id, tally)
                    if ws.cached_rows() > 50_000:
                        ws.forget_cached_rows()
                if errors:
                    raise Rollback()
                row.rows_read, row.created, row.updated, row.unchanged, row.rejected = (
                    tally.rows_read, tally.created, tally.updated, tally.unchanged, 0)
                row.applied_through = row.rows_total or tally.rows_read
                row.status, row.finished_at, row.locked_until, row.locked_by, row.error = "succeeded", utcnow(), None, None, None
                row.waiting = row.waiting_since = None
        except Rollback:
            await self._record_rejection(job, errors, tally)
        finally:
            await self._cancel(task)
