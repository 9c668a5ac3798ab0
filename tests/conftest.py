"""Fixtures every test shares: the database backends (SQLite and real PostgreSQL) with throwaway databases, and
the in-process platform — one per test module, on databases of its own.

Isolation is per module, not per test: the code under test commits (its own transactions, background workers,
other services called over the in-process transport), so a transaction rolled back after each test cannot hold it.
Each module gets fresh databases instead, copied from templates migrated (and, for identity, seeded) once per run:
``CREATE DATABASE … TEMPLATE`` on PostgreSQL, the SQLite backup API on SQLite — a tenth of a second each, against
seconds for migrating. They are dropped when the module ends. A test that needs a database of its own asks
``database_factory``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.common.migrations import upgrade
from services.common.testing import WriteTransactions, create_pg_database, drop_pg_database, in_ci, postgres_available
from services.common.testing_s3 import S3TestServer, start_s3_server
from services.registry import SERVICES
from tests.resources import ResourceMonitor
from tests.support import RUN_PREFIX, VNEID, Platform, UrlFactory, running_platform, seed_identity, service_settings

os.environ.setdefault("VET_LOG_LEVEL", "WARNING")

#: identity migrated and loaded with the demo data the platform seeds (kept apart from the plain template: some
#: tests need an identity database nobody has seeded)
SEEDED_IDENTITY = "identity_seeded"


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(ResourceMonitor(RUN_PREFIX), "vet-resource-monitor")


#: PostgreSQL databases waiting to be dropped before a module's teardown waits for the dropping (each ``DROP
#: DATABASE`` waits for a checkpoint of the whole server: seconds when other work shares it) …
MAX_UNDROPPED = 24
#: … and how many are dropped at once (their checkpoints coalesce: four together cost about one)
DROP_TOGETHER = 4


class Databases:
    """Throwaway databases of one backend, each a copy of a template built the first time it is asked for.
    PostgreSQL databases are dropped one at a time by a task of their own, while the next module runs."""

    def __init__(self, backend: str, root: Path) -> None:
        self.backend, self.root = backend, root
        self._templates: dict[str, str] = {}  # kind → PostgreSQL database name or SQLite file
        self._lock = asyncio.Lock()
        self._doomed: asyncio.Queue[str | None] = asyncio.Queue(maxsize=MAX_UNDROPPED)
        self._dropper: asyncio.Task[None] | None = None
        self._undropped: list[str] = []

    def _sqlite_url(self, path: Path) -> str:
        return f"sqlite+aiosqlite:///{path}"

    async def _empty(self, prefix: str) -> tuple[str, str]:
        """(what drop takes, URL) of a new empty database."""
        if self.backend == "sqlite":
            path = self.root / f"{prefix}-{uuid.uuid4().hex[:8]}.db"
            return str(path), self._sqlite_url(path)
        return await create_pg_database(f"{RUN_PREFIX}_{prefix}")

    async def template(self, kind: str) -> str:
        async with self._lock:
            if kind not in self._templates:
                self._templates[kind] = await self._build(kind)
            return self._templates[kind]

    async def _build(self, kind: str) -> str:
        service = "identity" if kind == SEEDED_IDENTITY else kind
        name, url = await self._empty(f"tpl_{kind}")
        await upgrade(service, url)
        if kind == SEEDED_IDENTITY:
            # the settings running_platform gives identity, and the other services' client secrets it registers
            objects = self.root / "objects"
            settings = {n: service_settings(n, url, objects, **(VNEID if n == "identity" else {})) for n in SERVICES}
            await seed_identity(settings)
        return name

    async def create(self, service: str, *, migrated: bool = True, seeded: bool = False) -> tuple[str, str]:
        """(what :meth:`drop` takes, URL) of a new database: empty, migrated to head, or (identity) also seeded."""
        if not migrated:
            return await self._empty(service)
        template = await self.template(SEEDED_IDENTITY if seeded and service == "identity" else service)
        if self.backend == "sqlite":
            path = self.root / f"{service}-{uuid.uuid4().hex[:8]}.db"
            await asyncio.to_thread(_sqlite_copy, Path(template), path)
            return str(path), self._sqlite_url(path)
        return await create_pg_database(f"{RUN_PREFIX}_{service}", template=template)

    async def drop(self, name: str) -> None:
        if self.backend == "sqlite":
            for leftover in (name, f"{name}-wal", f"{name}-shm", f"{name}-journal"):
                await asyncio.to_thread(Path(leftover).unlink, missing_ok=True)
            return
        if self._dropper is None:
            self._dropper = asyncio.create_task(self._drop_queued())
        await self._doomed.put(name)  # waits while MAX_UNDROPPED are queued

    async def _drop_queued(self) -> None:
        """Drops what is queued, up to DROP_TOGETHER at once: concurrent drops wait for one checkpoint together."""
        done = False
        while not done:
            batch = [await self._doomed.get()]
            while len(batch) < DROP_TOGETHER and not self._doomed.empty():
                batch.append(self._doomed.get_nowait())
            done = None in batch
            await asyncio.gather(*(self._drop_now(name) for name in batch if name is not None))

    async def _drop_now(self, name: str) -> None:
        for attempt in range(3):
            try:
                await drop_pg_database(name)  # WITH (FORCE): a connection a test left open does not keep it
                return
            except Exception as exc:  # noqa: BLE001 - kept, and reported when the run ends
                if attempt == 2:
                    self._undropped.append(f"{name}: {type(exc).__name__}: {exc}")
                else:
                    await asyncio.sleep(1)

    async def close(self) -> None:
        for name in self._templates.values():
            await self.drop(name)
        self._templates.clear()
        if self._dropper is not None:
            await self._doomed.put(None)
            await self._dropper
        assert not self._undropped, f"databases left on the server: {self._undropped}"


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of an SQLite database (the online backup API: right whatever the journal mode)."""
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
async def databases(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Databases]:
    """The backend's templates, built once per run as modules first need them, dropped at the end."""
    if backend == "postgres":
        reason = await postgres_available()
        if reason:
            if in_ci():
                pytest.fail(f"CI=true and PostgreSQL is required: {reason}")
            pytest.skip(reason)
    dbs = Databases(backend, tmp_path_factory.mktemp(f"db-{backend}"))
    yield dbs
    await dbs.close()


@contextlib.asynccontextmanager
async def _factory(databases: Databases) -> AsyncIterator[UrlFactory]:
    created: list[str] = []

    async def url_for(service: str, *, migrated: bool = True, seeded: bool = False) -> str:
        name, url = await databases.create(service, migrated=migrated, seeded=seeded)
        created.append(name)
        return url

    try:
        yield url_for
    finally:
        for name in created:
            await databases.drop(name)


@pytest.fixture(scope="module")
async def database_factory(databases: Databases) -> AsyncIterator[UrlFactory]:
    """``await url_for(service)`` → URL of a fresh database on this backend, migrated to head (``migrated=False``:
    empty). Dropped when the module ends."""
    async with _factory(databases) as url_for:
        yield url_for


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3TestServer]:
    """moto's S3 API on 127.0.0.1 (a real S3 API over HTTP, in a process of its own), for the modules that ask for
    it: stopped with the module, so what it stored goes with it."""
    server = start_s3_server()
    yield server
    server.stop()


@pytest.fixture
def no_calls_in_write_transactions(platform: Platform) -> Iterator[None]:
    """Fails the test if records, learning or credentials calls another service (identity among them) from a task
    that holds an open write transaction of its own database (``services.common.testing.WriteTransactions``)."""
    guards = [WriteTransactions(platform.apps[name].state.db, platform.apps[name].state.http)
              for name in ("records", "learning", "credentials")]
    try:
        yield
    finally:
        for guard in guards:
            guard.close()
    for guard in guards:
        guard.check()


@pytest.fixture(scope="module")
async def platform(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """Every service in this process on databases of this module's own (identity seeded with the demo data)."""
    # small lockouts, and short ones (the lockout tests move identity's clock past them: tests/identity/conftest.py)
    overrides = {"identity": {"lockout_base_seconds": 1.0, "lockout_account_failures": 3, "lockout_ip_failures": 6}}
    async with _factory(databases) as url_for:
        async def seeded(service: str) -> str:
            return await url_for(service, seeded=True)

        async with running_platform(seeded, Path(tmp_path_factory.mktemp("platform")), overrides) as p:
            yield p
