"""SCORM 1.2 / 2004 and cmi5 packages: manifests read, files served to a player; broken, traversing and bomb
packages refused with the reason."""

from __future__ import annotations

import zipfile
from collections.abc import Callable

import httpx
from fastapi import FastAPI

from tests.learning.conftest import People, client_for
from tests.learning.helpers import INDEX_HTML, cmi5, create, marker, publish, scorm12, scorm2004, upload, zip_of
from tests.support import Platform, gateway_to_service


async def test_scorm12_import_and_player(store_client: Callable[[], httpx.AsyncClient], people: People) -> None:
    async with store_client() as c:
        obj = await create(c, people.teacher, f"Gói SCORM giao tiếp {marker()}", "scorm", visibility="platform")
        # unique bytes: the folder and S3 apps of these tests share one database, so a blob kept by one is unknown to the other
        package = scorm12(extra={"readme.txt": marker()})
        read = await upload(c, people.teacher, obj["id"], package, content_type="application/zip", filename="goi.zip")
        assert read["version"]["package"] == {"kind": "scorm12", "launch_path": "index.html", "file_count": 4}
        await publish(c, people.teacher, people.officer, obj["id"])
        r = await c.get(f"/v1/learning-objects/{obj['id']}/launch", headers=people.other_student)
        assert r.status_code == 200, r.text
        launch = r.json()
        org = launch["manifest"]["organisations"][0]
        assert launch["kind"] == "scorm12" and org["title"] == "Kỹ năng giao tiếp"
        assert [i["title"] for i in org["items"]] == ["Bài 1: Lắng nghe", "Bài 2: Phản hồi"]
        page = await c.get(gateway_to_service(launch["launch_url"]))  # no token: the signed path is the permission
        assert page.status_code == 200 and page.text == INDEX_HTML and page.headers["content-type"].startswith("text/html")
        relative = await c.get(gateway_to_service(launch["player_base"]) + "lessons/bai2.html", headers={"Range": "bytes=0-8"})
        assert relative.status_code == 206 and relative.content == INDEX_HTML.encode()[:9]
        forged = gateway_to_service(launch["player_base"]).replace(launch["player_base"][-33:-1], "0" * 32)
        assert (await c.get(forged + "index.html")).status_code == 403
        assert (await c.get(gateway_to_service(launch["player_base"]) + "missing.html")).status_code == 404
        assert (await c.get(f"/v1/learning-objects/{obj['id']}/launch", headers=people.other_teacher)).status_code == 200
        assert (await c.get(f"/v1/learning-objects/{obj['id']}/launch")).status_code == 404


async def test_scorm2004_and_cmi5(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        s2004 = await create(c, people.teacher, f"SCORM 2004 {marker()}", "scorm")
        read = await upload(c, people.teacher, s2004["id"], scorm2004())
        assert read["version"]["package"]["kind"] == "scorm2004"
        assert read["version"]["package"]["launch_path"] == "content/start.html?lesson=1"
        launch = (await c.get(f"/v1/learning-objects/{s2004['id']}/launch", headers=people.teacher)).json()
        assert launch["manifest"]["organisations"][0]["items"][0]["items"][0]["title"] == "Mở đầu"
        assert (await c.get(gateway_to_service(launch["launch_url"]))).text == INDEX_HTML

        course = await create(c, people.teacher, f"cmi5 {marker()}", "cmi5")
        read = await upload(c, people.teacher, course["id"], cmi5())
        assert read["version"]["package"] == {"kind": "cmi5", "launch_path": "au1/index.html", "file_count": 3}
        launch = (await c.get(f"/v1/learning-objects/{course['id']}/launch", headers=people.teacher)).json()
        assert launch["manifest"]["title"] == "Giao tiếp nơi làm việc"
        au = launch["manifest"]["structure"][0]["children"][0]
        assert au["mastery_score"] == 0.8 and au["move_on"] == "CompletedOrPassed"
        js = await c.get(gateway_to_service(launch["player_base"]) + "au1/app.js")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
        # a SCORM zip is not a cmi5 package
        wrong = await upload(c, people.teacher, course["id"], scorm12(), status=422)
        assert "cmi5.xml" in wrong["detail"]


async def test_invalid_packages_refused_with_reason(strict_app: FastAPI, people: People) -> None:
    async with client_for(strict_app) as c:
        obj = await create(c, people.teacher, f"Gói lỗi {marker()}", "scorm")

        async def refused(data: bytes) -> str:
            return (await upload(c, people.teacher, obj["id"], data, status=422))["detail"]

        assert "imsmanifest.xml" in await refused(zip_of({"index.html": INDEX_HTML}))
        assert "not in the package" in await refused(scorm12(launch="missing.html"))
        assert "not well-formed" in await refused(scorm12(manifest="<manifest><organizations>"))
        assert "DTD" in await refused(scorm12(manifest='<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaa">]><manifest/>'))
        assert "outside the package" in await refused(scorm12(launch="../../etc/passwd"))
        assert "leaves the package" in await refused(scorm12(extra={"../evil.html": "x"}))
        assert "absolute" in await refused(scorm12(extra={"/etc/cron.d/x": "x"}))
        bomb = zip_of({"imsmanifest.xml": "x", "zeros.bin": b"\0" * (20 * 1024 * 1024)}, compression=zipfile.ZIP_DEFLATED)
        assert len(bomb) < 1024 * 1024
        assert "zip bomb" in await refused(bomb)
        many = zip_of({f"f{i}.txt": "x" for i in range(30)})
        assert "entries" in await refused(many)
        assert "not a readable zip" in await refused(b"PK\x03\x04" + b"\0" * 100)
        assert len((await c.get(f"/v1/learning-objects/{obj['id']}/versions", headers=people.teacher)).json()) == 1


async def test_player_links_are_on_the_content_origin_and_refused_on_the_platforms(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        obj = await create(c, people.teacher, f"Gói trên nguồn nội dung {marker()}", "scorm")
        await upload(c, people.teacher, obj["id"], scorm12(extra={"readme.txt": marker()}))
        launch = (await c.get(f"/v1/learning-objects/{obj['id']}/launch", headers=people.teacher)).json()
        path = gateway_to_service(launch["launch_url"])
        as_content = await c.get(path, headers={"X-Forwarded-Host": "localhost:8000"})     # what the gateway says
        as_platform = await c.get(path, headers={"X-Forwarded-Host": "127.0.0.1:8000"})
    assert launch["launch_url"].startswith("http://localhost:8000/api/learning/v1/players/")
    assert as_content.status_code == 200 and "sandbox allow-scripts" in as_content.headers["content-security-policy"]
    assert "allow-same-origin" not in as_content.headers["content-security-policy"]
    assert as_platform.status_code == 404 and as_platform.json()["detail"] == "Packages are served from the content origin only."


def test_the_content_origin_must_be_another_origin() -> None:
    import pytest

    from services.learning.config import LearningSettings

    assert LearningSettings(public_base_url="http://127.0.0.1:8000").content_origin == "http://localhost:8000"
    with pytest.raises(ValueError, match="differ"):
        LearningSettings(public_base_url="http://127.0.0.1:8000", content_origin="http://127.0.0.1:8000")
    with pytest.raises(ValueError, match="LEARNING_CONTENT_ORIGIN"):
        LearningSettings(public_base_url="https://vet.gov.vn")
    real = {"environment": "production", "secret_key": "s" * 32, "client_secret": "c" * 32, "public_base_url": "https://vet.gov.vn"}
    with pytest.raises(ValueError, match="own"):
        LearningSettings(**real, content_origin="https://vet.gov.vn:8443")
    assert LearningSettings(**real, content_origin="https://noidung.vet.gov.vn").content_service_url == "https://noidung.vet.gov.vn/api/learning"
