"""Assessment fixtures: a learning app of its own on the platform's database whose clock the tests move by hand
(exam windows, deadlines and accommodations are checked on the server by that clock; nothing waits in real time)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from services.common.testing import FakeClock
from services.learning.app import create_app
from tests.learning.conftest import client_for
from tests.support import Platform

#: the sweeper sleeps on the app's clock too: this far ahead, however far a test moves the clock, it never runs
SWEEPER_NEVER = 10.0**10


@dataclass
class Assessment:
    app: FastAPI
    clock: FakeClock

    def client(self) -> httpx.AsyncClient:
        return client_for(self.app)


@contextlib.asynccontextmanager
async def assessment_app(platform: Platform, transport: httpx.AsyncBaseTransport | None = None,
                         clock: FakeClock | None = None) -> AsyncIterator[Assessment]:
    """Learning on a fake clock (set before start-up, so the only loop sleeping on it is the sweeper, kept asleep),
    with small upload limits so the bounds can be seen."""
    settings = platform.settings["learning"].model_copy(update={
        "assessment_evidence_max_bytes": 256 * 1024, "assessment_answer_file_max_bytes": 64 * 1024,
        "sweeper_initial_delay_seconds": SWEEPER_NEVER})
    app = create_app(settings, http_transport=transport or platform.transport)
    app.state.clock = clock or FakeClock()
    async with app.router.lifespan_context(app):
        await app.state.clock.until_parked(1)  # the sweeper, asleep
        yield Assessment(app, app.state.clock)


@pytest.fixture(scope="module")
async def assessment(platform: Platform) -> AsyncIterator[Assessment]:
    async with assessment_app(platform) as a:
        yield a


@pytest.fixture
async def api(assessment: Assessment) -> AsyncIterator[httpx.AsyncClient]:
    async with assessment.client() as c:
        yield c
