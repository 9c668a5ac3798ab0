"""Admissions end to end through the API: a province education department's system pushes a secondary school's
graduating cohort (bad rows named by row and field, a repeated push changes nothing), a citizen signs in with VNeID,
sees the data the school shared and applies to a college's intake; the college reviews, offers, and — once the
citizen accepts — enrols, and the learner record exists without anything retyped; each step an outbox event.
Institutions see only their own applicants, and a withdrawn consent hides the pushed data at once. Reports:
streaming per district and intake against capacity.

A college X in province 048, a secondary school S in district "Thăng Bình"."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import select

from services.common.clock import vietnam_date
from services.common.models import OutboxEvent
from tests.records.helpers import code, login, programme, run_ok
from tests.support import Platform, id_number

#: no call to identity (or another service) while a write transaction is open: services.common.testing.WriteTransactions
pytestmark = pytest.mark.usefixtures("no_calls_in_write_transactions")

PROVINCE, YEAR = "048", 2031
SHARER = ("demo-sgddt-048", "dev-only-demo-sgddt-secret")


async def vneid_sign_in(platform: Platform, number: str, name: str, birthdate: str, gender: str) -> dict[str, str]:
    """The citizen signs in through the VNeID stand-in: our login → the provider → our callback → the tokens."""
    alias = uuid.uuid4().hex
    platform.vneid.citizens.append({"alias": alias, "personal_id": number, "name": name, "birthdate": birthdate, "gender": gender})
    async with httpx.AsyncClient(transport=platform.transport, base_url="http://127.0.0.1:8001") as b:
        r = await b.get("/v1/auth/vneid/login", params={"login_hint": alias})
        assert r.status_code == 302, r.text
        consent = await b.get(r.headers["location"])
        assert consent.status_code == 302, consent.text
        callback = urlparse(consent.headers["location"])
        r = await b.get(callback.path, params=parse_qs(callback.query))
        assert r.status_code == 302, r.text
        one_time = parse_qs(urlparse(r.headers["location"]).query)["code"][0]
        r = await b.post("/v1/auth/vneid/token", json={"code": one_time})
        assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module")
async def college(platform: Platform) -> dict[str, str]:
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    inst, pcode = f"CD{uuid.uuid4().hex[:6].upper()}", code("CNOTO")
    async with platform.client("identity") as c:
        r = await c.post("/v1/institutions", headers=ministry, json={
            "code": inst, "name": "Trường Cao đẳng thử Quảng Nam", "type": "college", "province_code": PROVINCE})
        assert r.status_code == 201, r.text
    admin = await platform.admin_headers()
    async with platform.client("records") as c:
        await run_ok(c, admin, {"programmes": [programme(pcode)]}, institution=inst)
        today = vietnam_date(datetime.now(UTC))  # intakes open and close on Vietnam's dates
        r = await c.put(f"/v1/institutions/{inst}/intakes/TS{YEAR}", headers=admin, json={
            "programme_code": pcode, "name": "Tuyển sinh cao đẳng Công nghệ ô tô", "year": YEAR, "capacity": 2,
            "opens_on": (today - timedelta(days=1)).isoformat(), "closes_on": (today + timedelta(days=30)).isoformat(),
            "criteria": {"min_average": "5.0", "required_subjects": ["toan"]}})
        assert r.status_code == 201, r.text
    return {"code": inst, "programme": pcode, "intake": r.json()["id"]}


def graduate(number: str, name: str, born: str, sex: str, **results: str) -> dict[str, Any]:
    return {"id_number": number, "full_name": name, "date_of_birth": born, "sex": sex, "results": results}


async def sharer_headers(platform: Platform) -> dict[str, str]:
    return {"Authorization": f"Bearer {await platform.token(*SHARER)}"}


def push(school: str, graduates: list[dict[str, Any]]) -> dict[str, Any]:
    return {"school": {"code": school, "name": "Trường THPT Tiểu La", "province_code": PROVINCE, "district": "Thăng Bình"},
            "graduation_year": YEAR, "graduates": graduates}


async def events_of(platform: Platform, application_id: str) -> list[str]:
    async with platform.apps["records"].state.db.session(write=False) as s:
        rows = (await s.scalars(select(OutboxEvent).where(OutboxEvent.subject == f"application/{application_id}")
                                .order_by(OutboxEvent.created_at))).all()
    return [r.type for r in rows]


async def test_cohort_push_reports_bad_rows_and_is_idempotent(platform: Platform) -> None:
    sharer, school = await sharer_headers(platform), code("THPT")
    good = graduate(id_number(PROVINCE, 3, 13), "Phạm Thị Mai", "2013-02-01", "female", toan="7.5", ngu_van="8")
    bad_number = graduate("12345", "Lê Văn Tư", "2013-04-04", "male", toan="6")
    bad_score = graduate(id_number(PROVINCE, 2, 13), "Võ Văn Năm", "2013-05-05", "male", toan="11")
    async with platform.client("records") as c:
        r = await c.post("/v1/admissions/cohorts", headers=sharer, json=push(school, [good, bad_number, bad_score]))
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        named = {(e["row"], e["field"]) for e in r.json()["errors"]}
        assert (2, "id_number") in named and any(row == 3 and field.startswith("results") for row, field in named), named
        # nothing was stored by the refused push: the partial push keeps the good row
        r = await c.post("/v1/admissions/cohorts", params={"mode": "partial"}, headers=sharer, json=push(school, [good, bad_number]))
        assert r.status_code == 200, r.text
        assert r.json()["created"] == 1 and [e["row"] for e in r.json()["rejected"]] == [2]
        # the same push again (another key, or none): nothing changes
        r = await c.post("/v1/admissions/cohorts", headers=sharer, json=push(school, [good]))
        assert r.status_code == 200 and (r.json()["created"], r.json()["unchanged"]) == (0, 1), r.text
        # a repeated request with the same Idempotency-Key is answered with the first response
        key = {"Idempotency-Key": uuid.uuid4().hex}
        changed = push(school, [good | {"results": {"toan": "9", "ngu_van": "8"}}])
        first = await c.post("/v1/admissions/cohorts", headers=sharer | key, json=changed)
        again = await c.post("/v1/admissions/cohorts", headers=sharer | key, json=changed)
        assert first.status_code == again.status_code == 200 and first.json() == again.json() and first.json()["updated"] == 1
        # bounded: more rows than a push may carry
        r = await c.post("/v1/admissions/cohorts", headers=sharer, json=push(school, [good] * 5001))
        assert r.status_code == 422, r.text
        # a school's own system may not push (no admissions:share)
        r = await c.post("/v1/admissions/cohorts", headers=await platform.school_headers(), json=push(school, [good]))
        assert r.status_code == 403, r.text


async def test_citizen_applies_and_is_enrolled_and_institutions_see_only_their_applicants(platform: Platform, college: dict[str, str]) -> None:
    sharer, school, admin = await sharer_headers(platform), code("THPT"), await platform.admin_headers()
    other = await platform.school_headers()  # CD0101's system: another institution
    number = id_number(PROVINCE, 2, 13)
    async with platform.client("records") as c:
        r = await c.post("/v1/admissions/cohorts", headers=sharer, json=push(school, [
            graduate(number, "Nguyễn Văn Bình", "2013-06-15", "male", toan="7.25", ngu_van="6.5", tieng_anh="8")]))
        assert r.status_code == 200 and r.json()["created"] == 1, r.text
        citizen = await vneid_sign_in(platform, number, "Nguyễn Văn Bình", "2013-06-15", "male")

        r = await c.get("/v1/admissions/me", headers=citizen)
        assert r.status_code == 200, r.text
        mine = r.json()
        assert [g["school_code"] for g in mine["graduate_records"]] == [school]
        assert mine["graduate_records"][0]["results"] == {"toan": "7.25", "ngu_van": "6.5", "tieng_anh": "8"}
        assert mine["shared_with"] == [] and mine["applications"] == []

        r = await c.post(f"/v1/intakes/{college['intake']}/applications", headers=citizen, json={})
        assert r.status_code == 201, r.text
        app = r.json()
        assert (app["status"], app["full_name"], app["id_number"]) == ("submitted", "Nguyễn Văn Bình", number)
        r = await c.post(f"/v1/intakes/{college['intake']}/applications", headers=citizen, json={})
        assert r.status_code == 409, r.text
        mine = (await c.get("/v1/admissions/me", headers=citizen)).json()
        assert [(s["institution_code"], s["purpose"], s["withdrawn_at"]) for s in mine["shared_with"]] == [(college["code"], "application", None)]

        # the college sees the applicant with the shared results; another institution does not see them at all
        listed = (await c.get(f"/v1/institutions/{college['code']}/applications", headers=admin)).json()
        seen = next(a for a in listed if a["id"] == app["id"])
        assert seen["graduate"]["results"]["toan"] == "7.25"
        r = await c.get(f"/v1/institutions/{college['code']}/applications", headers=other)
        assert r.status_code == 403, r.text
        r = await c.get("/v1/institutions/CD0101/applications", headers=other)
        assert r.status_code == 200 and all(a["id"] != app["id"] for a in r.json()), r.text
        r = await c.get(f"/v1/applications/{app['id']}", headers=other)
        assert r.status_code == 404, r.text
        r = await c.post(f"/v1/applications/{app['id']}/offer", headers=other, json={})
        assert r.status_code == 404, r.text

        # steps: the applicant cannot offer themself; the college reviews and offers; the citizen accepts
        r = await c.post(f"/v1/applications/{app['id']}/offer", headers=citizen, json={})
        assert r.status_code in (403, 404), r.text
        r = await c.post(f"/v1/applications/{app['id']}/accept", headers=citizen, json={})
        assert r.status_code == 409, r.text  # not offered yet
        for action, state in (("review", "reviewed"), ("offer", "offered")):
            r = await c.post(f"/v1/applications/{app['id']}/{action}", headers=admin, json={"note": "Đủ điều kiện"})
            assert r.status_code == 200 and r.json()["status"] == state, r.text
        r = await c.post(f"/v1/applications/{app['id']}/accept", headers=citizen, json={})
        assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
        r = await c.post(f"/v1/applications/{app['id']}/enrol", headers=admin, json={"enrolled_on": f"{YEAR}-09-05"})
        assert r.status_code == 200, r.text
        enrolled = r.json()
        assert enrolled["status"] == "enrolled" and enrolled["learner_id"]

        # the learner record as records has it: name, birth date, sex from the school's push, enrolled in the programme
        r = await c.get(f"/v1/learners/{enrolled['learner_id']}", headers=admin)
        assert r.status_code == 200, r.text
        learner = r.json()
        assert (learner["full_name"], learner["date_of_birth"], learner["sex"]) == ("Nguyễn Văn Bình", "2013-06-15", "male")
        r = await c.get(f"/v1/institutions/{college['code']}/learners", headers=admin)
        assert any(x["id"] == enrolled["learner_id"] for x in r.json()["items"]), r.text

        assert await events_of(platform, app["id"]) == [f"vn.vet.records.application.{s}"
                                                        for s in ("submitted", "reviewed", "offered", "accepted", "enrolled")]

        # withdrawing consent hides the pushed data from the college at once; the application stays
        r = await c.delete(f"/v1/admissions/me/consents/{college['code']}", headers=citizen)
        assert r.status_code == 200 and r.json()[0]["withdrawn_at"], r.text
        listed = (await c.get(f"/v1/institutions/{college['code']}/applications", headers=admin)).json()
        seen = next(a for a in listed if a["id"] == app["id"])
        assert seen["graduate"] is None and seen["status"] == "enrolled"
        r = await c.get(f"/v1/applications/{app['id']}", headers=admin)
        assert r.json()["graduate"] is None

        # reports: the district's graduate counted as streamed; the intake's enrolment against its capacity
        r = await c.get("/v1/admissions/reports/streaming", params={"year": YEAR, "province": PROVINCE}, headers=admin)
        assert r.status_code == 200, r.text
        district = next(x for x in r.json()["items"] if x["district"] == "Thăng Bình")
        assert district["enrolled_vet"] >= 1 and district["target"] == 0.55
        r = await c.get("/v1/admissions/reports/intake", params={"year": YEAR, "institution": college["code"]}, headers=admin)
        assert r.status_code == 200, r.text
        (row,) = r.json()["items"]
        assert (row["capacity"], row["applications"], row["enrolled"], row["fill_rate"]) == (2, 1, 1, 0.5)
        r = await c.get("/v1/admissions/reports/intake", params={"year": YEAR, "institution": college["code"]}, headers=other)
        assert r.status_code == 403, r.text


async def test_counselling_consent_and_criteria(platform: Platform, college: dict[str, str]) -> None:
    sharer, school, admin = await sharer_headers(platform), code("THPT"), await platform.admin_headers()
    weak, strong = id_number(PROVINCE, 3, 13), id_number(PROVINCE, 3, 13)
    async with platform.client("records") as c:
        r = await c.post("/v1/admissions/cohorts", headers=sharer, json=push(school, [
            graduate(weak, "Trần Thị Lụa", "2013-01-20", "female", toan="3", ngu_van="4"),
            graduate(strong, "Hồ Thị Hoa", "2013-03-03", "female", toan="8", ngu_van="9")]))
        assert r.status_code == 200 and r.json()["created"] == 2, r.text
        weak_h = await vneid_sign_in(platform, weak, "Trần Thị Lụa", "2013-01-20", "female")
        strong_h = await vneid_sign_in(platform, strong, "Hồ Thị Hoa", "2013-03-03", "female")

        # below the intake's criteria (average 5.0): refused, naming the field
        r = await c.post(f"/v1/intakes/{college['intake']}/applications", headers=weak_h, json={})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "results", r.text

        # no consent yet: the college does not see her; with it, it does; withdrawn, it does not again
        def listed(rows: list[dict[str, Any]]) -> bool:
            return any(g["full_name"] == "Hồ Thị Hoa" for g in rows)

        r = await c.get(f"/v1/institutions/{college['code']}/counselling", headers=admin)
        assert r.status_code == 200 and not listed(r.json()), r.text
        r = await c.post("/v1/admissions/me/consents", headers=strong_h, json={"institution_code": college["code"]})
        assert r.status_code == 201 and r.json()["purpose"] == "counselling", r.text
        assert listed((await c.get(f"/v1/institutions/{college['code']}/counselling", headers=admin)).json())
        r = await c.get("/v1/institutions/CD0101/counselling", headers=await platform.school_headers())
        assert r.status_code == 200 and not listed(r.json())
        r = await c.delete(f"/v1/admissions/me/consents/{college['code']}", headers=strong_h)
        assert r.status_code == 200, r.text
        assert not listed((await c.get(f"/v1/institutions/{college['code']}/counselling", headers=admin)).json())

        # a machine client is no person: no "my admissions"
        r = await c.get("/v1/admissions/me", headers=admin)
        assert r.status_code == 403, r.text


async def test_offers_stay_within_capacity(platform: Platform, college: dict[str, str]) -> None:
    """An intake of one place: the second offer is refused while the first holds it; declined, the place is free."""
    sharer, school, admin = await sharer_headers(platform), code("THPT"), await platform.admin_headers()
    today = vietnam_date(datetime.now(UTC))  # intakes open and close on Vietnam's dates
    one, two = id_number(PROVINCE, 2, 13), id_number(PROVINCE, 3, 13)
    async with platform.client("records") as c:
        r = await c.put(f"/v1/institutions/{college['code']}/intakes/MOT-CHO", headers=admin, json={
            "programme_code": college["programme"], "name": "Một chỗ", "year": YEAR, "capacity": 1,
            "opens_on": today.isoformat(), "closes_on": today.isoformat()})
        assert r.status_code == 201, r.text
        intake = r.json()["id"]
        r = await c.post("/v1/admissions/cohorts", headers=sharer, json=push(school, [
            graduate(one, "Tạ Văn Một", "2013-08-08", "male", toan="6"), graduate(two, "Tạ Thị Hai", "2013-09-09", "female", toan="7")]))
        assert r.status_code == 200, r.text
        apps = []
        for number, name, born, sex in ((one, "Tạ Văn Một", "2013-08-08", "male"), (two, "Tạ Thị Hai", "2013-09-09", "female")):
            h = await vneid_sign_in(platform, number, name, born, sex)
            r = await c.post(f"/v1/intakes/{intake}/applications", headers=h, json={})
            assert r.status_code == 201, r.text
            apps.append((r.json()["id"], h))
        (first, first_h), (second, _) = apps
        assert (await c.post(f"/v1/applications/{first}/offer", headers=admin, json={})).status_code == 200
        r = await c.post(f"/v1/applications/{second}/offer", headers=admin, json={})
        assert r.status_code == 409, r.text
        r = await c.put(f"/v1/institutions/{college['code']}/intakes/MOT-CHO", headers=admin, json={
            "programme_code": college["programme"], "name": "Không chỗ", "year": YEAR, "capacity": 1,
            "opens_on": today.isoformat(), "closes_on": (today - timedelta(days=1)).isoformat()})
        assert r.status_code == 422, r.text
        assert (await c.post(f"/v1/applications/{first}/decline", headers=first_h, json={})).json()["status"] == "declined"
        r = await c.post(f"/v1/applications/{second}/offer", headers=admin, json={})
        assert r.status_code == 200 and r.json()["status"] == "offered", r.text
