"""Attacking the gateway over real sockets: the gateway served exactly as ``python -m gateway`` serves it
(:func:`gateway.server.server_config`) inside the test's event loop, the stand-in upstream of ``tests/gateway``
(counting the requests that reach it), and raw connections from chosen loopback addresses (127.0.0.2, 127.0.0.3 …
are all this machine on Linux), so that an attacker and a victim are different clients."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import uvicorn

from gateway.app import Gateway, create_app
from gateway.config import GatewaySettings
from gateway.server import server_config
from tests.gateway.conftest import ServerThread, gateway_settings

ATTACKER = "127.0.0.2"
VICTIM = "127.0.0.3"


class CountingUpstream:
    """The stand-in services, counting requests in progress per path."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.in_progress: dict[str, int] = {}
        self.seen: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        self.seen.append(path)
        self.in_progress[path] = self.in_progress.get(path, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress[path] -= 1

    def busy(self) -> int:
        return sum(self.in_progress.values())


@contextlib.asynccontextmanager
async def served(settings: GatewaySettings) -> AsyncIterator[tuple[Gateway, int]]:
    """The gateway under uvicorn as production runs it, on a free port of 127.0.0.1, in this event loop."""
    app = create_app(settings)
    server = uvicorn.Server(server_config(app, settings, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), 15, "uvicorn to start")
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield app, port
    finally:
        server.should_exit = True
        await task


def settings_for(upstream: ServerThread, **overrides: Any) -> GatewaySettings:
    return gateway_settings(upstream, **({"rate_limit_enabled": False} | overrides))


async def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> None:  # noqa: ASYNC109 - polls to a deadline, failing with what it saw (a caller's asyncio.timeout would not say)
    """Polls ``predicate`` until it is true; fails after ``timeout`` seconds naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


async def connect(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def request(port: int, source: str, head: str, body: bytes = b"", timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:  # noqa: ASYNC109 - the bound is part of the assertion: the server answers (or closes) within it
    """One whole request from ``source``; returns status, headers and body (read until the connection closes or
    Content-Length is complete)."""
    reader, writer = await connect(port, source)
    try:
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        return await read_response(reader, timeout)
    finally:
        writer.close()


async def read_response(reader: asyncio.StreamReader, timeout: float) -> tuple[int, dict[str, str], bytes]:  # noqa: ASYNC109 - the bound is part of the assertion: the server answers (or closes) within it
    async with asyncio.timeout(timeout):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body = await reader.read()
    return status, headers, body


async def closed_by_server(reader: asyncio.StreamReader, timeout: float) -> bytes:  # noqa: ASYNC109 - the bound is part of the assertion: the server answers (or closes) within it
    """Everything the server sends until it closes the connection (fails if it is still open after ``timeout``)."""
    async with asyncio.timeout(timeout):
        return await reader.read()


def get(path: str, token: str | None = None) -> str:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: gateway.test\r\n{auth}Connection: close\r\n\r\n"
