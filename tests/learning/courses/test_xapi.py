"""xAPI 1.0.3 conformance for the implemented subset: the version header, statement validation, ids, PUT conflicts
and identical repeats, voiding, filters, since/until paging with `more`; statements that complete lessons feed
progress, and duplicate statements still make exactly one completion event."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx

from tests.learning.conftest import People
from tests.learning.courses.helpers import answers_for, build_course, count_events, learner, ok
from tests.support import Platform

V = {"X-Experience-API-Version": "1.0.3"}
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
EXPERIENCED = "http://adlnet.gov/expapi/verbs/experienced"


def statement(actor_name: str, verb: str = EXPERIENCED, activity: str = "https://vet.gov.vn/xapi/activities/test", **kw: Any) -> dict[str, Any]:
    return {"actor": {"objectType": "Agent", "name": "Người học", "account": {"homePage": "https://vet.gov.vn", "name": actor_name}},
            "verb": {"id": verb, "display": {"vi-VN": "đã học"}}, "object": {"objectType": "Activity", "id": activity}, **kw}


async def test_version_header_validation_and_conflicts(platform: Platform, people: People) -> None:
    me, sub = await learner(platform, "CD0101")
    async with platform.client("learning") as c:
        r = await c.post("/v1/xapi/statements", json=statement(sub), headers=me)
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "X-Experience-API-Version"
        assert r.headers["X-Experience-API-Version"] == "1.0.3"
        assert (await c.post("/v1/xapi/statements", json=statement(sub), headers=V)).status_code == 401
        about = await c.get("/v1/xapi/about")
        assert about.json() == {"version": ["1.0.3"]}

        bad_cases = [
            ({k: v for k, v in statement(sub).items() if k != "verb"}, "verb"),
            (statement(sub) | {"actor": {"mbox": "nobody", "name": "x"}}, "actor.mbox"),
            (statement(sub) | {"actor": {"mbox": "mailto:a@b.vn", "openid": "https://id.vn/a"}}, "actor"),
            (statement(sub, verb="completed"), "verb.id"),
            (statement(sub) | {"id": "not-a-uuid"}, "id"),
            (statement(sub) | {"result": {"score": {"scaled": 1.5}}}, "result.score.scaled"),
            (statement(sub) | {"result": {"duration": "10 minutes"}}, "result.duration"),
            (statement(sub) | {"context": {"registration": "x"}}, "context.registration"),
            (statement(sub) | {"timestamp": "yesterday"}, "timestamp"),
            (statement(sub) | {"colour": "red"}, "colour"),
        ]
        for body, field in bad_cases:
            r = await c.post("/v1/xapi/statements", json=body, headers=me | V)
            assert r.status_code == 400, (field, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["errors"][0]["field"] == field, (field, r.json())
        # a batch with one bad statement stores none of them
        marker = f"https://vet.gov.vn/xapi/activities/{uuid.uuid4()}"
        r = await c.post("/v1/xapi/statements", json=[statement(sub, activity=marker), statement(sub) | {"verb": {}}], headers=me | V)
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "1.verb.id"
        page = await ok(await c.get("/v1/xapi/statements", params={"activity": marker}, headers=me | V))
        assert page == {"statements": [], "more": ""}

        # ids: given or made; PUT stores, an identical repeat is 204, another body is 409
        ids = await ok(await c.post("/v1/xapi/statements", json=[statement(sub, activity=marker), statement(sub, activity=marker)], headers=me | V))
        assert len(ids) == 2 and all(uuid.UUID(i) for i in ids)
        sid = str(uuid.uuid4())
        body = statement(sub, activity=marker, result={"completion": True, "duration": "PT5M"})
        r = await c.put("/v1/xapi/statements", params={"statementId": sid}, json=body, headers=me | V)
        assert r.status_code == 204 and r.headers["X-Experience-API-Version"] == "1.0.3"
        assert (await c.put("/v1/xapi/statements", params={"statementId": sid}, json=body, headers=me | V)).status_code == 204
        changed = await c.put("/v1/xapi/statements", params={"statementId": sid}, json=body | {"result": {"completion": False}}, headers=me | V)
        assert changed.status_code == 409 and changed.headers["X-Experience-API-Version"] == "1.0.3"
        assert (await c.post("/v1/xapi/statements", json=body | {"id": sid}, headers=me | V)).json() == [sid]
        assert (await c.put("/v1/xapi/statements", json=body, headers=me | V)).status_code == 400  # statementId needed
        got = await ok(await c.get("/v1/xapi/statements", params={"statementId": sid}, headers=me | V))
        assert got["id"] == sid and got["result"] == body["result"] and got["stored"] and got["authority"]["account"]["name"] == sub
        assert got["verb"]["display"] == {"vi-VN": "đã học"}
        # another learner does not see my statements
        other, _ = await learner(platform, "CD0101")
        assert (await c.get("/v1/xapi/statements", params={"statementId": sid}, headers=other | V)).status_code == 404


async def test_voiding_filters_and_paging(platform: Platform, people: People) -> None:
    me, sub = await learner(platform, "CD0101")
    activity = f"https://vet.gov.vn/xapi/activities/{uuid.uuid4()}"
    registration = str(uuid.uuid4())
    async with platform.client("learning") as c:
        first = await ok(await c.post("/v1/xapi/statements", json=[statement(sub, activity=activity) for _ in range(3)], headers=me | V))
        middle = await ok(await c.get("/v1/xapi/statements", params={"activity": activity, "limit": 1}, headers=me | V))
        boundary = middle["statements"][0]["stored"]
        second = await ok(await c.post("/v1/xapi/statements", json=[
            statement(sub, COMPLETED, activity, context={"registration": registration}) for _ in range(4)], headers=me | V))
        # paging: limit 3 over 7 statements, newest first, following `more`
        seen: list[str] = []
        url: str | None = "/v1/xapi/statements?" + httpx.QueryParams({"activity": activity, "limit": 3}).__str__()
        pages = 0
        while url:
            page = await ok(await c.get(url, headers=me | V))
            seen += [s["id"] for s in page["statements"]]
            url = page["more"] or None
            pages += 1
        assert pages == 3 and sorted(seen) == sorted(first + second) and len(set(seen)) == 7
        # since / until by stored time, ascending order
        later = await ok(await c.get("/v1/xapi/statements", params={"activity": activity, "since": boundary, "ascending": "true"}, headers=me | V))
        assert {s["id"] for s in later["statements"]} == set(second)
        earlier = await ok(await c.get("/v1/xapi/statements", params={"activity": activity, "until": boundary}, headers=me | V))
        assert {s["id"] for s in earlier["statements"]} == set(first)
        by_verb = await ok(await c.get("/v1/xapi/statements", params={"activity": activity, "verb": COMPLETED}, headers=me | V))
        assert {s["id"] for s in by_verb["statements"]} == set(second)
        by_reg = await ok(await c.get("/v1/xapi/statements", params={"registration": registration}, headers=me | V))
        assert {s["id"] for s in by_reg["statements"]} == set(second)
        agent = json.dumps({"account": {"homePage": "https://vet.gov.vn", "name": sub}})
        by_agent = await ok(await c.get("/v1/xapi/statements", params={"agent": agent, "activity": activity}, headers=me | V))
        assert len(by_agent["statements"]) == 7
        assert (await c.get("/v1/xapi/statements", params={"agent": "{}"}, headers=me | V)).status_code == 400
        assert (await c.get("/v1/xapi/statements", params={"cursor": "WzEsMl0"}, headers=me | V)).status_code == 400  # [1,2]
        assert (await c.get("/v1/xapi/statements", params={"since": "2026-01-01T00:00:00"}, headers=me | V)).status_code == 400
        assert (await c.get("/v1/xapi/statements", params={"statementId": first[0], "verb": COMPLETED}, headers=me | V)).status_code == 400

        # voiding: the voided statement leaves queries, stays readable by voidedStatementId; a voiding one cannot be voided
        voiding = statement(sub, "http://adlnet.gov/expapi/verbs/voided") | {"object": {"objectType": "StatementRef", "id": first[0]}}
        [void_id] = await ok(await c.post("/v1/xapi/statements", json=voiding, headers=me | V))
        assert (await c.get("/v1/xapi/statements", params={"statementId": first[0]}, headers=me | V)).status_code == 404
        assert (await ok(await c.get("/v1/xapi/statements", params={"voidedStatementId": first[0]}, headers=me | V)))["id"] == first[0]
        remaining = await ok(await c.get("/v1/xapi/statements", params={"activity": activity, "limit": 0}, headers=me | V))
        assert first[0] not in {s["id"] for s in remaining["statements"]} and len(remaining["statements"]) == 6
        again = voiding | {"object": {"objectType": "StatementRef", "id": void_id}}
        assert (await c.post("/v1/xapi/statements", json=again, headers=me | V)).status_code == 400
        bad = statement(sub, "http://adlnet.gov/expapi/verbs/voided")
        assert (await c.post("/v1/xapi/statements", json=bad, headers=me | V)).json()["errors"][0]["field"] == "object"


async def test_statements_complete_lessons_once(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        built = await build_course(c, people.teacher, release_rule="all_open")
        cid, lessons, quiz = built["course"]["id"], built["lessons"], built["quiz"]
        me, sub = await learner(platform, "CD0101")
        enrolment = await ok(await c.post(f"/v1/courses/{cid}/enrolments", headers=me), 201)
        eid = enrolment["id"]
        attempt = await ok(await c.post(f"/v1/enrolments/{eid}/quizzes/{quiz['id']}/attempts", headers=me), 201)
        await ok(await c.post(f"/v1/attempts/{attempt['id']}/submit", json={"answers": answers_for(attempt, built["specs"], right=True)}, headers=me))

        # the first lesson reported by bearer token, the second by content holding Basic launch credentials
        done = statement(sub, COMPLETED, lessons[0]["activity_id"], context={"registration": eid}, result={"duration": "PT12M30S"})
        await ok(await c.post("/v1/xapi/statements", json=[done, done, done], headers=me | V))
        launch = await ok(await c.post(f"/v1/enrolments/{eid}/lessons/{lessons[1]['id']}/launch", headers=me), 201)
        assert launch["registration"] == eid and launch["activity_id"] == lessons[1]["activity_id"] and launch["auth"].startswith("Basic ")
        basic = {"Authorization": launch["auth"]}
        user, _, _ = base64.b64decode(launch["auth"].split()[1]).decode().partition(":")
        wrong = {"Authorization": "Basic " + base64.b64encode(f"{user}:guess".encode()).decode()}
        finished = statement("x", COMPLETED, launch["activity_id"]) | {"actor": launch["actor"], "context": {"registration": eid}}
        assert (await c.post("/v1/xapi/statements", json=finished, headers=wrong | V)).status_code == 401
        standing = await ok(await c.get(f"/v1/enrolments/{eid}", headers=me))
        assert standing["status"] == "enrolled"
        progress = {p["lesson_id"]: p for p in standing["lessons"]}
        # each statement (its own id) reports a session of 12:30, so the time adds up; completion happens once
        assert progress[lessons[0]["id"]]["completed_at"] and progress[lessons[0]["id"]]["time_spent_seconds"] == 3 * 750
        assert progress[lessons[1]["id"]]["opened_at"] and progress[lessons[1]["id"]]["completed_at"] is None
        for _ in range(2):  # content reports completion twice, with different statement ids
            await ok(await c.post("/v1/xapi/statements", json=finished, headers=basic | V))
        standing = await ok(await c.get(f"/v1/enrolments/{eid}", headers=me))
        assert standing["status"] == "completed" and standing["completion"]["final_score"] == 100.0
        assert await count_events(platform, eid) == 1
        # someone else's statements about my registration change nothing of mine
        other, other_sub = await learner(platform, "CD0101")
        await ok(await c.post("/v1/xapi/statements", json=statement(other_sub, COMPLETED, lessons[2]["activity_id"],
                                                                     context={"registration": eid}), headers=other | V))
        standing = await ok(await c.get(f"/v1/enrolments/{eid}", headers=me))
        assert lessons[2]["id"] not in {p["lesson_id"] for p in standing["lessons"]}


async def test_concurrent_reports_complete_once(platform: Platform, people: People) -> None:
    """The last lesson reported at the same moment by the API and by statements: one completion, one event."""
    import asyncio

    async with platform.client("learning") as c:
        built = await build_course(c, people.teacher, release_rule="all_open")
        cid, lessons, quiz = built["course"]["id"], built["lessons"], built["quiz"]
        me, sub = await learner(platform, "CD0101")
        eid = (await ok(await c.post(f"/v1/courses/{cid}/enrolments", headers=me), 201))["id"]
        await ok(await c.post(f"/v1/enrolments/{eid}/lessons/{lessons[0]['id']}/progress", json={"event": "completed"}, headers=me))
        attempt = await ok(await c.post(f"/v1/enrolments/{eid}/quizzes/{quiz['id']}/attempts", headers=me), 201)
        await ok(await c.post(f"/v1/attempts/{attempt['id']}/submit", json={"answers": answers_for(attempt, built["specs"], right=True)}, headers=me))
        last = statement(sub, COMPLETED, lessons[1]["activity_id"], context={"registration": eid})
        calls = [c.post(f"/v1/enrolments/{eid}/lessons/{lessons[1]['id']}/progress", json={"event": "completed"}, headers=me) for _ in range(3)]
        calls += [c.post("/v1/xapi/statements", json=last, headers=me | V) for _ in range(3)]
        results = await asyncio.gather(*calls)
        assert all(r.status_code == 200 for r in results), [r.text for r in results if r.status_code != 200]
        assert (await ok(await c.get(f"/v1/enrolments/{eid}", headers=me)))["status"] == "completed"
        assert await count_events(platform, eid) == 1
