"""Launching a real cmi5 assignable unit from a course lesson, as the AU does it through the gateway: the launch URL's
five parameters, the one-time fetch URL (cmi5 §8.2), ``LMS.LaunchData`` (§10) and the statements an AU sends; the
xAPI State Resource (ETag preconditions, JSON merge, who may reach which documents); an expired launch; the fetch
secret kept out of the logs. On SQLite and PostgreSQL (the ``platform`` fixture)."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from gateway.auth import PublicRoutes
from gateway.config import DEFAULT_PUBLIC_ROUTES
from services.common.db import utcnow
from services.common.logging import JsonFormatter
from services.common.middleware import loggable_path
from services.learning.models import XapiLaunch
from tests.e2e.gateway import gateway_for, on_gateway
from tests.learning.conftest import People
from tests.learning.courses.helpers import learner, ok
from tests.learning.helpers import CMI5_XML, INDEX_HTML, create, marker, publish, upload, zip_of
from tests.support import Platform, gateway_to_service

V = {"X-Experience-API-Version": "1.0.3"}
STATE = "/v1/xapi/activities/state"
SESSION_ID = "https://w3id.org/xapi/cmi5/context/extensions/sessionid"
AU_ID = "https://vet.gov.vn/courses/giao-tiep/au1"
VERB = "http://adlnet.gov/expapi/verbs/"
#: the AU of the test package also declares launch parameters
CMI5_WITH_PARAMETERS = CMI5_XML.replace("<url>au1/index.html</url>",
                                        "<url>au1/index.html</url><launchParameters>che-do=thuc-hanh</launchParameters>")


async def cmi5_course(c: httpx.AsyncClient, people: People) -> tuple[str, str]:
    """A published course whose one lesson is a cmi5 package (published in the library, pinned at version 2)."""
    obj = await create(c, people.teacher, f"Gói cmi5 giao tiếp {marker()}", "cmi5", visibility="platform")
    package = zip_of({"cmi5.xml": CMI5_WITH_PARAMETERS, "au1/index.html": INDEX_HTML, "au1/app.js": "console.log('cmi5')"})
    await upload(c, people.teacher, obj["id"], package, content_type="application/zip", filename="goi-cmi5.zip")
    await publish(c, people.teacher, people.officer, obj["id"])
    course = await ok(await c.post("/v1/courses", json={"title": f"Giao tiếp qua cmi5 {marker()}", "skill_area": "communication"},
                                   headers=people.teacher), 201)
    module = await ok(await c.post(f"/v1/courses/{course['id']}/modules", json={"title": "Chương 1"}, headers=people.teacher), 201)
    lesson = await ok(await c.post(f"/v1/courses/{course['id']}/modules/{module['id']}/lessons", json={
        "title": "Bài 1 (cmi5)", "kind": "package", "learning_object_id": obj["id"], "learning_object_version": 2}, headers=people.teacher), 201)
    await ok(await c.post(f"/v1/courses/{course['id']}/publish", headers=people.teacher))
    return course["id"], lesson["id"]


async def enrol_and_launch(c: httpx.AsyncClient, course_id: str, lesson_id: str, me: dict[str, str]) -> tuple[str, dict[str, Any]]:
    eid = (await ok(await c.post(f"/v1/courses/{course_id}/enrolments", headers=me), 201))["id"]
    return eid, await ok(await c.post(f"/v1/enrolments/{eid}/lessons/{lesson_id}/launch", headers=me), 201)


def launch_parameters(url: str) -> dict[str, str]:
    query = parse_qs(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)
    assert all(len(v) == 1 for v in query.values()), query
    return {k: v[0] for k, v in query.items()}


def state_params(launch: dict[str, Any], *, agent: dict[str, Any] | None = None, registration: str | None = "launch",
                 state_id: str | None = None) -> dict[str, str]:
    params = {"activityId": launch["activity_id"], "agent": json.dumps(agent or launch["actor"])}
    if registration is not None:
        params["registration"] = launch["registration"] if registration == "launch" else registration
    if state_id is not None:
        params["stateId"] = state_id
    return params


def basic(token: str) -> dict[str, str]:
    return {"Authorization": f"Basic {token}"}


def au_statement(launch: dict[str, Any], template: dict[str, Any], verb: str, **kw: Any) -> dict[str, Any]:
    """A statement as a cmi5 AU sends it: its own id, the actor and activity of the launch, the context template."""
    context = json.loads(json.dumps(template)) | {"registration": launch["registration"]}
    context["contextActivities"]["category"] = [{"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}]
    return {"id": str(uuid.uuid4()), "actor": launch["actor"], "verb": {"id": VERB + verb, "display": {"en-US": verb}},
            "object": {"objectType": "Activity", "id": launch["activity_id"]}, "context": context,
            "timestamp": "2026-11-30T08:00:00.000Z", **kw}


async def test_cmi5_au_launched_through_the_gateway(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        course_id, lesson_id = await cmi5_course(c, people)
    me, _ = await learner(platform, "CD0101")
    other, _ = await learner(platform, "CD0101")
    async with gateway_for(platform, "learning") as gw:
        eid = (await ok(await gw.post(f"/api/learning/v1/courses/{course_id}/enrolments", headers=me), 201))["id"]
        launch = await ok(await gw.post(f"/api/learning/v1/enrolments/{eid}/lessons/{lesson_id}/launch", headers=me), 201)

        # the launch URL: the AU in the package player, and the five parameters cmi5 §8.1 names, each percent-encoded
        url = launch["cmi5_launch_url"]
        au_url, _, query = url.partition("?")
        assert au_url.endswith("/au1/index.html") and "/api/learning/v1/players/" in au_url
        assert "actor=%7B%22" in query and "endpoint=http%3A%2F%2F" in query and "fetch=http%3A%2F%2F" in query
        params = launch_parameters(url)
        assert set(params) == {"endpoint", "fetch", "actor", "registration", "activityId"}
        assert params["endpoint"] == launch["endpoint"] and params["fetch"] == launch["fetch_url"]
        assert json.loads(params["actor"]) == launch["actor"] and params["registration"] == eid == launch["registration"]
        assert params["activityId"] == launch["activity_id"] != AU_ID
        page = await gw.get(au_url)  # on the content origin (the gateway under another host name), sandboxed
        assert au_url.startswith("http://localhost:8000/api/learning/v1/players/")
        assert page.status_code == 200 and "Xin chào" in page.text and "sandbox" in page.headers["content-security-policy"]

        # the AU fetches its token once, without credentials; the second POST gets cmi5's error body (status 200)
        fetch = on_gateway(params["fetch"])
        assert "cmi5f_" not in urlsplit(params["fetch"]).path  # the secret is in the query, which access logs leave out
        first = await gw.post(fetch)
        assert first.status_code == 200 and first.headers["content-type"].startswith("application/json"), first.text
        token = first.json()["auth-token"]
        again = await gw.post(fetch)
        assert again.status_code == 200 and again.headers["content-type"].startswith("application/json")
        assert again.json()["error-code"] == "1" and again.json()["error-text"] and "auth-token" not in again.json()
        forged = await gw.post(fetch.replace("k=cmi5f_", "k=cmi5f_x"))
        assert forged.status_code == 200 and forged.json()["error-code"] == "2" and "auth-token" not in forged.json()
        unknown = await gw.post(f"/api/learning/v1/xapi/cmi5/fetch/{uuid.uuid4()}?k=cmi5f_abc")
        assert unknown.json()["error-code"] == "2"
        assert (await gw.get(fetch)).status_code == 401  # POST only (the gateway lets nothing else through unsigned)

        # LMS.LaunchData, read with the fetched token
        lrs = on_gateway(params["endpoint"]).rstrip("/")
        r = await gw.get(f"{lrs}/activities/state", params=state_params(launch, state_id="LMS.LaunchData"), headers=basic(token) | V)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json") and r.headers["etag"].startswith('"')
        assert r.headers["X-Experience-API-Version"] == "1.0.3"
        data = r.json()
        template = data["contextTemplate"]
        session_id = template["extensions"][SESSION_ID]
        assert session_id and isinstance(session_id, str)
        assert {"objectType": "Activity", "id": AU_ID} in template["contextActivities"]["grouping"]
        course_activity = [a for a in template["contextActivities"]["grouping"] if a["id"] != AU_ID]
        assert len(course_activity) == 1 and course_activity[0]["id"].endswith(course_id)
        assert course_activity[0]["definition"]["type"] == "https://w3id.org/xapi/cmi5/activitytype/course"
        assert data["launchMode"] == "Normal" and data["moveOn"] == "CompletedOrPassed" and data["masteryScore"] == 0.8
        assert data["launchParameters"] == "che-do=thuc-hanh"
        ids = await ok(await gw.get(f"{lrs}/activities/state", params=state_params(launch), headers=basic(token) | V))
        assert ids == ["LMS.LaunchData"]

        # the AU may not change it; its learner may read it with their own token, nobody else may
        for method in ("PUT", "POST", "DELETE"):
            r = await gw.request(method, f"{lrs}/activities/state", params=state_params(launch, state_id="LMS.LaunchData"),
                                 content=b"{}", headers=basic(token) | V | {"Content-Type": "application/json"})
            assert r.status_code == 403, (method, r.text)
        mine = await gw.get(f"{lrs}/activities/state", params=state_params(launch, state_id="LMS.LaunchData"), headers=me | V)
        assert mine.status_code == 200 and mine.json() == data
        assert (await gw.get(f"{lrs}/activities/state", params=state_params(launch, state_id="LMS.LaunchData"),
                             headers=other | V)).status_code == 403

        # the launch's credentials reach only this learner in this registration
        stranger = {"objectType": "Agent", "account": {"homePage": "https://vet.gov.vn", "name": f"person:{uuid.uuid4()}"}}
        refused = [state_params(launch, agent=stranger, state_id="s"), state_params(launch, registration=str(uuid.uuid4()), state_id="s"),
                   state_params(launch, registration=None, state_id="s")]
        for wrong in refused:
            r = await gw.put(f"{lrs}/activities/state", params=wrong, json={"a": 1}, headers=basic(token) | V)
            assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json"), r.text
            assert r.headers["X-Experience-API-Version"] == "1.0.3"
            assert (await gw.get(f"{lrs}/activities/state", params=wrong, headers=basic(token) | V)).status_code == 403

        # the statements an AU sends, with the token: the LMS's "Launched" is there, the AU's complete the lesson
        launched = await ok(await gw.get(f"{lrs}/statements", params={"verb": VERB + "launched", "registration": eid}, headers=basic(token) | V))
        assert len(launched["statements"]) == 1
        context = launched["statements"][0]["context"]
        assert context["extensions"][SESSION_ID] == session_id and context["registration"] == eid
        assert context["extensions"]["https://w3id.org/xapi/cmi5/context/extensions/launchmode"] == "Normal"
        assert context["extensions"]["https://w3id.org/xapi/cmi5/context/extensions/moveon"] == "CompletedOrPassed"
        assert context["extensions"]["https://w3id.org/xapi/cmi5/context/extensions/launchurl"] == au_url
        batch = [au_statement(launch, template, "initialized"),
                 au_statement(launch, template, "completed", result={"completion": True, "duration": "PT4M"}),
                 au_statement(launch, template, "terminated", result={"duration": "PT5M"})]
        stored = await ok(await gw.post(f"{lrs}/statements", json=batch, headers=basic(token) | V))
        assert stored == [s["id"] for s in batch]
        progress = await ok(await gw.get(f"/api/learning/v1/enrolments/{eid}", headers=me))
        lesson = next(x for x in progress["lessons"] if x["lesson_id"] == lesson_id)
        assert lesson["completed_at"] is not None and progress["status"] == "completed"
        # the launch's own Basic credentials (handed to the launcher) still work as well
        assert (await gw.get(f"{lrs}/statements", params={"statementId": batch[1]["id"]}, headers={"Authorization": launch["auth"]} | V)).status_code == 200


async def test_state_documents_round_trip_with_preconditions(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        course_id, lesson_id = await cmi5_course(c, people)
        me, _ = await learner(platform, "CD0101")
        eid, launch = await enrol_and_launch(c, course_id, lesson_id, me)
        token = (await ok(await c.post(gateway_to_service(launch["fetch_url"]))))["auth-token"]
        au = basic(token) | V
        doc = state_params(launch, state_id="tien-do")

        r = await c.put(STATE, params=doc, json={"trang": 3, "ghi-chu": "xong phần 1"}, headers=au)
        assert r.status_code == 204 and r.headers["X-Experience-API-Version"] == "1.0.3"
        first = r.headers["etag"]
        got = await c.get(STATE, params=doc, headers=au)
        assert got.status_code == 200 and got.json() == {"trang": 3, "ghi-chu": "xong phần 1"} and got.headers["etag"] == first
        assert got.headers["last-modified"]
        assert (await c.get(STATE, params=doc, headers=au | {"If-None-Match": first})).status_code == 304

        # POST merges top-level properties (the posted ones win); If-Match with the current ETag passes
        r = await c.post(STATE, params=doc, json={"trang": 4, "diem": 0.9}, headers=au | {"If-Match": first})
        assert r.status_code == 204, r.text
        second = r.headers["etag"]
        assert second != first
        assert (await ok(await c.get(STATE, params=doc, headers=au))) == {"trang": 4, "ghi-chu": "xong phần 1", "diem": 0.9}
        # a stale If-Match, or If-None-Match: * on a document that exists: 412, nothing changed
        for headers, body in (({"If-Match": first}, {"trang": 1}), ({"If-None-Match": "*"}, {"trang": 2})):
            r = await c.put(STATE, params=doc, json=body, headers=au | headers)
            assert r.status_code == 412 and r.headers["content-type"].startswith("application/problem+json"), r.text
            assert r.headers["X-Experience-API-Version"] == "1.0.3"
        assert (await c.post(STATE, params=doc, json={"trang": 1}, headers=au | {"If-Match": first})).status_code == 412
        assert (await c.delete(STATE, params=doc, headers=au | {"If-Match": first})).status_code == 412
        assert (await ok(await c.get(STATE, params=doc, headers=au)))["trang"] == 4
        # If-None-Match: * creates a document only where there is none
        fresh = state_params(launch, state_id="moi")
        assert (await c.put(STATE, params=fresh, json={"x": 1}, headers=au | {"If-None-Match": "*"})).status_code == 204
        assert (await c.put(STATE, params=fresh, json={"x": 2}, headers=au | {"If-None-Match": "*"})).status_code == 412

        # merging needs two JSON objects
        r = await c.post(STATE, params=doc, content=b"trang=5", headers=au | {"Content-Type": "text/plain"})
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body", r.text
        r = await c.post(STATE, params=doc, json=[1, 2], headers=au)
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body"
        text = state_params(launch, state_id="van-ban")
        assert (await c.put(STATE, params=text, content="Ghi chú".encode(), headers=au | {"Content-Type": "text/plain; charset=utf-8"})).status_code == 204
        r = await c.get(STATE, params=text, headers=au)
        assert r.content == "Ghi chú".encode() and r.headers["content-type"] == "text/plain; charset=utf-8"
        r = await c.post(STATE, params=text, json={"a": 1}, headers=au)
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "stateId", r.text
        assert (await c.put(STATE, params=text, content=b"{not json", headers=au | {"Content-Type": "application/json"})).status_code == 400
        # a POST where there is no document stores the object
        assert (await c.post(STATE, params=state_params(launch, state_id="gop"), json={"b": 1}, headers=au)).status_code == 204
        assert (await ok(await c.get(STATE, params=state_params(launch, state_id="gop"), headers=au))) == {"b": 1}

        # the list of stateIds (since: changed after), one document deleted, then all but LMS.LaunchData
        ids = await ok(await c.get(STATE, params=state_params(launch), headers=au))
        assert ids == sorted(["LMS.LaunchData", "tien-do", "moi", "van-ban", "gop"])
        later = await ok(await c.get(STATE, params=state_params(launch) | {"since": "2999-01-01T00:00:00Z"}, headers=au))
        assert later == []
        r = await c.delete(STATE, params=doc, headers=au | {"If-Match": second})
        assert r.status_code == 204, r.text
        assert (await c.get(STATE, params=doc, headers=au)).status_code == 404
        assert (await c.delete(STATE, params=state_params(launch), headers=au)).status_code == 204
        assert await ok(await c.get(STATE, params=state_params(launch), headers=au)) == ["LMS.LaunchData"]

        # a bearer token reaches its own agent's documents (any registration or none), not another's
        own_doc = {"activityId": launch["activity_id"], "agent": json.dumps(launch["actor"]), "stateId": "ca-nhan"}
        assert (await c.put(STATE, params=own_doc, json={"ok": True}, headers=me | V)).status_code == 204
        assert (await ok(await c.get(STATE, params=own_doc, headers=me | V))) == {"ok": True}
        other, _ = await learner(platform, "CD0101")
        assert (await c.get(STATE, params=own_doc, headers=other | V)).status_code == 403
        assert (await c.put(STATE, params=own_doc, json={"ok": False}, headers=other | V)).status_code == 403

        # bad input: a problem naming the parameter; no version header; too large
        for params, field in ((own_doc | {"activityId": "not an iri"}, "activityId"), (own_doc | {"agent": "{"}, "agent"),
                              (own_doc | {"agent": json.dumps({"name": "x"})}, "agent"), (own_doc | {"registration": "x"}, "registration"),
                              ({k: v for k, v in own_doc.items() if k != "agent"}, "agent")):
            r = await c.get(STATE, params=params, headers=me | V)
            assert r.status_code == 400 and r.json()["errors"][0]["field"] == field, (field, r.text)
        r = await c.put(STATE, params={k: v for k, v in own_doc.items() if k != "stateId"}, json={}, headers=me | V)
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "stateId"
        r = await c.get(STATE, params=own_doc, headers=me)
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "X-Experience-API-Version"
        big = b'{"x": "' + b"a" * (1024 * 1024) + b'"}'
        r = await c.put(STATE, params=own_doc, content=big, headers=me | V | {"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["errors"][0]["field"] == "body", r.text
        assert (await ok(await c.get(STATE, params=own_doc, headers=me | V))) == {"ok": True}
        assert eid == launch["registration"]


async def run_out(platform: Platform, launch: dict[str, Any]) -> None:
    """The launch's time runs out: it was given ``xapi_launch_seconds``, and its expiry is moved to a moment ago
    (instead of the test sleeping past it)."""
    launch_id = uuid.UUID(urlsplit(launch["fetch_url"]).path.rsplit("/", 1)[1])
    async with platform.apps["learning"].state.db.session() as s:
        row = await s.get(XapiLaunch, launch_id)
        assert row is not None
        assert row.expires_at - row.created_at == timedelta(seconds=platform.settings["learning"].xapi_launch_seconds)
        row.expires_at = utcnow() - timedelta(seconds=1)


async def test_expired_launch_gets_no_token(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        course_id, lesson_id = await cmi5_course(c, people)
        me, _ = await learner(platform, "CD0101")
        _, launch = await enrol_and_launch(c, course_id, lesson_id, me)
        await run_out(platform, launch)
        r = await c.post(gateway_to_service(launch["fetch_url"]))
        assert r.status_code == 200 and r.json()["error-code"] == "1" and "auth-token" not in r.json(), r.text
        assert "expired" in r.json()["error-text"]
        r = await c.get(STATE, params=state_params(launch, state_id="LMS.LaunchData"), headers={"Authorization": launch["auth"]} | V)
        assert r.status_code == 401
        # a launch whose token was fetched: the token ends with the launch
        other, _ = await learner(platform, "CD0101")
        _, launch = await enrol_and_launch(c, course_id, lesson_id, other)
        token = (await ok(await c.post(gateway_to_service(launch["fetch_url"]))))["auth-token"]
        assert (await c.get(STATE, params=state_params(launch, state_id="LMS.LaunchData"), headers=basic(token) | V)).status_code == 200
        await run_out(platform, launch)
        assert (await c.get(STATE, params=state_params(launch, state_id="LMS.LaunchData"), headers=basic(token) | V)).status_code == 401


def test_fetch_routes_public_at_the_edge_and_secret_kept_out_of_logs() -> None:
    public = PublicRoutes(DEFAULT_PUBLIC_ROUTES)
    launch_id = uuid.uuid4()
    assert public.is_public("POST", f"/api/learning/v1/xapi/cmi5/fetch/{launch_id}")
    assert not public.is_public("GET", f"/api/learning/v1/xapi/cmi5/fetch/{launch_id}")
    assert not public.is_public("POST", f"/api/learning/v1/xapi/cmi5/fetch/{launch_id}/more")
    for method in ("GET", "PUT", "POST", "DELETE"):
        assert public.is_public(method, "/api/learning/v1/xapi/activities/state")

    secret = "cmi5f_" + "Zx9-_" * 9
    fetch = f"http://127.0.0.1:8000/api/learning/v1/xapi/cmi5/fetch/{launch_id}?k={secret}"
    assert secret not in loggable_path(urlsplit(fetch).path + "?" + urlsplit(fetch).query)
    launch_url = "http://127.0.0.1:8000/api/learning/v1/players/x/au1/index.html?fetch=" + fetch.replace(":", "%3A").replace("/", "%2F")
    formatter = JsonFormatter("learning")
    for message, args in (('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:1", "POST", fetch, "1.1", 200)), ("opened %s", (launch_url,))):
        record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, message, args, None)
        line = formatter.format(record)
        assert secret not in line and "cmi5f_…" in line, line
        assert str(launch_id) in line  # only the secret goes
