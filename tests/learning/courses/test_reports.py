"""Participation reports on a seeded set, against numbers worked out by hand; who sees which rows; CSV; targets."""

from __future__ import annotations

import csv
import io

import pytest

from tests.learning.conftest import People
from tests.learning.courses.helpers import answers_for, build_course, learner, ministry, ok
from tests.learning.helpers import OFFICER, login
from tests.support import Platform

#: no call to identity (or another service) while a write transaction is open: services.common.testing.WriteTransactions
pytestmark = pytest.mark.usefixtures("no_calls_in_write_transactions")


async def test_report_numbers_match_hand_counts(platform: Platform, people: People) -> None:
    boss, school, hcm = await ministry(platform), await platform.school_headers(), await login(platform, *OFFICER)
    async with platform.client("identity") as c:
        hanoi = (await ok(await c.get("/v1/institutions/CD0101")))["province_code"]
        saigon = (await ok(await c.get("/v1/institutions/TC7901")))["province_code"]
    assert hanoi != saigon
    async with platform.client("learning") as c:
        built = await build_course(c, boss, national=True, audience="both", skill_area="digital", release_rule="all_open")
        cid, lessons, quiz = built["course"]["id"], built["lessons"], built["quiz"]
        # students A (male), B, C (female) at CD0101 by the school; teachers T1 (female), T2 (male) at TC7901 by the
        # HCM officer; teacher T3 (sex unknown) at CD0101 by the ministry
        (a, a_sub), (b, b_sub), (cc, c_sub) = [await learner(platform, "CD0101") for _ in range(3)]
        (t1, t1_sub), (t2, t2_sub) = [await learner(platform, "TC7901", "teacher") for _ in range(2)]
        _, t3_sub = await learner(platform, "CD0101", "teacher")
        students = {"institution_code": "CD0101", "learners": [
            {"account": a_sub, "full_name": "A", "sex": "male"}, {"account": b_sub, "full_name": "B", "sex": "female"},
            {"account": c_sub, "full_name": "C", "sex": "female"}]}
        teachers = {"institution_code": "TC7901", "role": "teacher", "learners": [
            {"account": t1_sub, "full_name": "T1", "sex": "female"}, {"account": t2_sub, "full_name": "T2", "sex": "male"}]}
        assert (await c.post(f"/v1/courses/{cid}/enrolments/batch", json=teachers, headers=school)).status_code == 403
        assert (await c.post(f"/v1/courses/{cid}/enrolments/batch", json=teachers | {"institution_code": "CD0101"}, headers=hcm)).status_code == 403
        enrolled = {e["full_name"]: e["id"] for e in (await ok(await c.post(f"/v1/courses/{cid}/enrolments/batch", json=students, headers=school)))["items"]}
        enrolled |= {e["full_name"]: e["id"] for e in (await ok(await c.post(f"/v1/courses/{cid}/enrolments/batch", json=teachers, headers=hcm)))["items"]}
        await ok(await c.post(f"/v1/courses/{cid}/enrolments/batch", json={"institution_code": "CD0101", "role": "teacher",
                              "learners": [{"account": t3_sub, "full_name": "T3"}]}, headers=boss))

        async def complete(who: dict[str, str], eid: str) -> None:
            for lesson in lessons[:2]:
                await ok(await c.post(f"/v1/enrolments/{eid}/lessons/{lesson['id']}/progress", json={"event": "completed"}, headers=who))
            attempt = await ok(await c.post(f"/v1/enrolments/{eid}/quizzes/{quiz['id']}/attempts", headers=who), 201)
            await ok(await c.post(f"/v1/attempts/{attempt['id']}/submit", json={"answers": answers_for(attempt, built["specs"], right=True)}, headers=who))

        await complete(a, enrolled["A"])
        await complete(t1, enrolled["T1"])
        await ok(await c.post(f"/v1/enrolments/{enrolled['B']}/lessons/{lessons[0]['id']}/progress", json={"event": "opened"}, headers=b))
        await ok(await c.post(f"/v1/enrolments/{enrolled['T2']}/quizzes/{quiz['id']}/attempts", headers=t2), 201)

        async def rows(headers: dict[str, str], group_by: str) -> dict[str | None, tuple[int, int, int, int]]:
            report = await ok(await c.get("/v1/course-reports", params={"course_id": cid, "group_by": group_by}, headers=headers))
            return {r["key"]: (r["enrolled"], r["active"], r["completed"], r["certified"]) for r in report["rows"]}

        assert await rows(boss, "audience") == {"student": (3, 1, 1, 0), "teacher": (3, 1, 1, 0)}
        assert await rows(boss, "sex") == {"male": (2, 1, 1, 0), "female": (3, 1, 1, 0), None: (1, 0, 0, 0)}
        assert await rows(boss, "institution") == {"CD0101": (4, 1, 1, 0), "TC7901": (2, 1, 1, 0)}
        assert await rows(boss, "province") == {hanoi: (4, 1, 1, 0), saigon: (2, 1, 1, 0)}
        by_course = await ok(await c.get("/v1/course-reports", params={"course_id": cid}, headers=boss))
        assert by_course["rows"] == [{"key": cid, "label": built["course"]["title"], "enrolled": 6, "active": 2, "completed": 2, "certified": 0, "withdrawn": 0}]
        # a province officer sees the province's institutions, a school its own learners, a student nothing
        assert await rows(hcm, "institution") == {"TC7901": (2, 1, 1, 0)}
        assert await rows(school, "institution") == {"CD0101": (4, 1, 1, 0)}
        assert await rows(people.teacher, "audience") == {"student": (3, 1, 1, 0), "teacher": (1, 0, 0, 0)}
        assert (await c.get("/v1/course-reports", params={"course_id": cid}, headers=a)).status_code == 403
        # CSV
        r = await c.get("/v1/course-reports", params={"course_id": cid, "group_by": "audience", "format": "csv"}, headers=boss)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert list(csv.reader(io.StringIO(r.text))) == [
            ["audience", "label", "enrolled", "active", "completed", "certified", "withdrawn"],
            ["student", "", "3", "1", "1", "0", "0"], ["teacher", "", "3", "1", "1", "0", "0"], ["", "total", "6", "2", "2", "0", "0"]]
        # Decision 123 targets, in the HCM officer's scope: T1 is the province's one trained teacher; student S of
        # TC7901 (enrolled by a teacher there) counts toward the pilot once TC7901 is a pilot institution
        s, s_sub = await learner(platform, "TC7901")
        [s_enrolment] = (await ok(await c.post(f"/v1/courses/{cid}/enrolments/batch", json={
            "institution_code": "TC7901", "learners": [{"account": s_sub, "full_name": "S", "sex": "female"}]},
            headers=people.other_teacher)))["items"]
        await complete(s, s_enrolment["id"])
        targets = await ok(await c.get("/v1/course-reports/targets", headers=hcm))
        assert targets["teachers_trained"] == {"trained": 1, "target": 10000, "share": 0.0001}
        assert targets["students_trained"]["trained"] == 0 and targets["students_trained_everywhere"] == 1
        assert targets["institutions_with_completions"] == 1
        assert (await c.put("/v1/course-pilots/TC7901", json={"note": "thí điểm"}, headers=hcm)).status_code == 403
        bad = await c.put("/v1/course-pilots/XX9999", headers=boss)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "institution_code"
        for _ in range(2):
            pilot = await ok(await c.put("/v1/course-pilots/TC7901", json={"note": "thí điểm"}, headers=boss))
        assert pilot["institution_code"] == "TC7901" and pilot["note"] == "thí điểm"
        targets = await ok(await c.get("/v1/course-reports/targets", headers=hcm))
        assert targets["students_trained"] == {"trained": 1, "target": 15000, "share": round(1 / 15000, 4)}
        assert "TC7901" in {p["institution_code"] for p in await ok(await c.get("/v1/course-pilots", headers=hcm))}
        assert (await c.get("/v1/course-pilots", headers=a)).status_code == 403
