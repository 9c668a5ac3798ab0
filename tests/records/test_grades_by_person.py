"""A grade entered by person rather than by personal ID number — how another platform service (learning's
gradebooks, which never hold ID numbers) sends grades, with its own client and the ``records:grades:write`` scope."""

from __future__ import annotations

from tests.records.helpers import code, errors_of, id_number, learner, run_json, world
from tests.support import Platform


async def person_of(platform: Platform, number: str) -> str:
    async with platform.client("identity") as c:
        r = await c.post("/v1/persons/lookup", json={"id_number": number}, headers=await platform.admin_headers())
    assert r.status_code == 200, r.text
    return r.json()["id"]


async def test_a_platform_service_enters_a_grade_by_person_and_a_repeat_changes_nothing(platform: Platform) -> None:
    school = await platform.school_headers()
    learning = {"Authorization": f"Bearer {await platform.token('svc-learning', platform.settings['learning'].client_secret)}"}
    credentials = {"Authorization": f"Bearer {await platform.token('svc-credentials', platform.settings['credentials'].client_secret)}"}
    p, t, k = code("DCN"), code("HK"), code("K")
    number, stranger = id_number(century_gender=3), id_number()
    async with platform.client("records") as c:
        job = await run_json(c, school, world(p, t, k, [learner(number, "Đặng Thị Mai", p, k, sex="female")], []))
        assert job["status"] == "succeeded", (job, await errors_of(c, job, school))
        person = await person_of(platform, number)
        entry = {"person_id": person, "programme_code": p, "module_code": "M1", "term_code": t,
                 "components": {"continuous": "8.5", "final": "8.4"}, "reason": "Sổ điểm lớp DCN K1"}

        r = await c.post("/v1/institutions/CD0101/grades", json=entry, headers=learning)
        assert r.status_code == 201 and r.headers["grade-result"] == "created", r.text
        first = r.json()
        assert (first["score"], first["letter"], first["version"]) == ("8.4", "B", 1)  # 0.4×8.5 + 0.6×8.4 = 8.44
        # the same again: the natural key finds the grade, nothing changes (no new version, no new audit entry)
        r = await c.post("/v1/institutions/CD0101/grades", json=entry, headers=learning)
        assert r.status_code == 200 and r.json()["version"] == 1 and r.json()["id"] == first["id"], r.text
        assert r.headers["grade-result"] == "unchanged"
        r = await c.get(f"/v1/grades/{first['id']}/history", headers=school)
        assert r.status_code == 200 and len(r.json()) == 1, r.text
        assert r.json()[0]["reason"] == "Sổ điểm lớp DCN K1" and r.json()[0]["actor"].startswith("client:")

        # another platform service without the scope may not; a person who is no learner of the school is named
        r = await c.post("/v1/institutions/CD0101/grades", json=entry, headers=credentials)
        assert r.status_code == 403, r.text
        r = await c.post("/v1/institutions/CD0101/grades", json=entry | {"person_id": "00000000-0000-4000-8000-000000000000"},
                         headers=learning)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "person_id", r.text
        # one learner key, not two, not none
        r = await c.post("/v1/institutions/CD0101/grades", json=entry | {"id_number": stranger}, headers=learning)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "id_number", r.text
        r = await c.post("/v1/institutions/CD0101/grades", json={k: v for k, v in entry.items() if k != "person_id"}, headers=learning)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "id_number", r.text
        # the school's system still enters by number, as before
        r = await c.post("/v1/institutions/CD0101/grades", json={k: v for k, v in entry.items() if k != "person_id"} | {
            "id_number": number, "module_code": "M2"}, headers=school)
        assert r.status_code == 201, r.text
