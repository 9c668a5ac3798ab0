"""Statistics on a seeded data set, every expected number counted by hand below: learners by status, new
enrolments and graduates of a year, by level, occupation, province, enrolment and graduation year, sex, ethnic
minority and disability — for the ministry (every province) and a province officer (their own only).

The data set lives in a records service of its own (fresh database, same identity), so the other tests' learners
do not change the counts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from services.records.app import create_app
from tests.records.helpers import errors_of, id_number, login, run_json
from tests.support import Platform, UrlFactory, service_settings

MALE, FEMALE = 2, 3  # century/gender digit of a personal ID number, born 2000–2099


@pytest.fixture
async def records(platform: Platform, database_factory: UrlFactory, tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = service_settings("records", await database_factory("records"), tmp_path / "objects", sync_poll_seconds=0.05)
    app = create_app(settings, http_transport=platform.transport)
    async with app.router.lifespan_context(app):
        yield app


def client(app: FastAPI) -> Any:
    import httpx

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://records.test")


def modules() -> list[dict[str, Any]]:
    return [{"code": "M1", "name": "Mô-đun 1", "credits": 3}, {"code": "M2", "name": "Mô-đun 2", "credits": 2},
            {"code": "GDQP", "name": "Giáo dục quốc phòng và an ninh", "credits": 2, "is_condition": True}]


def person(n: str, name: str, programme: str, enrolled_on: str, **kw: Any) -> dict[str, Any]:
    return {"id_number": n, "full_name": name, "programme_code": programme, "enrolled_on": enrolled_on, **kw}


#   learner  institution (province)  level         occupation  enrolled    status      sex     ethnicity  disability
#   L1       CD0101 (001)            college       6480201     2023-09-05  graduated   male    Kinh       no
#   L2       CD0101 (001)            college       6480201     2023-09-05  graduated   female  Tày        yes
#   L3       CD0101 (001)            college       6480201     2023-09-05  enrolled    female  Kinh       no    (an F: not eligible)
#   L4       CD0101 (001)            college       6480201     2024-09-05  suspended   male    Thái       no
#   L5       CD0101 (001)            college       6480201     2024-09-05  withdrawn   male    Kinh       no
#   L6       TC7901 (079)            intermediate  5810201     2024-09-05  enrolled    female  Kinh       yes
#   L7       TC7901 (079)            intermediate  5810201     2024-09-05  enrolled    male    Khmer      no
#   L8       TC7901 (079)            intermediate  5810201     2025-01-10  enrolled    female  (none)     no
#   L9       TT4901 (048)            elementary    (none)      2024-03-01  enrolled    male    Kinh       no
# L1 and L2 graduate by the decision of 2025-06-30 (graduation year 2025).
async def seed(c: Any, admin: dict[str, str]) -> None:
    n = {i: id_number(century_gender=MALE if i in (1, 4, 5, 7, 9) else FEMALE) for i in range(1, 10)}
    cd = {
        "programmes": [{"code": "CNTT", "name": "Công nghệ thông tin", "level": "college", "occupation_code": "6480201",
                        "year": 2023, "modules": modules()}],
        "terms": [{"code": "HK1", "name": "Học kỳ 1"}],
        "cohorts": [{"code": "K23", "name": "CNTT khóa 2023", "programme_code": "CNTT", "start_year": 2023}],
        "learners": [
            person(n[1], "Nguyễn Văn Một", "CNTT", "2023-09-05", cohort_code="K23", sex="male", ethnicity="Kinh"),
            person(n[2], "Hoàng Thị Hai", "CNTT", "2023-09-05", cohort_code="K23", sex="female", ethnicity="Tày", disability=True),
            person(n[3], "Lê Thị Ba", "CNTT", "2023-09-05", cohort_code="K23", sex="female", ethnicity="Kinh"),
            person(n[4], "Lò Văn Bốn", "CNTT", "2024-09-05", sex="male", ethnicity="Thái", status="suspended"),
            person(n[5], "Trần Văn Năm", "CNTT", "2024-09-05", sex="male", ethnicity="Kinh", status="withdrawn"),
        ],
        "grades": [
            {"id_number": n[i], "programme_code": "CNTT", "module_code": m, "term_code": "HK1",
             "components": {"continuous": score, "final": score}}
            for i, score in ((1, "8"), (2, "6"), (3, "3")) for m in ("M1", "M2", "GDQP")
        ],
    }
    tc = {
        "programmes": [{"code": "QTKS", "name": "Quản trị khách sạn", "level": "intermediate", "occupation_code": "5810201",
                        "year": 2024, "modules": modules()}],
        "learners": [
            person(n[6], "Phạm Thị Sáu", "QTKS", "2024-09-05", sex="female", ethnicity="Kinh", disability=True),
            person(n[7], "Thạch Văn Bảy", "QTKS", "2024-09-05", sex="male", ethnicity="Khmer"),
            person(n[8], "Đỗ Thị Tám", "QTKS", "2025-01-10", sex="female"),
        ],
    }
    tt = {
        "programmes": [{"code": "HAN-SC", "name": "Hàn (sơ cấp)", "level": "elementary", "year": 2024, "modules": modules()}],
        "learners": [person(n[9], "Võ Văn Chín", "HAN-SC", "2024-03-01", sex="male", ethnicity="Kinh")],
    }
    for code, batch in (("CD0101", cd), ("TC7901", tc), ("TT4901", tt)):
        job = await run_json(c, admin, batch, institution=code)
        assert job["status"] == "succeeded", (job, await errors_of(c, job, admin))
    cohort = next(x for x in (await c.get("/v1/institutions/CD0101/cohorts", headers=admin)).json() if x["code"] == "K23")
    r = await c.post(f"/v1/cohorts/{cohort['id']}/graduation", json={"decision_number": "45/QĐ-CĐ", "decision_date": "2025-06-30"}, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["graduated"], r.json()["not_eligible"]) == (2, 1)


def counts(learners: int, enrolled: int = 0, suspended: int = 0, withdrawn: int = 0, graduated: int = 0, **year: int) -> dict[str, int]:
    return {"learners": learners, "enrolled": enrolled, "suspended": suspended, "withdrawn": withdrawn, "graduated": graduated, **year}


async def stats(c: Any, headers: dict[str, str], by: str = "", **params: Any) -> dict[Any, dict[str, int]]:
    """{group value (or tuple of values, or None for the totals): figures}"""
    r = await c.get("/v1/statistics", params={"by": by, **params}, headers=headers)
    assert r.status_code == 200, r.text
    dims = r.json()["by"]
    out = {}
    for item in r.json()["items"]:
        key = tuple(item.pop(d) for d in dims)
        out[key[0] if len(key) == 1 else (key or None)] = item
    return out


async def test_statistics_match_hand_counted_numbers(platform: Platform, records: FastAPI) -> None:
    admin = await platform.admin_headers()
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    officer = await login(platform, "officer.hcm.demo", "dev-only-Officer#2026")  # province 079
    async with client(records) as c:
        await seed(c, admin)

        # the ministry: everything. 9 learners: enrolled L3 L6 L7 L8 L9, suspended L4, withdrawn L5, graduated L1 L2
        assert await stats(c, ministry) == {None: counts(9, 5, 1, 1, 2)}
        # enrolled in 2024: L4 L5 L6 L7 L9; nobody graduated in 2024. In 2025: L8 enrolled, L1 L2 graduated.
        assert await stats(c, ministry, year=2024) == {None: counts(9, 5, 1, 1, 2, new_enrolments=5, graduates=0)}
        assert await stats(c, ministry, year=2025) == {None: counts(9, 5, 1, 1, 2, new_enrolments=1, graduates=2)}
        assert await stats(c, ministry, "level") == {
            "college": counts(5, 1, 1, 1, 2), "intermediate": counts(3, 3), "elementary": counts(1, 1)}
        assert await stats(c, ministry, "occupation") == {
            "6480201": counts(5, 1, 1, 1, 2), "5810201": counts(3, 3), None: counts(1, 1)}
        assert await stats(c, ministry, "province") == {
            "001": counts(5, 1, 1, 1, 2), "079": counts(3, 3), "048": counts(1, 1)}
        assert await stats(c, ministry, "enrolment_year") == {
            2023: counts(3, 1, 0, 0, 2), 2024: counts(5, 3, 1, 1, 0), 2025: counts(1, 1)}
        assert await stats(c, ministry, "graduation_year") == {None: counts(7, 5, 1, 1, 0), 2025: counts(2, 0, 0, 0, 2)}
        # male L1 L4 L5 L7 L9; female L2 L3 L6 L8
        assert await stats(c, ministry, "sex", year=2025) == {
            "male": counts(5, 2, 1, 1, 1, new_enrolments=0, graduates=1),
            "female": counts(4, 3, 0, 0, 1, new_enrolments=1, graduates=1)}
        # minorities: L2 (Tày), L4 (Thái), L7 (Khmer); no ethnicity given (L8) is not counted as a minority
        assert await stats(c, ministry, "ethnic_minority") == {True: counts(3, 1, 1, 0, 1), False: counts(6, 4, 0, 1, 1)}
        # disability: L2, L6
        assert await stats(c, ministry, "disability") == {True: counts(2, 1, 0, 0, 1), False: counts(7, 4, 1, 1, 1)}
        assert await stats(c, ministry, "level,sex") == {
            ("college", "female"): counts(2, 1, 0, 0, 1), ("college", "male"): counts(3, 0, 1, 1, 1),
            ("elementary", "male"): counts(1, 1), ("intermediate", "female"): counts(2, 2), ("intermediate", "male"): counts(1, 1)}
        csv_text = (await c.get("/v1/statistics", params={"by": "province", "year": 2025, "format": "csv"}, headers=ministry)).text
        assert sorted(csv_text.splitlines()[1:]) == ["001,5,1,1,1,2,0,2", "048,1,1,0,0,0,0,0", "079,3,3,0,0,0,1,0"]

        # the HCM officer: TC7901 (L6 L7 L8) only, whatever the grouping
        assert await stats(c, officer) == {None: counts(3, 3)}
        assert await stats(c, officer, "province") == {"079": counts(3, 3)}
        assert await stats(c, officer, "sex,disability", year=2024) == {
            ("female", False): counts(1, 1, new_enrolments=0, graduates=0),
            ("female", True): counts(1, 1, new_enrolments=1, graduates=0),
            ("male", False): counts(1, 1, new_enrolments=1, graduates=0)}
        assert await stats(c, officer, "ethnic_minority") == {True: counts(1, 1), False: counts(2, 2)}
        assert await stats(c, officer, province="079") == {None: counts(3, 3)}
        for params in ({"province": "001"}, {"institution": "CD0101"}, {"institution": "TT4901"}):
            refused = await c.get("/v1/statistics", params=params, headers=officer)
            assert refused.status_code == 403, (params, refused.text)
        # a school sees its own institution only
        school = await platform.school_headers()  # CD0101
        assert await stats(c, school, "institution") == {"CD0101": counts(5, 1, 1, 1, 2)}
