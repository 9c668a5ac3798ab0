"""The labour-market feed through the API: two graduates of a college in province 048 (year 2032), pulled by the
labour-market system (records:lmis) as JSON pages, CSV and the change feed; what it sees of a person follows the rule
national officers set for it — masked by default, then a pseudonym (stable, 32 hex) with names, then the full number;
a rule limited to another province hides them and refuses province 048. A school's system is refused."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.records.lmis.schemas import COLUMNS
from tests.records.helpers import code, grade, learner, login, run_ok, world
from tests.support import Platform, id_number

PROVINCE, YEAR = "048", 2032


@pytest.fixture(scope="module")
async def college(platform: Platform) -> dict[str, Any]:
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    inst = f"CD{uuid.uuid4().hex[:6].upper()}"
    async with platform.client("identity") as c:
        r = await c.post("/v1/institutions", headers=ministry, json={
            "code": inst, "name": "Trường Cao đẳng thử thị trường lao động", "type": "college", "province_code": PROVINCE})
        assert r.status_code == 201, r.text
    admin = await platform.admin_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    people = [(id_number(PROVINCE, 3, 9), "Đoàn Thị Gấm", "2009-02-02", "female"), (id_number(PROVINCE, 2, 9), "Mai Văn Hùng", "2009-07-07", "male")]
    async with platform.client("records") as c:
        await run_ok(c, admin, world(p, t, k, [learner(n, name, p, k, date_of_birth=b, sex=s) for n, name, b, s in people],
                                    [grade(n, p, m, t, "7", "8") for n, *_ in people for m in ("M1", "M2", "GDQP")]), institution=inst)
        cohort = next(x for x in (await c.get(f"/v1/institutions/{inst}/cohorts", headers=admin)).json() if x["code"] == k)
        r = await c.post(f"/v1/cohorts/{cohort['id']}/graduation", json={"decision_number": "3/QĐ-CĐ", "decision_date": f"{YEAR}-07-01"},
                         headers=admin)
        assert r.status_code == 200 and r.json()["graduated"] == 2, r.text
    return {"code": inst, "programme": p, "numbers": sorted(n for n, *_ in people)}


async def ours(c: Any, headers: dict[str, str], inst: str, **params: Any) -> list[dict[str, Any]]:
    r = await c.get("/v1/lmis/graduates", params={"graduation_year": YEAR} | params, headers=headers)
    assert r.status_code == 200, r.text
    return sorted((i for i in r.json()["items"] if i["institution_code"] == inst), key=lambda i: i["sex"])


async def test_feed_follows_each_recipients_rule(platform: Platform, college: dict[str, Any]) -> None:
    lmis = {"Authorization": f"Bearer {await platform.token('demo-lmis', 'dev-only-demo-lmis-secret')}"}
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    inst = college["code"]
    async with platform.client("records") as c:
        # no rule yet: masked numbers, no names
        items = await ours(c, lmis, inst, province=PROVINCE)
        assert [(i["id_number_form"], i["full_name"], i["sex"], i["birth_year"], i["level"], i["occupation_code"], i["province_code"])
                for i in items] == [("masked", None, "female", 2009, "college", "6480201", PROVINCE),
                                    ("masked", None, "male", 2009, "college", "6480201", PROVINCE)]
        assert all("*" in i["person_key"] and i["person_key"] not in college["numbers"] for i in items)
        assert await ours(c, lmis, inst, province=PROVINCE, occupation="6510216") == []

        # the change feed from the start names both, as upserts with their records
        r = await c.get("/v1/lmis/changes", params={"since": 0, "limit": 5000}, headers=lmis)
        assert r.status_code == 200, r.text
        mine = [x for x in r.json()["items"] if x["institution_code"] == inst]
        assert {x["operation"] for x in mine} == {"upsert"} and {x["record"]["sex"] for x in mine} == {"female", "male"}
        r = await c.get("/v1/lmis/changes", params={"since": r.json()["next_since"]}, headers=lmis)
        assert [x for x in r.json()["items"] if x["institution_code"] == inst] == []

        # pseudonyms with names
        r = await c.put("/v1/lmis/recipients/demo-lmis", headers=ministry, json={"name": "LMIS demo", "id_numbers": "pseudonym", "names": True})
        assert r.status_code == 201, r.text
        first = await ours(c, lmis, inst)
        again = await ours(c, lmis, inst)
        assert [i["person_key"] for i in first] == [i["person_key"] for i in again]
        assert all(len(i["person_key"]) == 32 and i["person_key"] not in college["numbers"] for i in first)
        assert [i["full_name"] for i in first] == ["Đoàn Thị Gấm", "Mai Văn Hùng"]
        r = await c.get("/v1/lmis/graduates", params={"graduation_year": YEAR, "province": PROVINCE, "format": "csv"}, headers=lmis)
        assert r.status_code == 200 and r.text.splitlines()[0] == ",".join(COLUMNS), r.text
        assert any(line.startswith(first[0]["person_key"] + ",pseudonym,Đoàn Thị Gấm,female,2009,") for line in r.text.splitlines())

        # the full number
        r = await c.put("/v1/lmis/recipients/demo-lmis", headers=ministry, json={"name": "LMIS demo", "id_numbers": "full"})
        assert r.status_code == 200, r.text
        assert sorted(i["person_key"] for i in await ours(c, lmis, inst)) == college["numbers"]

        # limited to province 079: ours are not in its feed, and province 048 is refused
        r = await c.put("/v1/lmis/recipients/demo-lmis", headers=ministry, json={"name": "LMIS demo", "provinces": ["079"]})
        assert r.status_code == 200, r.text
        assert await ours(c, lmis, inst) == []
        r = await c.get("/v1/lmis/graduates", params={"graduation_year": YEAR, "province": PROVINCE}, headers=lmis)
        assert r.status_code == 403, r.text
        r = await c.get("/v1/lmis/changes", params={"since": 0, "limit": 5000}, headers=lmis)
        assert [x for x in r.json()["items"] if x["institution_code"] == inst] == []

        # not a labour-market system: refused; the rules are the ministry's
        school = await platform.school_headers()
        assert (await c.get("/v1/lmis/graduates", params={"graduation_year": YEAR}, headers=school)).status_code == 403
        r = await c.put("/v1/lmis/recipients/demo-lmis", headers=school, json={"name": "x", "id_numbers": "full"})
        assert r.status_code == 403, r.text
        r = await c.get("/v1/lmis/schema")
        assert r.status_code == 200 and r.json()["csv_columns"] == COLUMNS
