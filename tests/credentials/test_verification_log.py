"""The verification log is written in batches off the request path, and a clean shutdown loses none of it."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import func, select

from services.credentials.app import create_app
from services.credentials.models import VerificationLog
from tests.credentials.factories import issue
from tests.support import Platform, eventually


async def _logged(platform: Platform, request_id: str) -> list[VerificationLog]:
    async with platform.apps["credentials"].state.db.session(write=False) as s:
        return list((await s.scalars(select(VerificationLog).where(VerificationLog.request_id == request_id))).all())


async def test_rows_wait_for_their_batch_and_a_clean_shutdown_writes_them(platform: Platform) -> None:
    doc = (await issue(platform))["document"]
    settings = platform.settings["credentials"].model_copy(update={"verification_log_flush_seconds": 3600.0, "jobs_enabled": False})
    app = create_app(settings, http_transport=platform.transport)
    rid = "batch-" + uuid.uuid4().hex
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://credentials") as c:
            for n in range(3):
                r = await c.post("/v1/verify", json=doc, headers={"X-Request-ID": f"{rid}-{n}"})
                assert r.status_code == 200 and r.json()["verified"] is True
            bad = await c.post("/v1/verify", json={"not": "a credential"}, headers={"X-Request-ID": f"{rid}-bad"})
            assert bad.status_code == 200 and bad.json()["outcome"] == "malformed"
        # not written by the requests: they wait for the batch (an hour here)
        assert app.state.credentials.verification_log.pending == 4
        assert await _logged(platform, f"{rid}-0") == []
    # the lifespan ended (a clean shutdown): every row is in the database
    rows = [r for n in (*range(3), "bad") for r in await _logged(platform, f"{rid}-{n}")]
    assert [(r.channel, r.outcome) for r in rows] == [("public", "valid")] * 3 + [("public", "malformed")]
    assert app.state.credentials.verification_log.pending == 0


async def test_a_full_batch_is_written_without_waiting(platform: Platform) -> None:
    doc = (await issue(platform))["document"]
    settings = platform.settings["credentials"].model_copy(
        update={"verification_log_flush_seconds": 3600.0, "verification_log_batch": 5, "jobs_enabled": False})
    app = create_app(settings, http_transport=platform.transport)
    rid = "full-" + uuid.uuid4().hex
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://credentials") as c:
            for _ in range(5):
                assert (await c.post("/v1/verify", json=doc, headers={"X-Request-ID": rid})).status_code == 200
        writer = app.state.credentials.verification_log

        async def written() -> bool:
            return writer.pending == 0

        await eventually(written, what="the full batch written")  # the batch loop waits an hour otherwise
        async with platform.apps["credentials"].state.db.session(write=False) as s:
            count = await s.scalar(select(func.count()).select_from(VerificationLog).where(VerificationLog.request_id == rid))
        assert writer.pending == 0 and count == 5


async def test_without_the_background_loop_a_request_writes_its_own_row(platform: Platform) -> None:
    """An app whose lifespan is not running (no batch loop) still logs every verification."""
    doc = (await issue(platform))["document"]
    app = create_app(platform.settings["credentials"], http_transport=platform.transport)
    rid = "nolifespan-" + uuid.uuid4().hex
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://credentials") as c:
        assert (await c.post("/v1/verify", json=doc, headers={"X-Request-ID": rid})).json()["verified"] is True
    assert [r.outcome for r in await _logged(platform, rid)] == ["valid"]
    await app.state.db.dispose()
