"""Assessment fixtures: a learning app of its own on the platform's database whose clock the tests move by hand
(exam windows, deadlines and accommodations are checked on the server by that clock; nothing waits in real time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from services.common.testing import FakeClock
from tests.learning.conftest import client_for, learning_app
from tests.support import Platform


@dataclass
class Assessment:
    app: FastAPI
    clock: FakeClock

    def client(self) -> httpx.AsyncClient:
        return client_for(self.app)


@pytest.fixture(scope="session")
async def assessment(platform: Platform) -> AsyncIterator[Assessment]:
    """Learning with a fake clock for requests (its background loops keep the real one: the clock is swapped once
    they started). Small upload limits, so the bounds can be seen."""
    async with learning_app(platform, assessment_evidence_max_bytes=256 * 1024, assessment_answer_file_max_bytes=64 * 1024) as app:
        clock = FakeClock()
        app.state.clock = clock
        yield Assessment(app, clock)


@pytest.fixture
async def api(assessment: Assessment) -> AsyncIterator[httpx.AsyncClient]:
    async with assessment.client() as c:
        yield c

