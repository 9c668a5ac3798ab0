"""OWASP API3:2023 Broken Object Property Level Authorization — a property shown to callers not entitled to it
(issue 13, item 9): teachers read full personal ID numbers in the change feed while ``/learners`` masked them. One
rule now (``services/records/access.py: may_see_numbers``): the person, authorised officers and the institution's own
school system (whose data the numbers are) see the number, everyone else — teachers included — sees
``001******345``, in the learners list, the feed's keys and old keys alike."""

from __future__ import annotations

from typing import Any

from services.common.privacy import mask_id_number
from tests.records.helpers import code, grade, id_number, learner, login, run_ok, world
from tests.support import Platform


def numbers_in(items: list[dict[str, Any]]) -> set[str]:
    return {k["id_number"] for i in items for k in (i["key"], i["old_key"] or {}) if "id_number" in k}


async def test_the_change_feed_masks_numbers_as_the_learner_list_does(platform: Platform) -> None:
    school = await platform.school_headers()
    teacher = await login(platform, "teacher.demo", "dev-only-Teacher#2026")
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    p, t, k = code("PRIV"), code("HK"), code("K")
    wrong, right = id_number(), id_number()
    async with platform.client("records") as c:
        since = (await c.get("/v1/changes", headers=school)).json()["latest_version"]
        await run_ok(c, school, world(p, t, k, [learner(wrong, "Đỗ Văn Riêng", p, k)], [grade(wrong, p, "M1", t, "7", "8")]))
        items = (await c.get("/v1/institutions/CD0101/learners", params={"limit": 500}, headers=school)).json()["items"]
        lid = next(x["id"] for x in items if x["full_name"] == "Đỗ Văn Riêng")
        r = await c.post(f"/v1/learners/{lid}/id-number", json={"id_number": right, "reason": "nhập sai"}, headers=school)
        assert r.status_code == 200, r.text

        for who, headers in (("teacher", teacher),):
            listed = (await c.get(f"/v1/learners/{lid}", headers=headers)).json()
            assert listed["id_number_masked"] and listed["id_number"] == mask_id_number(right), (who, listed)
            feed = (await c.get("/v1/changes", params={"since": since, "limit": 5000}, headers=headers)).json()["items"]
            assert feed, who
            seen = numbers_in(feed)
            assert wrong not in seen and right not in seen, (who, seen)
            assert {mask_id_number(wrong), mask_id_number(right)} <= seen, (who, seen)  # key changes: old and new, masked

        for who, headers in (("ministry", ministry), ("the school's own system", school)):
            listed = (await c.get(f"/v1/learners/{lid}", headers=headers)).json()
            assert not listed["id_number_masked"] and listed["id_number"] == right, (who, listed)
            feed = (await c.get("/v1/changes", params={"since": since, "limit": 5000}, headers=headers)).json()["items"]
            assert {wrong, right} <= numbers_in(feed), who  # whole, as in the list
