"""Transactional outbox and its delivery loop; the matching idempotent receiver lives in :mod:`events`.

:meth:`Outbox.emit` adds event rows to the caller's session, so they commit or roll back with the change they
report. :class:`OutboxDeliverer` claims due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL plus a lease, so any
replica can run it and two never send the same row at once), POSTs each as a CloudEvent with the service's own
client-credentials token and ``Idempotency-Key`` = event id. Delivery is at least once; receivers dedupe by event id.

Failures (the retry policy, README "Events and jobs through outages"):

* **transient** — a connection error, a timeout, HTTP 408, 429 or 5xx, the service's own token not obtainable:
  the event stays ``pending`` and is tried again after a capped exponential back-off (1 s doubling to
  ``max_delay``, 60 s by default; a receiver's ``Retry-After`` is honoured up to that cap). It never becomes dead.
* **in progress** — 409 with ``Retry-After``: the receiver is still processing an earlier delivery of the same event
  (its ``Idempotency-Key``), perhaps on a replica that died mid-request; tried again after ``Retry-After``.
* **permanent** — any other 4xx from the receiver (it refuses this event): the event becomes ``dead`` and stays
  listed (``GET /v1/admin/outbox?state=dead``) until re-driven (``POST /v1/admin/outbox/redrive``,
  ``python -m services outbox redrive``).
* **receiver down** (connection error, timeout, 502/503/504): while the delivery loop runs, the receiver's other
  events are held back instead of each failing on its own, and its ``/readyz`` is polled every
  ``health_poll_seconds``; when it answers 200 its events are due at once and the loop wakes. Held back at most
  ``max_delay``, so a receiver whose health endpoint cannot be reached is still tried that often.

:func:`outbox_stats` gives pending and dead counts and the lag of the oldest pending event (for metrics);
:func:`redrive` puts dead events back in the queue by filter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import SYSTEM_CLOCK, Clock
from services.common.db import Database, claim_query, unleased, utcnow
from services.common.models import OutboxEvent
from services.common.retry import TRANSIENT_STATUSES, RetryPolicy, transient_reason
from services.common.service_client import ServiceTokenProvider
from services.common.worker import LeasedWorker

log = logging.getLogger("services.outbox")

#: statuses that say the receiver itself is not there (rather than refusing or failing one event)
RECEIVER_DOWN_STATUSES = frozenset({502, 503, 504})


def cloud_event(row: OutboxEvent) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(row.id),
        "type": row.type,
        "source": row.source,
        "subject": row.subject,
        "time": row.created_at.isoformat(),
        "datacontenttype": "application/json",
        "data": row.data,
    }


class Outbox:
    """Writes events for later delivery. ``routes`` maps an event type (or a prefix ending in ``*``) to the
    receivers' ``/v1/events`` URLs."""

    def __init__(self, source: str, routes: dict[str, list[str]] | None = None) -> None:
        self.source = source
        self.routes = routes or {}

    def destinations(self, event_type: str) -> list[str]:
        out: list[str] = []
        for pattern, urls in self.routes.items():
            if pattern == event_type or (pattern.endswith("*") and event_type.startswith(pattern[:-1])):
                out.extend(u for u in urls if u not in out)
        return out

    def emit(
        self,
        session: AsyncSession,
        event_type: str,
        data: dict[str, Any],
        *,
        subject: str | None = None,
        destinations: Iterable[str] | None = None,
    ) -> list[OutboxEvent]:
        """Queue ``event_type`` for every receiver; nothing leaves unless the session's transaction commits."""
        rows = [
            OutboxEvent(
                id=uuid.uuid4(),
                type=event_type,
                source=self.source,
                subject=subject,
                data=data,
                destination=url,
                status="pending",
                attempts=0,
                next_attempt_at=utcnow(),
            )
            for url in (list(destinations) if destinations is not None else self.destinations(event_type))
        ]
        session.add_all(rows)
        return rows


def health_url(destination: str) -> str:
    """The receiver's readiness endpoint: ``…/v1/events`` → ``…/readyz`` (behind a path prefix too)."""
    url = httpx.URL(destination)
    path = url.path
    base = path[: -len("/v1/events")] if path.endswith("/v1/events") else ""
    return str(url.copy_with(path=base + "/readyz", query=None, fragment=None))


@dataclass(frozen=True)
class Attempt:
    """How one delivery attempt went."""

    delivered: bool = False
    #: the receiver refused the event for good (a 4xx other than 408 / 429): it becomes dead
    permanent: bool = False
    #: the receiver is not there (connection error, timeout, 502–504): hold its events back, poll its health
    receiver_down: bool = False
    error: str | None = None
    #: the receiver's ``Retry-After`` (seconds), if it sent one
    retry_after: float | None = None


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class OutboxDeliverer:
    def __init__(
        self,
        db: Database,
        client: httpx.AsyncClient,
        tokens: ServiceTokenProvider | None,
        *,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        batch_size: int = 50,
        lease_seconds: float = 60.0,
        timeout: float = 10.0,
        health_poll_seconds: float = 5.0,
        clock: Clock | Callable[[], Clock] | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.tokens = tokens
        self.policy = RetryPolicy(base=base_delay, max_delay=max_delay, give_up_after=0)
        self.batch_size = batch_size
        self.lease = timedelta(seconds=lease_seconds)
        self.timeout = timeout
        self.health_poll_seconds = health_poll_seconds
        self._clock = clock
        #: receivers found down, and until when their events are held back (only while ``run_forever`` runs)
        self._down: dict[str, datetime] = {}
        self._probes: dict[str, asyncio.Task[None]] = {}
        self._running = False
        self._wake = asyncio.Event()

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            return SYSTEM_CLOCK
        return self._clock if isinstance(self._clock, Clock) else self._clock()

    def backoff(self, attempts: int) -> float:
        return 0.0 if self.policy.base <= 0 else self.policy.delay_after_attempts(attempts)

    def nudge(self) -> None:
        """Deliver now (e.g. after a re-drive) instead of at the next poll."""
        self._wake.set()

    def _held_back(self, now: datetime) -> list[str]:
        return [d for d, until in self._down.items() if until > now]

    async def _claim(self) -> list[OutboxEvent]:
        now = self.clock.now()
        async with self.db.session(write=True) as session:
            conditions: list[ColumnElement[bool]] = [
                OutboxEvent.status == "pending",
                OutboxEvent.next_attempt_at <= now,
                unleased(OutboxEvent.locked_until, now),
            ]
            if held := self._held_back(now):
                conditions.append(OutboxEvent.destination.not_in(held))
            stmt = select(OutboxEvent).where(*conditions).order_by(OutboxEvent.next_attempt_at).limit(self.batch_size)
            rows = list((await session.scalars(claim_query(self.db, stmt))).all())
            for row in rows:
                row.locked_until = now + self.lease
            return rows

    async def _post(self, row: OutboxEvent) -> httpx.Response | Attempt:
        headers = {"content-type": "application/cloudevents+json", "idempotency-key": str(row.id)}
        if self.tokens is not None and self.tokens.configured:
            try:
                headers["authorization"] = f"Bearer {await self.tokens.token()}"
            except Exception as exc:  # identity down, or refusing this service: transient for the event
                reason = transient_reason(exc) or f"{type(exc).__name__}: {exc}"
                return Attempt(error=f"no service token from identity: {reason}"[:1000])
        try:
            return await self.client.post(row.destination, json=cloud_event(row), headers=headers, timeout=self.timeout)
        except (httpx.HTTPError, OSError) as exc:
            return Attempt(receiver_down=True, error=f"{type(exc).__name__}: {exc}"[:1000])

    async def _send(self, row: OutboxEvent) -> Attempt:
        resp = await self._post(row)
        if isinstance(resp, httpx.Response) and resp.status_code == 401 and self.tokens is not None:
            self.tokens.invalidate()  # an expired or rotated token: once more with a fresh one
            resp = await self._post(row)
        if isinstance(resp, Attempt):
            return resp
        if resp.is_success:
            return Attempt(delivered=True)
        status = resp.status_code
        error = f"HTTP {status}: {resp.text[:500]}"
        if status in TRANSIENT_STATUSES or status >= 500:
            return Attempt(receiver_down=status in RECEIVER_DOWN_STATUSES, error=error, retry_after=_retry_after(resp))
        if status == 409 and _retry_after(resp) is not None:
            # the first delivery of this event (same Idempotency-Key) is still running, or its replica died: later
            return Attempt(error=error, retry_after=_retry_after(resp))
        return Attempt(permanent=True, error=error)

    async def _record(self, row: OutboxEvent, attempt: Attempt) -> None:
        now = self.clock.now()
        attempts = row.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "locked_until": None, "last_error": attempt.error}
        if attempt.delivered:
            values.update(status="delivered", delivered_at=now)
        elif attempt.permanent:
            values.update(status="dead")
            log.warning("outbox event %s to %s is dead: the receiver refused it: %s", row.id, row.destination, attempt.error)
        else:
            delay = self.backoff(attempts)
            if attempt.retry_after is not None:
                delay = min(self.policy.max_delay, max(delay, attempt.retry_after))
            values.update(next_attempt_at=now + timedelta(seconds=delay))
        async with self.db.session(write=True) as session:
            await session.execute(update(OutboxEvent).where(OutboxEvent.id == row.id).values(**values))

    async def run_once(self) -> int:
        """Deliver what is due now; returns how many were delivered."""
        rows = await self._claim()
        return await self._deliver(rows) if rows else 0

    async def _claim_due(self) -> list[OutboxEvent] | None:
        return await self._claim() or None

    async def _deliver(self, rows: list[OutboxEvent]) -> int:
        """Send the claimed rows at once and record each outcome; returns how many were delivered."""
        results = await asyncio.gather(*(self._send(r) for r in rows))
        delivered = 0
        down: set[str] = set()
        for row, attempt in zip(rows, results, strict=True):
            await self._record(row, attempt)
            delivered += attempt.delivered
            if attempt.receiver_down:
                down.add(row.destination)
            elif attempt.delivered:
                self._down.pop(row.destination, None)
        for destination in down:
            self._receiver_down(destination)
        return delivered

    # -- receivers that are down ---------------------------------------------------------------------------------
    def _receiver_down(self, destination: str) -> None:
        if not self._running:
            return
        if destination not in self._down:
            log.warning("outbox: %s is down; its events wait, polling %s every %.0f s", destination,
                        health_url(destination), self.health_poll_seconds)
        self._down[destination] = self.clock.now() + timedelta(seconds=self.policy.max_delay)
        probe = self._probes.get(destination)
        if probe is None or probe.done():
            self._probes[destination] = asyncio.create_task(self._probe(destination))

    async def _probe(self, destination: str) -> None:
        """Poll the receiver's health while it is down; when it answers, its events are due at once."""
        url = health_url(destination)
        while destination in self._down:
            await self.clock.sleep(self.health_poll_seconds)
            try:
                ok = (await self.client.get(url, timeout=min(self.timeout, 5.0))).status_code == 200
            except (httpx.HTTPError, OSError):
                ok = False
            if not ok:
                continue
            try:
                await self.resume(destination)
            except Exception as exc:  # our own database: try again at the next poll
                log.warning("outbox: could not resume %s yet: %s", destination, transient_reason(exc) or repr(exc))
                continue
            log.info("outbox: %s is back; sending its events", destination)
            return

    async def resume(self, destination: str) -> int:
        """The receiver is back: its pending events are due now, and the loop wakes. Returns how many."""
        now = self.clock.now()
        async with self.db.session(write=True) as session:
            result = await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.status == "pending", OutboxEvent.destination == destination,
                       OutboxEvent.next_attempt_at > now)
                .values(next_attempt_at=now)
            )
        self._down.pop(destination, None)
        self._wake.set()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def worker(self, poll_seconds: float = 1.0) -> LeasedWorker[list[OutboxEvent]]:
        """The delivery loop (:class:`~services.common.worker.LeasedWorker`, leased items): claims a batch of due
        events under their rows' lease and sends them; after a round that delivered something the next follows at
        once, otherwise it waits ``poll_seconds`` or until a receiver's return (:meth:`resume`) or a re-drive
        (:meth:`nudge`) wakes it. A round that fails (its own database) backs off by the retry policy. The lease of
        the rows is not heartbeated: a batch is sent at once, each send bounded by a few ``timeout``s (the token,
        the POST, once more after a 401), inside the lease (``outbox_lease_seconds``, 60 s). Receivers' health
        probes run while the worker runs, and end with it."""
        self._running = True
        return LeasedWorker("outbox delivery", claim=self._claim_due, work=self._deliver, poll_seconds=poll_seconds,
                            policy=self.policy, clock=lambda: self.clock, wake=self._wake, on_stop=self._stopped,
                            logger=log)

    async def run_forever(self, poll_seconds: float = 1.0) -> None:
        """:meth:`worker` run in the caller's task until it is cancelled."""
        await self.worker(poll_seconds).run()

    async def _stopped(self) -> None:
        self._running = False
        for probe in self._probes.values():
            probe.cancel()
        for probe in self._probes.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await probe
        self._probes.clear()


# -- operations: what waits, what died, and sending it again --------------------------------------------------------
@dataclass(frozen=True)
class OutboxStats:
    """For metrics and alerts: events waiting to be delivered, events refused for good, and how long the oldest
    waiting event has waited (seconds; 0 when none waits)."""

    pending: int
    dead: int
    oldest_pending_at: datetime | None
    lag_seconds: float


async def outbox_stats(session: AsyncSession, now: datetime | None = None) -> OutboxStats:
    """Pending and dead counts and the lag of the oldest pending event (two indexed queries)."""
    now = now or utcnow()
    counts = dict((await session.execute(
        select(OutboxEvent.status, func.count()).where(OutboxEvent.status.in_(("pending", "dead"))).group_by(OutboxEvent.status)
    )).all())
    oldest = await session.scalar(select(func.min(OutboxEvent.created_at)).where(OutboxEvent.status == "pending"))
    lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return OutboxStats(pending=int(counts.get("pending", 0)), dead=int(counts.get("dead", 0)),
                       oldest_pending_at=oldest, lag_seconds=lag)


def event_filter(*, status: str | None = None, type: str | None = None, receiver: str | None = None,
                 since: datetime | None = None) -> list[ColumnElement[bool]]:
    """Conditions on outbox events: ``type`` exact or a prefix ending in ``*``; ``receiver`` a destination URL or
    its beginning (``http://credentials:8004``); ``since`` written at or after."""
    out: list[ColumnElement[bool]] = []
    if status:
        out.append(OutboxEvent.status == status)
    if type:
        out.append(OutboxEvent.type.startswith(type[:-1], autoescape=True) if type.endswith("*") else OutboxEvent.type == type)
    if receiver:
        out.append(OutboxEvent.destination.startswith(receiver, autoescape=True))
    if since is not None:
        out.append(OutboxEvent.created_at >= since)
    return out


async def redrive(session: AsyncSession, *, type: str | None = None, receiver: str | None = None,
                  since: datetime | None = None, now: datetime | None = None) -> int:
    """Dead events matching the filter become pending again, due at once, their attempts counted afresh. One
    statement; returns how many."""
    result = await session.execute(
        update(OutboxEvent)
        .where(and_(*event_filter(status="dead", type=type, receiver=receiver, since=since)))
        .values(status="pending", attempts=0, next_attempt_at=now or utcnow(), locked_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
