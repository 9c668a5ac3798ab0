"""Lessons from the library: a SCORM package pinned at a published version, launched from the course with the
library's player and the LRS credentials side by side."""

from __future__ import annotations

from tests.learning.conftest import People
from tests.learning.courses.helpers import learner, ok
from tests.learning.helpers import create, marker, pdf, publish, scorm12, upload
from tests.support import Platform, gateway_to_service


async def test_package_lesson_pinned_and_launched(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        obj = await create(c, people.teacher, f"Gói SCORM lắng nghe {marker()}", "scorm", visibility="platform")
        await upload(c, people.teacher, obj["id"], scorm12(extra={"readme.txt": marker()}), content_type="application/zip", filename="goi.zip")
        doc = await create(c, people.teacher, f"Tài liệu {marker()}", "document", visibility="platform")
        await upload(c, people.teacher, doc["id"], pdf(), content_type="application/pdf", filename="tai-lieu.pdf")
        course = await ok(await c.post("/v1/courses", json={"title": "Lắng nghe qua gói SCORM", "skill_area": "communication"},
                                       headers=people.teacher), 201)
        cid = course["id"]
        module = await ok(await c.post(f"/v1/courses/{cid}/modules", json={"title": "Chương 1"}, headers=people.teacher), 201)
        lessons_url = f"/v1/courses/{cid}/modules/{module['id']}/lessons"
        draft = await c.post(lessons_url, json={"title": "Gói", "kind": "package", "learning_object_id": obj["id"],
                                               "learning_object_version": 2}, headers=people.teacher)
        assert draft.status_code == 422 and draft.json()["errors"][0]["field"] == "learning_object_version"  # not published yet
        await publish(c, people.teacher, people.officer, obj["id"])
        await publish(c, people.teacher, people.officer, doc["id"])
        no_package = await c.post(lessons_url, json={"title": "Gói", "kind": "package", "learning_object_id": doc["id"],
                                                    "learning_object_version": 2}, headers=people.teacher)
        assert no_package.status_code == 422 and "package" in no_package.json()["errors"][0]["message"]
        lesson = await ok(await c.post(lessons_url, json={"title": "Bài 1: Lắng nghe (SCORM)", "kind": "package",
                                                         "learning_object_id": obj["id"], "learning_object_version": 2,
                                                         "estimated_minutes": 25}, headers=people.teacher), 201)
        reading = await ok(await c.post(lessons_url, json={"title": "Đọc tài liệu", "kind": "learning_object", "required": False,
                                                          "learning_object_id": doc["id"], "learning_object_version": 2}, headers=people.teacher), 201)
        await ok(await c.post(f"/v1/courses/{cid}/publish", headers=people.teacher))

        me, _ = await learner(platform, "CD0101")
        eid = (await ok(await c.post(f"/v1/courses/{cid}/enrolments", headers=me), 201))["id"]
        launch = await ok(await c.post(f"/v1/enrolments/{eid}/lessons/{lesson['id']}/launch", headers=me), 201)
        assert launch["content_url"].endswith(f"/api/learning/v1/learning-objects/{obj['id']}/launch?version=2")
        player = await ok(await c.get(gateway_to_service(launch["content_url"]), headers=me))
        assert player["kind"] == "scorm12" and player["version"] == 2
        assert (await c.get(gateway_to_service(player["launch_url"]))).status_code == 200
        locked = await c.post(f"/v1/enrolments/{eid}/lessons/{reading['id']}/launch", headers=me)
        assert locked.status_code == 409  # lessons open in order
        # the package reports through SCORM runtime values; its completion completes the course (the reading is optional)
        await ok(await c.put(f"/v1/enrolments/{eid}/lessons/{lesson['id']}/scorm", json={"values": {"cmi.core.lesson_status": "passed"}}, headers=me))
        assert (await ok(await c.get(f"/v1/enrolments/{eid}", headers=me)))["status"] == "completed"
        other = await ok(await c.post(f"/v1/enrolments/{eid}/lessons/{reading['id']}/launch", headers=me), 201)
        assert other["content_url"].endswith(f"/v1/learning-objects/{doc['id']}/versions/2")
