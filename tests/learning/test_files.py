"""Uploads and downloads on the folder store and on S3: round trips with SHA-256, multipart forms, resumable
uploads interrupted and resumed, dedupe, size limit, type spoofing, ClamAV."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from tests.learning.conftest import EICAR, PART, FakeClamd, People, client_for
from tests.learning.helpers import create, marker, mp4, pdf, sha, upload
from tests.support import Platform, gateway_to_service


async def fetch(c: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """Follow a download link: the service's own signed route (folder store) or a presigned S3 URL."""
    if "/api/learning/v1/objects/" in url:  # the folder store's signed route, reached through the gateway
        return await c.get(gateway_to_service(url), headers=headers or {})
    async with httpx.AsyncClient() as direct:
        return await direct.get(url, headers=headers or {})


async def test_raw_upload_download_round_trip(store_client: Callable[[], httpx.AsyncClient], people: People) -> None:
    data = mp4(3 * 1024 * 1024 + 17)
    async with store_client() as c:
        obj = await create(c, people.teacher, f"Video thực hành hàn {marker()}")
        read = await upload(c, people.teacher, obj["id"], data, content_type="video/mp4", filename="../../Hàn điện.mp4")
        file = read["version"]["file"]
        assert read["latest_version"] == 2 and read["version"]["number"] == 2
        assert file["sha256"] == sha(data) and file["size"] == len(data) and file["content_type"] == "video/mp4"
        assert file["filename"] == "Hàn điện.mp4"  # path parts dropped
        link = (await c.get(f"/v1/learning-objects/{obj['id']}/download", headers=people.teacher)).json()
        assert link["sha256"] == sha(data)
        whole = await fetch(c, link["url"])
        assert whole.status_code == 200 and sha(whole.content) == sha(data)
        ranged = await fetch(c, link["url"], {"Range": "bytes=100-1099"})
        assert ranged.status_code == 206 and ranged.content == data[100:1100]
        redirect = await c.get(f"/v1/learning-objects/{obj['id']}/download", params={"redirect": "true"}, headers=people.teacher)
        assert redirect.status_code == 307 and urlsplit(redirect.headers["location"]).path == urlsplit(link["url"]).path


async def test_multipart_form_upload_and_dedupe(store_client: Callable[[], httpx.AsyncClient], people: People) -> None:
    data = pdf(200 * 1024)
    async with store_client() as c:
        first = await create(c, people.teacher, f"Giáo trình an toàn lao động {marker()}", "document")
        r = await c.post(f"/v1/learning-objects/{first['id']}/file", headers=people.teacher,
                         data={"change_note": "bản đầu tiên"}, files={"file": ("Giáo trình.pdf", data, "application/pdf")})
        assert r.status_code == 201, r.text
        assert r.json()["version"]["file"]["sha256"] == sha(data) and r.json()["version"]["change_note"] == "bản đầu tiên"
        second = await create(c, people.other_teacher, f"Bản sao {marker()}", "document")
        r2 = await c.post(f"/v1/learning-objects/{second['id']}/file", headers=people.other_teacher,
                          files={"file": ("copy.pdf", data, "application/pdf")})
        assert r2.status_code == 201, r2.text
        one = (await c.get(f"/v1/learning-objects/{first['id']}/download", headers=people.teacher)).json()["url"]
        two = (await c.get(f"/v1/learning-objects/{second['id']}/download", headers=people.other_teacher)).json()["url"]
        # identical bytes are stored once: both versions point at the same stored object
        assert urlsplit(one).path == urlsplit(two).path
        assert sha((await fetch(c, two)).content) == sha(data)


async def test_content_type_spoofing_and_wrong_kind_refused(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        video = await create(c, people.teacher, f"Video {marker()}")
        spoofed = await upload(c, people.teacher, video["id"], pdf(), content_type="video/mp4", status=415)
        assert spoofed["detected_type"] == "application/pdf" and spoofed["status"] == 415
        wrong = await upload(c, people.teacher, video["id"], pdf(), status=415)  # undeclared, but a PDF is no video
        assert "video" in wrong["detail"]
        exe = await create(c, people.teacher, f"Khác {marker()}", "other")
        await upload(c, people.teacher, exe["id"], b"MZ\x90\x00" + os.urandom(1000), status=415)
        empty = await upload(c, people.teacher, video["id"], b"", status=422)
        assert empty["errors"][0]["field"] == "file"
        versions = (await c.get(f"/v1/learning-objects/{video['id']}/versions", headers=people.teacher)).json()
        assert [v["number"] for v in versions] == [1]  # nothing refused became a version
        # someone else's institution may not upload
        r = await c.put(f"/v1/learning-objects/{video['id']}/file", content=mp4(), headers=people.other_teacher)
        assert r.status_code == 404


async def test_size_limit(strict_app: FastAPI, people: People) -> None:
    async with client_for(strict_app) as c:
        obj = await create(c, people.teacher, f"Video lớn {marker()}")

        async def stream() -> AsyncIterator[bytes]:  # no Content-Length: the limit is enforced while streaming
            yield mp4(512 * 1024)
            for _ in range(4):
                yield os.urandom(256 * 1024)

        r = await c.put(f"/v1/learning-objects/{obj['id']}/file", content=stream(), headers=people.teacher | {"Content-Type": "video/mp4"})
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json", r.text
        r = await c.put(f"/v1/learning-objects/{obj['id']}/file", content=mp4(2 * 1024 * 1024), headers=people.teacher)
        assert r.status_code == 413
        r = await c.post(f"/v1/learning-objects/{obj['id']}/uploads", json={"filename": "x.mp4", "size": 5 * 1024 * 1024}, headers=people.teacher)
        assert r.status_code == 413
        ok = await upload(c, people.teacher, obj["id"], mp4(512 * 1024))
        assert ok["version"]["file"]["scan_status"] == "clean"


async def test_eicar_refused_when_clamd_runs(strict_app: FastAPI, clamd: tuple[FakeClamd, str], people: People) -> None:
    fake, _ = clamd
    async with client_for(strict_app) as c:
        obj = await create(c, people.teacher, f"Tài liệu {marker()}", "document")
        before = fake.scans
        r = await c.put(f"/v1/learning-objects/{obj['id']}/file", content=EICAR + b"\r\n", headers=people.teacher | {"Content-Type": "text/plain"})
        assert r.status_code == 422 and r.json()["signature"] == "Eicar-Test-Signature", r.text
        assert fake.scans == before + 1
        ok = await upload(c, people.teacher, obj["id"], "Nội dung sạch".encode() * 100, content_type="text/plain")
        assert ok["version"]["file"]["scan_status"] == "clean"


async def test_resumable_upload_interrupted_and_resumed(store_client: Callable[[], httpx.AsyncClient], people: People) -> None:
    data = mp4(2 * PART + 123_457)
    async with store_client() as c:
        obj = await create(c, people.teacher, f"Video dài {marker()}")
        r = await c.post(f"/v1/learning-objects/{obj['id']}/uploads", headers=people.teacher,
                         json={"filename": "bài giảng.mp4", "size": len(data), "content_type": "video/mp4"})
        assert r.status_code == 201, r.text
        session = r.json()
        assert session["part_count"] == 3 and session["missing_parts"] == [1, 2, 3]
        url = f"/v1/uploads/{session['id']}"

        r = await c.put(f"{url}/parts/1", content=data[:PART], headers=people.teacher)
        assert r.status_code == 200, r.text

        class Dropped(Exception):
            pass

        async def dropping() -> AsyncIterator[bytes]:  # the connection dies half-way through part 2
            yield data[PART : PART + PART // 2]
            raise Dropped

        try:  # in-process the broken body surfaces as a server error; over a socket the server sees a disconnect
            broken = await c.put(f"{url}/parts/2", content=dropping(), headers=people.teacher)
            assert broken.status_code >= 500
        except Dropped:
            pass
        short = await c.put(f"{url}/parts/3", content=data[2 * PART : -1], headers=people.teacher)
        assert short.status_code == 422  # a truncated part is not kept

        state = (await c.get(url, headers=people.teacher)).json()  # the client asks what the server has …
        assert state["missing_parts"] == [2, 3] and state["received_bytes"] == PART
        early = await c.post(f"{url}/complete", headers=people.teacher)
        assert early.status_code == 409 and early.json()["missing_parts"] == [2, 3]
        for n in state["missing_parts"]:  # … and sends the rest
            r = await c.put(f"{url}/parts/{n}", content=data[(n - 1) * PART : n * PART], headers=people.teacher)
            assert r.status_code == 200, r.text
        done = await c.post(f"{url}/complete", headers=people.teacher)
        assert done.status_code == 201, done.text
        assert done.json()["version"]["file"]["sha256"] == sha(data) and done.json()["version"]["file"]["filename"] == "bài giảng.mp4"
        assert (await c.get(url, headers=people.teacher)).json()["status"] == "completed"
        link = (await c.get(f"/v1/learning-objects/{obj['id']}/download", headers=people.teacher)).json()
        assert sha((await fetch(c, link["url"])).content) == sha(data)
        other = await c.get(url, headers=people.other_teacher)
        assert other.status_code == 404


async def test_resumable_upload_refuses_spoofed_first_part(platform: Platform, store_apps: dict[str, FastAPI], people: People) -> None:
    async with client_for(store_apps["folder"]) as c:
        obj = await create(c, people.teacher, f"Video {marker()}")
        r = await c.post(f"/v1/learning-objects/{obj['id']}/uploads", headers=people.teacher,
                         json={"filename": "x.mp4", "size": 1000, "content_type": "video/mp4"})
        r = await c.put(f"/v1/uploads/{r.json()['id']}/parts/1", content=pdf(1000), headers=people.teacher)
        assert r.status_code == 415
