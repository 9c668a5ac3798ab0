"""RFC 9457 problem+json everywhere: validation, unknown routes, server errors, request ids."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from fastapi import APIRouter

from services.common.app import create_service_app
from services.records.config import RecordsSettings
from tests.support import Platform


async def test_validation_error_names_the_fields(platform: Platform) -> None:
    headers = await platform.admin_headers("identity:clients")
    async with platform.client("identity") as c:
        r = await c.post("/v1/clients", json={"client_id": "x", "scopes": "not-a-list"}, headers=headers)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert {"type", "title", "status", "detail", "instance"} <= body.keys()
    assert body["status"] == 422 and body["instance"] == "/v1/clients"
    fields = {e["field"] for e in body["errors"]}
    assert {"client_id", "name", "scopes"} <= fields


async def test_unknown_route_and_method_are_problems(platform: Platform) -> None:
    async with platform.client("learning") as c:
        missing = await c.get("/v1/nothing-here")
        method = await c.delete("/healthz")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert method.status_code == 405 and method.json()["status"] == 405


async def test_server_error_is_a_problem_without_internals_and_keeps_request_id(tmp_path: Path, capsys) -> None:
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    settings = RecordsSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/r.db", object_store_url=f"file://{tmp_path}/o", outbox_enabled=False
    )
    app = create_service_app(settings, title="t", description="t", routers=[router])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t") as c:
        r = await c.get("/boom", headers={"X-Request-ID": "req-abc-123"})
        generated = await c.get("/healthz")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["x-request-id"] == "req-abc-123"
    body = r.json()
    assert body["request_id"] == "req-abc-123"
    assert "secret internal detail" not in r.text and "Traceback" not in r.text
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    errors = [e for e in logged if e["level"] == "ERROR"]
    assert errors and errors[0]["request_id"] == "req-abc-123" and "secret internal detail" in errors[0]["exception"]
    assert len(generated.headers["x-request-id"]) >= 16


async def test_malformed_cursor_is_a_validation_problem(platform: Platform) -> None:
    async with platform.client("records") as c:
        r = await c.get("/v1/admin/inbox", params={"cursor": "%%%not-a-cursor"}, headers=await platform.admin_headers("records:admin"))
        limit = await c.get("/v1/admin/inbox", params={"limit": 0}, headers=await platform.admin_headers("records:admin"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
    assert limit.status_code == 422 and limit.json()["errors"][0]["field"] == "limit"
