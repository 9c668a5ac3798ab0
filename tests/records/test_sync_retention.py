"""Uploaded sync files carry personal data: each is deleted from the store once its job has ended and the retention
window (30 days by default) has passed; the job keeps the file's SHA-256. Passes run with an injected clock, each
by a new sweeper (all state is in the database, as after a restart)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, update

from services.common.db import utcnow
from services.common.storage import ObjectStore, open_store
from services.common.testing_s3 import S3TestServer
from services.records.config import RecordsSettings
from services.records.models import SyncJob
from services.records.sync.retention import UploadSweeper
from tests.records.helpers import code, learner, wait_job, world
from tests.support import Platform, id_number


def sweeper_at(app: FastAPI, at: datetime, store: ObjectStore | None = None) -> UploadSweeper:
    """A fresh sweeper (nothing carried over from an earlier pass) whose clock reads ``at``."""
    retention = timedelta(days=app.state.settings.sync_upload_retention_days)
    return UploadSweeper(app.state.db, store or app.state.store, retention=retention, clock=lambda: at)


async def stream(data: bytes):  # noqa: ANN201
    yield data


def test_retention_defaults_to_30_days() -> None:
    assert RecordsSettings().sync_upload_retention_days == 30


async def test_upload_is_deleted_when_its_job_ended_plus_the_retention_window(platform: Platform) -> None:
    app = platform.apps["records"]
    store: ObjectStore = app.state.store
    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    body = json.dumps(world(p, t, k, [learner(id_number(), "Nguyễn Thị Hoa", p, k)], []), ensure_ascii=False).encode()
    async with platform.client("records") as c:
        r = await c.post("/v1/institutions/CD0101/sync/json", content=body,
                         headers=school | {"content-type": "application/json"})
        assert r.status_code == 202, r.text
        job = await wait_job(c, r.json()["id"], school)
        assert job["status"] == "succeeded", job
        assert job["upload_sha256"] == hashlib.sha256(body).hexdigest()
        assert job["upload_deleted_at"] is None
        key = f"records/sync/CD0101/{job['id']}"
        assert await store.exists(key)
        ended = datetime.fromisoformat(job["finished_at"])

        # a minute short of 30 days after the job ended: kept
        report = await sweeper_at(app, ended + timedelta(days=30, minutes=-1)).run_once()
        assert await store.exists(key)
        assert (await c.get(f"/v1/sync-jobs/{job['id']}", headers=school)).json()["upload_deleted_at"] is None

        # a minute past: deleted by the next pass (a new sweeper: it knows only what the database says)
        at = ended + timedelta(days=30, minutes=1)
        report = await sweeper_at(app, at).run_once()
        assert report.deleted_uploads >= 1
        assert not await store.exists(key)
        after = (await c.get(f"/v1/sync-jobs/{job['id']}", headers=school)).json()
        assert datetime.fromisoformat(after["upload_deleted_at"]) == at
        assert after["upload_sha256"] == job["upload_sha256"]
        assert {k: v for k, v in after.items() if k != "upload_deleted_at"} == {k: v for k, v in job.items() if k != "upload_deleted_at"}

        # nothing left to do for it
        again = await sweeper_at(app, at + timedelta(days=1)).run_once()
        assert again.deleted_uploads == 0


async def test_a_job_from_before_hashes_were_kept_gets_its_hash_at_deletion(platform: Platform) -> None:
    app = platform.apps["records"]
    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    body = json.dumps(world(p, t, k, [], []), ensure_ascii=False).encode()
    async with platform.client("records") as c:
        r = await c.post("/v1/institutions/CD0101/sync/json", content=body,
                         headers=school | {"content-type": "application/json"})
        job = await wait_job(c, r.json()["id"], school)
        async with app.state.db.session() as session:  # as a job stored before this version
            await session.execute(update(SyncJob).where(SyncJob.id == uuid.UUID(job["id"])).values(upload_sha256=None))
        await sweeper_at(app, datetime.fromisoformat(job["finished_at"]) + timedelta(days=31)).run_once()
        after = (await c.get(f"/v1/sync-jobs/{job['id']}", headers=school)).json()
    assert after["upload_sha256"] == hashlib.sha256(body).hexdigest()
    assert after["upload_deleted_at"] is not None
    assert not await app.state.store.exists(f"records/sync/CD0101/{job['id']}")


async def test_jobs_still_running_keep_their_upload(platform: Platform) -> None:
    app = platform.apps["records"]
    store: ObjectStore = app.state.store
    now = utcnow()
    job_id = uuid.uuid4()
    key = f"records/sync/CD0101/{job_id}"
    await store.put(key, stream(b'{"learners": []}'))
    async with app.state.db.session() as session:  # held by another worker's lease, started long ago
        session.add(SyncJob(id=job_id, institution_code="CD0101", format="json", mode="accept_valid", status="running",
                            object_key=key, upload_bytes=16, created_by="test", locked_by="elsewhere",
                            locked_until=now + timedelta(days=400), started_at=now - timedelta(days=90),
                            created_at=now - timedelta(days=90)))
    try:
        await sweeper_at(app, now + timedelta(days=365)).run_once()
        assert await store.exists(key)
    finally:
        async with app.state.db.session() as session:
            await session.execute(delete(SyncJob).where(SyncJob.id == job_id))
        await store.delete(key)


@pytest.mark.parametrize("store_name", ["folder", "s3"])
async def test_orphan_uploads_go_after_a_day(platform: Platform, store_name: str, tmp_path: Path,
                                             request: pytest.FixtureRequest) -> None:
    """A file stored for a job whose request then failed (no job row) is deleted once a day old; a young one and a
    key that is not a job's upload are left alone."""
    app = platform.apps["records"]
    if store_name == "folder":
        store = open_store(f"file://{tmp_path}/objects", secret_key="k", public_base_url="http://testserver")
    else:
        server: S3TestServer = request.getfixturevalue("s3_server")
        store = open_store(f"s3://records-retention/{uuid.uuid4().hex}", s3_endpoint=server.endpoint,
                           s3_access_key=server.access_key, s3_secret_key=server.secret_key, s3_region=server.region,
                           secret_key="k", public_base_url="http://testserver")
    await store.ensure_ready()
    try:
        orphan, other = f"records/sync/CD0101/{uuid.uuid4()}", "records/sync/CD0101/notes.txt"
        for key in (orphan, other):
            await store.put(key, stream(b"id_number\n001204012345\n"))
        now = utcnow()
        assert (await sweeper_at(app, now + timedelta(hours=12), store).run_once()).orphan_uploads == 0
        assert await store.exists(orphan)
        report = await sweeper_at(app, now + timedelta(days=1, minutes=5), store).run_once()
        assert report.orphan_uploads == 1
        assert not await store.exists(orphan)
        assert await store.exists(other)
    finally:
        await store.aclose()
