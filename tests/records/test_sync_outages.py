"""Sync jobs through outages (issue 14, findings 2 and 3): a database connection killed mid-chunk rolls back that
chunk only and the job resumes; the database down for a while, or identity down for 30 s, leaves the job
``waiting: <reason>``, never failed; it fails only after an hour of outage. Played on a fake clock."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.common.testing import DatabaseFaults, FakeClock, FaultInjectingTransport
from services.records.app import create_app
from tests.records.helpers import code, grade, id_number, learner, world
from tests.support import Platform, UrlFactory, authority, scrape, service_settings

IDENTITY = authority("identity")


@dataclass
class Records:
    """A records service of its own (its own database, chunks of 2 rows), on a fake clock, reaching identity
    through a transport that can take it down, its database connections at the test's mercy."""

    app: FastAPI
    clock: FakeClock
    transport: FaultInjectingTransport
    faults: DatabaseFaults
    client: httpx.AsyncClient
    school: dict[str, str]

    async def job(self, job_id: str) -> httpx.Response:
        return await self.client.get(f"/v1/sync-jobs/{job_id}", headers=self.school)

    async def start(self, batch: dict[str, Any], mode: str = "accept_valid") -> str:
        r = await self.client.post("/v1/institutions/CD0101/sync/json", params={"mode": mode}, json=batch, headers=self.school)
        assert r.status_code == 202, r.text
        return r.json()["id"]

    async def until(self, job_id: str, predicate: Any, timeout: float = 60.0) -> dict[str, Any]:  # noqa: ASYNC109 - polls to a deadline, failing with what it saw (a caller's asyncio.timeout would not say)
        """Poll the job (real time, the fake clock standing still) until ``predicate(job)``."""
        import asyncio

        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            r = await self.job(job_id)
            if r.status_code == 200 and predicate(r.json()):
                return r.json()
            assert asyncio.get_running_loop().time() < deadline, r.text
            await asyncio.sleep(0.02)

    async def finished(self, job_id: str) -> bool:
        r = await self.job(job_id)
        return r.status_code == 200 and r.json()["status"] in ("succeeded", "completed_with_errors", "failed")


@pytest.fixture
async def records(platform: Platform, database_factory: UrlFactory, tmp_path: Path) -> AsyncIterator[Records]:
    clock = FakeClock()
    transport = FaultInjectingTransport(platform.transport, clock)
    settings = service_settings("records", await database_factory("records"), tmp_path / "objects",
                                sync_chunk_rows=2, sync_poll_seconds=1.0, sync_lease_seconds=60.0)
    app = create_app(settings, http_transport=transport)
    app.state.clock = clock
    faults = DatabaseFaults(app.state.db)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        stack.callback(faults.close)
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://records"))
        await clock.until_parked(1)  # the sync worker waits for work
        school = await platform.school_headers()
        # identity's signing keys are fetched once, before any outage (then cached, as in production)
        assert (await client.get("/v1/institutions/CD0101/sync-jobs", headers=school)).status_code == 200
        yield Records(app, clock, transport, faults, client, school)


def batch(learners: int = 2) -> dict[str, Any]:
    """Programme, term, cohort, ``learners`` learners and 3 grades each: 3 + 4·learners rows."""
    p, t, k = code("CNTT"), code("HK"), code("K")
    people = [id_number() for _ in range(learners)]
    grades = [grade(n, p, m, t, "7", "8") for n in people for m in ("M1", "M2", "GDQP")]
    return world(p, t, k, [learner(n, f"Học viên {i}", p, k) for i, n in enumerate(people)], grades)


def counts(job: dict[str, Any]) -> tuple[int, ...]:
    return job["rows_total"], job["rows_read"], job["created"], job["updated"], job["unchanged"], job["rejected"]


@pytest.mark.parametrize("outage", ["connection killed", "database down 5 minutes"])
async def test_lost_connection_mid_chunk_rolls_back_that_chunk_only(records: Records, outage: str) -> None:
    job_id = None
    # the connection is killed as the third chunk is about to commit (its job row update, after its rows)
    records.faults.kill_when(lambda sql: "UPDATE sync_jobs" in sql and "applied_through" in sql, skip=2,
                             then_down=outage != "connection killed")
    job_id = await records.start(batch(learners=2))  # 11 rows, 6 chunks
    if outage == "connection killed":
        job = await records.until(job_id, lambda j: j["waiting"] is not None)
        assert job["status"] == "running" and "database connection lost" in job["waiting"], job
        assert job["applied_through"] == 4  # chunks 1 and 2 committed; chunk 3 rolled back
    else:
        await records.clock.settle()
        r = await records.job(job_id)  # the database is down: the school is told to come back, not "500"
        assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
        await records.clock.advance(5 * 60)
        records.faults.down = False
    assert records.faults.kills == 1
    await records.clock.advance_until(lambda: records.finished(job_id), limit=120)
    job = (await records.job(job_id)).json()
    # every row applied exactly once: a row of the rolled-back chunk applied twice would count as unchanged
    assert job["status"] == "succeeded" and counts(job) == (11, 11, 11, 0, 0, 0), job
    assert job["waiting"] is None and job["error"] is None


@pytest.mark.parametrize("how", ["connect", 503])
async def test_a_30_second_identity_outage_does_not_kill_a_sync_job(records: Records, how: str | int) -> None:
    records.transport.fail(IDENTITY, how)
    job_id = await records.start(batch(learners=2))
    job = await records.until(job_id, lambda j: j["waiting"] is not None)
    assert job["status"] == "running" and "identity" in job["waiting"], job
    await records.clock.advance(30)  # more tries than the 5 after which it used to fail
    job = (await records.job(job_id)).json()
    assert job["status"] == "running" and "identity" in job["waiting"] and job["attempts"] >= 5, job
    metrics = await scrape(records.client)  # what an operator sees meanwhile
    queue = (("queue", "records_sync"),)
    assert (metrics[("vet_jobs", queue + (("state", "queued"),))], metrics[("vet_jobs", queue + (("state", "running"),))],
            metrics[("vet_jobs_waiting", queue)]) == (0, 1, 1), metrics
    assert metrics[("vet_jobs_oldest_age_seconds", queue + (("state", "running"),))] >= 30
    records.transport.restore(IDENTITY)
    took = await records.clock.advance_until(lambda: records.finished(job_id), limit=61)
    job = (await records.job(job_id)).json()
    assert job["status"] == "succeeded" and counts(job) == (11, 11, 11, 0, 0, 0), job
    assert job["waiting"] is None and took <= 60


async def test_a_job_fails_only_after_an_hour_of_outage(records: Records) -> None:
    records.transport.fail(IDENTITY, "connect")
    job_id = await records.start(batch(learners=1))
    await records.until(job_id, lambda j: j["waiting"] is not None)
    await records.clock.advance(55 * 60, step=30)
    job = (await records.job(job_id)).json()
    assert job["status"] == "running", job
    await records.clock.advance_until(lambda: records.finished(job_id), limit=6 * 60, step=30)
    job = (await records.job(job_id)).json()
    assert job["status"] == "failed" and job["error"].startswith("gave up after 60 minutes without progress"), job
    assert "identity" in job["error"]
