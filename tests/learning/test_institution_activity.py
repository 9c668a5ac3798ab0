"""Learning's per-institution activity for national oversight: who may read it (platform services holding
learning:oversight and national officers; province officers read the board in records instead), and its numbers at
a new institution, counted by hand: two teachers complete a digital-competence course and one a teamwork course (2
teachers trained in digital competence), two students complete the teamwork course, one of them the digital one too
(2 distinct students)."""

from __future__ import annotations

import uuid

from tests.learning.courses.helpers import answers_for, build_course, learner, ok
from tests.records.helpers import login
from tests.support import Platform


async def test_readers_of_institution_activity(platform: Platform) -> None:
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    hcm = await login(platform, "officer.hcm.demo", "dev-only-Officer#2026")
    teacher = await login(platform, "teacher.demo", "dev-only-Teacher#2026")
    records = platform.settings["records"]
    service = {"Authorization": f"Bearer {await platform.token(records.client_id, records.client_secret)}"}
    async with platform.client("learning") as c:
        by_ministry = await c.get("/v1/institution-activity", headers=ministry)
        by_service = await c.get("/v1/institution-activity", headers=service)
        by_province = await c.get("/v1/institution-activity", headers=hcm)
        by_teacher = await c.get("/v1/institution-activity", headers=teacher)
        anonymous = await c.get("/v1/institution-activity")
    assert by_ministry.status_code == 200 and by_service.status_code == 200
    assert by_ministry.json() == by_service.json()
    assert by_province.status_code == 403 and by_teacher.status_code == 403 and anonymous.status_code == 401
    for item in by_ministry.json()["items"]:
        assert set(item) == {"institution_code", "objects_published", "last_published_at", "students_completed",
                             "teachers_digital_completed", "last_completed_at"}
        assert min(item["objects_published"], item["students_completed"], item["teachers_digital_completed"]) >= 0


async def test_completions_counted_per_institution(platform: Platform) -> None:
    boss = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    school = f"CD{uuid.uuid4().hex[:6].upper()}"
    async with platform.client("identity") as ic:
        await ok(await ic.post("/v1/institutions", json={"code": school, "name": "Trường thử hoạt động học liệu", "type": "college",
                                                         "province_code": "048"}, headers=boss), 201)
    async with platform.client("learning") as c:
        digital = await build_course(c, boss, national=True, audience="both", release_rule="all_open", skill_area="digital")
        teamwork = await build_course(c, boss, national=True, audience="both", release_rule="all_open", skill_area="teamwork")

        async def complete(who: dict[str, str], built: dict) -> None:  # type: ignore[type-arg]
            cid, lessons, quiz = built["course"]["id"], built["lessons"], built["quiz"]
            enrolment = await ok(await c.post(f"/v1/courses/{cid}/enrolments", headers=who), 201)
            for lesson in lessons[:2]:
                await ok(await c.post(f"/v1/enrolments/{enrolment['id']}/lessons/{lesson['id']}/progress", json={"event": "completed"}, headers=who))
            attempt = await ok(await c.post(f"/v1/enrolments/{enrolment['id']}/quizzes/{quiz['id']}/attempts", headers=who), 201)
            await ok(await c.post(f"/v1/attempts/{attempt['id']}/submit", json={"answers": answers_for(attempt, built["specs"], right=True)}, headers=who))

        teachers = [(await learner(platform, school, "teacher"))[0] for _ in range(3)]
        students = [(await learner(platform, school, "student"))[0] for _ in range(2)]
        await complete(teachers[0], digital)
        await complete(teachers[1], digital)
        await complete(teachers[2], teamwork)
        await complete(students[0], teamwork)
        await complete(students[1], teamwork)
        await complete(students[1], digital)
        r = await c.get("/v1/institution-activity", headers=boss)
    row = next(i for i in r.json()["items"] if i["institution_code"] == school)
    assert (row["teachers_digital_completed"], row["students_completed"], row["objects_published"]) == (2, 2, 0)
    assert row["last_completed_at"] is not None and row["last_published_at"] is None
