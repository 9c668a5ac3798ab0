"""A database that drops or refuses connections: requests answer 503 problem+json with Retry-After (never 500), and
pooled connections the server killed are replaced before use (pool pre-ping), so a killed pool costs no request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.common.testing import DatabaseFaults
from services.records.app import create_app
from tests.support import Platform, UrlFactory, service_settings


@pytest.fixture
async def records(platform: Platform, database_factory: UrlFactory, tmp_path: Path) -> AsyncIterator[tuple[FastAPI, DatabaseFaults]]:
    """A records service of its own (its own database, the platform's identity), whose connections the test kills."""
    app = create_app(service_settings("records", await database_factory("records"), tmp_path / "objects"),
                     http_transport=platform.transport)
    faults = DatabaseFaults(app.state.db)
    try:
        yield app, faults
    finally:
        faults.close()
        await app.state.db.dispose()


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://records")


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == "5"
    body = r.json()
    assert body["type"].endswith("/unavailable") and body["status"] == 503
    assert "database" in body["detail"].lower() and "127.0.0.1" not in r.text


async def test_killed_pooled_connections_cost_no_request(records: tuple[FastAPI, DatabaseFaults]) -> None:
    app, faults = records
    async with client(app) as c:
        assert (await c.get("/v1/occupations")).status_code == 200  # a connection now waits in the pool
        await faults.terminate_all()  # pg_terminate_backend of every connection of the service (SQLite: closed)
        for _ in range(3):
            r = await c.get("/v1/occupations")
            assert r.status_code == 200, r.text


async def test_connection_lost_mid_request_is_a_503_with_retry_after(records: tuple[FastAPI, DatabaseFaults]) -> None:
    app, faults = records
    async with client(app) as c:
        faults.kill_when(lambda sql: "FROM occupations" in sql)
        assert_unavailable(await c.get("/v1/occupations"))
        assert faults.kills == 1
        assert (await c.get("/v1/occupations")).status_code == 200  # the next request has a fresh connection


async def test_database_down_is_a_503_until_it_is_back(platform: Platform, records: tuple[FastAPI, DatabaseFaults]) -> None:
    app, faults = records
    school = await platform.school_headers()
    async with client(app) as c:
        # identity's signing keys are fetched before the outage (then cached, as in production)
        assert (await c.get("/v1/institutions/CD0101/sync-jobs", headers=school)).status_code == 200
        faults.down = True
        await faults.terminate_all()
        assert_unavailable(await c.get("/v1/occupations"))
        # the Idempotency-Key store is read in a middleware, outside the routes: the same answer
        r = await c.post("/v1/institutions/CD0101/sync/json", json={}, headers=school | {"Idempotency-Key": "k-1"})
        assert_unavailable(r)
        faults.down = False
        assert (await c.get("/v1/occupations")).status_code == 200
