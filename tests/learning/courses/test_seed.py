"""The demo national catalogue (`python -m services seed`): loaded once, visible and open for enrolment."""

from __future__ import annotations

from services.learning.seed import seed
from tests.learning.conftest import People
from tests.learning.courses.helpers import ok
from tests.support import Platform


async def test_demo_catalogue(platform: Platform, people: People) -> None:
    first = await seed(platform.settings["learning"])
    again = await seed(platform.settings["learning"])
    assert again == [] and len(first) in (0, 2)
    async with platform.client("learning") as c:
        students = await ok(await c.get("/v1/courses", params={"institution": "national", "audience": "students", "limit": 500}, headers=people.student))
        course = next(x for x in students["items"] if x["title"] == "Kỹ năng giao tiếp")
        teachers = await ok(await c.get("/v1/courses", params={"skill_area": "digital", "audience": "teachers", "limit": 500}))
        assert any(x["title"].startswith("Năng lực số cho nhà giáo") for x in teachers["items"])
        detail = await ok(await c.get(f"/v1/courses/{course['id']}"))
        assert sum(len(m["lessons"]) for m in detail["modules"]) == 3 and detail["quizzes"][0]["question_count"] == 3
        enrolment = await c.post(f"/v1/courses/{course['id']}/enrolments", headers=people.teacher)
        assert enrolment.status_code == 403  # a students' course
