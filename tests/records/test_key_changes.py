"""Correcting a learner's personal ID number: audited, and the change feed reports key changes (old key → new
key) for the learner, its enrolment and its grades; syncs then match the learner by the new number."""

from __future__ import annotations

import pytest

from tests.records.helpers import code, grade, id_number, learner, login, run_json, run_ok, world
from tests.support import Platform

#: no call to identity (or another service) while a write transaction is open: services.common.testing.WriteTransactions
pytestmark = pytest.mark.usefixtures("no_calls_in_write_transactions")


async def test_id_number_correction_is_a_key_change_in_the_feed(platform: Platform) -> None:
    school = await platform.school_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    wrong, right, other = id_number(), id_number(), id_number()
    async with platform.client("records") as c:
        batch = world(p, t, k, [learner(wrong, "Bùi Văn Sửa", p, k, sex="male"), learner(other, "Ngô Văn Khác", p, k, sex="male")],
                      [grade(wrong, p, "M1", t, "7", "8"), grade(wrong, p, "M2", t, "6", "6")])
        await run_ok(c, school, batch)
        items = (await c.get("/v1/institutions/CD0101/learners", params={"limit": 500}, headers=school)).json()["items"]
        lid = next(x["id"] for x in items if x["full_name"] == "Bùi Văn Sửa" and x["enrolments"][0]["programme_code"] == p)
        since = (await c.get("/v1/changes", headers=school)).json()["latest_version"]

        # refused: a teacher (not a records writer), a number another learner has, a number that says "female"
        teacher = await login(platform, "teacher.demo", "dev-only-Teacher#2026")
        body = {"id_number": right, "reason": "nhập sai số định danh"}
        assert (await c.post(f"/v1/learners/{lid}/id-number", json=body, headers=teacher)).status_code == 403
        assert (await c.post(f"/v1/learners/{lid}/id-number", json=body | {"id_number": other}, headers=school)).status_code == 409
        female = await c.post(f"/v1/learners/{lid}/id-number", json=body | {"id_number": id_number(century_gender=3)}, headers=school)
        assert female.status_code == 422 and female.json()["errors"][0]["field"] in ("sex", "id_number"), female.text
        assert (await c.post(f"/v1/learners/{lid}/id-number", json=body | {"id_number": "12345"}, headers=school)).status_code == 422

        r = await c.post(f"/v1/learners/{lid}/id-number", json=body, headers=school)
        assert r.status_code == 200, r.text
        # the school's own system sees its learners' numbers whole, everywhere (one rule: access.may_see_numbers)
        assert not r.json()["id_number_masked"] and r.json()["id_number"] == right
        as_teacher = (await c.get(f"/v1/learners/{lid}", headers=teacher)).json()
        assert as_teacher["id_number_masked"] and right not in as_teacher["id_number"]

        feed = (await c.get("/v1/changes", params={"since": since}, headers=school)).json()["items"]
        mine = [x for x in feed if x["operation"] == "key_change"]
        assert [x["version"] for x in mine] == sorted(x["version"] for x in mine)
        # the school's own system reads its learners' numbers whole (its own data; teachers see them masked:
        # tests/security/test_api3_…)
        old, new = {"institution_code": "CD0101", "id_number": wrong}, {"institution_code": "CD0101", "id_number": right}
        assert [(x["entity"], x["old_key"], x["key"]) for x in mine] == [
            ("learner", old, new),
            ("enrolment", old | {"programme_code": p}, new | {"programme_code": p}),
            ("grade", old | {"programme_code": p, "module_code": "M1", "term_code": t}, new | {"programme_code": p, "module_code": "M1", "term_code": t}),
            ("grade", old | {"programme_code": p, "module_code": "M2", "term_code": t}, new | {"programme_code": p, "module_code": "M2", "term_code": t}),
        ]

        # the audit: masked for a teacher, in full for the school's system and the ministry
        history = (await c.get(f"/v1/learners/{lid}/id-number-changes", headers=teacher)).json()
        assert len(history) == 1 and history[0]["reason"] == "nhập sai số định danh" and wrong not in history[0]["old_id_number"]
        history = (await c.get(f"/v1/learners/{lid}/id-number-changes", headers=school)).json()
        assert (history[0]["old_id_number"], history[0]["new_id_number"]) == (wrong, right)
        ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
        full = (await c.get(f"/v1/learners/{lid}/id-number-changes", headers=ministry)).json()
        assert (full[0]["old_id_number"], full[0]["new_id_number"]) == (wrong, right)

        # syncs now match the learner by the corrected number; the old one is unknown
        later = await run_json(c, school, {"grades": [grade(right, p, "M1", t, "9", "9"), grade(wrong, p, "M1", t, "9", "9")]}, mode="accept_valid")
        assert (later["updated"], later["rejected"]) == (1, 1), later


async def test_links_follow_the_gateway_prefix(platform: Platform) -> None:
    """Behind the gateway (X-Forwarded-Prefix: /api/records) the links in responses carry the prefix."""
    school = await platform.school_headers()
    async with platform.client("records") as c:
        plain = await c.post("/v1/institutions/CD0101/sync/json", json={"terms": []}, headers=school)
        behind = await c.post("/v1/institutions/CD0101/sync/json", json={"terms": []}, headers=school | {"X-Forwarded-Prefix": "/api/records"})
        odd = await c.post("/v1/institutions/CD0101/sync/json", json={"terms": []}, headers=school | {"X-Forwarded-Prefix": "//evil.example"})
    assert plain.headers["location"].startswith("/v1/sync-jobs/") and plain.json()["errors_url"].startswith("/v1/sync-jobs/")
    assert behind.headers["location"] == f"/api/records/v1/sync-jobs/{behind.json()['id']}"
    assert behind.json()["errors_url"] == f"/api/records/v1/sync-jobs/{behind.json()['id']}/errors"
    assert odd.headers["location"].startswith("/v1/sync-jobs/")
