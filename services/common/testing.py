"""Test helpers shared by every service's tests: throwaway databases and in-process service wiring."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping

import httpx

PG_ADMIN_DSN = os.environ.get("VET_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


async def postgres_available() -> str | None:
    """None if the server answers, else the reason it does not."""
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL at {PG_ADMIN_DSN} does not answer: {type(exc).__name__}: {exc}"
    await conn.close()
    return None


def _async_url(dsn: str, database: str) -> str:
    base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def create_pg_database(prefix: str = "vet_test") -> tuple[str, str]:
    """Creates an empty database; returns (name, SQLAlchemy async URL)."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
    finally:
        await conn.close()
    return name, _async_url(PG_ADMIN_DSN, name)


async def drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class RoutingTransport(httpx.AsyncBaseTransport):
    """Sends each request to the in-process ASGI app registered for its ``host:port`` (services calling each
    other in tests without sockets); unknown hosts get a connection error, like a service that is down."""

    def __init__(self, apps: Mapping[str, object] | None = None) -> None:
        self.routes: dict[str, httpx.AsyncBaseTransport] = {}
        for authority, app in (apps or {}).items():
            self.add(authority, app)

    def add(self, authority: str, app: object) -> None:
        self.routes[authority] = httpx.ASGITransport(app=app)  # type: ignore[arg-type]

    def remove(self, authority: str) -> None:
        self.routes.pop(authority, None)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        authority = f"{request.url.host}:{request.url.port}"
        transport = self.routes.get(authority)
        if transport is None:
            raise httpx.ConnectError(f"nothing listens on {authority}", request=request)
        return await transport.handle_async_request(request)
