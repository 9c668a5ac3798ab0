"""The credential list reads on a pooled driver connection without the pool's pre-ping (services/common/prepared.py
``fetch_pooled``): a connection the server ended (a restart, a failover, ``pg_terminate_backend``) is found dead by
the read itself, dropped, and the read sent again on a fresh connection — a killed pool costs no request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.common.testing import DatabaseFaults
from services.credentials.app import create_app
from tests.credentials.factories import issue
from tests.support import Platform, UrlFactory, service_settings


@pytest.fixture
async def credentials(platform: Platform, database_factory: UrlFactory, tmp_path: Path) -> AsyncIterator[tuple[FastAPI, DatabaseFaults]]:
    """A credentials service of its own (its own database, the platform's identity), whose connections the test kills."""
    app = create_app(service_settings("credentials", await database_factory("credentials"), tmp_path / "objects"),
                     http_transport=platform.transport)
    faults = DatabaseFaults(app.state.db)
    try:
        async with app.router.lifespan_context(app):
            yield app, faults
    finally:
        faults.close()


async def test_killed_pooled_connections_cost_no_list_request(platform: Platform, credentials: tuple[FastAPI, DatabaseFaults]) -> None:
    app, faults = credentials
    school = await platform.school_headers()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://credentials") as c:
        first = await c.get("/v1/credentials", params={"institution": "CD0101", "limit": 5}, headers=school)
        assert first.status_code == 200, first.text  # the pool now holds a connection
        await faults.terminate_all()  # pg_terminate_backend of every connection of the service (SQLite: closed)
        for _ in range(3):
            r = await c.get("/v1/credentials", params={"institution": "CD0101", "limit": 5}, headers=school)
            assert r.status_code == 200, r.text
            assert r.json() == first.json()


async def test_a_list_that_fails_for_another_reason_is_not_sent_again(platform: Platform, credentials: tuple[FastAPI, DatabaseFaults]) -> None:
    """Only a dead connection makes the read go again: the database refusing it (here: lost mid-statement, then
    down) answers 503 with Retry-After, and the read is sent once per connection, not in a loop."""
    app, faults = credentials
    school = await platform.school_headers()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://credentials") as c:
        assert (await c.get("/v1/credentials", params={"institution": "CD0101"}, headers=school)).status_code == 200
        faults.down = True
        await faults.terminate_all()
        r = await c.get("/v1/credentials", params={"institution": "CD0101"}, headers=school)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"]
        faults.down = False
        assert (await c.get("/v1/credentials", params={"institution": "CD0101"}, headers=school)).status_code == 200


async def test_killed_pooled_connections_cost_no_verify_page(platform: Platform) -> None:
    """The verify page (the QR code's target) reads the stored credential's state the same way: a pool whose
    connections the server ended answers the next verifications as before."""
    cred = await issue(platform)
    faults = DatabaseFaults(platform.apps["credentials"].state.db)
    try:
        async with platform.client("credentials") as c:
            first = await c.get(f"/v1/verify/{cred['id']}")
            assert first.status_code == 200, first.text
            await faults.terminate_all()
            for _ in range(3):
                r = await c.get(f"/v1/verify/{cred['id']}")
                assert r.status_code == 200, r.text
                assert r.json()["outcome"] == first.json()["outcome"] == "valid"
    finally:
        faults.close()
