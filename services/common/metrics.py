"""Prometheus metrics (``prometheus-client``): what an operator watches without reading logs.

Every service serves ``GET /metrics`` (Prometheus text format) on its own port; the gateway refuses that path, so
it is reachable only inside the platform's network (the gateway serves its own on a separate port,
:mod:`gateway.metrics`). One registry per app (tests run several apps in one process); one process per replica,
so no multi-process mode.

* ``vet_http_requests_total{method, route, status}`` and ``vet_http_request_duration_seconds{method, route}``
  (histogram), ``vet_http_requests_in_progress``: ``route`` is the route's template (``/v1/sync-jobs/{job_id}``),
  never the raw path, so no id or personal number becomes a label; a path no route matches is ``unmatched``, and
  an unknown method ``OTHER`` (a scanner cannot grow the series).
* ``vet_jobs{queue, state}`` and ``vet_jobs_oldest_age_seconds{queue, state}``: jobs not ended per state (queue
  depth) and the age of the oldest of each state, read from the job table at each scrape (records sync jobs,
  credentials issue jobs).
* ``vet_outbox_events{state}`` (``pending``, ``dead``) and ``vet_outbox_oldest_pending_age_seconds`` (the
  delivery lag: how long the oldest event not yet delivered has waited), read from ``outbox_events``.
* ``vet_db_pool_connections{state}`` (``in_use``, ``idle``), ``vet_db_pool_size``, ``vet_db_pool_max_overflow``.
* With a read replica (``<SVC>_DATABASE_READ_URL``): ``vet_db_read_replica_up`` (0 while read-only requests use
  the primary because the replica was unreachable), ``vet_db_read_pool_connections{state}``; always
  ``vet_db_read_fallbacks_total`` (requests a replica should have served that the primary served).
* ``vet_metrics_probe_up{probe}``: 1 when the scrape's query of that table worked, 0 when it failed or timed out
  (the scrape itself still answers, with the other values).

The table reads are plain queries on column names (``status``/``state``, ``created_at``), so they keep working
whatever code writes the rows; a failing one only sets its probe to 0.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)
from starlette.routing import Mount, compile_path, get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.db import Database, ReadDatabase, UTCDateTime, utcnow

__all__ = ["HttpMetrics", "JobQueue", "MetricsMiddleware", "ServiceMetrics", "UNMATCHED", "metrics_router"]

log = logging.getLogger("services.metrics")
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated; no ``*_created`` series: a timestamp per series that nobody here alerts on

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: seconds; up to a minute (uploads, PDFs, bulk verification)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: outbox states reported (always, 0 when none)
OUTBOX_STATES = ("pending", "dead")
#: a scrape's table reads give up after this (the scrape answers anyway)
PROBE_TIMEOUT_SECONDS = 5.0


class HttpMetrics:
    """Requests answered and their latency, by method, route template and status."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("vet_http_requests", "HTTP requests answered, by method, route template and status.",
                                ["method", "route", "status"], registry=registry)
        self.duration = Histogram("vet_http_request_duration_seconds",
                                  "Time from a request's arrival to the end of its response, by method and route template.",
                                  ["method", "route"], buckets=LATENCY_BUCKETS, registry=registry)
        self.in_progress = Gauge("vet_http_requests_in_progress", "HTTP requests being handled now.", registry=registry)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "OTHER"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.duration.labels(method, route))
            self._children[key] = children  # bounded: methods × route templates × status codes
        children[0].inc()
        children[1].observe(seconds)


def route_template(scope: Scope) -> str:
    """The template of the route that handled (or would handle) the request, else :data:`UNMATCHED`."""
    route = scope.get("route")
    if route is not None:
        return getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED
    # answered before routing (an idempotent replay) or by no route (404): match the path against the app's routes
    app = scope.get("app")
    if app is None:
        return UNMATCHED
    path, method = get_route_path(scope), scope.get("method")
    found = UNMATCHED
    for regex, methods, template in _route_table(app):
        if regex.match(path):
            if methods is None or method in methods:
                return template
            if found is UNMATCHED:
                found = template  # answered 405
    return found


def _route_table(app: Any) -> list[tuple[re.Pattern[str], frozenset[str] | None, str]]:
    """Every route of ``app`` as (path regex, methods, template), through included routers; built once per app."""
    table = getattr(app.state, "metrics_route_table", None)
    if table is None:
        table = []
        _flatten(getattr(app.router, "routes", ()), "", table)
        app.state.metrics_route_table = table
    return table


def _flatten(routes: Any, prefix: str, out: list[tuple[re.Pattern[str], frozenset[str] | None, str]]) -> None:
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:  # a router included by FastAPI: its routes under its prefix
            _flatten(inner.routes, prefix + (getattr(getattr(route, "include_context", None), "prefix", "") or ""), out)
            continue
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            continue
        template = prefix + path + ("/{path:path}" if isinstance(route, Mount) else "")
        regex, path_format, _ = compile_path(template)
        methods = getattr(route, "methods", None)
        out.append((regex, frozenset(methods) if methods else None, path_format))


class MetricsMiddleware:
    """Pure ASGI: times every HTTP request and counts it under its route template once the response is done."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self.metrics.in_progress.dec()
            self.metrics.observe(scope["method"], route_template(scope), status, time.perf_counter() - started)


@dataclass(frozen=True)
class JobQueue:
    """A table of background jobs to report: ``vet_jobs{queue=name, state}`` for rows whose ``state_column`` is not
    one of ``ended``; ``states`` are always reported (0 when none), others as they appear."""

    name: str
    table: str
    state_column: str
    ended: tuple[str, ...]
    states: tuple[str, ...] = ("queued", "running")
    #: the column naming why a job waits out a transient failure (``vet_jobs_waiting``); None: none kept
    waiting_column: str | None = "waiting"


class ServiceMetrics:
    """A service's registry: HTTP metrics (filled by :class:`MetricsMiddleware`), and gauges read at each scrape
    (:meth:`refresh`) from the service's database: job queues, outbox, pool."""

    def __init__(self, service: str, db: Callable[[], Database], queues: tuple[JobQueue, ...] = (),
                 clock: Callable[[], datetime] = utcnow,
                 read_db: Callable[[], ReadDatabase | None] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http = HttpMetrics(self.registry)
        self._db = db
        self.queues = queues
        self.clock = clock
        Info("vet_service", "The service these metrics describe.", registry=self.registry).info({"service": service})
        self.jobs = Gauge("vet_jobs", "Background jobs not ended, by queue and state (the queue's depth).",
                          ["queue", "state"], registry=self.registry)
        self.jobs_waiting = Gauge("vet_jobs_waiting", "Jobs not ended that wait out a transient failure (a database, "
                                  "identity or the network down), by queue.", ["queue"], registry=self.registry)
        self.jobs_age = Gauge("vet_jobs_oldest_age_seconds",
                              "Age of the oldest job not ended, by queue and state (0 when there is none).",
                              ["queue", "state"], registry=self.registry)
        self.outbox = Gauge("vet_outbox_events", "Outbox events not delivered: pending (still tried) and dead (given up).",
                            ["state"], registry=self.registry)
        self.outbox_lag = Gauge("vet_outbox_oldest_pending_age_seconds",
                                "How long the oldest pending outbox event has waited (0 when none): the delivery lag.",
                                registry=self.registry)
        self.probe_up = Gauge("vet_metrics_probe_up", "1 if the last scrape could read this probe's table, else 0.",
                              ["probe"], registry=self.registry)
        pool = Gauge("vet_db_pool_connections", "Database connections of this process's pool, by state.", ["state"],
                     registry=self.registry)
        pool.labels("in_use").set_function(lambda: self._pool_stat("checkedout"))
        pool.labels("idle").set_function(lambda: self._pool_stat("checkedin"))
        Gauge("vet_db_pool_size", "Connections the pool keeps open.", registry=self.registry).set_function(
            lambda: self._pool_stat("size"))
        Gauge("vet_db_pool_max_overflow", "Connections the pool may open beyond its size.",
              registry=self.registry).set_function(lambda: float(getattr(self._pool(), "_max_overflow", 0) or 0))
        self.read_fallbacks = Counter("vet_db_read_fallbacks", "Read-only requests served by the primary because "
                                      "the read replica was unreachable.", registry=self.registry)
        replica = read_db() if read_db is not None else None
        if replica is not None and replica.engine is not None:
            read_engine = replica.engine
            Gauge("vet_db_read_replica_up", "1 while read-only requests use the read replica, 0 while they use the "
                  "primary because it was unreachable.", registry=self.registry).set_function(
                lambda: float(bool(replica.replica_up)))
            read_pool = Gauge("vet_db_read_pool_connections", "Connections of this process's read-replica pool, by "
                              "state.", ["state"], registry=self.registry)
            read_pool.labels("in_use").set_function(lambda: _stat(read_engine.pool, "checkedout"))
            read_pool.labels("idle").set_function(lambda: _stat(read_engine.pool, "checkedin"))

    def _pool(self) -> Any:
        try:
            return self._db().engine.pool
        except Exception:  # noqa: BLE001 - no database yet (or any more): report nothing
            return None

    def _pool_stat(self, name: str) -> float:
        return _stat(self._pool(), name)

    async def refresh(self) -> None:
        """Read the gauges that come from tables (one query each, all at once, each bounded in time)."""
        probes = [("outbox", self._outbox())] + [(f"jobs_{q.name}", self._jobs(q)) for q in self.queues]
        results = await asyncio.gather(*(asyncio.wait_for(p, PROBE_TIMEOUT_SECONDS) for _, p in probes),
                                       return_exceptions=True)
        for (name, _), result in zip(probes, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("metrics probe %s failed: %s", name, type(result).__name__)
            self.probe_up.labels(name).set(0 if isinstance(result, BaseException) else 1)

    async def _rows(self, stmt: sa.Select[Any]) -> list[Any]:
        async with self._db().engine.connect() as conn:
            return list((await conn.execute(stmt)).all())

    async def _outbox(self) -> None:
        t = sa.table("outbox_events", sa.column("status", sa.String()), sa.column("created_at", UTCDateTime()))
        rows = await self._rows(sa.select(t.c.status, sa.func.count(), sa.func.min(t.c.created_at))
                                .where(t.c.status.in_(OUTBOX_STATES)).group_by(t.c.status))
        now = self.clock()
        found = {state: (count, oldest) for state, count, oldest in rows}
        for state in OUTBOX_STATES:
            self.outbox.labels(state).set(found.get(state, (0, None))[0])
        self.outbox_lag.set(_age(now, found.get("pending", (0, None))[1]))

    async def _jobs(self, queue: JobQueue) -> None:
        columns: list[sa.ColumnClause[Any]] = [sa.column(queue.state_column, sa.String()), sa.column("created_at", UTCDateTime())]
        if queue.waiting_column:
            columns.append(sa.column(queue.waiting_column, sa.String()))
        t = sa.table(queue.table, *columns)
        state = t.c[queue.state_column]
        waiting = (sa.func.count().filter(t.c[queue.waiting_column].is_not(None)) if queue.waiting_column
                   else sa.literal(0))
        rows = await self._rows(sa.select(state, sa.func.count(), sa.func.min(t.c.created_at), waiting)
                                .where(state.not_in(queue.ended)).group_by(state))
        now = self.clock()
        found = {s: (count, oldest) for s, count, oldest, _ in rows if s is not None}
        # replaced in one step (no await in between), so a concurrent scrape never sees a half-written set
        for gauge in (self.jobs, self.jobs_age):
            for labels in [k for k in _label_sets(gauge) if k[0] == queue.name]:
                gauge.remove(*labels)
        for s in {*queue.states, *found}:
            count, oldest = found.get(s, (0, None))
            self.jobs.labels(queue.name, s).set(count)
            self.jobs_age.labels(queue.name, s).set(_age(now, oldest))
        self.jobs_waiting.labels(queue.name).set(sum(row[3] for row in rows))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _stat(pool: Any, name: str) -> float:
    stat = getattr(pool, name, None)
    try:
        return float(max(0, stat())) if callable(stat) else 0.0
    except Exception:  # noqa: BLE001 - a pool class without this statistic
        return 0.0


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


def _label_sets(gauge: Gauge) -> list[tuple[str, ...]]:
    return [tuple(labels) for labels in gauge._metrics]  # noqa: SLF001 - prometheus_client keeps the children by their label values


def metrics_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        """Prometheus text format. Not routed by the gateway: scraped inside the platform's network."""
        service_metrics: ServiceMetrics = request.app.state.metrics
        await service_metrics.refresh()
        return Response(service_metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
