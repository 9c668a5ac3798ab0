"""Read-only endpoints that scan run on ``<SVC>_DATABASE_READ_URL`` (a streaming replica in production).

A second PostgreSQL database stands in for the replica and holds other rows than the primary, so every answer
shows where it was read: statistics, search, the course targets and the institutions map come from the read
URL; writes, and the reads that must see them, from the primary. A replica that is gone (a dead port, a server
that accepts and never answers, one that goes away and comes back) is replaced by the primary, with a warning
and a metric, and tried again later. PostgreSQL only: SQLite has no replicas."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from services.common.db import Database, ReadDatabase, get_read_session
from services.registry import SERVICES
from tests.records.helpers import login, run_ok
from tests.support import Platform, UrlFactory, scrape, service_settings, service_url

#: PostgreSQL only (skipped when it is down, failed under CI=true: ``database_factory``)
POSTGRES = pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)

READ_ONLY_VIOLATION = "25006"  # SQLSTATE read_only_sql_transaction


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_port(url: str, port: int) -> str:
    """The same database, on another port of this machine."""
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def server_port(url: str) -> int:
    return make_url(url).port or 5432


class Forwarder:
    """A TCP hop to the PostgreSQL server on a port of its own, which can be taken away (listener closed and every
    connection through it cut, as when a replica's node dies) and brought back on the same port."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.server: asyncio.AbstractServer | None = None
        self.pipes: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.pipes):
            writer.transport.abort()
        await self.server.wait_closed()
        self.server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self.pipes |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.pipes -= {writer, up_writer}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def marked(url: str, mark: str) -> None:
    """A table ``probe`` holding one row, ``mark``, in the database at ``url``."""
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        async with db.session() as s:
            await s.execute(text("CREATE TABLE probe (mark text NOT NULL)"))
            await s.execute(text("INSERT INTO probe VALUES (:m)"), {"m": mark})
    finally:
        await db.dispose()


async def read_mark(reads: ReadDatabase) -> str:
    async with reads.session() as s:
        return (await s.execute(text("SELECT mark FROM probe"))).scalar_one()


@pytest.fixture
async def two_databases(database_factory: UrlFactory) -> tuple[str, str]:
    """(primary, stand-in replica): two empty databases, each with its own ``probe`` row."""
    primary, replica = await database_factory("readprobe", migrated=False), await database_factory("readprobe", migrated=False)
    await marked(primary, "primary")
    await marked(replica, "replica")
    return primary, replica


@contextlib.asynccontextmanager
async def databases(primary_url: str, read_url: str = "", **kw: Any) -> AsyncIterator[tuple[Database, ReadDatabase]]:
    primary = Database(primary_url, pool_size=1, max_overflow=1)
    reads = ReadDatabase(primary, read_url, pool_size=1, max_overflow=0, **kw)
    try:
        yield primary, reads
    finally:
        await reads.dispose()
        await primary.dispose()


# -- the kit ---------------------------------------------------------------------------------------------------


@POSTGRES
async def test_read_sessions_use_the_read_url_and_refuse_writes(two_databases: tuple[str, str]) -> None:
    primary_url, replica_url = two_databases
    async with databases(primary_url, replica_url) as (primary, reads):
        assert await read_mark(reads) == "replica"
        async with primary.session() as s:  # writes (and what must see them) stay on the primary
            await s.execute(text("INSERT INTO probe VALUES ('written')"))
        async with primary.session(write=False) as s:
            assert set((await s.scalars(text("SELECT mark FROM probe"))).all()) == {"primary", "written"}
        async with reads.session() as s:
            assert (await s.scalars(text("SELECT mark FROM probe"))).all() == ["replica"]
        with pytest.raises(DBAPIError) as refused:
            async with reads.session() as s:
                await s.execute(text("INSERT INTO probe VALUES ('by mistake')"))
        assert getattr(refused.value.orig, "sqlstate", None) == READ_ONLY_VIOLATION
        assert reads.replica_up is True
        # the pools give connections back as they took them: the primary's still writes
        async with primary.session() as s:
            await s.execute(text("DELETE FROM probe WHERE mark = 'written'"))

    # no read URL: read sessions run on the primary's pool, read-only there too
    async with databases(primary_url) as (primary, reads):
        assert reads.engine is None and reads.replica_up is None
        assert await read_mark(reads) == "primary"
        with pytest.raises(DBAPIError) as refused:
            async with reads.session() as s:
                await s.execute(text("UPDATE probe SET mark = 'by mistake'"))
        assert getattr(refused.value.orig, "sqlstate", None) == READ_ONLY_VIOLATION
        async with primary.session() as s:
            await s.execute(text("UPDATE probe SET mark = 'primary'"))  # the same pool's connection writes again


@POSTGRES
async def test_a_replica_on_a_dead_port_falls_back_to_the_primary(two_databases: tuple[str, str],
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    primary_url, replica_url = two_databases
    clock, fallbacks = Clock(), []
    async with databases(primary_url, with_port(replica_url, free_port()), retry_seconds=30, clock=clock) as (_, reads):
        attempts = []
        event.listen(reads.engine.sync_engine, "do_connect", lambda *a: attempts.append(1))  # type: ignore[union-attr]
        reads.on_fallback = lambda: fallbacks.append(1)
        with caplog.at_level(logging.WARNING, logger="services.db"):
            assert await read_mark(reads) == "primary"
        assert reads.replica_up is False and len(fallbacks) == 1 and len(attempts) == 1
        assert [r for r in caplog.records if "read replica unreachable" in r.getMessage()]
        # while it is down, requests go straight to the primary: no connection attempt each
        clock.now += 29
        assert [await read_mark(reads) for _ in range(3)] == ["primary"] * 3
        assert (len(fallbacks), len(attempts)) == (4, 1)
        # after the retry period the replica is tried again (still dead: the primary again)
        clock.now += 2
        assert await read_mark(reads) == "primary"
        assert (len(fallbacks), len(attempts)) == (5, 2)


@POSTGRES
async def test_a_replica_that_never_answers_is_given_up_after_the_connect_timeout(two_databases: tuple[str, str]) -> None:
    """A host that takes the connection and says nothing (a hung server, a black-holed route): the connect
    timeout, not asyncpg's 60 s, decides when the primary answers instead."""
    primary_url, replica_url = two_databases
    silent: set[asyncio.StreamWriter] = set()

    async def accept_and_wait(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        silent.add(w)

    server = await asyncio.start_server(accept_and_wait, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with databases(primary_url, with_port(replica_url, port), connect_timeout=0.5) as (_, reads):
            started = asyncio.get_running_loop().time()
            assert await read_mark(reads) == "primary"
            assert asyncio.get_running_loop().time() - started < 5
            assert silent and reads.replica_up is False
    finally:
        server.close()
        for w in silent:
            w.transport.abort()
        await server.wait_closed()


@POSTGRES
async def test_a_replica_that_goes_away_and_comes_back(two_databases: tuple[str, str]) -> None:
    primary_url, replica_url = two_databases
    hop = Forwarder(server_port(replica_url))
    await hop.start()
    clock = Clock()
    async with databases(primary_url, with_port(replica_url, hop.port), retry_seconds=30, clock=clock) as (_, reads):
        assert await read_mark(reads) == "replica"  # a pooled connection through the hop now
        await hop.stop()  # the replica's node dies: its pooled connection is cut, new ones are refused
        assert await read_mark(reads) == "primary"
        assert reads.replica_up is False
        await hop.start()
        assert await read_mark(reads) == "primary"  # not tried again before the retry period
        clock.now += 31
        assert await read_mark(reads) == "replica"
        assert reads.replica_up is True
        # lost in the middle of a request: that request fails (the service answers 503 with Retry-After), the
        # replica counts as down, and the retry is answered by the primary
        with pytest.raises(DBAPIError):
            async with reads.session() as s:
                await s.execute(text("SELECT 1"))
                await hop.stop()
                await s.execute(text("SELECT mark FROM probe"))
        assert reads.replica_up is False
        assert await read_mark(reads) == "primary"


# -- the services ----------------------------------------------------------------------------------------------

#: every route that reads through ``get_read_session``: scans whose readers accept data a moment old
READ_ROUTES = {
    "identity": {"GET /v1/institutions.geojson", "GET /v1/oversight/institutions"},
    "learning": {"GET /v1/search", "GET /v1/course-reports", "GET /v1/course-reports/targets", "GET /v1/institution-activity"},
    "records": {"GET /v1/statistics", "GET /v1/oversight/connections", "GET /v1/oversight/indicators", "GET /v1/oversight/targets",
                "GET /v1/report-calendar", "GET /v1/report-kinds", "GET /v1/reports/{report_id}/export", "GET /v1/intakes"},
    "credentials": {"GET /v1/institutions/{code}/credential-counts"},
}


def _depends_on_read_session(dependant: Any) -> bool:
    return any(d.call is get_read_session or _depends_on_read_session(d) for d in dependant.dependencies)


def _routes(routes: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(method and path, route) of every endpoint, through included routers."""
    out = []
    for route in routes:
        if (inner := getattr(route, "original_router", None)) is not None:
            out += _routes(inner.routes, prefix + (route.include_context.prefix or ""))
        elif hasattr(route, "dependant"):
            out += [(f"{method} {prefix}{route.path}", route) for method in route.methods]
    return out


def test_the_scanning_endpoints_and_only_they_read_through_the_read_session(tmp_path: Path) -> None:
    from importlib import import_module

    for name in SERVICES:
        settings = service_settings(name, f"sqlite+aiosqlite:///{tmp_path / name}.db", tmp_path / "objects")
        app = import_module(f"services.{name}.app").create_app(settings)
        routes = _routes(app.routes)
        assert len(routes) > 10
        found = {where for where, route in routes if _depends_on_read_session(route.dependant)}
        assert found == READ_ROUTES[name], name


def client(app: FastAPI, name: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=service_url(name))


@contextlib.asynccontextmanager
async def service(platform: Platform, name: str, database_url: str, tmp_path: Path, **settings: Any) -> AsyncIterator[FastAPI]:
    from importlib import import_module

    app = import_module(f"services.{name}.app").create_app(
        service_settings(name, database_url, tmp_path / "objects", **settings), http_transport=platform.transport)
    async with app.router.lifespan_context(app):
        yield app


def learners(*names: str) -> dict[str, Any]:
    from tests.records.helpers import id_number, programme

    return {"programmes": [programme("CNTT")],
            "learners": [{"id_number": id_number(), "full_name": n, "programme_code": "CNTT", "enrolled_on": "2025-09-05"}
                         for n in names]}


@POSTGRES
async def test_records_statistics_read_the_replica_and_reports_the_primary(
        platform: Platform, database_factory: UrlFactory, tmp_path: Path) -> None:
    admin, ministry = await platform.admin_headers(), await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    primary_url, replica_url = await database_factory("records"), await database_factory("records")
    # the stand-in replica: two learners, written there by a records service of its own
    async with service(platform, "records", replica_url, tmp_path, sync_poll_seconds=0.05) as stand_in:
        async with client(stand_in, "records") as c:
            await run_ok(c, admin, learners("Nguyễn Văn Một", "Trần Thị Hai"))
    async with service(platform, "records", primary_url, tmp_path, sync_poll_seconds=0.05,
                       database_read_url=replica_url) as records, client(records, "records") as c:
        await run_ok(c, admin, learners("Lê Văn Ba", "Phạm Thị Bốn", "Đỗ Văn Năm"))  # written to the primary
        r = await c.get("/v1/statistics", headers=ministry)
        assert r.status_code == 200, r.text
        assert [i["learners"] for i in r.json()["items"]] == [2]  # the replica's
        r = await c.get("/v1/statistics", params={"by": "institution", "format": "csv"}, headers=ministry)
        assert r.text.splitlines()[1].startswith("CD0101,2,2,")
        # a yearly report is computed and kept on the primary (its figures are frozen at submission)
        r = await c.post("/v1/reports", json={"scope": "institution", "code": "CD0101", "year": 2025}, headers=admin)
        assert r.status_code == 201, r.text
        assert r.json()["figures"]["totals"]["learners"] == 3
        assert (await c.get(f"/v1/reports/{r.json()['id']}", headers=admin)).status_code == 200
    async with service(platform, "records", replica_url, tmp_path) as stand_in, client(stand_in, "records") as c:
        assert (await c.get(f"/v1/reports/{r.json()['id']}", headers=admin)).status_code == 404


@POSTGRES
async def test_records_statistics_fall_back_to_the_primary_with_a_metric(
        platform: Platform, database_factory: UrlFactory, tmp_path: Path) -> None:
    admin, ministry = await platform.admin_headers(), await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    primary_url = await database_factory("records")
    async with service(platform, "records", primary_url, tmp_path, sync_poll_seconds=0.05,
                       database_read_url=with_port(primary_url, free_port())) as records, client(records, "records") as c:
        await run_ok(c, admin, learners("Lê Văn Ba"))
        before = await scrape(c)
        assert before[("vet_db_read_fallbacks_total", ())] == 0 and before[("vet_db_read_replica_up", ())] == 1
        for _ in range(2):
            r = await c.get("/v1/statistics", headers=ministry)
            assert r.status_code == 200, r.text
            assert [i["learners"] for i in r.json()["items"]] == [1]
        after = await scrape(c)
        assert after[("vet_db_read_fallbacks_total", ())] == 2 and after[("vet_db_read_replica_up", ())] == 0
        # the read pool never opened a connection; the primary's is untouched by it
        assert after[("vet_db_read_pool_connections", (("state", "idle"),))] == 0


@POSTGRES
async def test_learning_search_and_targets_read_the_replica(platform: Platform, database_factory: UrlFactory,
                                                            tmp_path: Path) -> None:
    """The platform's learning database, where an object is published and a pilot designated, stands in for the
    replica of a learning service whose own (primary) database is empty."""
    from tests.learning.helpers import OFFICER, TEACHER, create, marker, mp4, publish, upload

    teacher, officer = await login(platform, *TEACHER), await login(platform, *OFFICER)
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    tag = marker()
    async with platform.client("learning") as c:
        video = await create(c, teacher, f"Kỹ năng giao tiếp {tag}", visibility="public")
        await upload(c, teacher, video["id"], mp4())
        await publish(c, teacher, officer, video["id"])
        already = "TC7901" in {p["institution_code"] for p in (await c.get("/v1/course-pilots", headers=ministry)).json()}
        assert (await c.put("/v1/course-pilots/TC7901", json={}, headers=ministry)).status_code == 200
        pilots = len((await c.get("/v1/course-pilots", headers=ministry)).json())
    try:
        await _search_and_targets_from_the_replica(platform, database_factory, tmp_path, ministry, tag, video, pilots)
    finally:  # the platform is shared: a designation made for this test only is ended again
        if not already:
            async with platform.client("learning") as c:
                assert (await c.delete("/v1/course-pilots/TC7901", headers=ministry)).status_code == 204


async def _search_and_targets_from_the_replica(platform: Platform, database_factory: UrlFactory, tmp_path: Path,
                                               ministry: dict[str, str], tag: str, video: dict, pilots: int) -> None:
    async with service(platform, "learning", await database_factory("learning"), tmp_path,
                       database_read_url=platform.settings["learning"].database_url) as learning:
        async with client(learning, "learning") as c:
            r = await c.get("/v1/search", params={"q": f"ky nang giao tiep {tag}"})
            assert r.status_code == 200, r.text
            assert [hit["id"] for hit in r.json()["items"]] == [video["id"]]
            assert r.json()["facets"]["type"] == [{"value": "video", "count": 1}]
            # the object itself is read from the primary, which never had it
            assert (await c.get(f"/v1/learning-objects/{video['id']}")).status_code == 404
            r = await c.get("/v1/course-reports/targets", headers=ministry)
            assert r.status_code == 200, r.text
            assert r.json()["pilot_institutions"] == pilots >= 1
            assert (await c.get("/v1/course-pilots", headers=ministry)).json() == []


@POSTGRES
async def test_the_institutions_map_reads_the_replica(platform: Platform, database_factory: UrlFactory,
                                                     tmp_path: Path) -> None:
    """The platform's identity database (seeded with the demo institutions) stands in for the replica of an
    identity service whose primary is empty."""
    async with platform.client("identity") as c:
        seeded = (await c.get("/v1/institutions.geojson")).json()["features"]
    assert seeded
    async with service(platform, "identity", await database_factory("identity"), tmp_path,
                       database_read_url=platform.settings["identity"].database_url) as identity:
        async with client(identity, "identity") as c:
            r = await c.get("/v1/institutions.geojson")
            assert r.status_code == 200, r.text
            assert r.json()["features"] == seeded
            code = seeded[0]["properties"]["code"]
            assert (await c.get(f"/v1/institutions/{code}")).status_code == 404  # one institution: the primary
