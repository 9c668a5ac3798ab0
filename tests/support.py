"""Builds the whole platform in one process for tests: every service app on its own database, wired by a
:class:`RoutingTransport`, lifespans running, demo clients loaded. Also what every test shares: the run's database
names, the apps' pool sizes, made-up ID numbers, and waiting for an observable state with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI

from services.common.testing import RoutingTransport
from services.identity.seed import seed
from services.registry import SERVICES

UrlFactory = Callable[[str], Awaitable[str]]
T = TypeVar("T")

#: every PostgreSQL database this pytest process creates is named ``<RUN_PREFIX>_…``: the run drops its own and
#: counts the connections to them (tests/conftest.py), whatever else shares the server
RUN_PREFIX = f"vet_test_{uuid.uuid4().hex[:8]}"

#: the connection pool of every app a test starts (the production default is 5 + 5): one connection kept, two more
#: while a burst lasts. A module's platform is four apps, so at most 12 connections and 4 when idle; with the extra
#: apps some modules start beside it the whole suite stays under the cap tests/conftest.py checks
#: (``MAX_PG_CONNECTIONS``). A test of the pools themselves passes its own sizes.
TEST_POOL: dict[str, Any] = {"db_pool_size": 1, "db_max_overflow": 2}

#: the last six digits of every personal ID number a test makes up, drawn without replacement: a module's
#: databases are its own, but within a module two people must never share a number by chance (identity refuses the
#: second as a conflict), and processes a test starts may share a database with it
_serials = iter(random.Random().sample(range(10**6), 300_000))


def id_number(province: str = "001", century_gender: int = 2, yy: int = 4) -> str:
    """A valid personal ID number no other test of this run has (male born 20yy by default)."""
    return f"{province}{century_gender}{yy:02d}{next(_serials):06d}"


async def eventually(probe: Callable[[], Awaitable[T]], *, timeout: float = 60.0, interval: float = 0.05,  # noqa: ASYNC109 - polls to a deadline, failing with what it saw (a caller's asyncio.timeout would not say)
                     what: str = "the awaited state") -> T:
    """Calls ``probe`` until it returns something truthy and returns that: waiting for a state the test can
    observe, with a deadline, never a fixed sleep. Fails after ``timeout`` seconds of real time (generous: a loaded
    machine is slow, never wrong), naming ``what`` and the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout} s (last seen: {value!r})")
        await asyncio.sleep(interval)


def authority(name: str) -> str:
    return f"127.0.0.1:{SERVICES[name].port}"


def service_url(name: str) -> str:
    return f"http://{authority(name)}"


def gateway_to_service(url: str) -> str:
    """What the gateway does to a link the platform hands out: ``…/api/<service>/x?q`` → ``/x?q`` on the service."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    _, _, rest = parts.path.partition("/api/")
    path = "/" + rest.partition("/")[2] if rest else parts.path
    return f"{path}?{parts.query}" if parts.query else path


VNEID_AUTHORITY = "127.0.0.1:8009"
VNEID = {
    "vneid_issuer": f"http://{VNEID_AUTHORITY}",
    "vneid_client_id": "vet-platform-test",
    "vneid_client_secret": "test-only-vneid-secret",
    "vneid_redirect_uri": "http://127.0.0.1:8001/v1/auth/vneid/callback",
}


@dataclass
class Platform:
    apps: dict[str, FastAPI]
    transport: RoutingTransport
    settings: dict[str, Any]
    #: the test's OpenID provider standing in for VNeID (a separate app on its own address)
    vneid: Any = None
    _tokens: dict[tuple[str, str | None], str] = field(default_factory=dict)

    def client(self, name: str, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.apps[name]), base_url=service_url(name), **kw)

    async def token(self, client_id: str, secret: str, scope: str | None = None) -> str:
        key = (client_id, scope)
        if key not in self._tokens:
            async with self.client("identity") as c:
                data = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
                r = await c.post("/oauth/token", data=data, auth=(client_id, secret))
                assert r.status_code == 200, r.text
                self._tokens[key] = r.json()["access_token"]
        return self._tokens[key]

    async def admin_headers(self, scope: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token('platform-admin', 'dev-only-platform-admin-secret', scope)}"}

    async def school_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token('demo-school-sis', 'dev-only-demo-school-secret')}"}


async def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A service's ``GET /metrics`` as {(sample name, sorted labels): value} (Prometheus text format)."""
    from prometheus_client.parser import text_string_to_metric_families

    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def service_settings(name: str, database_url: str, objects: Path, **overrides: Any) -> Any:
    cls = SERVICES[name].settings_class()
    values: dict[str, Any] = {
        "database_url": database_url,
        "object_store_url": f"file://{objects}",
        "identity_url": service_url("identity"),
        "jwt_issuer": service_url("identity"),
        "public_base_url": "http://127.0.0.1:8000",
        "outbox_enabled": False,
        "environment": "test",
    } | TEST_POOL
    values.update(overrides)
    return cls(**values)


async def seed_identity(settings: dict[str, Any]) -> None:
    """identity's demo data (``settings``: every service's), with the other services' clients: their ids, secrets
    and scopes."""
    services = ("learning", "records", "credentials")
    await seed(settings["identity"], {settings[n].client_id: settings[n].client_secret for n in services},
               {settings[n].client_id: n for n in services})


@contextlib.asynccontextmanager
async def running_platform(url_for: UrlFactory, tmp: Path, overrides: dict[str, dict[str, Any]] | None = None) -> AsyncIterator[Platform]:
    from importlib import import_module

    from services.identity.devoidc import ProviderState, create_provider_app

    overrides = overrides or {}
    overrides["identity"] = VNEID | overrides.get("identity", {})
    # the event routes make run sets (the event contracts); delivery itself is driven by the tests
    routes = {
        "records": {"vn.vet.records.*": [f"{service_url('credentials')}/v1/events"]},
        "learning": {"vn.vet.learning.*": [f"{service_url('credentials')}/v1/events"]},
        "credentials": {"vn.vet.credentials.*": [f"{service_url('records')}/v1/events", f"{service_url('learning')}/v1/events"]},
    }
    for name, route in routes.items():
        overrides[name] = {"event_routes": route} | overrides.get(name, {})
    transport = RoutingTransport()
    provider = ProviderState(
        issuer=VNEID["vneid_issuer"], client_id=VNEID["vneid_client_id"], client_secret=VNEID["vneid_client_secret"],
        redirect_uris=[VNEID["vneid_redirect_uri"]], public_url=VNEID["vneid_issuer"],
    )
    transport.add(VNEID_AUTHORITY, create_provider_app(provider))
    apps: dict[str, FastAPI] = {}
    settings: dict[str, Any] = {}
    for name in SERVICES:
        s = service_settings(name, await url_for(name), tmp / "objects", **overrides.get(name, {}))
        settings[name] = s
        apps[name] = import_module(f"services.{name}.app").create_app(s, http_transport=transport)
        transport.add(authority(name), apps[name])
    await seed_identity(settings)
    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield Platform(apps=apps, transport=transport, settings=settings, vneid=provider)
