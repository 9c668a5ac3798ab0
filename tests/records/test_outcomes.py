"""Learning outcomes through the API: a college records its programmes' outcomes (VQF levels, digital competence,
module outcomes), a second PUT of the same set changes nothing; the share of programmes integrating digital
competence per institution and per province against Decision 2222's targets, counted by hand:

    college A: 3 programmes, 2 with a digital outcome (one only through a module's outcome) → 0.6667: 2025's 70% not met
    college B: 1 programme, 1 digital                                                       → 1.0: both met
    province (A + B): 4 programmes, 3 digital                                               → 0.75: 2025 met, 2030 not

Errors name the field; another institution and another province's officer are refused."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from tests.records.helpers import code, login, programme
from tests.support import Platform

PROVINCE = "048"


async def _college(platform: Platform, ministry: dict[str, str]) -> str:
    inst = f"CD{uuid.uuid4().hex[:6].upper()}"
    async with platform.client("identity") as c:
        r = await c.post("/v1/institutions", headers=ministry, json={
            "code": inst, "name": "Trường Cao đẳng thử chuẩn đầu ra", "type": "college", "province_code": PROVINCE})
        assert r.status_code == 201, r.text
    return inst


@pytest.fixture(scope="module")
async def colleges(platform: Platform) -> dict[str, Any]:
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    a, b = await _college(platform, ministry), await _college(platform, ministry)
    admin = await platform.admin_headers()
    progs = {a: [code("P1"), code("P2"), code("P3")], b: [code("P4")]}
    async with platform.client("records") as c:
        for inst, codes in progs.items():
            for p in codes:
                r = await c.put(f"/v1/institutions/{inst}/programmes/{p}", headers=admin, json=programme(p))
                assert r.status_code == 201, r.text
    return {"a": a, "b": b, "progs": progs}


def outcome(code_: str, level: int, digital: bool = False, module: str | None = None) -> dict[str, Any]:
    return {"code": code_, "text": f"Chuẩn đầu ra {code_}", "vqf_level": level, "digital_competence": digital} | (
        {"module_code": module} if module else {})


async def test_outcomes_and_digital_share(platform: Platform, colleges: dict[str, Any]) -> None:
    admin, a, b = await platform.admin_headers(), colleges["a"], colleges["b"]
    p1, p2, p3 = colleges["progs"][a]
    (p4,) = colleges["progs"][b]
    async with platform.client("records") as c:
        body = {"outcomes": [outcome("KT1", 5), outcome("KN1", 5, digital=True), outcome("M1-1", 5, module="M1")]}
        r = await c.put(f"/v1/institutions/{a}/programmes/{p1}/outcomes", headers=admin, json=body)
        assert r.status_code == 200, r.text
        first = r.json()
        assert first["integrates_digital_competence"] is True
        assert [(o["code"], o["vqf_level"], o["digital_competence"], o["module_code"]) for o in first["outcomes"]] == [
            ("KT1", 5, False, None), ("KN1", 5, True, None), ("M1-1", 5, False, "M1")]
        # the same set again: nothing changes, not even the ids
        r = await c.put(f"/v1/institutions/{a}/programmes/{p1}/outcomes", headers=admin, json=body)
        assert r.status_code == 200 and r.json() == first, r.text
        # digital only through a module's outcome; one programme without any digital outcome; P3 has none at all
        r = await c.put(f"/v1/institutions/{a}/programmes/{p2}/outcomes", headers=admin,
                        json={"outcomes": [outcome("KT1", 5), outcome("M2-1", 5, digital=True, module="M2")]})
        assert r.status_code == 200 and r.json()["integrates_digital_competence"] is True, r.text
        r = await c.put(f"/v1/institutions/{a}/programmes/{p3}/outcomes", headers=admin, json={"outcomes": [outcome("KT1", 5)]})
        assert r.status_code == 200 and r.json()["integrates_digital_competence"] is False, r.text
        r = await c.put(f"/v1/institutions/{b}/programmes/{p4}/outcomes", headers=admin, json={"outcomes": [outcome("KN1", 5, True)]})
        assert r.status_code == 200, r.text

        # a set replaced: an outcome not listed is gone
        r = await c.put(f"/v1/institutions/{a}/programmes/{p3}/outcomes", headers=admin,
                        json={"outcomes": [outcome("KT2", 4), outcome("KT1", 5)]})
        assert [o["code"] for o in r.json()["outcomes"]] == ["KT2", "KT1"], r.text
        r = await c.put(f"/v1/institutions/{a}/programmes/{p3}/outcomes", headers=admin, json={"outcomes": [outcome("KT1", 5)]})
        assert [o["code"] for o in r.json()["outcomes"]] == ["KT1"], r.text

        # errors name the field
        r = await c.put(f"/v1/institutions/{a}/programmes/{p3}/outcomes", headers=admin, json={"outcomes": [outcome("X", 9)]})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "outcomes.0.vqf_level", r.text
        r = await c.put(f"/v1/institutions/{a}/programmes/{p3}/outcomes", headers=admin,
                        json={"outcomes": [outcome("X", 5), outcome("Y", 5, module="M9"), outcome("X", 4)]})
        assert r.status_code == 422, r.text
        assert {(e["field"]) for e in r.json()["errors"]} == {"outcomes[1].module_code", "outcomes[2].code"}, r.text
        r = await c.put(f"/v1/institutions/{a}/programmes/NOPE/outcomes", headers=admin, json={"outcomes": []})
        assert r.status_code == 404, r.text

        ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
        r = await c.get("/v1/outcomes/digital-competence", params={"province": PROVINCE}, headers=ministry)
        assert r.status_code == 200, r.text
        items = {i["group"]["institution"]: i for i in r.json()["items"]}
        assert (items[a]["programmes"], items[a]["with_outcomes"], items[a]["digital"], items[a]["share"]) == (3, 3, 2, 0.6667)
        assert {t["year"]: t["met"] for t in items[a]["targets"]} == {2025: False, 2030: False}
        assert (items[b]["programmes"], items[b]["digital"], items[b]["share"]) == (1, 1, 1.0)
        assert {t["year"]: (t["value"], t["met"]) for t in items[b]["targets"]} == {2025: (0.7, True), 2030: (1.0, True)}

        r = await c.get("/v1/outcomes/digital-competence", params={"institution": a}, headers=admin)
        assert r.status_code == 200 and r.json()["total"]["share"] == 0.6667, r.text

        # by province (this module's database holds no other programme of the province)
        r = await c.get("/v1/outcomes/digital-competence", params={"province": PROVINCE, "by": "province"}, headers=ministry)
        assert r.status_code == 200, r.text
        (row,) = r.json()["items"]
        assert (row["group"], row["programmes"], row["digital"], row["share"]) == ({"province": PROVINCE}, 4, 3, 0.75)
        assert {t["year"]: t["met"] for t in row["targets"]} == {2025: True, 2030: False}

        # national oversight's indicator is computed from the same outcomes (the province's active institutions)
        assert (await c.post("/v1/oversight/refresh", headers=ministry)).status_code == 200
        r = await c.get("/v1/oversight/indicators", params={"province": PROVINCE}, headers=ministry)
        card = next(x for x in r.json()["cards"] if x["code"] == "outcomes_digital_share")
        assert (card["computed"], card["source"], card["value"], card["numerator"], card["denominator"]) == (True, "computed", 0.75, 3, 4)
        r = await c.put(f"/v1/oversight/indicator-values/outcomes_digital_share/{date.today().year}", params={"province": PROVINCE},
                        headers=ministry, json={"value": 0.9})
        assert r.status_code == 409, r.text  # computed: not entered by hand any more

        # the outcomes and the statistic are not for another institution or another province's officer
        school = await platform.school_headers()
        assert (await c.get(f"/v1/institutions/{a}/programmes/{p1}/outcomes", headers=school)).status_code == 403
        assert (await c.put(f"/v1/institutions/{a}/programmes/{p1}/outcomes", headers=school, json=body)).status_code == 403
        assert (await c.get("/v1/outcomes/digital-competence", params={"institution": a}, headers=school)).status_code == 403
        hcm = await login(platform, "officer.hcm.demo", "dev-only-Officer#2026")
        assert (await c.get("/v1/outcomes/digital-competence", params={"province": PROVINCE}, headers=hcm)).status_code == 403
        r = await c.get("/v1/outcomes/digital-competence", headers=hcm)
        assert r.status_code == 200 and all(i["group"]["province"] == "079" for i in r.json()["items"]), r.text
