"""Fixtures every test shares: the database backends (SQLite and real PostgreSQL, a throwaway database per
run) and the in-process platform."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.common.migrations import upgrade
from services.common.testing import create_pg_database, drop_pg_database, in_ci, postgres_available
from services.common.testing_s3 import S3TestServer, start_s3_server
from tests.support import Platform, UrlFactory, running_platform

os.environ.setdefault("VET_LOG_LEVEL", "WARNING")


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
async def database_factory(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[UrlFactory]:
    """``await url_for(service)`` → URL of a fresh database on this backend, migrated to head. Dropped after."""
    created: list[str] = []
    if backend == "postgres":
        reason = await postgres_available()
        if reason:
            if in_ci():
                pytest.fail(f"CI=true and PostgreSQL is required: {reason}")
            pytest.skip(reason)
    root = tmp_path_factory.mktemp("db")

    async def url_for(service: str, *, migrated: bool = True) -> str:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{root / f'{service}-{uuid.uuid4().hex[:8]}.db'}"
        else:
            name, url = await create_pg_database(f"vet_test_{service}")
            created.append(name)
        if migrated:
            await upgrade(service, url)
        return url

    yield url_for
    for name in created:
        await drop_pg_database(name)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3TestServer]:
    """moto's S3 API on 127.0.0.1 (a real S3 API over HTTP), started once per session if a test asks for it."""
    server = start_s3_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def platform(database_factory: UrlFactory, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    # short, small lockouts so their expiry can be seen within a test
    overrides = {"identity": {"lockout_base_seconds": 1.0, "lockout_account_failures": 3, "lockout_ip_failures": 6}}
    async with running_platform(database_factory, Path(tmp_path_factory.mktemp("platform")), overrides) as p:
        yield p
