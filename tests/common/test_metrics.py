"""Each service's ``GET /metrics`` (Prometheus): requests by route template (never a raw path), job queue depth and
age, outbox pending / dead / lag, the database pool — on SQLite and PostgreSQL. The job workers and the outbox
sender are off in these apps, so what was queued stays queued while the test looks."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from services.common.db import utcnow
from services.common.metrics import JobQueue
from services.common.models import OutboxEvent
from services.credentials.app import create_app as create_credentials
from services.credentials.models import IssueJob
from services.records.app import create_app as create_records
from services.records.models import SyncJob
from tests.support import Platform, UrlFactory, service_settings, service_url

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(exposition: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(exposition) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


@contextlib.asynccontextmanager
async def running(app: FastAPI, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=service_url(name)) as client:
            yield client


async def scrape(c: httpx.AsyncClient) -> tuple[str, Samples]:
    r = await c.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text, samples(r.text)


async def test_records_metrics(platform: Platform, database_factory: UrlFactory, tmp_path: Path) -> None:
    settings = service_settings("records", await database_factory("records"), tmp_path / "objects",
                                sync_worker_enabled=False, sync_upload_sweep_seconds=0)
    app = create_records(settings, http_transport=platform.transport)
    school = await platform.school_headers()
    batch = json.dumps({"terms": [{"code": "HK1", "name": "Học kỳ 1"}]}).encode()
    upload = {"content-type": "application/json"}
    async with running(app, "records") as c:
        key = {"Idempotency-Key": uuid.uuid4().hex}
        first = await c.post("/v1/institutions/CD0101/sync/json", content=batch, headers=school | upload | key)
        replay = await c.post("/v1/institutions/CD0101/sync/json", content=batch, headers=school | upload | key)
        second = await c.post("/v1/institutions/CD0101/sync/json", content=batch, headers=school | upload)
        assert first.status_code == replay.status_code == second.status_code == 202, first.text
        assert replay.headers.get("idempotent-replayed") == "true"
        jobs = [first.json()["id"], second.json()["id"]]
        assert (await c.get(f"/v1/sync-jobs/{jobs[0]}", headers=school)).status_code == 200
        missing = str(uuid.uuid4())
        assert (await c.get(f"/v1/sync-jobs/{missing}", headers=school)).status_code == 404
        assert (await c.get(f"/v1/no-such-route/{missing}")).status_code == 404
        now = utcnow()
        async with app.state.db.session() as s:
            await s.execute(update(SyncJob).where(SyncJob.id == uuid.UUID(jobs[0])).values(created_at=now - timedelta(hours=2)))
            s.add_all([
                OutboxEvent(type="vn.vet.test", source="records", data={}, destination="http://x.test/v1/events",
                            status="pending", created_at=now - timedelta(minutes=10), next_attempt_at=now),
                OutboxEvent(type="vn.vet.test", source="records", data={}, destination="http://x.test/v1/events",
                            status="dead", created_at=now - timedelta(days=1), next_attempt_at=now),
                OutboxEvent(type="vn.vet.test", source="records", data={}, destination="http://x.test/v1/events",
                            status="delivered", created_at=now - timedelta(days=2), next_attempt_at=now),
            ])

        async with app.state.db.engine.connect():  # one connection checked out while scraping
            text, found = await scrape(c)

        # requests: by route template and status; a replay counts under its route too
        sync = "/v1/institutions/{code}/sync/json"
        assert value(found, "vet_http_requests_total", method="POST", route=sync, status="202") == 3
        assert value(found, "vet_http_requests_total", method="GET", route="/v1/sync-jobs/{job_id}", status="200") == 1
        assert value(found, "vet_http_requests_total", method="GET", route="/v1/sync-jobs/{job_id}", status="404") == 1
        assert value(found, "vet_http_requests_total", method="GET", route="unmatched", status="404") == 1
        assert value(found, "vet_http_request_duration_seconds_count", method="POST", route=sync) == 3
        assert value(found, "vet_http_request_duration_seconds_bucket", method="POST", route=sync, le="+Inf") == 3
        for secret in (*jobs, missing):
            assert secret not in text
        # the queue: two jobs queued, the oldest two hours old
        assert value(found, "vet_jobs", queue="records_sync", state="queued") == 2
        assert value(found, "vet_jobs", queue="records_sync", state="running") == 0
        age = value(found, "vet_jobs_oldest_age_seconds", queue="records_sync", state="queued")
        assert age is not None and 7200 <= age < 7200 + 300
        # the outbox: one pending for ten minutes, one dead; delivered ones are not counted
        assert value(found, "vet_outbox_events", state="pending") == 1
        assert value(found, "vet_outbox_events", state="dead") == 1
        lag = value(found, "vet_outbox_oldest_pending_age_seconds")
        assert lag is not None and 600 <= lag < 600 + 300
        # the pool
        assert (value(found, "vet_db_pool_connections", state="in_use") or 0) >= 1
        assert (value(found, "vet_db_pool_size") or 0) >= 1
        assert value(found, "vet_db_pool_max_overflow") is not None
        assert value(found, "vet_metrics_probe_up", probe="outbox") == 1
        assert value(found, "vet_metrics_probe_up", probe="jobs_records_sync") == 1
        assert value(found, "vet_service_info", service="records") == 1

        # jobs that ended leave the queue; a state no job is in any more is no longer reported
        async with app.state.db.session() as s:
            await s.execute(update(SyncJob).where(SyncJob.id == uuid.UUID(jobs[0])).values(status="succeeded", finished_at=now))
            await s.execute(update(SyncJob).where(SyncJob.id == uuid.UUID(jobs[1])).values(status="waiting"))
        _, found = await scrape(c)
        assert value(found, "vet_jobs", queue="records_sync", state="queued") == 0
        assert value(found, "vet_jobs_oldest_age_seconds", queue="records_sync", state="queued") == 0
        assert value(found, "vet_jobs", queue="records_sync", state="waiting") == 1  # a state of a newer runner
        async with app.state.db.session() as s:
            await s.execute(update(SyncJob).where(SyncJob.id == uuid.UUID(jobs[1])).values(status="failed", finished_at=now))
        _, found = await scrape(c)
        assert value(found, "vet_jobs", queue="records_sync", state="waiting") is None

        # a table that cannot be read: its probe says so, the scrape still answers
        app.state.metrics.queues += (JobQueue("broken", "no_such_table", "state", ended=()),)
        _, found = await scrape(c)
        assert value(found, "vet_metrics_probe_up", probe="jobs_broken") == 0
        assert value(found, "vet_metrics_probe_up", probe="outbox") == 1

        # not part of the API document
        assert "/metrics" not in (await c.get("/openapi.json")).json()["paths"]


async def test_credentials_issue_queue(platform: Platform, database_factory: UrlFactory, tmp_path: Path) -> None:
    settings = service_settings("credentials", await database_factory("credentials"), tmp_path / "objects",
                                jobs_enabled=False, restatus_poll_seconds=0)
    app = create_credentials(settings, http_transport=platform.transport)
    now = utcnow()
    async with running(app, "credentials") as c:
        async with app.state.db.session() as s:
            s.add_all([
                IssueJob(institution_code="CD0101", requested_by="test", state="queued", total=3, created_at=now - timedelta(hours=1)),
                IssueJob(institution_code="CD0101", requested_by="test", state="queued", total=1, created_at=now),
                IssueJob(institution_code="CD0101", requested_by="test", state="completed", total=1, created_at=now - timedelta(days=3)),
            ])
        _, found = await scrape(c)
    assert value(found, "vet_jobs", queue="credentials_issue", state="queued") == 2
    assert value(found, "vet_jobs", queue="credentials_issue", state="running") == 0
    age: Any = value(found, "vet_jobs_oldest_age_seconds", queue="credentials_issue", state="queued")
    assert 3600 <= age < 3600 + 300
    assert value(found, "vet_metrics_probe_up", probe="jobs_credentials_issue") == 1


async def test_every_service_serves_metrics(platform: Platform) -> None:
    for name, app in platform.apps.items():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=service_url(name)) as c:
            await c.get("/healthz")
            _, found = await scrape(c)
        assert value(found, "vet_service_info", service=name) == 1
        assert value(found, "vet_http_requests_total", method="GET", route="/healthz", status="200")
        assert value(found, "vet_outbox_events", state="dead") is not None
