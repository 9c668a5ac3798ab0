"""The library's "done means", as in the ``make run`` demo, every request through the gateway: the demo teacher
(teacher.demo, CD0101) uploads a video and a SCORM package and submits them; the demo officer (officer.hcm.demo,
``learning:moderate``) publishes them; a student at another school (TC7901) types the title without diacritics,
finds both, downloads the video and plays the package.

The gateway runs in this process (driven through httpx's ASGITransport); it reaches identity and learning over
real sockets, served by uvicorn inside the test's event loop from the same in-process platform the other tests
use (the gateway's upstream client is aiohttp, which only speaks to sockets)."""

from __future__ import annotations

import hashlib
import uuid

from tests.e2e.gateway import gateway_for, on_gateway, sign_in
from tests.learning.helpers import INDEX_HTML, OFFICER, PASSWORD, STUDENT, TEACHER, mp4, scorm12
from tests.support import Platform


async def test_teacher_publishes_student_elsewhere_finds_and_plays(platform: Platform) -> None:
    tag = "zq" + uuid.uuid4().hex[:10]  # this test's objects, in a database other tests share
    async with gateway_for(platform, "learning") as gw:
        teacher = await sign_in(gw, *TEACHER)
        officer = await sign_in(gw, *OFFICER)
        admin = await gw.post("/api/identity/oauth/token", data={"grant_type": "client_credentials"},
                              auth=("platform-admin", "dev-only-platform-admin-secret"))
        assert admin.status_code == 200, admin.text
        username = f"hv.{tag}"
        r = await gw.post("/api/identity/v1/accounts", headers={"Authorization": f"Bearer {admin.json()['access_token']}"},
                          json={"username": username, "full_name": "Lê Thị Hoa", "password": PASSWORD,
                                "memberships": [{"at": "TC7901", "role": "student"}]})
        assert r.status_code == 201, r.text
        student_elsewhere = await sign_in(gw, username, PASSWORD)
        student_same_school = await sign_in(gw, *STUDENT)

        # the teacher: a video (multipart form, as a browser sends it) and a SCORM 1.2 package (raw body)
        common = {"visibility": "platform", "levels": ["trung_cap"], "occupation_codes": ["5480201"], "keywords": ["giao tiếp"]}
        r = await gw.post("/api/learning/v1/learning-objects", headers=teacher,
                          json=common | {"title": f"Kỹ năng giao tiếp nơi làm việc {tag}", "type": "video",
                                         "description": "Video bài giảng về lắng nghe và phản hồi"})
        assert r.status_code == 201, r.text
        video = r.json()
        video_bytes = mp4(512 * 1024)
        r = await gw.post(f"/api/learning/v1/learning-objects/{video['id']}/file", headers=teacher,
                          files={"file": ("Bài giảng giao tiếp.mp4", video_bytes, "video/mp4")}, data={"change_note": "bản đầu"})
        assert r.status_code == 201, r.text
        assert r.json()["version"]["file"]["sha256"] == hashlib.sha256(video_bytes).hexdigest()
        assert r.json()["version"]["file"]["content_type"] == "video/mp4"

        r = await gw.post("/api/learning/v1/learning-objects", headers=teacher,
                          json=common | {"title": f"Kỹ năng giao tiếp: bài học tương tác {tag}", "type": "scorm"})
        assert r.status_code == 201, r.text
        package = r.json()
        r = await gw.put(f"/api/learning/v1/learning-objects/{package['id']}/file", params={"filename": "giao-tiep.zip"},
                         content=scorm12(), headers=teacher | {"Content-Type": "application/zip"})
        assert r.status_code == 201, r.text
        assert r.json()["version"]["package"]["kind"] == "scorm12"

        async def found(headers: dict[str, str]) -> set[str]:
            r = await gw.get("/api/learning/v1/search", params={"q": f"ky nang giao tiep {tag}"}, headers=headers)
            assert r.status_code == 200, r.text
            return {hit["id"] for hit in r.json()["items"]}

        # not yet reviewed: another school sees nothing, and the teacher cannot publish it herself
        assert await found(student_elsewhere) == set()
        for obj in (video, package):
            r = await gw.post(f"/api/learning/v1/learning-objects/{obj['id']}/submit", headers=teacher)
            assert r.status_code == 200 and r.json()["status"] == "submitted", r.text
        r = await gw.post(f"/api/learning/v1/learning-objects/{video['id']}/publish", json={"reason": "tự duyệt"}, headers=teacher)
        assert r.status_code == 403, r.text
        assert await found(student_elsewhere) == set()

        # the reviewer sees both waiting for review, and publishes them
        for obj in (video, package):
            r = await gw.get(f"/api/learning/v1/learning-objects/{obj['id']}", headers=officer)
            assert r.status_code == 200 and r.json()["status"] == "submitted", r.text
            r = await gw.post(f"/api/learning/v1/learning-objects/{obj['id']}/publish", json={"reason": "đạt yêu cầu"}, headers=officer)
            assert r.status_code == 200 and r.json()["status"] == "published", r.text

        # a student at another school types without diacritics and finds both; so does one at the same school
        assert await found(student_elsewhere) == {video["id"], package["id"]}
        assert await found(student_same_school) == {video["id"], package["id"]}

        # the video downloads whole, byte for byte, through the gateway
        r = await gw.get(f"/api/learning/v1/learning-objects/{video['id']}/download", headers=student_elsewhere,
                         follow_redirects=False)
        assert r.status_code in (200, 302, 303, 307), r.text
        link = r.headers["location"] if r.is_redirect else r.json()["url"]
        r = await gw.get(on_gateway(link))
        assert r.status_code == 200, r.text[:300]
        assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(video_bytes).hexdigest()

        # the package launches: the player serves its launch page and the other lesson, through the gateway under the
        # content origin's host name (never the platform's own)
        r = await gw.get(f"/api/learning/v1/learning-objects/{package['id']}/launch", headers=student_elsewhere)
        assert r.status_code == 200, r.text
        launch = r.json()
        assert launch["kind"] == "scorm12" and launch["launch_path"] == "index.html"
        assert [item["title"] for item in launch["manifest"]["organisations"][0]["items"]] == ["Bài 1: Lắng nghe", "Bài 2: Phản hồi"]
        r = await gw.get(launch["launch_url"])
        assert r.status_code == 200, r.text[:300]
        assert r.headers["content-type"].startswith("text/html")
        assert r.text == INDEX_HTML
        r = await gw.get(launch["player_base"] + "lessons/bai2.html")
        assert r.status_code == 200 and "Bài 2" in r.text
