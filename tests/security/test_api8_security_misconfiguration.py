"""OWASP API8:2023 Security Misconfiguration — input that used to end in a 500 (issue 13, item 10): a cursor made
up by hand on every paginated list, a change-feed version past 64 bits, odd payloads to the event receivers
(parsed before the sender was authenticated). Every one is a 4xx problem naming the field now; an anonymous event
is a 401 whatever its body."""

from __future__ import annotations

import base64
import json
import uuid
from importlib import import_module
from typing import Any

import httpx

from tests.credentials.factories import diploma
from tests.learning.courses.helpers import build_course
from tests.records.helpers import login, run_json
from tests.support import Platform

XAPI = {"X-Experience-API-Version": "1.0.3"}


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


#: made-up cursors: the issue's [1,2] (WzEsMl0), not base64, not JSON, wrong shapes, a timestamp without its zone,
#: an integer no column holds, a value of the wrong type for the key
BAD_CURSORS = [
    "WzEsMl0", "!!!", "%%", cursor_of({"a": 1}), cursor_of([10**30]), cursor_of([1.5]), cursor_of([[1], [2]]), cursor_of([{"t": "2026-01-01T00:00:00"}, {"u": str(uuid.uuid4())}]),
    cursor_of([{"t": "x"}, {"u": "y"}]), cursor_of([10**30, {"u": str(uuid.uuid4())}]), cursor_of([{"u": str(uuid.uuid4())}, {"t": "2026-01-01T00:00:00+00:00"}]),
    cursor_of([True, None]), cursor_of([{"t": "2026-01-01T00:00:00+00:00", "u": "1"}, 1]),
]


def paginated_routes(platform: Platform) -> set[tuple[str, str]]:
    """Every (service, path) whose OpenAPI operation takes a ``cursor`` (xAPI's statements read theirs by hand)."""
    found = {("learning", "/v1/xapi/statements")}
    for name, app in platform.apps.items():
        for path, ops in app.openapi()["paths"].items():
            if any(p.get("name") == "cursor" for op in ops.values() for p in op.get("parameters", [])):
                found.add((name, path))
    return found


async def _targets(platform: Platform) -> dict[tuple[str, str], tuple[str, dict[str, str], dict[str, str]]]:
    """(service, path) → (URL, headers, params) of a call that reaches the list's pagination."""
    admin = await platform.admin_headers()
    school = await platform.school_headers()
    student = await login(platform, "student.demo", "dev-only-Student#2026")
    async with platform.client("records") as c:
        job = await run_json(c, school, {"programmes": [{"code": "x"}]})  # a job with errors
    async with platform.client("credentials") as c:
        r = await c.post("/v1/issue-jobs", json={"institution_code": "CD0101", "credentials": [diploma()]}, headers=school)
        assert r.status_code == 202, r.text
        issue_job = r.json()["id"]
    teacher = await login(platform, "teacher.demo", "dev-only-Teacher#2026")
    officer = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    async with platform.client("learning") as c:
        course = (await build_course(c, teacher))["course"]["id"]
        bank = (await c.post("/v1/item-banks", headers=teacher, json={
            "occupation_code": "6520227", "module_code": "API8" + uuid.uuid4().hex[:8], "title": "Ngân hàng thử"})).json()["id"]
        exam = (await c.post("/v1/exams", headers=teacher, json={
            "title": "Kiểm tra thử", "kind": "practical", "opens_at": "2026-01-01T00:00:00+07:00", "closes_at": "2026-01-02T00:00:00+07:00"})).json()["id"]
        r = await c.post("/v1/lti/platforms", headers=admin, json={
            "name": "Moodle thử", "issuer": "https://moodle.api8.test", "client_id": "api8-" + uuid.uuid4().hex[:8],
            "deployment_ids": ["1"], "jwks_url": "https://moodle.api8.test/jwks", "auth_login_url": "https://moodle.api8.test/auth"})
        assert r.status_code == 201, r.text
        lti_platform = r.json()["id"]
    targets: dict[tuple[str, str], tuple[str, dict[str, str], dict[str, str]]] = {}
    for name in platform.apps:
        targets[(name, "/v1/admin/outbox")] = ("/v1/admin/outbox", admin, {})
        targets[(name, "/v1/admin/inbox")] = ("/v1/admin/inbox", admin, {})
    targets |= {
        ("identity", "/v1/clients"): ("/v1/clients", admin, {}),
        ("identity", "/v1/institutions"): ("/v1/institutions", {}, {}),
        ("identity", "/v1/admin/audit"): ("/v1/admin/audit", admin, {}),
        ("learning", "/v1/review-queue"): ("/v1/review-queue", officer, {}),
        ("learning", "/v1/search"): ("/v1/search", {}, {"q": "a"}),
        ("learning", "/v1/courses"): ("/v1/courses", {}, {}),
        ("learning", "/v1/courses/{course_id}/enrolments"): (f"/v1/courses/{course}/enrolments", teacher, {}),
        ("learning", "/v1/me/enrolments"): ("/v1/me/enrolments", student, {}),
        ("learning", "/v1/xapi/statements"): ("/v1/xapi/statements", student | XAPI, {}),
        ("learning", "/v1/item-banks"): ("/v1/item-banks", teacher, {}),
        ("learning", "/v1/item-banks/{bank_id}/items"): (f"/v1/item-banks/{bank}/items", teacher, {}),
        ("learning", "/v1/exams"): ("/v1/exams", teacher, {}),
        ("learning", "/v1/me/exams"): ("/v1/me/exams", student, {}),
        ("learning", "/v1/exams/{exam_id}/roster"): (f"/v1/exams/{exam}/roster", teacher, {}),
        ("learning", "/v1/exams/{exam_id}/results"): (f"/v1/exams/{exam}/results", teacher, {}),
        ("learning", "/v1/gradebooks"): ("/v1/gradebooks", teacher, {}),
        ("learning", "/v1/lti/platforms"): ("/v1/lti/platforms", admin, {}),
        ("learning", "/v1/lti/platforms/{platform_id}/scores"): (f"/v1/lti/platforms/{lti_platform}/scores", admin, {}),
        ("records", "/v1/institutions/{code}/learners"): ("/v1/institutions/CD0101/learners", school, {}),
        ("records", "/v1/institutions/{code}/sync-jobs"): ("/v1/institutions/CD0101/sync-jobs", school, {}),
        ("records", "/v1/sync-jobs/{job_id}/errors"): (f"/v1/sync-jobs/{job['id']}/errors", school, {}),
        ("records", "/v1/recognition/me/rpl-assessments"): ("/v1/recognition/me/rpl-assessments", student, {}),
        ("credentials", "/v1/credentials"): ("/v1/credentials", school, {"institution": "CD0101"}),
        ("credentials", "/v1/issue-jobs"): ("/v1/issue-jobs", school, {"institution": "CD0101"}),
        ("credentials", "/v1/issue-jobs/{job_id}/items"): (f"/v1/issue-jobs/{issue_job}/items", school, {}),
    }
    return targets


async def test_a_made_up_cursor_is_a_422_naming_it_on_every_paginated_list(platform: Platform) -> None:
    targets = await _targets(platform)
    missing = paginated_routes(platform) - set(targets)
    assert not missing, f"paginated lists this test does not try: {sorted(missing)}"
    for (name, _), (url, headers, params) in sorted(targets.items()):
        async with platform.client(name) as c:
            first = await c.get(url, headers=headers, params=params)
            assert first.status_code == 200, (name, url, first.status_code, first.text[:300])  # the list is reached
            for bad in BAD_CURSORS:
                r = await c.get(url, headers=headers, params=params | {"cursor": bad})
                assert r.status_code in (400, 422), (name, url, bad, r.status_code, r.text[:300])
                assert r.headers["content-type"] == "application/problem+json"
                assert r.json()["errors"][0]["field"] == "cursor", (name, url, bad, r.text[:300])


async def test_a_change_feed_version_past_64_bits_is_a_422(platform: Platform) -> None:
    school = await platform.school_headers()
    async with platform.client("records") as c:
        for since in (str(2**63), str(10**30), "-1", "1e3", "x"):
            r = await c.get("/v1/changes", params={"since": since}, headers=school)
            assert r.status_code == 422, (since, r.text)
            assert r.json()["errors"][0]["field"] == "since"
        assert (await c.get("/v1/changes", params={"since": str(2**63 - 1)}, headers=school)).json()["items"] == []


ODD_EVENTS: list[bytes] = [
    b"", b"not json", b"[1]", b"null", b'"x"', b"{}", b'{"data": {"holder": {"id_number": "1"}}, "type": 5}', b'{"data": {"holder": []}}',
    b'{"specversion": "1.0", "id": "x", "type": "t", "source": "s"}',
    b'{"type": "vn.vet.records.learner.graduated", "data": {"holder": {"id_number": "001204000001"}, "programme": "x"}}',
    b'{"type": "vn.vet.records.learner.graduated", "data": {"holder": {"id_number": "001204000001"}, "graduation": [], "programme": {"level": []}}}',
    b'{"type": "vn.vet.learning.course.completed", "data": {"holder": {"id_number": "001204000001"}, "completed_at": 5}}',
    b"[" * 2000 + b"]" * 2000, b'{"x": "\xff\xfe"}',
]


async def test_event_receivers_authenticate_before_reading_and_never_fail_on_a_payload(platform: Platform) -> None:
    s = platform.settings["records"]
    sender = {"Authorization": f"Bearer {await platform.token(s.client_id, s.client_secret)}"}
    not_a_sender = await platform.school_headers()
    for name in platform.apps:
        async with platform.client(name) as c:
            for body in ODD_EVENTS:
                r = await c.post("/v1/events", content=body, headers={"content-type": "application/json"})
                assert r.status_code == 401, (name, body[:60], r.status_code, r.text[:300])
                r = await c.post("/v1/events", content=body, headers=not_a_sender | {"content-type": "application/json"})
                assert r.status_code == 403, (name, body[:60], r.status_code, r.text[:300])
                r = await c.post("/v1/events", content=body, headers=sender | {"content-type": "application/json"})
                assert r.status_code < 500, (name, body[:60], r.status_code, r.text[:300])
                if r.status_code >= 400:
                    assert r.headers["content-type"] == "application/problem+json" and r.json()["errors"][0]["field"], r.text


async def test_every_service_bounds_bodies(platform: Platform) -> None:
    """Each service app carries the body-limit middleware (a service built without the kit would not)."""
    from services.common.limits import BodyLimitMiddleware

    for name, app in platform.apps.items():
        assert any(m.cls is BodyLimitMiddleware for m in app.user_middleware), name
        assert import_module(f"services.{name}.app")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=platform.apps["learning"]), base_url="http://learning") as c:
        r = await c.post("/v1/xapi/statements", content=b"[" * 100 + b"]" * 100, headers=XAPI | {"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body", r.text
