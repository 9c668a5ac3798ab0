"""The sweeper, one pass at a time (``run_once``), on the folder store and on S3: expired resumable uploads are
aborted in the store and refused afterwards; objects, package folders and multipart uploads nothing references
are removed once past the grace period, and nothing that is referenced (or still young) is touched."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.common.db import utcnow
from services.common.storage import ObjectStore
from services.learning.models import Blob, Package, UploadSession
from services.learning.sweeper import INCOMING_PREFIX, PACKAGES_PREFIX, Sweeper
from tests.learning.conftest import PART, People, client_for
from tests.learning.helpers import INDEX_HTML, create, mp4, scorm12, upload

pytestmark = pytest.mark.parametrize("store_name", ["folder", "s3"])


def sweeper_at(app: FastAPI, hours_from_now: float) -> Sweeper:
    """A sweeper whose clock reads ``hours_from_now`` hours from now (24 hours' grace, the default)."""
    return Sweeper(app.state.db, app.state.store, clock=lambda: utcnow() + timedelta(hours=hours_from_now))


async def open_uploads(store: ObjectStore) -> set[str]:
    return {u.upload_id async for u in store.list_multipart(INCOMING_PREFIX)}


async def stream(data: bytes):  # noqa: ANN201
    yield data


async def test_expired_upload_session_is_aborted(store_apps: dict[str, FastAPI], store_name: str, people: People) -> None:
    app = store_apps[store_name]
    store: ObjectStore = app.state.store
    async with client_for(app) as c:
        obj = await create(c, people.teacher, "Video dài cần tải lên nhiều phần")
        r = await c.post(f"/v1/learning-objects/{obj['id']}/uploads", headers=people.teacher,
                         json={"filename": "dai.mp4", "size": PART + 1000, "content_type": "video/mp4"})
        assert r.status_code == 201, r.text
        url = f"/v1/uploads/{r.json()['id']}"
        r = await c.put(f"{url}/parts/1", content=mp4(PART), headers=people.teacher)
        assert r.status_code == 200, r.text
        async with app.state.db.session(write=False) as session:
            row = await session.get(UploadSession, uuid.UUID(r.json()["id"]))
            assert row is not None
            store_upload_id = row.store_upload_id
        assert store_upload_id in await open_uploads(store)

        # within its 48 hours nothing happens to it
        await sweeper_at(app, 1).run_once()
        assert (await c.get(url, headers=people.teacher)).json()["status"] == "open"
        assert store_upload_id in await open_uploads(store)

        # past them: aborted in the store, refused, and its parts gone
        report = await sweeper_at(app, 49).run_once()
        assert report.expired_sessions >= 1
        state = (await c.get(url, headers=people.teacher)).json()
        assert state["status"] == "expired" and state["parts"] == [] and state["received_bytes"] == 0
        assert store_upload_id not in await open_uploads(store)
        r = await c.put(f"{url}/parts/2", content=b"x" * 1000, headers=people.teacher)
        assert r.status_code == 409, r.text
        r = await c.post(f"{url}/complete", headers=people.teacher)
        assert r.status_code == 409, r.text
        # a second pass finds nothing more to do for it
        again = await sweeper_at(app, 49).run_once()
        assert again.expired_sessions == 0


async def test_orphans_are_removed_after_the_grace_period(store_apps: dict[str, FastAPI], store_name: str, people: People) -> None:
    app = store_apps[store_name]
    store: ObjectStore = app.state.store
    async with client_for(app) as c:
        # kept: a video and a SCORM package recorded as versions
        video = await create(c, people.teacher, "Video được giữ lại")
        video_bytes = mp4(64 * 1024)
        kept_sha = (await upload(c, people.teacher, video["id"], video_bytes))["version"]["file"]["sha256"]
        package = await create(c, people.teacher, "Gói SCORM được giữ lại", "scorm")
        package_sha = (await upload(c, people.teacher, package["id"], scorm12(extra={"note.txt": uuid.uuid4().hex}),
                                    content_type="application/zip"))["version"]["file"]["sha256"]
        async with app.state.db.session(write=False) as session:
            kept_key = (await session.scalars(select(Blob.object_key).where(Blob.sha256 == kept_sha))).one()
            blob_id = (await session.scalars(select(Blob.id).where(Blob.sha256 == package_sha))).one()
            kept_prefix = (await session.get(Package, blob_id)).content_prefix  # type: ignore[union-attr]

        # orphans: bytes written but never recorded, a package folder without its row, an upload no session owns
        orphan_key = f"{INCOMING_PREFIX}{uuid.uuid4().hex}"
        await store.put(orphan_key, stream(mp4(1024)))
        orphan_folder = f"{PACKAGES_PREFIX}{uuid.uuid4().hex}{uuid.uuid4().hex}"
        orphan_files = [f"{orphan_folder}/imsmanifest.xml", f"{orphan_folder}/lessons/bai1.html"]
        for key in orphan_files:
            await store.put(key, stream(INDEX_HTML.encode()))
        stray_key = f"{INCOMING_PREFIX}{uuid.uuid4().hex}"
        stray_id = await store.create_multipart(stray_key, "video/mp4")
        await store.upload_part(stray_key, stray_id, 1, stream(b"part"))

        # young: nothing is touched (moto gives every multipart upload one fixed start time in 2010, so on S3 the
        # stray upload already looks old)
        await sweeper_at(app, 1).run_once()
        assert await store.exists(orphan_key)
        assert all([await store.exists(k) for k in orphan_files])
        if store_name == "folder":
            assert stray_id in await open_uploads(store)

        # past the grace period: the orphans go, what is referenced stays
        report = await sweeper_at(app, 25).run_once()
        assert report.orphan_objects >= 1 and report.orphan_package_files >= 2 and report.stray_uploads >= (
            1 if store_name == "folder" else 0)
        assert not await store.exists(orphan_key)
        assert not any([await store.exists(k) for k in orphan_files])
        assert stray_id not in await open_uploads(store)
        assert await store.exists(kept_key)
        assert [i.key async for i in store.list_objects(kept_prefix + "/")], "the package's files were kept"

        r = await c.get(f"/v1/learning-objects/{video['id']}/download", headers=people.teacher)
        assert r.status_code == 200, r.text
        got = b"".join([chunk async for chunk in store.get(kept_key)])
        assert got == video_bytes
        r = await c.get(f"/v1/learning-objects/{package['id']}/launch", headers=people.teacher)
        assert r.status_code == 200, r.text
        player = r.json()["launch_url"].split("/api/learning", 1)[1]
        r = await c.get(player)
        assert r.status_code == 200 and r.text == INDEX_HTML
