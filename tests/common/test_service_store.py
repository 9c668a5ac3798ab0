"""A service configured for S3 (production shape) is ready against a real S3 API, and says so when it is not."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from services.common.testing_s3 import S3TestServer
from services.learning.app import create_app
from services.learning.config import LearningSettings


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_readyz_with_s3_up_and_down(tmp_path: Path, s3_server: S3TestServer) -> None:
    def app_for(endpoint: str):
        settings = LearningSettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/learning.db", object_store_url="s3://learning-ready-check",
            s3_endpoint=endpoint, s3_access_key=s3_server.access_key, s3_secret_key=s3_server.secret_key,
            s3_region=s3_server.region, outbox_enabled=False,
        )
        return create_app(settings)

    up = app_for(s3_server.endpoint)
    async with up.router.lifespan_context(up):  # ensure_ready creates the bucket
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=up), base_url="http://r") as c:
            ready = await c.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "object_store": "ok"}

    down = app_for(f"127.0.0.1:{closed_port()}")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=down), base_url="http://r") as c:
        not_ready = await c.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["object_store"] == "unavailable"
