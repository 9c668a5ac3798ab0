"""Voiding (xAPI 1.0.3) and lesson progress: a voided statement that completed a lesson undoes that completion unless
an API call or another statement not voided completes it too; once the course is completed, its completion (and the
one certificate event) stands, and the answer says so."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.learning.conftest import People
from tests.learning.courses.helpers import answers_for, build_course, count_events, learner, ok
from tests.support import Platform

V = {"X-Experience-API-Version": "1.0.3"}
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def about(sub: str, activity: str, registration: str | None, verb: str = COMPLETED, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"actor": {"objectType": "Agent", "account": {"homePage": "https://vet.gov.vn", "name": sub}},
                            "verb": {"id": verb}, "object": {"objectType": "Activity", "id": activity}, **kw}
    if registration:
        body["context"] = {"registration": registration}
    return body


def voiding(sub: str, target: str) -> dict[str, Any]:
    return {"actor": {"objectType": "Agent", "account": {"homePage": "https://vet.gov.vn", "name": sub}},
            "verb": {"id": VOIDED}, "object": {"objectType": "StatementRef", "id": target}}


async def completed_lessons(c: httpx.AsyncClient, eid: str, who: dict[str, str]) -> set[str]:
    standing = await ok(await c.get(f"/v1/enrolments/{eid}", headers=who))
    return {p["lesson_id"] for p in standing["lessons"] if p["completed_at"]}


async def test_voiding_undoes_a_lesson_completion_only_without_other_evidence(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        built = await build_course(c, people.teacher, release_rule="all_open")
        cid, lessons = built["course"]["id"], built["lessons"]
        l0, l1, l2 = (x["id"] for x in lessons)
        me, sub = await learner(platform, "CD0101")
        eid = (await ok(await c.post(f"/v1/courses/{cid}/enrolments", headers=me), 201))["id"]

        async def post(body: Any, who: dict[str, str] = me) -> list[str]:
            return await ok(await c.post("/v1/xapi/statements", json=body, headers=who | V))

        # one statement completed lesson 0: voiding it undoes the completion (the lesson stays opened, its time kept)
        [s1] = await post(about(sub, lessons[0]["activity_id"], eid, result={"duration": "PT3M"}))
        assert await completed_lessons(c, eid, me) == {l0}
        r = await c.post("/v1/xapi/statements", json=voiding(sub, s1), headers=me | V)
        assert r.status_code == 200 and "X-Course-Completion-Stands" not in r.headers
        standing = await ok(await c.get(f"/v1/enrolments/{eid}", headers=me))
        [row] = [p for p in standing["lessons"] if p["lesson_id"] == l0]
        assert row["completed_at"] is None and row["opened_at"] and row["time_spent_seconds"] == 180

        # two statements completed lesson 1 (one by result.completion): voiding one leaves it completed, both undo it
        s2, s3 = await post([about(sub, lessons[1]["activity_id"], eid),
                             about(sub, lessons[1]["activity_id"], eid, verb="http://adlnet.gov/expapi/verbs/experienced",
                                   result={"completion": True})])
        assert await completed_lessons(c, eid, me) == {l1}
        await post(voiding(sub, s2))
        assert await completed_lessons(c, eid, me) == {l1}
        r = await c.put("/v1/xapi/statements", params={"statementId": str(uuid.uuid4())}, json=voiding(sub, s3), headers=me | V)
        assert r.status_code == 204
        assert await completed_lessons(c, eid, me) == set()

        # an API call completed lesson 2 as well: voiding the statement leaves it completed
        [s4] = await post(about(sub, lessons[2]["activity_id"], eid))
        await ok(await c.post(f"/v1/enrolments/{eid}/lessons/{l2}/progress", json={"event": "completed"}, headers=me))
        await post(voiding(sub, s4))
        assert await completed_lessons(c, eid, me) == {l2}

        # content at launch (Basic credentials, no registration in the statement) completed lesson 0; the learner voids it
        launch = await ok(await c.post(f"/v1/enrolments/{eid}/lessons/{l0}/launch", headers=me), 201)
        [s5] = await post(about("x", launch["activity_id"], None) | {"actor": launch["actor"]}, {"Authorization": launch["auth"]})
        assert await completed_lessons(c, eid, me) == {l0, l2}
        # someone else cannot void it (not their statement): 400, and nothing changes
        other, other_sub = await learner(platform, "CD0101")
        bad = await c.post("/v1/xapi/statements", json=voiding(other_sub, s5), headers=other | V)
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "object.id"
        assert await completed_lessons(c, eid, me) == {l0, l2}
        await post(voiding(sub, s5))
        assert await completed_lessons(c, eid, me) == {l2}
        # a statement not about this enrolment's progress (another registration) changes nothing when voided
        [s6] = await post(about(sub, lessons[0]["activity_id"], str(uuid.uuid4())))
        await post(voiding(sub, s6))
        assert await completed_lessons(c, eid, me) == {l2}
        # completing again after a voiding works as before
        await post(about(sub, lessons[0]["activity_id"], eid))
        assert await completed_lessons(c, eid, me) == {l0, l2}


async def test_a_completed_course_stands_when_statements_are_voided(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        built = await build_course(c, people.teacher, release_rule="all_open")
        cid, lessons, quiz = built["course"]["id"], built["lessons"], built["quiz"]
        me, sub = await learner(platform, "CD0101")
        eid = (await ok(await c.post(f"/v1/courses/{cid}/enrolments", headers=me), 201))["id"]
        attempt = await ok(await c.post(f"/v1/enrolments/{eid}/quizzes/{quiz['id']}/attempts", headers=me), 201)
        await ok(await c.post(f"/v1/attempts/{attempt['id']}/submit", json={"answers": answers_for(attempt, built["specs"], right=True)}, headers=me))
        ids = await ok(await c.post("/v1/xapi/statements", json=[about(sub, x["activity_id"], eid) for x in lessons[:2]], headers=me | V))
        standing = await ok(await c.get(f"/v1/enrolments/{eid}", headers=me))
        assert standing["status"] == "completed" and await count_events(platform, eid) == 1

        r = await c.post("/v1/xapi/statements", json=voiding(sub, ids[0]), headers=me | V)
        assert r.status_code == 200 and r.headers["X-Course-Completion-Stands"] == eid
        standing = await ok(await c.get(f"/v1/enrolments/{eid}", headers=me))
        assert standing["status"] == "completed" and standing["completion"] is not None
        assert await completed_lessons(c, eid, me) == {lessons[0]["id"], lessons[1]["id"]}
        assert await count_events(platform, eid) == 1
        # the voided statement itself is voided as xAPI says (out of queries, readable by voidedStatementId)
        assert (await c.get("/v1/xapi/statements", params={"voidedStatementId": ids[0]}, headers=me | V)).status_code == 200
        assert (await c.get("/v1/xapi/statements", params={"statementId": ids[0]}, headers=me | V)).status_code == 404
