"""Issue jobs through outages (issue 14, finding 2): a database connection killed mid-chunk rolls back that chunk only
and the job goes on; identity down while an event's holder is looked up leaves the job ``waiting: <reason>``, the item
neither failed nor issued without its holder. Played on a fake clock, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.common.testing import DatabaseFaults, FakeClock, FaultInjectingTransport
from services.credentials.app import create_app
from tests.credentials.factories import diploma
from tests.support import Platform, UrlFactory, authority, id_number, scrape, service_settings

IDENTITY = authority("identity")


@dataclass
class Credentials:
    """A credentials service of its own (its own database, chunks of 2 items) on a fake clock, reaching identity
    through a transport that can take it down, its database connections at the test's mercy."""

    app: FastAPI
    clock: FakeClock
    transport: FaultInjectingTransport
    faults: DatabaseFaults
    client: httpx.AsyncClient
    admin: dict[str, str]

    async def job(self, job_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/v1/issue-jobs/{job_id}", headers=self.admin)
        assert r.status_code == 200, r.text
        return r.json()

    async def finished(self, job_id: str) -> bool:
        return (await self.job(job_id))["state"] in ("completed", "failed")

    async def until(self, job_id: str, predicate: Any, timeout: float = 60.0) -> dict[str, Any]:  # noqa: ASYNC109 - polls to a deadline, failing with what it saw (a caller's asyncio.timeout would not say)
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate(job := await self.job(job_id)):
            assert asyncio.get_running_loop().time() < deadline, job
            await asyncio.sleep(0.02)
        return job


@pytest.fixture
async def credentials(platform: Platform, database_factory: UrlFactory, tmp_path: Path) -> AsyncIterator[Credentials]:
    clock = FakeClock()
    transport = FaultInjectingTransport(platform.transport, clock)
    settings = service_settings("credentials", await database_factory("credentials"), tmp_path / "objects",
                                job_chunk_size=2, jobs_poll_seconds=1.0, restatus_poll_seconds=0)
    app = create_app(settings, http_transport=transport)
    app.state.clock = clock
    faults = DatabaseFaults(app.state.db)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        stack.callback(faults.close)
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://credentials"))
        await clock.until_parked(1)  # the issue-job worker waits for work
        admin = await platform.admin_headers()
        # identity's signing keys are fetched once, before any outage (then cached, as in production)
        assert (await client.get(f"/v1/issue-jobs/{uuid.uuid4()}", headers=admin)).status_code == 404
        yield Credentials(app, clock, transport, faults, client, admin)


async def test_lost_connection_mid_chunk_rolls_back_that_chunk_only(platform: Platform, credentials: Credentials) -> None:
    school = await platform.school_headers()
    items = [diploma(holder={"full_name": f"Lê Văn Bình {i}"}) for i in range(6)]
    r = await credentials.client.post("/v1/issue-jobs", json={"institution_code": "CD0101", "credentials": items}, headers=school)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    # the connection is killed as the second chunk is about to commit (its job row update, after its credentials)
    credentials.faults.kill_when(lambda sql: "UPDATE issue_jobs" in sql and "processed" in sql, skip=1)
    await credentials.clock.advance(1)  # the worker's next poll
    job = await credentials.until(job_id, lambda j: j["waiting"] is not None)
    assert job["state"] == "running" and "database connection lost" in job["waiting"] and job["processed"] == 2, job
    await credentials.clock.advance_until(lambda: credentials.finished(job_id), limit=60)
    job = await credentials.job(job_id)
    # every credential issued exactly once: one of the rolled-back chunk issued twice would count as existing
    assert (job["state"], job["processed"], job["issued"], job["existing"], job["failed"]) == ("completed", 6, 6, 0, 0), job
    assert job["waiting"] is None
    listed = await credentials.client.get(f"/v1/issue-jobs/{job_id}/items", headers=credentials.admin)
    assert len({i["credential_id"] for i in listed.json()["items"]}) == 6


@pytest.mark.parametrize("how", ["connect", 503])
async def test_identity_down_while_a_holder_is_looked_up_the_job_waits(platform: Platform, credentials: Credentials,
                                                                     how: str | int) -> None:
    svc = {"Authorization": f"Bearer {await platform.token('svc-records', 'dev-only-svc-records-secret')}"}
    async with platform.client("identity") as c:
        r = await c.post("/v1/persons", json={"id_number": id_number(), "full_name": "Phạm Thị Thu", "date_of_birth": "2004-03-02",
                                               "gender": "male"}, headers=svc)
        assert r.status_code == 201, r.text
    person = r.json()["id"]
    course, event_id = str(uuid.uuid4()), str(uuid.uuid4())
    event = {
        "specversion": "1.0", "id": event_id, "type": "vn.vet.learning.course.completed", "source": "learning",
        "subject": course, "time": "2026-09-01T02:00:00Z", "datacontenttype": "application/json",
        "data": {"course_id": course, "version": 1, "title": "Kỹ năng làm việc nhóm", "skill_area": "làm việc nhóm",
                 "hours": 30, "person_id": person, "completed_at": "2026-09-01T02:00:00Z", "final_score": 90},
    }
    learning = {"Authorization": f"Bearer {await platform.token('svc-learning', platform.settings['learning'].client_secret, 'events:deliver')}"}
    credentials.transport.fail(IDENTITY, how)
    r = await credentials.client.post("/v1/events", json=event, headers=learning)
    assert r.status_code == 202, r.text
    found = await credentials.client.get("/v1/issue-jobs", params={"institution": "VNVET", "source_event_id": event_id},
                                         headers=credentials.admin)
    (job,) = found.json()["items"]
    await credentials.clock.advance(1)
    job = await credentials.until(job["id"], lambda j: j["waiting"] is not None)
    assert job["state"] == "running" and "identity" in job["waiting"] and job["failed"] == 0, job
    await credentials.clock.advance(30)
    job = await credentials.job(job["id"])
    assert job["state"] == "running" and job["failed"] == 0 and "identity" in job["waiting"], job
    metrics = await scrape(credentials.client)  # what an operator sees meanwhile
    queue = (("queue", "credentials_issue"),)
    assert metrics[("vet_jobs_waiting", queue)] == 1 and metrics[("vet_jobs", queue + (("state", "running"),))] == 1, metrics
    credentials.transport.restore(IDENTITY)
    took = await credentials.clock.advance_until(lambda: credentials.finished(job["id"]), limit=61)
    job = await credentials.job(job["id"])
    assert (job["state"], job["issued"], job["failed"]) == ("completed", 1, 0) and job["waiting"] is None and took <= 60, job
