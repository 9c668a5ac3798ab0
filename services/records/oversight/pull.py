"""The periodic pull of the facts records does not own: identity's registry (institutions, active machine clients
that may sync, staff counts: ``GET /v1/oversight/institutions``) and learning's activity per institution
(``GET /v1/institution-activity``), both with records' own client-credentials token. Each source's last success and
last failure are kept (``oversight_pulls``) and shown on the board. After a pull, this year's state indicators are
kept as snapshots (the trend of later years).

One replica at a time pulls, about every ``oversight_pull_seconds`` across them all (a singleton
:class:`~services.common.worker.LeasedWorker` under the named lease ``records oversight pull``; were two to pull at
once, the writes are idempotent upserts of the same facts); a source that fails keeps the previous facts and says so.
Also run on demand by ``POST /v1/oversight/refresh``."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.retry import RetryPolicy, transient_reason
from services.common.worker import LeasedWorker
from services.records.context import RecordsContext
from services.records.models import OversightInstitution
from services.records.oversight import repository, service

log = logging.getLogger("services.records.oversight")


async def _get(ctx: RecordsContext, url: str) -> dict[str, Any]:
    tokens = ctx.tokens
    for attempt in (1, 2):
        resp = await ctx.http.get(url, headers={"Authorization": f"Bearer {await tokens.token()}"})
        if resp.status_code == 401 and attempt == 1:
            tokens.invalidate()  # a rotated key or a token identity no longer accepts: once more with a new one
            continue
        resp.raise_for_status()
        body: dict[str, Any] = resp.json()
        return body
    raise AssertionError("unreachable")


def _learning_url(ctx: RecordsContext) -> str:
    return str(ctx.settings.learning_url).rstrip("/")


async def apply_registry(session: AsyncSession, items: list[dict[str, Any]], now: datetime) -> int:
    known = await repository.institution_map(session)
    for item in items:
        row = known.get(item["code"])
        if row is None:
            row = OversightInstitution(code=item["code"], objects_published=0, students_completed=0, teachers_digital_completed=0)
            session.add(row)
        staff = item.get("staff") or {}
        row.name, row.type, row.ownership = item["name"], item["type"], item["ownership"]
        row.province_code, row.status = item["province_code"], item["status"]
        row.latitude, row.longitude = item.get("latitude"), item.get("longitude")
        row.machine_clients_active = int(item.get("machine_clients_active") or 0)
        row.teachers, row.managers, row.staff_year = staff.get("teachers"), staff.get("managers"), staff.get("year")
        row.registry_pulled_at = now
    return len(items)


async def apply_activity(session: AsyncSession, items: list[dict[str, Any]], now: datetime) -> int:
    known = await repository.institution_map(session)
    seen = set()
    for item in items:
        row = known.get(item["institution_code"])
        if row is None:
            continue  # not (yet) in the registry as records last read it
        seen.add(row.code)
        row.objects_published = int(item["objects_published"])
        row.last_published_at = datetime.fromisoformat(item["last_published_at"]) if item.get("last_published_at") else None
        row.students_completed = int(item["students_completed"])
        row.teachers_digital_completed = int(item["teachers_digital_completed"])
        row.activity_pulled_at = now
    for code, row in known.items():
        if code not in seen:  # nothing there any more (or never)
            row.objects_published, row.last_published_at = 0, None
            row.students_completed = row.teachers_digital_completed = 0
            row.activity_pulled_at = now
    return len(seen)


async def refresh(ctx: RecordsContext) -> dict[str, str]:
    """Pull both sources now; a source that fails is reported and keeps its previous facts. Each source is asked
    before the write transaction that keeps its answer opens."""
    settings = ctx.settings
    outcome: dict[str, str] = {}
    sources = (
        ("identity", f"{settings.identity_url.rstrip('/')}/v1/oversight/institutions", apply_registry),
        ("learning", f"{_learning_url(ctx)}/v1/institution-activity", apply_activity),
    )
    for source, url, apply in sources:
        now = ctx.now()
        try:
            body = await _get(ctx, url)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            reason = transient_reason(exc) or f"{type(exc).__name__}: {exc}"
            log.warning("oversight pull from %s failed: %s", source, reason)
            async with ctx.db.session(write=True) as session:
                row = await repository.pull_row(session, source)
                row.last_error, row.last_error_at = reason[:1000], now
            outcome[source] = f"failed: {reason}"
            continue
        async with ctx.db.session(write=True) as session:
            n = await apply(session, body["items"], now)
            row = await repository.pull_row(session, source)
            row.last_success_at = now
        outcome[source] = f"{n} institution(s)"
    async with ctx.db.session(write=True) as session:
        await service.record_snapshots(session, now=ctx.now(), window_days=settings.oversight_connected_days)
    return outcome


#: how long the pulling replica holds the lease without a heartbeat (renewed every third of it while it pulls)
LEASE_SECONDS = 60.0


def oversight_pull_worker(ctx: RecordsContext) -> LeasedWorker[Any] | None:
    """The background worker (built for records' app by ``services.records.app``): after
    ``oversight_pull_initial_delay_seconds``, a pull every ``oversight_pull_seconds`` on one replica at a time (on
    the app's clock). A round that fails (the database itself) is logged and tried again after a back-off."""
    settings = ctx.settings
    if settings.oversight_pull_seconds <= 0:
        return None

    async def pull() -> None:
        await refresh(ctx)

    return LeasedWorker.singleton("records oversight pull", pull, db=ctx.db, lease_seconds=LEASE_SECONDS,
                                  poll_seconds=settings.oversight_pull_seconds, clock=lambda: ctx.clock,
                                  initial_delay=settings.oversight_pull_initial_delay_seconds, logger=log,
                                  policy=RetryPolicy(max_delay=min(60.0, settings.oversight_pull_seconds)))
