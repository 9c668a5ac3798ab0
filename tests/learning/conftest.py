"""Learning fixtures: people signed in, and extra learning apps on the database of the module's platform — on the
folder store and on S3 (moto), a strict one (small limits, a fake clamd)."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.common.clock import Clock
from services.common.testing_s3 import S3TestServer
from services.learning.app import create_app
from tests.learning.helpers import OFFICER, STUDENT, TEACHER, login, new_person
from tests.support import Platform, service_url

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@dataclass
class People:
    teacher: dict[str, str]
    student: dict[str, str]
    officer: dict[str, str]
    other_teacher: dict[str, str]  # teacher at TC7901
    other_student: dict[str, str]  # student at TC7901


@pytest.fixture(scope="module")
async def people(platform: Platform) -> People:
    return People(
        teacher=await login(platform, *TEACHER), student=await login(platform, *STUDENT), officer=await login(platform, *OFFICER),
        other_teacher=await new_person(platform, "TC7901", "teacher"), other_student=await new_person(platform, "TC7901", "student"),
    )


class FakeClamd:
    """Speaks clamd's INSTREAM protocol; finds the EICAR test string (a stand-in: Debian's clamav-daemon needs its
    signature database downloaded, which is not quick here)."""

    def __init__(self) -> None:
        self.server: asyncio.AbstractServer | None = None
        self.scans = 0

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"tcp://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            command = await reader.readuntil(b"\0")
            if command == b"zPING\0":
                writer.write(b"PONG\0")
                return
            assert command == b"zINSTREAM\0"
            tail, found = b"", False
            while True:
                (length,) = struct.unpack(">I", await reader.readexactly(4))
                if length == 0:
                    break
                data = await reader.readexactly(length)
                found = found or EICAR in tail + data
                tail = data[-len(EICAR):]
            self.scans += 1
            writer.write(b"stream: Eicar-Test-Signature FOUND\0" if found else b"stream: OK\0")
            await writer.drain()
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@contextlib.asynccontextmanager
async def learning_app(platform: Platform, *, clock: Clock | None = None, **overrides: Any) -> AsyncIterator[FastAPI]:
    """Another learning app on the platform's database, with settings ``overrides`` and (if given) a clock of the
    test's own for its background loop."""
    settings = platform.settings["learning"].model_copy(update=overrides)
    app = create_app(settings, http_transport=platform.transport)
    if clock is not None:
        app.state.clock = clock
    async with app.router.lifespan_context(app):
        yield app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=service_url("learning"), timeout=60)


PART = 5 * 1024 * 1024


@pytest.fixture(scope="module")
async def store_apps(platform: Platform, s3_server: S3TestServer) -> AsyncIterator[dict[str, FastAPI]]:
    """The learning service on the folder store and on S3, both with 5 MiB resumable parts."""
    async with contextlib.AsyncExitStack() as stack:
        folder = await stack.enter_async_context(learning_app(platform, upload_part_size=PART))
        s3 = await stack.enter_async_context(learning_app(
            platform, upload_part_size=PART, object_store_url=f"s3://learning-{uuid.uuid4().hex[:12]}",
            s3_endpoint=s3_server.endpoint, s3_access_key=s3_server.access_key, s3_secret_key=s3_server.secret_key,
            s3_region=s3_server.region,
        ))
        yield {"folder": folder, "s3": s3}


@pytest.fixture(params=["folder", "s3"])
def store_client(request: pytest.FixtureRequest, store_apps: dict[str, FastAPI]) -> Callable[[], httpx.AsyncClient]:
    app = store_apps[request.param]
    return lambda: client_for(app)


@pytest.fixture(scope="session")
async def clamd() -> AsyncIterator[tuple[FakeClamd, str]]:
    fake = FakeClamd()
    address = await fake.start()
    yield fake, address
    await fake.stop()


@pytest.fixture(scope="module")
async def strict_app(platform: Platform, clamd: tuple[FakeClamd, str]) -> AsyncIterator[FastAPI]:
    """Small limits (1 MiB files, 20 package entries) and a clamd to scan with."""
    async with learning_app(platform, max_upload_bytes=1024 * 1024, package_max_entries=20, clamd_address=clamd[1]) as app:
        yield app


def objects_root(platform: Platform) -> Path:
    return Path(platform.settings["learning"].object_store_url.removeprefix("file://"))
