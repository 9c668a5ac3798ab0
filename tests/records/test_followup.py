"""Graduate follow-up through the API: a college graduates three learners (two women, one man), opens the 6-month
round, which invites each; one answers by her one-time link without an account (once: a second answer and an altered
link are refused), one signs in with VNeID and answers from his account, the third does not answer. The report by
sex, counted by hand:

    female  invited 2  responded 1 (0.5)  employed 1 (1.0 of respondents)  in trained occupation 1 (1.0)
    male    invited 1  responded 1 (1.0)  employed 0 (0.0)                further study 1

Another institution's system and another province's officer are refused."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from tests.records.helpers import code, grade, learner, login, run_ok, world
from tests.records.test_admissions import vneid_sign_in
from tests.support import Platform, id_number

PROVINCE, YEAR = "048", 2030


@pytest.fixture(scope="module")
async def graduates(platform: Platform) -> dict[str, Any]:
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    inst = f"CD{uuid.uuid4().hex[:6].upper()}"
    async with platform.client("identity") as c:
        r = await c.post("/v1/institutions", headers=ministry, json={
            "code": inst, "name": "Trường Cao đẳng thử khảo sát", "type": "college", "province_code": PROVINCE})
        assert r.status_code == 201, r.text
    admin = await platform.admin_headers()
    p, t, k = code("CNTT"), code("HK"), code("K")
    people = {"an": (id_number(PROVINCE, 3, 8), "Trần Thị An", "2008-01-02", "female"),
              "binh": (id_number(PROVINCE, 2, 8), "Lê Văn Bình", "2008-03-04", "male"),
              "chi": (id_number(PROVINCE, 3, 8), "Phạm Thị Chi", "2008-05-06", "female")}
    rows = [learner(n, name, p, k, date_of_birth=born, sex=sex) for n, name, born, sex in people.values()]
    grades = [grade(n, p, m, t, "8", "8") for n, *_ in people.values() for m in ("M1", "M2", "GDQP")]
    async with platform.client("records") as c:
        await run_ok(c, admin, world(p, t, k, rows, grades), institution=inst)
        cohort = next(x for x in (await c.get(f"/v1/institutions/{inst}/cohorts", headers=admin)).json() if x["code"] == k)
        r = await c.post(f"/v1/cohorts/{cohort['id']}/graduation", json={"decision_number": "12/QĐ-CĐ", "decision_date": f"{YEAR}-06-30"},
                         headers=admin)
        assert r.status_code == 200 and r.json()["graduated"] == 3, r.text
    return {"code": inst, "people": people}


ANSWERS_AN = {"employed": True, "in_trained_occupation": True, "employer_type": "private", "income_band": "5m_10m", "further_study": False}


async def test_round_links_account_answers_and_report(platform: Platform, graduates: dict[str, Any]) -> None:
    admin, inst = await platform.admin_headers(), graduates["code"]
    today = date.today()
    window = {"opens_on": (today - timedelta(days=1)).isoformat(), "closes_on": (today + timedelta(days=30)).isoformat(),
              "extra_questions": [{"code": "gop_y", "text": "Góp ý cho nhà trường", "kind": "text"}]}
    async with platform.client("records") as c:
        r = await c.put(f"/v1/institutions/{inst}/followup-rounds/{YEAR}/6", headers=admin, json=window)
        assert r.status_code == 201 and r.json()["invited"] == 3, r.text
        assert [q["code"] for q in r.json()["questions"]] == ["employed", "in_trained_occupation", "employer_type", "income_band",
                                                              "further_study", "gop_y"]
        round_id = r.json()["id"]
        r = await c.put(f"/v1/institutions/{inst}/followup-rounds/{YEAR}/6", headers=admin, json=window)
        assert r.status_code == 200 and r.json()["invited"] == 3, r.text  # nobody invited twice
        r = await c.put(f"/v1/institutions/{inst}/followup-rounds/{YEAR}/7", headers=admin, json=window)
        assert r.status_code == 422, r.text

        links = {i["full_name"]: i["link"] for i in (await c.get(f"/v1/followup-rounds/{round_id}/invitations", headers=admin)).json()}
        assert set(links) == {"Trần Thị An", "Lê Văn Bình", "Phạm Thị Chi"}
        path = "/v1/followup/" + links["Trần Thị An"].rsplit("/v1/followup/", 1)[1]
        assert links["Trần Thị An"].startswith("http") and "/api/records/v1/followup/" in links["Trần Thị An"]

        # by the link, no account: the form, a wrong answer named by its field, the answer, and not twice
        r = await c.get(path)
        assert r.status_code == 200 and r.json()["responded"] is False and r.json()["months_after"] == 6, r.text
        r = await c.post(path, json={"answers": {"employed": True, "employer_type": "ngân hàng"}})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "answers.employer_type", r.text
        r = await c.post(path, json={"answers": {"employer_type": "private"}})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "answers.employed", r.text
        r = await c.post(path, json={"answers": ANSWERS_AN | {"gop_y": "Nên thêm giờ thực hành"}})
        assert r.status_code == 200 and r.json()["responded"] is True, r.text
        r = await c.post(path, json={"answers": ANSWERS_AN})
        assert r.status_code == 409, r.text
        forged = path[:-1] + ("A" if path[-1] != "A" else "B")
        assert (await c.get(forged)).status_code == 404

        # through the account: Bình signs in with VNeID and sees his survey (and only his)
        number, name, born, sex = graduates["people"]["binh"]
        binh = await vneid_sign_in(platform, number, name, born, sex)
        r = await c.get("/v1/followup/me", headers=binh)
        assert r.status_code == 200, r.text
        (mine,) = [f for f in r.json() if f["institution_code"] == inst]
        other = path.rsplit("/", 1)[1].split(".")[0]  # An's invitation
        r = await c.post(f"/v1/followup/me/{other}", headers=binh, json={"answers": {"employed": False}})
        assert r.status_code == 404, r.text
        r = await c.post(f"/v1/followup/me/{mine['invitation_id']}", headers=binh, json={"answers": {"employed": False, "further_study": True}})
        assert r.status_code == 200 and r.json()["responded"] is True, r.text

        r = await c.get("/v1/followup-report", params={"graduation_year": YEAR, "months_after": 6, "by": "sex", "institution": inst}, headers=admin)
        assert r.status_code == 200, r.text
        by_sex = {i["group"]["sex"]: i for i in r.json()["items"]}
        assert {k: (v["invited"], v["responded"], v["response_rate"], v["employed"], v["employment_rate"], v["in_trained_occupation"],
                    v["further_study"]) for k, v in by_sex.items()} == {
            "female": (2, 1, 0.5, 1, 1.0, 1, 0), "male": (1, 1, 1.0, 0, 0.0, 0, 1)}
        r = await c.get("/v1/followup-report", params={"graduation_year": YEAR, "months_after": 6, "by": "province,level", "province": PROVINCE,
                                                       "format": "csv"}, headers=admin)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text
        lines = r.text.splitlines()
        assert lines[0] == "province,level,invited,responded,response_rate,employed,employment_rate,in_trained_occupation,trained_occupation_rate,further_study"
        assert f"{PROVINCE},college,3,2,0.6667,1,0.5,1,1.0,1" in lines, lines

        # another institution's system, another province's officer: refused
        r = await c.get("/v1/followup-report", params={"graduation_year": YEAR, "institution": inst, "months_after": 6},
                        headers=await platform.school_headers())
        assert r.status_code == 403, r.text
        hcm = await login(platform, "officer.hcm.demo", "dev-only-Officer#2026")
        r = await c.get("/v1/followup-report", params={"graduation_year": YEAR, "province": PROVINCE, "months_after": 6}, headers=hcm)
        assert r.status_code == 403, r.text
        r = await c.get(f"/v1/followup-rounds/{round_id}/invitations", headers=await platform.school_headers())
        assert r.status_code == 403, r.text

        # the next year's yearly report (due 15 December) carries the follow-up of this year's graduates
        r = await c.post("/v1/reports", json={"scope": "institution", "code": inst, "year": YEAR + 1}, headers=admin)
        assert r.status_code == 201, r.text
        assert r.json()["figures"]["followup_rates"] == [{
            "graduation_year": YEAR, "months_after": 6, "invited": 3, "responded": 2, "response_rate": 0.6667, "employed": 1,
            "employment_rate": 0.5, "in_trained_occupation": 1, "trained_occupation_rate": 1.0, "further_study": 1}]
        assert r.json()["figures"]["employer_feedback"] == []
