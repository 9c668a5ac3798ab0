"""E-courses through the API: authoring with authorisation, class enrolment, lessons in order, quizzes graded on the
server (right, wrong, over the attempt limit, after the time limit), one completion event per enrolment."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from services.common.db import utcnow
from services.learning.models import QuizAttempt
from tests.learning.conftest import People
from tests.learning.courses.helpers import answers_for, build_course, completion_events, learner, ministry, ok
from tests.support import Platform

#: no call to identity (or another service) while a write transaction is open: services.common.testing.WriteTransactions
pytestmark = pytest.mark.usefixtures("no_calls_in_write_transactions")


async def test_authoring_is_authorised_and_validated(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        areas = await ok(await c.get("/v1/skill-areas"))
        assert {"communication", "teamwork", "problem_solving", "critical_thinking", "time_management", "career", "digital"} == {a["code"] for a in areas}
        body = {"title": "Kỹ năng làm việc nhóm", "skill_area": "teamwork"}
        assert (await c.post("/v1/courses", json=body, headers=people.student)).status_code == 403
        assert (await c.post("/v1/courses", json=body | {"institution_code": "CD0101"}, headers=people.other_teacher)).status_code == 403
        assert (await c.post("/v1/courses", json=body | {"national": True}, headers=people.teacher)).status_code == 403
        assert (await c.post("/v1/courses", json=body | {"national": True}, headers=people.officer)).status_code == 403  # a province officer
        assert (await c.post("/v1/courses", json=body)).status_code == 401
        bad = await c.post("/v1/courses", json=body | {"skill_area": "juggling", "audience": "everyone"}, headers=people.teacher)
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        assert {"audience"} <= {e["field"] for e in bad.json()["errors"]}
        bad = await c.post("/v1/courses", json=body | {"skill_area": "juggling"}, headers=people.teacher)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "skill_area"

        national = await ok(await c.post("/v1/courses", json=body | {"national": True, "audience": "teachers"}, headers=await ministry(platform)), 201)
        assert national["institution_code"] is None and national["status"] == "draft"

        built = await build_course(c, people.teacher, publish=False)
        course = built["course"]
        assert course["institution_code"] == "CD0101" and course["title"].startswith("Kỹ năng giao tiếp")
        cid, mid = course["id"], built["module"]["id"]
        # bad lessons and questions: 422 naming the field, and nothing added
        r = await c.post(f"/v1/courses/{cid}/modules/{mid}/lessons", json={"title": "Video", "kind": "learning_object",
                         "learning_object_id": built["quiz"]["id"], "learning_object_version": 1}, headers=people.teacher)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "learning_object_version"
        r = await c.post(f"/v1/courses/{cid}/modules/{mid}/lessons", json={"title": "Trống", "kind": "text"}, headers=people.teacher)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
        r = await c.post(f"/v1/courses/{cid}/questions", json={"kind": "single", "prompt": "?", "choices": [
            {"text": "a", "correct": True}, {"text": "b", "correct": True}]}, headers=people.teacher)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "choices"
        r = await c.post(f"/v1/courses/{cid}/quizzes", json={"title": "Q", "pools": [{"pool": "default", "count": 99}]}, headers=people.teacher)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "pools.0.count"
        r = await c.post(f"/v1/courses/{cid}/modules", json={"title": "Chương X"}, headers=people.other_teacher)
        assert r.status_code == 404  # a draft of another school is not even visible
        detail = await ok(await c.get(f"/v1/courses/{cid}", headers=people.teacher))
        assert [len(m["lessons"]) for m in detail["modules"]] == [3] and len(detail["quizzes"]) == 1
        assert detail["quizzes"][0]["question_count"] == 5
        # drafts are for their authors; published institution courses for the institution's members
        assert (await c.get(f"/v1/courses/{cid}", headers=people.student)).status_code == 404
        await ok(await c.post(f"/v1/courses/{cid}/publish", headers=people.teacher))
        assert (await c.get(f"/v1/courses/{cid}", headers=people.student)).status_code == 200
        assert (await c.get(f"/v1/courses/{cid}", headers=people.other_student)).status_code == 404
        listed = await ok(await c.get("/v1/courses", params={"q": "ky nang giao tiep", "limit": 500}, headers=people.student))
        assert cid in {x["id"] for x in listed["items"]}
        # editing a published course makes a new version
        assert (await ok(await c.patch(f"/v1/courses/{cid}", json={"estimated_hours": 5}, headers=people.teacher)))["version"] == 2
        await ok(await c.post(f"/v1/courses/{cid}/modules", json={"title": "Chương 2"}, headers=people.teacher), 201)
        assert (await ok(await c.get(f"/v1/courses/{cid}", headers=people.student)))["version"] == 3
        bad = await c.patch(f"/v1/courses/{cid}", json={"title": None}, headers=people.teacher)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "title"
        assert (await ok(await c.get(f"/v1/courses/{cid}", headers=people.student)))["version"] == 3  # nothing changed


async def test_class_lessons_quiz_and_one_completion(platform: Platform, people: People) -> None:
    school = await platform.school_headers()
    async with platform.client("learning") as c:
        built = await build_course(c, people.teacher, max_attempts=3)
        cid, lessons, quiz = built["course"]["id"], built["lessons"], built["quiz"]
        (anh, anh_sub), (binh, binh_sub) = await learner(platform, "CD0101"), await learner(platform, "CD0101")
        batch = {"institution_code": "CD0101", "learners": [
            {"account": anh_sub, "full_name": "Lê Văn Anh", "sex": "male"},
            {"account": binh_sub, "full_name": "Ngô Thị Bình", "sex": "female"}]}
        assert (await c.post(f"/v1/courses/{cid}/enrolments/batch", json=batch, headers=people.other_teacher)).status_code == 403
        first = await ok(await c.post(f"/v1/courses/{cid}/enrolments/batch", json=batch, headers=school))
        assert (first["created"], first["existing"]) == (2, 0)
        again = await ok(await c.post(f"/v1/courses/{cid}/enrolments/batch", json=batch, headers=school))
        assert (again["created"], again["existing"]) == (0, 2) and [e["id"] for e in again["items"]] == [e["id"] for e in first["items"]]
        eid = first["items"][0]["id"]
        assert first["items"][0]["method"] == "class" and first["items"][0]["role"] == "student"

        # learners see and change only their own progress
        assert (await c.get(f"/v1/enrolments/{eid}", headers=binh)).status_code == 404
        assert (await c.post(f"/v1/enrolments/{eid}/lessons/{lessons[0]['id']}/progress", json={"event": "opened"}, headers=binh)).status_code == 404
        # lessons open in order
        locked = await c.post(f"/v1/enrolments/{eid}/lessons/{lessons[1]['id']}/progress", json={"event": "completed"}, headers=anh)
        assert locked.status_code == 409 and locked.json()["blocking_lesson_id"] == lessons[0]["id"]
        p = await ok(await c.post(f"/v1/enrolments/{eid}/lessons/{lessons[0]['id']}/progress",
                                  json={"event": "completed", "time_spent_seconds": 300}, headers=anh))
        assert p["completed_at"] and p["time_spent_seconds"] == 300
        await ok(await c.post(f"/v1/enrolments/{eid}/lessons/{lessons[1]['id']}/progress", json={"event": "completed"}, headers=anh))
        standing = await ok(await c.get(f"/v1/enrolments/{eid}", headers=anh))
        assert standing["status"] == "enrolled" and standing["completion"] is None  # the quiz is still to pass

        # a wrong attempt, then a right one
        attempt = await ok(await c.post(f"/v1/enrolments/{eid}/quizzes/{quiz['id']}/attempts", headers=anh), 201)
        assert len(attempt["questions"]) == 5 and attempt["number"] == 1
        same = await ok(await c.post(f"/v1/enrolments/{eid}/quizzes/{quiz['id']}/attempts", headers=anh))
        assert same["id"] == attempt["id"]  # the open attempt comes back
        graded = await ok(await c.post(f"/v1/attempts/{attempt['id']}/submit", json={"answers": answers_for(attempt, built["specs"], right=False)}, headers=anh))
        assert graded["status"] == "submitted" and graded["score"] == 0.0 and graded["passed"] is False
        assert all(not r["correct"] for r in graded["results"])
        assert (await c.post(f"/v1/attempts/{attempt['id']}/submit", json={"answers": {}}, headers=anh)).status_code == 409
        assert await completion_events(platform, eid) == []

        attempt = await ok(await c.post(f"/v1/enrolments/{eid}/quizzes/{quiz['id']}/attempts", headers=anh), 201)
        answers = answers_for(attempt, built["specs"], right=True)
        one_wrong = dict(answers)
        tf = next(q for q in attempt["questions"] if q["kind"] == "true_false")
        one_wrong[tf["id"]] = not answers[tf["id"]]
        graded = await ok(await c.post(f"/v1/attempts/{attempt['id']}/submit", json={"answers": one_wrong}, headers=anh))
        assert graded["score"] == 80.0 and graded["passed"] is True  # 4 of 5 points, pass mark 80
        standing = await ok(await c.get(f"/v1/enrolments/{eid}", headers=anh))
        assert standing["status"] == "completed" and standing["completion"]["final_score"] == 80.0

        # more attempts after passing are allowed up to the limit, then refused; completion is never repeated
        attempt = await ok(await c.post(f"/v1/enrolments/{eid}/quizzes/{quiz['id']}/attempts", headers=anh), 201)
        graded = await ok(await c.post(f"/v1/attempts/{attempt['id']}/submit", json={"answers": answers_for(attempt, built["specs"], right=True)}, headers=anh))
        assert graded["score"] == 100.0 and attempt["number"] == 3
        over = await c.post(f"/v1/enrolments/{eid}/quizzes/{quiz['id']}/attempts", headers=anh)
        assert over.status_code == 409 and over.json()["max_attempts"] == 3
        for _ in range(3):  # the same lesson reported again and again
            await ok(await c.post(f"/v1/enrolments/{eid}/lessons/{lessons[0]['id']}/progress", json={"event": "completed"}, headers=anh))
        events = await completion_events(platform, eid)
        assert len(events) == 1
        data = events[0].data
        assert data["course_id"] == cid and data["title"] == built["course"]["title"] and data["skill_area"] == "communication"
        assert data["final_score"] == 80.0 and data["holder"] == {"full_name": "Lê Văn Anh"} and data["institution_code"] == "CD0101"
        assert data["version"] == 1 and data["audience"] == "students" and data["hours"] == 4
        assert data["learner_id"] == anh_sub and "person_id" not in data

        # the school sees its learners' enrolments; another school does not
        listed = await ok(await c.get(f"/v1/courses/{cid}/enrolments", headers=school))
        assert {e["id"] for e in listed["items"]} == {e["id"] for e in first["items"]}
        assert (await ok(await c.get(f"/v1/courses/{cid}/enrolments", headers=people.other_teacher)))["items"] == []
        assert (await c.get(f"/v1/enrolments/{eid}", headers=school)).status_code == 200


async def test_time_limit_expires_an_attempt(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        built = await build_course(c, people.teacher, time_limit_seconds=60, max_attempts=2)
        cid, quiz = built["course"]["id"], built["quiz"]
        me, _ = await learner(platform, "CD0101")
        enrolment = await ok(await c.post(f"/v1/courses/{cid}/enrolments", headers=me), 201)
        assert (await ok(await c.post(f"/v1/courses/{cid}/enrolments", headers=me)))["id"] == enrolment["id"]
        attempt = await ok(await c.post(f"/v1/enrolments/{enrolment['id']}/quizzes/{quiz['id']}/attempts", headers=me), 201)
        assert attempt["deadline_at"]
        async with platform.apps["learning"].state.db.session() as session:  # the learner took too long
            await session.execute(update(QuizAttempt).where(QuizAttempt.id == uuid.UUID(attempt["id"]))
                                  .values(deadline_at=utcnow() - timedelta(minutes=5)))
        late = await ok(await c.post(f"/v1/attempts/{attempt['id']}/submit",
                                     json={"answers": answers_for(attempt, built["specs"], right=True)}, headers=me))
        assert late["status"] == "expired" and late["score"] == 0.0 and late["passed"] is False and late["results"] is None
        standing = await ok(await c.get(f"/v1/enrolments/{enrolment['id']}", headers=me))
        assert standing["quizzes"][0] == {"quiz_id": quiz["id"], "attempts_used": 1, "attempts_left": 1, "best_score": 0.0, "passed": False}


async def test_runs_capacity_and_dates(platform: Platform, people: People) -> None:
    school = await platform.school_headers()
    async with platform.client("learning") as c:
        built = await build_course(c, people.teacher, release_rule="all_open")
        cid, lessons = built["course"]["id"], built["lessons"]
        now = utcnow()
        small = await ok(await c.post(f"/v1/courses/{cid}/runs", json={"title": "Đợt 1", "capacity": 2}, headers=people.teacher), 201)
        later = await ok(await c.post(f"/v1/courses/{cid}/runs", json={
            "title": "Đợt 2", "starts_at": (now + timedelta(days=7)).isoformat(), "ends_at": (now + timedelta(days=30)).isoformat()},
            headers=people.teacher), 201)
        ended = await ok(await c.post(f"/v1/courses/{cid}/runs", json={
            "title": "Đợt cũ", "starts_at": (now - timedelta(days=30)).isoformat(), "ends_at": (now - timedelta(days=1)).isoformat()},
            headers=people.teacher), 201)
        bad = await c.post(f"/v1/courses/{cid}/runs", json={"title": "Sai", "starts_at": now.isoformat(),
                                                            "ends_at": (now - timedelta(days=1)).isoformat()}, headers=people.teacher)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "ends_at"
        naive = await c.post(f"/v1/courses/{cid}/runs", json={"title": "Sai", "starts_at": "2026-12-01T08:00:00",
                                                              "ends_at": (now + timedelta(days=60)).isoformat()}, headers=people.teacher)
        assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "starts_at"
        subs = [(await learner(platform, "CD0101"))[1] for _ in range(3)]
        three = {"institution_code": "CD0101", "run_id": small["id"],
                 "learners": [{"account": s, "full_name": f"Học viên {i}"} for i, s in enumerate(subs)]}
        full = await c.post(f"/v1/courses/{cid}/enrolments/batch", json=three, headers=school)
        assert full.status_code == 409 and full.json()["capacity"] == 2
        assert (await ok(await c.get(f"/v1/courses/{cid}/enrolments", headers=school)))["items"] == []  # nothing was enrolled
        two = three | {"learners": three["learners"][:2]}
        assert (await ok(await c.post(f"/v1/courses/{cid}/enrolments/batch", json=two, headers=school)))["created"] == 2
        assert (await c.post(f"/v1/courses/{cid}/enrolments/batch", json=three | {"learners": three["learners"][2:]}, headers=school)).status_code == 409
        me, _ = await learner(platform, "CD0101")
        assert (await c.post(f"/v1/courses/{cid}/enrolments", json={"run_id": ended["id"]}, headers=me)).status_code == 409
        early = await ok(await c.post(f"/v1/courses/{cid}/enrolments", json={"run_id": later["id"]}, headers=me), 201)
        r = await c.post(f"/v1/enrolments/{early['id']}/lessons/{lessons[0]['id']}/progress", json={"event": "opened"}, headers=me)
        assert r.status_code == 409  # the run has not started


async def test_scorm_runtime_values(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        built = await build_course(c, people.teacher, release_rule="all_open")
        cid, lessons = built["course"]["id"], built["lessons"]
        me, _ = await learner(platform, "CD0101")
        eid = (await ok(await c.post(f"/v1/courses/{cid}/enrolments", headers=me), 201))["id"]
        url = f"/v1/enrolments/{eid}/lessons/{lessons[1]['id']}/scorm"
        bad = await c.put(url, json={"values": {"lesson_status": "completed"}}, headers=me)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("values")
        saved = await ok(await c.put(url, json={"values": {"cmi.core.lesson_status": "incomplete", "cmi.suspend_data": "trang=3;ghi chú=ổn"}}, headers=me))
        assert saved == {"attempt": 1, "values": {"cmi.core.lesson_status": "incomplete", "cmi.suspend_data": "trang=3;ghi chú=ổn"}}
        await ok(await c.put(url, json={"values": {"cmi.core.lesson_status": "completed", "cmi.core.score.raw": "90"}}, headers=me))
        resumed = await ok(await c.get(url, headers=me))
        assert resumed["values"]["cmi.core.lesson_status"] == "completed" and resumed["values"]["cmi.suspend_data"] == "trang=3;ghi chú=ổn"
        progress = {p["lesson_id"]: p for p in (await ok(await c.get(f"/v1/enrolments/{eid}", headers=me)))["lessons"]}
        assert progress[lessons[1]["id"]]["completed_at"]
        other, _ = await learner(platform, "CD0101")
        assert (await c.get(url, headers=other)).status_code == 404


async def test_concurrent_enrolments_make_one(platform: Platform, people: People) -> None:
    import asyncio

    school = await platform.school_headers()
    async with platform.client("learning") as c:
        cid = (await build_course(c, people.teacher))["course"]["id"]
        me, sub = await learner(platform, "CD0101")
        results = await asyncio.gather(*(c.post(f"/v1/courses/{cid}/enrolments", headers=me) for _ in range(4)))
        assert sorted(r.status_code for r in results).count(201) == 1 and {r.status_code for r in results} <= {200, 201}
        assert len({r.json()["id"] for r in results}) == 1
        batch = {"institution_code": "CD0101", "learners": [{"account": sub, "full_name": "Tôi"},
                                                            {"account": (await learner(platform, "CD0101"))[1], "full_name": "Bạn"}]}
        batches = await asyncio.gather(*(c.post(f"/v1/courses/{cid}/enrolments/batch", json=batch, headers=school) for _ in range(3)))
        assert all(r.status_code == 200 for r in batches), [r.text for r in batches]
        assert sum(r.json()["created"] for r in batches) == 1  # only the friend was new
        assert len({e["id"] for r in batches for e in r.json()["items"]}) == 2
