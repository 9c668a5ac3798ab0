"""Fixtures of the differential, corpus and fuzz tests: the genuine credentials they start from, issued once per
module (on the module's platform) through the API, and what the mutation generator draws on. These tests run on
SQLite only (each module parametrises ``backend`` to ``sqlite``): they test the verifier, not the database."""

from __future__ import annotations

import asyncio

import pytest

from tests.credentials.differential.mutations import Env
from tests.credentials.differential.oracle import Genuine, issue_genuine, node_ready
from tests.support import Platform

#: put in a module's ``pytestmark``: the platform on SQLite only
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
async def genuine(platform: Platform) -> Genuine:
    return await issue_genuine(platform)


@pytest.fixture(scope="module")
async def env(genuine: Genuine) -> Env:
    return await asyncio.to_thread(Env.of, genuine.documents, genuine.expected)


@pytest.fixture(scope="session")
async def vcjs() -> None:
    """node and the reference stack (``npm ci`` from the committed lock file when missing)."""
    await asyncio.to_thread(node_ready)
