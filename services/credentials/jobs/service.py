"""Batch issuing jobs: a cohort's credentials stored as job items, then issued chunk by chunk by a worker that any
replica may run (claimed under a lease, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so a job survives the death of
the replica running it. Items go through the same idempotent path as single issuing: replaying a batch issues
nothing twice.

Transient failures (a lost or refused database connection, identity unreachable or answering 5xx / 408 / 429, a
timeout: :mod:`services.common.retry`) never fail a job or an item: the chunk's transaction rolls back (the
committed chunks stay), the job shows ``waiting: <reason>`` and is released to be claimed again after a capped
back-off (1 s doubling to ``retry_max_delay_seconds``); it fails only after ``retry_give_up_seconds`` (an hour)
without a chunk committing."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import SYSTEM_CLOCK, Clock
from services.common.db import Database, claim_query, unleased, utcnow
from services.common.errors import AppError, NotFound, ValidationFailed
from services.common.pagination import Page, PageParams, paginate
from services.common.retry import RetryPolicy, transient_reason
from services.common.service_client import ServiceTokenProvider
from services.common.worker import LeasedWorker
from services.credentials.context import CredentialsContext
from services.credentials.issuing import sealing
from services.credentials.issuing import service as issuing
from services.credentials.issuing.schemas import BatchIssue, CredentialIssue, item_errors
from services.credentials.jobs import repository
from services.credentials.jobs.schemas import IssueJobItemRead, IssueJobRead
from services.credentials.models import IssueJob, IssueJobItem

log = logging.getLogger("services.credentials.jobs")


def to_read(job: IssueJob) -> IssueJobRead:
    return IssueJobRead(
        id=job.id, institution_code=job.institution_code, source=job.source, state=job.state, total=job.total,
        processed=job.processed, issued=job.issued, existing=job.existing, failed=job.failed,
        progress=round(job.processed / job.total, 4) if job.total else 1.0, error=job.error,
        waiting=job.waiting, waiting_since=job.waiting_since,
        created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
    )


def item_read(item: IssueJobItem) -> IssueJobItemRead:
    return IssueJobItemRead(position=item.position, state=item.state, credential_id=item.credential_id, errors=item.errors)


async def create(session: AsyncSession, ctx: CredentialsContext, principal: Principal, body: BatchIssue) -> IssueJob:
    issuing.ensure_may_issue(principal, body.institution_code)
    if len(body.credentials) > ctx.settings.batch_max_items:
        raise ValidationFailed(f"At most {ctx.settings.batch_max_items} credentials per batch.",
                               errors=[{"field": "credentials", "message": "too many items"}])
    errors: list[dict[str, Any]] = []
    for i, item in enumerate(body.credentials):
        if item.institution_code != body.institution_code:
            errors.append({"field": f"credentials.{i}.institution_code", "message": f"must be {body.institution_code}, the batch's institution"})
        errors.extend(item_errors(item, f"credentials.{i}."))
    if errors:
        raise ValidationFailed(f"{len(errors)} problem(s) in the batch; nothing was queued.", errors=errors[:1000])
    from services.credentials.issuers import service as issuers

    await issuers.ensure(session, ctx, body.institution_code)  # an unknown institution is refused now, not later
    job = IssueJob(id=uuid.uuid4(), institution_code=body.institution_code, requested_by=principal.sub, source="request",
                   state="queued", total=len(body.credentials), processed=0, issued=0, existing=0, failed=0)
    session.add(job)
    await session.flush()
    # stored without the holders' ID numbers: each is sealed into its salted hash now (issuing/sealing.py)
    secret = ctx.settings.secret_key
    rows = [{"id": uuid.uuid4(), "job_id": job.id, "position": i, "payload": sealing.seal_item(secret, item), "state": "pending"}
            for i, item in enumerate(body.credentials)]
    await repository.add_items(session, rows)
    return job


async def create_from_event(session: AsyncSession, event_id: uuid.UUID, institution_code: str, payload: dict[str, Any]) -> IssueJob:
    """One credential asked for by an event; the worker validates and issues it (problems stay on the job)."""
    job = IssueJob(id=uuid.uuid4(), institution_code=institution_code[:20], requested_by="event", source="event",
                   source_event_id=event_id, state="queued", total=1, processed=0, issued=0, existing=0, failed=0)
    session.add(job)
    await session.flush()
    session.add(IssueJobItem(job_id=job.id, position=0, payload=payload, state="pending"))
    return job


async def jobs_page(session: AsyncSession, principal: Principal, institution_code: str, page: PageParams, *,
                    source: str | None = None, source_event_id: uuid.UUID | None = None,
                    with_failures: bool = False) -> Page[IssueJobRead]:
    """An institution's jobs, newest first (its issuing staff and systems, or credentials admins): among them the
    ones events became, whose refused items say why the event issued nothing."""
    if not principal.has_scope("credentials:admin"):
        issuing.ensure_may_issue(principal, institution_code)
    stmt = repository.institution_jobs(institution_code, source=source, source_event_id=source_event_id, with_failures=with_failures)
    return await paginate(session, stmt, repository.JOB_ORDER, page, descending=True, transform=to_read)


async def items_page(session: AsyncSession, principal: Principal, job_id: uuid.UUID, page: PageParams,
                     state: str | None = None) -> Page[IssueJobItemRead]:
    """A job's per-item results, in the batch's order (to those who may read the job)."""
    await get_for(session, principal, job_id)
    return await paginate(session, repository.job_items(job_id, state), repository.ITEM_ORDER, page, transform=item_read)


async def get_for(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> IssueJob:
    job = await repository.by_id(session, job_id)
    if job is None:
        raise NotFound(f"No issue job {job_id}.")
    if not principal.has_scope("credentials:admin"):
        try:
            issuing.ensure_may_issue(principal, job.institution_code)
        except AppError:
            raise NotFound(f"No issue job {job_id}.") from None
    return job


class JobRunner:
    """Claims due jobs and works through them; ``run_forever`` is started with the app."""

    def __init__(self, db: Database, ctx: CredentialsContext, tokens: ServiceTokenProvider | None = None,
                 clock: Callable[[], Clock] | None = None) -> None:
        self.db = db
        self.ctx = ctx
        self.tokens = tokens
        self._clock = clock
        settings = ctx.settings
        self.retry = RetryPolicy(max_delay=settings.retry_max_delay_seconds, give_up_after=settings.retry_give_up_seconds)

    @property
    def clock(self) -> Clock:
        return self._clock() if self._clock is not None else SYSTEM_CLOCK

    async def _claim(self) -> uuid.UUID | None:
        now = self.clock.now()
        async with self.db.session(write=True) as session:
            stmt = (
                select(IssueJob)
                .where(IssueJob.state.in_(("queued", "running")), unleased(IssueJob.locked_until, now))
                .order_by(IssueJob.created_at)
                .limit(1)
            )
            job = await session.scalar(claim_query(self.db, stmt))
            if job is None:
                return None
            job.state = "running"
            job.started_at = job.started_at or now
            job.locked_until = now + timedelta(seconds=self.ctx.settings.job_lease_seconds)
            return job.id

    async def _holder_from_identity(self, person_id: str) -> dict[str, Any] | None:
        """The holder as identity has the person; None if identity does not know them (or this service has no
        client credentials to ask with). Identity unavailable or refusing this service's token is transient
        (``services.common.identity_client``: a 503 the retry rules know): the item waits, it does not fail."""
        identity = self.ctx.identity
        if identity is None or not identity.authenticated:
            return None
        p = await identity.person(person_id)
        if p is None:
            return None
        return {k: v for k, v in {"full_name": p.get("full_name"), "date_of_birth": p.get("date_of_birth"),
                                  "gender": p.get("gender"), "birth_place": p.get("birth_place")}.items() if v}

    async def _ask_identity_ahead(self, job_id: uuid.UUID) -> dict[str, dict[str, Any] | None]:
        """What the next chunk needs from identity, asked before its write transaction opens (no call to another
        service while a write transaction holds its locks): the holders its items name only by ``person_id`` (by
        person id), and its institutions' registry entries (kept by the client for :func:`issuers.ensure`)."""
        from services.credentials.issuers import service as issuers

        async with self.db.session(write=False) as session:
            payloads = list((await session.scalars(
                select(IssueJobItem.payload).where(IssueJobItem.job_id == job_id, IssueJobItem.state == "pending")
                .order_by(IssueJobItem.position).limit(self.ctx.settings.job_chunk_size)
            )).all())
        holders: dict[str, dict[str, Any] | None] = {}
        codes: set[str] = set()
        for stored in payloads:
            payload = sealing.unseal(stored)[0]
            if isinstance(payload.get("institution_code"), str):
                codes.add(payload["institution_code"])
            if payload.get("holder") is None and payload.get("person_id") and str(payload["person_id"]) not in holders:
                holders[str(payload["person_id"])] = await self._holder_from_identity(str(payload["person_id"]))
        await issuers.registry_ahead(self.ctx, codes)
        return holders

    async def _parse(self, item: IssueJobItem, holders: dict[str, dict[str, Any] | None] | None = None) -> CredentialIssue | list[dict[str, Any]]:
        payload, sealed, fingerprint = sealing.unseal(item.payload)
        if isinstance(sealed, dict) and "error" in sealed:
            return [{"field": "holder.id_number", "message": str(sealed["error"])}]
        if payload.get("holder") is None and payload.get("person_id"):
            person_id = str(payload["person_id"])
            holder = holders[person_id] if holders is not None and person_id in holders else await self._holder_from_identity(person_id)
            if holder is None:
                return [{"field": "holder", "message": "the holder is not given and identity has no such person"}]
            payload["holder"] = holder
        try:
            return CredentialIssue.model_validate(payload).with_seal(sealed, fingerprint)
        except ValidationError as exc:
            return [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]

    async def process_chunk(self, job_id: uuid.UUID) -> bool:
        """Issues the next chunk of a job; False when the job has nothing left."""
        holders = await self._ask_identity_ahead(job_id)
        async with self.db.session(write=True) as session:
            job = await session.get(IssueJob, job_id)
            if job is None or job.state not in ("queued", "running"):
                return False
            items = list((await session.scalars(
                select(IssueJobItem).where(IssueJobItem.job_id == job_id, IssueJobItem.state == "pending")
                .order_by(IssueJobItem.position).limit(self.ctx.settings.job_chunk_size)
            )).all())
            if not items:
                job.state, job.finished_at, job.locked_until = "completed", utcnow(), None
                return False
            parsed: list[tuple[IssueJobItem, CredentialIssue]] = []
            for item in items:
                result = await self._parse(item, holders)
                if isinstance(result, list):
                    item.state, item.errors = "failed", result
                    job.failed += 1
                else:
                    parsed.append((item, result))
            by_institution: dict[str, list[tuple[IssueJobItem, CredentialIssue]]] = {}
            for item, cred in parsed:
                by_institution.setdefault(cred.institution_code, []).append((item, cred))
            for _code, group in by_institution.items():
                try:
                    outcomes = await issuing.issue_many(
                        session, self.ctx, [c for _, c in group], actor=job.requested_by,
                        prefixes=[f"credentials.{i.position}." for i, _ in group], job_id=job.id,
                        source_event_ids=[job.source_event_id if job.source == "event" else None for _ in group],
                    )
                except ValidationFailed as exc:  # e.g. the institution is unknown to the registry
                    for item, _ in group:
                        item.state, item.errors = "failed", exc.errors or [{"field": "institution_code", "message": exc.detail}]
                        job.failed += 1
                    continue
                for (item, _), outcome in zip(group, outcomes, strict=True):
                    item.state = outcome.status
                    item.credential_id = outcome.credential.id if outcome.credential else None
                    item.errors = outcome.errors or None
                    if outcome.status == "issued":
                        job.issued += 1
                    elif outcome.status == "existing":
                        job.existing += 1
                    else:
                        job.failed += 1
            job.processed += len(items)
            job.locked_until = self.clock.now() + timedelta(seconds=self.ctx.settings.job_lease_seconds)
            job.waiting = job.waiting_since = None  # progress: an outage before this one is over
            return True

    async def run_job(self, job_id: uuid.UUID) -> None:
        while True:
            try:
                more = await self.process_chunk(job_id)
            except Exception as exc:
                # transient, e.g. the database connection lost, identity down, or a concurrent issuer that won a
                # natural key (the next round sees it): the chunk rolled back; wait and go on
                if (reason := transient_reason(exc)) is not None:
                    await self._wait_out(job_id, reason)
                    return
                log.exception("issue job %s failed", job_id)
                async with self.db.session(write=True) as session:
                    job = await session.get(IssueJob, job_id)
                    if job is not None:
                        job.state, job.error, job.finished_at, job.locked_until = "failed", f"{type(exc).__name__}: {exc}"[:2000], utcnow(), None
                        job.waiting = None
                return
            if not more:
                return

    async def _wait_out(self, job_id: uuid.UUID, reason: str) -> None:
        """The job shows ``waiting: <reason>`` and is released until the back-off has passed (any replica may take it
        then), or fails once it has waited ``retry_give_up_seconds`` without progress. If the database cannot record
        even that, the job's lease runs out and it is taken again all the same."""
        now = self.clock.now()
        try:
            async with self.db.session(write=True) as session:
                job = await session.get(IssueJob, job_id)
                if job is None or job.state not in ("queued", "running"):
                    return
                since = job.waiting_since or now
                waited = (now - since).total_seconds()
                if self.retry.gives_up(waited):
                    log.warning("issue job %s failed after waiting %.0f s: %s", job_id, waited, reason)
                    job.state, job.finished_at, job.locked_until = "failed", utcnow(), None
                    job.error = f"gave up after {waited / 60:.0f} minutes without progress; last: {reason}"[:2000]
                    return
                delay = self.retry.delay_after_waiting(waited)
                job.waiting, job.waiting_since, job.locked_until = reason[:1000], since, now + timedelta(seconds=delay)
            log.warning("issue job %s waits %.0f s: %s", job_id, delay, reason)
        except Exception as exc:
            log.warning("issue job %s waits (%s) and could not say so (%s); its lease runs out and it is taken again",
                        job_id, reason, transient_reason(exc) or type(exc).__name__)

    async def run_once(self) -> int:
        job_id = await self._claim()
        if job_id is None:
            return 0
        await self.run_job(job_id)
        return 1

    def worker(self, poll_seconds: float) -> LeasedWorker[uuid.UUID]:
        """The job worker (:class:`~services.common.worker.LeasedWorker`, leased items): claims the oldest due job
        under its lease and works through it, then the next at once; with nothing due it waits ``poll_seconds``.
        The lease is renewed by each chunk's own commit (``process_chunk`` writes ``locked_until`` with the chunk),
        so there is no separate heartbeat; transient failures are waited out per job (:meth:`_wait_out`:
        ``waiting: <reason>``, failing after ``retry_give_up_seconds``), a round that fails to claim (the database)
        backs off by the retry policy."""
        return LeasedWorker("credentials issue jobs", claim=self._claim, work=self._work, poll_seconds=poll_seconds,
                            policy=self.retry, clock=lambda: self.clock, logger=log)

    async def _work(self, job_id: uuid.UUID) -> bool:
        await self.run_job(job_id)
        return True

    async def run_forever(self, poll_seconds: float) -> None:
        """:meth:`worker` run in the caller's task until it is cancelled."""
        await self.worker(poll_seconds).run()
