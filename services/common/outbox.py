"""Transactional outbox and its delivery loop; the matching idempotent receiver lives in :mod:`events`.

:meth:`Outbox.emit` adds event rows to the caller's session, so they commit or roll back with the change they
report. :class:`OutboxDeliverer` claims due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL plus a lease, so any
replica can run it and two never send the same row at once), POSTs each as a CloudEvent with the service's own
client-credentials token and ``Idempotency-Key`` = event id, and retries with exponential backoff and jitter.
Delivery is at least once; receivers dedupe by event id. A row that used up its attempts, or that the receiver
refused for good, becomes ``dead`` and stays listed by the admin endpoint until retried.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database, claim_query, unleased, utcnow
from services.common.models import OutboxEvent
from services.common.service_client import ServiceTokenProvider

log = logging.getLogger("services.outbox")

PERMANENT_FAILURES = {400, 404, 405, 410, 413, 415, 422}


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


class OutboxDeliverer:
    def __init__(
        self,
        db: Database,
        client: httpx.AsyncClient,
        tokens: ServiceTokenProvider | None,
        *,
        max_attempts: int = 12,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        batch_size: int = 50,
        lease_seconds: float = 60.0,
        timeout: float = 10.0,
    ) -> None:
        self.db = db
        self.client = client
        self.tokens = tokens
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.batch_size = batch_size
        self.lease = timedelta(seconds=lease_seconds)
        self.timeout = timeout

    def backoff(self, attempts: int) -> float:
        delay = min(self.max_delay, self.base_delay * (2 ** max(0, attempts - 1)))
        return delay * random.uniform(0.5, 1.0)

    async def _claim(self) -> list[OutboxEvent]:
        now = utcnow()
        async with self.db.session(write=True) as session:
            stmt = (
                select(OutboxEvent)
                .where(
                    OutboxEvent.status == "pending",
                    OutboxEvent.next_attempt_at <= now,
                    unleased(OutboxEvent.locked_until, now),
                )
                .order_by(OutboxEvent.next_attempt_at)
                .limit(self.batch_size)
            )
            rows = list((await session.scalars(claim_query(self.db, stmt))).all())
            for row in rows:
                row.locked_until = now + self.lease
            return rows

    async def _send(self, row: OutboxEvent) -> tuple[bool, bool, str | None]:
        """Returns (delivered, permanent_failure, error)."""
        headers = {"content-type": "application/cloudevents+json", "idempotency-key": str(row.id)}
        try:
            if self.tokens is not None and self.tokens.configured:
                headers["authorization"] = f"Bearer {await self.tokens.token()}"
            resp = await self.client.post(row.destination, json=cloud_event(row), headers=headers, timeout=self.timeout)
        except (httpx.HTTPError, OSError) as exc:
            return False, False, f"{type(exc).__name__}: {exc}"[:1000]
        if resp.is_success:
            return True, False, None
        if resp.status_code == 401 and self.tokens is not None:
            self.tokens.invalidate()
        return False, resp.status_code in PERMANENT_FAILURES, f"HTTP {resp.status_code}: {resp.text[:500]}"

    async def _record(self, row: OutboxEvent, delivered: bool, permanent: bool, error: str | None) -> None:
        now = utcnow()
        attempts = row.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "locked_until": None, "last_error": error}
        if delivered:
            values.update(status="delivered", delivered_at=now)
        elif permanent or attempts >= self.max_attempts:
            values.update(status="dead")
            log.warning("outbox event %s to %s is dead after %d attempts: %s", row.id, row.destination, attempts, error)
        else:
            values.update(next_attempt_at=now + timedelta(seconds=self.backoff(attempts)))
        async with self.db.session(write=True) as session:
            await session.execute(update(OutboxEvent).where(OutboxEvent.id == row.id).values(**values))

    async def run_once(self) -> int:
        """Deliver what is due now; returns how many were delivered."""
        rows = await self._claim()
        if not rows:
            return 0
        results = await asyncio.gather(*(self._send(r) for r in rows))
        delivered = 0
        for row, (ok, permanent, error) in zip(rows, results, strict=True):
            await self._record(row, ok, permanent, error)
            delivered += ok
        return delivered

    async def run_forever(self, poll_seconds: float = 1.0) -> None:
        while True:
            try:
                sent = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox delivery round failed")
                sent = 0
            if not sent:
                await asyncio.sleep(poll_seconds)
