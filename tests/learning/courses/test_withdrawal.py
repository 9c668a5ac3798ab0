"""Withdrawing an enrolment: who may (the learner, the learner's school, officers for the teachers they enrol), the
history kept, no progress or attempts while withdrawn (409), a place freed in a run, reports counting it apart, and
re-enrolment reopening the same enrolment."""

from __future__ import annotations

import uuid
from datetime import timedelta

from services.common.db import utcnow
from tests.learning.conftest import People
from tests.learning.courses.helpers import answers_for, build_course, learner, ministry, ok
from tests.learning.helpers import OFFICER, login
from tests.support import Platform

V = {"X-Experience-API-Version": "1.0.3"}
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"


def problem(r, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()


async def test_learner_withdraws_keeps_history_frees_place_and_reenrols(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        built = await build_course(c, people.teacher, release_rule="all_open")
        cid, lessons, quiz = built["course"]["id"], built["lessons"], built["quiz"]
        run = await ok(await c.post(f"/v1/courses/{cid}/runs", json={
            "title": "Đợt 1", "starts_at": (utcnow() - timedelta(days=1)).isoformat(),
            "ends_at": (utcnow() + timedelta(days=30)).isoformat(), "capacity": 2}, headers=people.teacher), 201)
        (me, sub), (second, _), (third, _) = [await learner(platform, "CD0101") for _ in range(3)]
        mine = await ok(await c.post(f"/v1/courses/{cid}/enrolments", json={"run_id": run["id"]}, headers=me), 201)
        await ok(await c.post(f"/v1/courses/{cid}/enrolments", json={"run_id": run["id"]}, headers=second), 201)
        problem(await c.post(f"/v1/courses/{cid}/enrolments", json={"run_id": run["id"]}, headers=third), 409)  # the run is full
        eid = mine["id"]
        assert mine["institution_type"] == "college"  # CD0101, as the registry has it
        await ok(await c.post(f"/v1/enrolments/{eid}/lessons/{lessons[0]['id']}/progress",
                              json={"event": "completed", "time_spent_seconds": 60}, headers=me))
        attempt = await ok(await c.post(f"/v1/enrolments/{eid}/quizzes/{quiz['id']}/attempts", headers=me), 201)

        # a reason is required; another learner may not even see the enrolment
        bad = await c.post(f"/v1/enrolments/{eid}/withdraw", json={}, headers=me)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "reason"
        assert (await c.post(f"/v1/enrolments/{eid}/withdraw", json={"reason": "   "}, headers=me)).status_code == 422
        problem(await c.post(f"/v1/enrolments/{eid}/withdraw", json={"reason": "không phải của tôi"}, headers=third), 404)
        gone = await ok(await c.post(f"/v1/enrolments/{eid}/withdraw", json={"reason": "Bận việc gia đình"}, headers=me))
        assert gone["status"] == "withdrawn" and gone["withdrawal_reason"] == "Bận việc gia đình"
        assert gone["withdrawn_by"] == sub and gone["withdrawn_at"]
        assert [(h["action"], h["actor"], h["reason"]) for h in gone["history"]] == [("withdrawn", sub, "Bận việc gia đình")]
        # history kept: the completed lesson, its time, the attempt
        assert [(p["lesson_id"], p["time_spent_seconds"]) for p in gone["lessons"] if p["completed_at"]] == [(lessons[0]["id"], 60)]
        assert gone["quizzes"][0]["attempts_used"] == 1
        # withdrawing again changes nothing: the first withdrawal stands
        again = await ok(await c.post(f"/v1/enrolments/{eid}/withdraw", json={"reason": "lần nữa"}, headers=me))
        assert again["withdrawal_reason"] == "Bận việc gia đình" and len(again["history"]) == 1

        # no progress, attempts, launches or SCORM commits while withdrawn: 409 problem+json
        for r in [
            await c.post(f"/v1/enrolments/{eid}/lessons/{lessons[1]['id']}/progress", json={"event": "completed"}, headers=me),
            await c.post(f"/v1/enrolments/{eid}/quizzes/{quiz['id']}/attempts", headers=me),
            await c.post(f"/v1/attempts/{attempt['id']}/submit", json={"answers": answers_for(attempt, built["specs"], right=True)}, headers=me),
            await c.post(f"/v1/enrolments/{eid}/lessons/{lessons[1]['id']}/launch", headers=me),
            await c.put(f"/v1/enrolments/{eid}/lessons/{lessons[1]['id']}/scorm", json={"values": {"cmi.core.lesson_status": "completed"}}, headers=me),
        ]:
            assert problem(r, 409)["detail"].startswith("This enrolment was withdrawn")
        # an xAPI statement is stored (an LRS keeps what it is sent) but is no progress
        statement = {"actor": {"account": {"homePage": "https://vet.gov.vn", "name": sub}}, "verb": {"id": COMPLETED},
                     "object": {"id": lessons[1]["activity_id"]}, "context": {"registration": eid}}
        await ok(await c.post("/v1/xapi/statements", json=statement, headers=me | V))
        standing = await ok(await c.get(f"/v1/enrolments/{eid}", headers=me))
        assert lessons[1]["id"] not in {p["lesson_id"] for p in standing["lessons"] if p["completed_at"]}

        # the place is free: the third learner takes it; the run is full again for me
        await ok(await c.post(f"/v1/courses/{cid}/enrolments", json={"run_id": run["id"]}, headers=third), 201)
        problem(await c.post(f"/v1/courses/{cid}/enrolments", json={"run_id": run["id"]}, headers=me), 409)
        assert (await ok(await c.get(f"/v1/enrolments/{eid}", headers=me)))["status"] == "withdrawn"

        # the school lists its withdrawn learners; reports count them apart
        listed = await ok(await c.get(f"/v1/courses/{cid}/enrolments", params={"status": "withdrawn"}, headers=people.teacher))
        assert [e["id"] for e in listed["items"]] == [eid]
        report = await ok(await c.get("/v1/course-reports", params={"course_id": cid}, headers=people.teacher))
        assert {k: report["total"][k] for k in ("enrolled", "active", "completed", "withdrawn")} == \
            {"enrolled": 2, "active": 0, "completed": 0, "withdrawn": 1}

        # enrolling again (no run now) reopens the same enrolment, its progress and attempts kept
        back = await c.post(f"/v1/courses/{cid}/enrolments", headers=me)
        assert back.status_code == 200 and back.json()["id"] == eid and back.json()["status"] == "enrolled"
        assert back.json()["run_id"] is None and back.json()["withdrawn_at"] is None
        assert (await c.post(f"/v1/courses/{cid}/enrolments", headers=me)).json()["id"] == eid  # idempotent
        mine_now = await ok(await c.get("/v1/me/enrolments", headers=me))
        assert [e["id"] for e in mine_now["items"] if e["course_id"] == cid] == [eid]
        standing = await ok(await c.get(f"/v1/enrolments/{eid}", headers=me))
        assert [h["action"] for h in standing["history"]] == ["withdrawn", "reopened"]
        assert standing["lessons"][0]["completed_at"] and standing["quizzes"][0]["attempts_used"] == 1
        # and goes on where it stopped: the open attempt, then the last lesson completes the course
        resumed = await ok(await c.post(f"/v1/enrolments/{eid}/quizzes/{quiz['id']}/attempts", headers=me))
        assert resumed["id"] == attempt["id"]
        await ok(await c.post(f"/v1/attempts/{attempt['id']}/submit", json={"answers": answers_for(attempt, built["specs"], right=True)}, headers=me))
        await ok(await c.post(f"/v1/enrolments/{eid}/lessons/{lessons[1]['id']}/progress", json={"event": "completed"}, headers=me))
        done = await ok(await c.get(f"/v1/enrolments/{eid}", headers=me))
        assert done["status"] == "completed"
        # a completed enrolment cannot be withdrawn: its certificate stands
        assert "completed" in problem(await c.post(f"/v1/enrolments/{eid}/withdraw", json={"reason": "muộn"}, headers=me), 409)["detail"]
        report = await ok(await c.get("/v1/course-reports", params={"course_id": cid}, headers=people.teacher))
        assert {k: report["total"][k] for k in ("enrolled", "active", "completed", "withdrawn")} == \
            {"enrolled": 3, "active": 0, "completed": 1, "withdrawn": 0}


async def test_who_may_withdraw(platform: Platform, people: People) -> None:
    """A school withdraws its learners (not another school's, not teachers an officer enrolled); officers withdraw the
    teachers they enrolled; a class re-enrolled by the school reopens the same enrolments."""
    school, boss, hcm = await platform.school_headers(), await ministry(platform), await login(platform, *OFFICER)
    async with platform.client("learning") as c:
        built = await build_course(c, boss, national=True, audience="both", release_rule="all_open")
        cid, lessons = built["course"]["id"], built["lessons"]
        (anh, anh_sub), (binh, binh_sub) = await learner(platform, "CD0101"), await learner(platform, "CD0101")
        (thu, thu_sub) = await learner(platform, "TC7901", "teacher")
        cls = {"institution_code": "CD0101", "learners": [{"account": anh_sub, "full_name": "Anh"}, {"account": binh_sub, "full_name": "Bình"}]}
        students = {e["full_name"]: e for e in (await ok(await c.post(f"/v1/courses/{cid}/enrolments/batch", json=cls, headers=school)))["items"]}
        [teacher] = (await ok(await c.post(f"/v1/courses/{cid}/enrolments/batch", json={
            "institution_code": "TC7901", "role": "teacher", "learners": [{"account": thu_sub, "full_name": "Thu"}]}, headers=hcm)))["items"]
        assert teacher["institution_type"] == "intermediate" and students["Anh"]["institution_type"] == "college"
        a_id, b_id, t_id = students["Anh"]["id"], students["Bình"]["id"], teacher["id"]
        await ok(await c.post(f"/v1/enrolments/{a_id}/lessons/{lessons[0]['id']}/progress", json={"event": "opened"}, headers=anh))

        reason = {"reason": "Chuyển trường"}
        problem(await c.post(f"/v1/enrolments/{a_id}/withdraw", json=reason, headers=binh), 404)  # a classmate
        problem(await c.post(f"/v1/enrolments/{a_id}/withdraw", json=reason, headers=people.other_teacher), 404)  # another school
        problem(await c.post(f"/v1/enrolments/{a_id}/withdraw", json=reason, headers=hcm), 404)  # another province's officer
        # the school's system and a teacher of the school withdraw its learners
        by_system = await ok(await c.post(f"/v1/enrolments/{a_id}/withdraw", json=reason, headers=school))
        assert by_system["status"] == "withdrawn" and by_system["withdrawn_by"] == "client:demo-school-sis"
        by_teacher = await ok(await c.post(f"/v1/enrolments/{b_id}/withdraw", json={"reason": "Nghỉ học"}, headers=people.teacher))
        assert by_teacher["history"][0]["actor"] != by_system["history"][0]["actor"]
        # teachers an officer enrolled: not their school's to withdraw, the officers' (and the teacher's own)
        problem(await c.post(f"/v1/enrolments/{t_id}/withdraw", json=reason, headers=people.other_teacher), 403)
        problem(await c.post(f"/v1/enrolments/{t_id}/withdraw", json=reason, headers=school), 404)
        withdrawn = await ok(await c.post(f"/v1/enrolments/{t_id}/withdraw", json={"reason": "Không đủ điều kiện"}, headers=hcm))
        assert withdrawn["status"] == "withdrawn" and withdrawn["withdrawal_reason"] == "Không đủ điều kiện"
        problem(await c.post(f"/v1/enrolments/{t_id}/lessons/{lessons[0]['id']}/progress", json={"event": "opened"}, headers=thu), 409)

        report = await ok(await c.get("/v1/course-reports", params={"course_id": cid, "group_by": "audience"}, headers=boss))
        assert {r["key"]: (r["enrolled"], r["active"], r["withdrawn"]) for r in report["rows"]} == {"student": (0, 0, 2), "teacher": (0, 0, 1)}

        # the school enrols the class again: the same two enrolments reopen, Anh's progress kept
        again = await ok(await c.post(f"/v1/courses/{cid}/enrolments/batch", json=cls, headers=school))
        assert (again["created"], again["existing"], again["reopened"]) == (0, 0, 2)
        assert {e["id"] for e in again["items"]} == {a_id, b_id} and {e["status"] for e in again["items"]} == {"enrolled"}
        again = await ok(await c.post(f"/v1/courses/{cid}/enrolments/batch", json=cls, headers=school))
        assert (again["created"], again["existing"], again["reopened"]) == (0, 2, 0)
        anh_now = await ok(await c.get(f"/v1/enrolments/{a_id}", headers=anh))
        assert [h["action"] for h in anh_now["history"]] == ["withdrawn", "reopened"] and anh_now["lessons"][0]["opened_at"]
        report = await ok(await c.get("/v1/course-reports", params={"course_id": cid, "group_by": "audience"}, headers=boss))
        assert {r["key"]: (r["enrolled"], r["active"], r["withdrawn"]) for r in report["rows"]} == {"student": (2, 1, 0), "teacher": (0, 0, 1)}
        # the teacher cannot undo the officer's withdrawal by enrolling again (nor can a student the school's)
        refused = problem(await c.post(f"/v1/courses/{cid}/enrolments", headers=thu), 403)
        assert "Không đủ điều kiện" in refused["detail"]
        await ok(await c.post(f"/v1/enrolments/{a_id}/withdraw", json=reason, headers=school))
        assert "withdrawn by your school" in problem(await c.post(f"/v1/courses/{cid}/enrolments", headers=anh), 403)["detail"]
        assert (await ok(await c.get(f"/v1/enrolments/{t_id}", headers=thu)))["status"] == "withdrawn"
        assert (await ok(await c.get(f"/v1/enrolments/{a_id}", headers=anh)))["status"] == "withdrawn"
        # the officer enrols the teacher again: the same enrolment reopens; once the teacher withdraws it
        # themselves, enrolling again is theirs to do
        [teacher] = (await ok(await c.post(f"/v1/courses/{cid}/enrolments/batch", json={
            "institution_code": "TC7901", "role": "teacher", "learners": [{"account": thu_sub, "full_name": "Thu"}]}, headers=hcm)))["items"]
        assert teacher["id"] == t_id and teacher["status"] == "enrolled"
        await ok(await c.post(f"/v1/enrolments/{t_id}/withdraw", json={"reason": "Bận công tác"}, headers=thu))
        back = await c.post(f"/v1/courses/{cid}/enrolments", headers=thu)
        assert back.status_code == 200 and back.json()["id"] == t_id and back.json()["method"] == "self"
        unknown = await c.post(f"/v1/enrolments/{uuid.uuid4()}/withdraw", json=reason, headers=boss)
        problem(unknown, 404)


async def test_a_class_batch_counts_reopened_learners_against_a_run_capacity(platform: Platform, people: People) -> None:
    school = await platform.school_headers()
    async with platform.client("learning") as c:
        built = await build_course(c, people.teacher)
        cid = built["course"]["id"]
        run = await ok(await c.post(f"/v1/courses/{cid}/runs", json={"title": "Lớp K25", "capacity": 2}, headers=people.teacher), 201)
        subs = [(await learner(platform, "CD0101"))[1] for _ in range(3)]
        learners = [{"account": s, "full_name": f"HS {i}"} for i, s in enumerate(subs)]
        first = await ok(await c.post(f"/v1/courses/{cid}/enrolments/batch", json={
            "institution_code": "CD0101", "run_id": run["id"], "learners": learners[:2]}, headers=school))
        gone = first["items"][0]["id"]
        await ok(await c.post(f"/v1/enrolments/{gone}/withdraw", json={"reason": "Bảo lưu"}, headers=school))
        # the freed place goes to a new learner; the withdrawn one does not fit any more
        await ok(await c.post(f"/v1/courses/{cid}/enrolments/batch", json={
            "institution_code": "CD0101", "run_id": run["id"], "learners": learners[2:]}, headers=school))
        full = await c.post(f"/v1/courses/{cid}/enrolments/batch", json={
            "institution_code": "CD0101", "run_id": run["id"], "learners": learners[:1]}, headers=school)
        assert full.status_code == 409 and full.json()["capacity"] == 2
        assert (await ok(await c.get(f"/v1/enrolments/{gone}", headers=school)))["status"] == "withdrawn"
        # without a run it reopens, out of the run
        back = await ok(await c.post(f"/v1/courses/{cid}/enrolments/batch", json={
            "institution_code": "CD0101", "learners": learners[:1]}, headers=school))
        assert back["reopened"] == 1 and back["items"][0]["id"] == gone and back["items"][0]["run_id"] is None


async def test_withdrawal_and_the_last_lesson_at_the_same_moment(platform: Platform, people: People) -> None:
    """Either the course completes and the withdrawal is refused, or the withdrawal wins and the progress is refused:
    never a withdrawn enrolment with a completion."""
    import asyncio

    async with platform.client("learning") as c:
        built = await build_course(c, people.teacher, release_rule="all_open")
        cid, lessons, quiz = built["course"]["id"], built["lessons"], built["quiz"]
        for _ in range(3):
            me, _ = await learner(platform, "CD0101")
            eid = (await ok(await c.post(f"/v1/courses/{cid}/enrolments", headers=me), 201))["id"]
            await ok(await c.post(f"/v1/enrolments/{eid}/lessons/{lessons[0]['id']}/progress", json={"event": "completed"}, headers=me))
            attempt = await ok(await c.post(f"/v1/enrolments/{eid}/quizzes/{quiz['id']}/attempts", headers=me), 201)
            await ok(await c.post(f"/v1/attempts/{attempt['id']}/submit", json={"answers": answers_for(attempt, built["specs"], right=True)}, headers=me))
            last, leave = await asyncio.gather(
                c.post(f"/v1/enrolments/{eid}/lessons/{lessons[1]['id']}/progress", json={"event": "completed"}, headers=me),
                c.post(f"/v1/enrolments/{eid}/withdraw", json={"reason": "đổi ý"}, headers=people.teacher))
            standing = await ok(await c.get(f"/v1/enrolments/{eid}", headers=me))
            if standing["status"] == "completed":
                assert last.status_code == 200 and leave.status_code == 409
            else:
                assert standing["status"] == "withdrawn" and standing["completion"] is None
                assert leave.status_code == 200 and last.status_code == 409
