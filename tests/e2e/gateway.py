"""The gateway in front of the in-process platform, for end-to-end tests that go through it as users do.

The gateway runs in the test's process (driven through httpx's ASGITransport); it reaches the services it needs
over real sockets, served by uvicorn inside the test's event loop from the same in-process platform the other
tests use (the gateway's upstream client is aiohttp, which only speaks to sockets). Services not asked for answer
nowhere (a closed port)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import uvicorn
from fastapi import FastAPI

from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from tests.support import Platform, eventually, service_url

NOWHERE = "http://127.0.0.1:9"


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """``app`` (its lifespan already running) on a free port of 127.0.0.1, in this event loop."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def up() -> bool:
        return server.started or task.done()

    await eventually(up, interval=0.01, what="uvicorn listening")
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def gateway_for(platform: Platform, *services: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the gateway in front of identity and ``services`` (e.g. ``"learning"``)."""
    async with contextlib.AsyncExitStack() as stack:
        urls = {name: await stack.enter_async_context(served(platform.apps[name])) for name in ("identity", *services)}
        settings = GatewaySettings(
            **{f"{name}_url": urls.get(name, NOWHERE) for name in ("identity", "learning", "records", "credentials")},
            jwt_issuer=service_url("identity"), environment="test", log_level="WARNING", access_log=False,
            rate_limit_enabled=False,
        )
        gateway = create_gateway(settings)
        async with gateway.router.lifespan_context(gateway):
            transport = httpx.ASGITransport(app=gateway)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000", timeout=60) as client:
                yield client


async def sign_in(gw: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await gw.post("/api/identity/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def on_gateway(url: str) -> str:
    """A link the platform handed out (``http://127.0.0.1:8000/api/…``), as a path on the gateway."""
    parts = urlsplit(url)
    assert parts.path.startswith("/api/"), url
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
