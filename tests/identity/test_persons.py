"""Persons by personal identification number: validation rules, one person per number, bulk resolve, masking."""

from __future__ import annotations

from datetime import date

import pytest

from services.identity.persons.numbers import check, current_province, decode, mask
from tests.support import Platform, id_number


def number(province: str = "001", century_gender: int = 2, yy: int = 3) -> str:
    return id_number(province, century_gender, yy)


async def service_headers(platform: Platform) -> dict[str, str]:
    return {"Authorization": f"Bearer {await platform.token('svc-records', 'dev-only-svc-records-secret')}"}


# -- the number itself -------------------------------------------------------------------------------------------
def test_valid_numbers_decode() -> None:
    assert check("001203001234", date_of_birth=date(2003, 5, 1), gender="male") == []
    assert check("079198123456", date_of_birth=date(1998, 1, 2), gender="female") == []
    d = decode("049305000001")
    assert (d.province_code, d.gender, d.birth_year) == ("049", "female", 2005)
    assert mask("001203001234") == "001******234"


@pytest.mark.parametrize(
    ("value", "dob", "gender", "rule"),
    [
        ("00120300123", None, None, "shape"),
        ("00120300123A", None, None, "shape"),
        ("００１２０３００１２３４", None, None, "shape"),  # full-width digits are not ASCII digits
        ("003203001234", None, None, "province"),
        ("001203001234", date(1903, 1, 1), None, "century"),
        ("001203001234", date(2004, 1, 1), None, "birth_year"),
        ("001203001234", None, "female", "gender"),
        ("001299001234", None, None, "birth_year"),  # born 2099: in the future
    ],
)
def test_each_rule(value: str, dob: date | None, gender: str | None, rule: str) -> None:
    assert [r.rule for r in check(value, date_of_birth=dob, gender=gender)] == [rule]


def test_pre_2025_province_codes_stay_valid_and_map_to_the_merged_province() -> None:
    assert check("049203001234") == []  # Quảng Nam, merged into Đà Nẵng in 2025
    assert current_province("049") == "048"
    assert current_province("074") == "079"  # Bình Dương → TP Hồ Chí Minh
    assert current_province("001") == "001"


# -- through the API ---------------------------------------------------------------------------------------------
async def test_create_is_idempotent_and_conflicts_are_409(platform: Platform) -> None:
    headers = await service_headers(platform)
    body = {"id_number": number(), "full_name": "Nguyễn Văn An", "date_of_birth": "2003-04-05", "gender": "male"}
    async with platform.client("identity") as c:
        first = await c.post("/v1/persons", json=body, headers=headers)
        again = await c.post("/v1/persons", json=body | {"full_name": "  nguyễn   văn an "}, headers=headers)
        other = await c.post("/v1/persons", json=body | {"full_name": "Trần Thị Bình"}, headers=headers)
    assert first.status_code == 201, first.text
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert other.status_code == 409
    assert [e["field"] for e in other.json()["errors"]] == ["full_name"]
    assert body["id_number"] not in other.text


async def test_invalid_number_is_a_problem_naming_the_rule(platform: Platform) -> None:
    headers = await service_headers(platform)
    async with platform.client("identity") as c:
        r = await c.post("/v1/persons", json={"id_number": number(century_gender=3), "full_name": "Lê Hoa", "gender": "male"}, headers=headers)
        missing_name = await c.post("/v1/persons", json={"id_number": number()}, headers=headers)
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "id_number", "rule": "gender", "message": "digit 4 encodes female, but gender is male"}]
    assert missing_name.status_code == 422 and missing_name.json()["errors"][0]["field"] == "full_name"


async def test_bulk_resolve_creates_finds_and_rejects_per_row(platform: Platform) -> None:
    headers = await service_headers(platform)
    existing = {"id_number": number(yy=1), "full_name": "Phạm Thu Hà", "gender": "male"}
    async with platform.client("identity") as c:
        await c.post("/v1/persons", json=existing, headers=headers)
        fresh = [{"id_number": number(yy=4), "full_name": f"Học viên {i}"} for i in range(1500)]
        batch = [existing, *fresh, {"id_number": "123", "full_name": "X"}, existing | {"full_name": "Someone Else"}, fresh[0]]
        r = await c.post("/v1/persons/resolve", json={"persons": batch}, headers=headers)
        again = await c.post("/v1/persons/resolve", json={"persons": fresh[:10]}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    statuses = [x["status"] for x in body["results"]]
    assert statuses[0] == "existing"
    assert statuses[1:1501] == ["created"] * 1500
    assert statuses[1501:] == ["invalid", "conflict", "existing"]
    assert body["results"][1501]["errors"][0]["rule"] == "shape"
    assert (body["created"], body["existing"], body["rejected"]) == (1500, 2, 2)
    assert body["results"][1]["person_id"] == body["results"][1503]["person_id"]
    assert body["results"][1]["id_number_masked"].count("*") == 6
    assert [x["status"] for x in again.json()["results"]] == ["existing"] * 10


async def test_number_is_masked_except_for_authorised_officers(platform: Platform) -> None:
    body = {"id_number": number(), "full_name": "Đỗ Minh Châu"}
    async with platform.client("identity") as c:
        created = await c.post("/v1/persons", json=body, headers=await service_headers(platform))
        pid = created.json()["id"]
        as_service = await c.get(f"/v1/persons/{pid}", headers=await service_headers(platform))
        as_officer = await c.get(f"/v1/persons/{pid}", headers=await platform.admin_headers())
        as_school = await c.get(f"/v1/persons/{pid}", headers=await platform.school_headers())
        lookup = await c.post("/v1/persons/lookup", json={"id_number": body["id_number"]}, headers=await platform.admin_headers())
        no_scope = await c.post("/v1/persons", json=body, headers=await platform.school_headers())
    assert created.json()["id_number"] == mask(body["id_number"]) and created.json()["id_number_masked"]
    assert as_service.json()["id_number"] == mask(body["id_number"])
    assert as_officer.json()["id_number"] == body["id_number"] and not as_officer.json()["id_number_masked"]
    assert as_school.status_code == 403
    assert lookup.status_code == 200 and lookup.json()["id"] == pid
    assert no_scope.status_code == 403


async def test_full_numbers_never_reach_the_logs(platform: Platform) -> None:
    import logging

    from services.common.logging import JsonFormatter

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonFormatter("test").format(record))

    handler = Collect(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    value = number()
    try:
        headers = await service_headers(platform)
        async with platform.client("identity") as c:
            await c.post("/v1/persons", json={"id_number": value, "full_name": "Vũ Thị Lan"}, headers=headers)
            await c.post("/v1/persons", json={"id_number": value, "full_name": "Người khác"}, headers=headers)
            await c.post("/v1/persons/resolve", json={"persons": [{"id_number": value, "full_name": "Vũ Thị Lan"}]}, headers=headers)
            await c.post("/v1/persons/lookup", json={"id_number": value}, headers=await platform.admin_headers())
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert lines, "nothing was logged: the check would prove nothing"
    assert not [line for line in lines if value in line]
