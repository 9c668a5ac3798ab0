"""The report calendar on a moved clock: a draft past 15 December is overdue, a report never started is missing,
one submitted after the date is late, one before it on time; the late list; officers see only their province. The
export of a submitted report: JSON valid against the published schema, CSV, a JWS — each signed by the platform
(checked with the published keys; a changed byte fails); a draft is not exported.

Institutions P (college) and Q (intermediate) in province 096 (Cà Mau), year 2031 (nobody else reports on it):

    clock 2031-12-10  P drafted; Q drafted and submitted (on time)
    clock 2031-12-16  P overdue draft (late), Q on time, province 096 missing (late)
                      P submitted → submitted late"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from services.common.clock import Clock
from services.records.calendar import signing
from tests.records.helpers import login
from tests.support import Platform

PROVINCE, YEAR = "096", 2031


class FixedClock(Clock):
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@pytest.fixture(scope="module")
async def schools(platform: Platform) -> dict[str, str]:
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    codes = {"P": f"CD{uuid.uuid4().hex[:6].upper()}", "Q": f"TC{uuid.uuid4().hex[:6].upper()}"}
    async with platform.client("identity") as c:
        for key, kind in (("P", "college"), ("Q", "intermediate")):
            r = await c.post("/v1/institutions", headers=ministry, json={
                "code": codes[key], "name": f"Trường thử {key} Cà Mau", "type": kind, "province_code": PROVINCE})
            assert r.status_code == 201, r.text
    async with platform.client("records") as c:
        r = await c.post("/v1/oversight/refresh", headers=ministry)
        assert r.status_code == 200, r.text
    return codes


async def calendar(c: Any, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = await c.get("/v1/report-calendar", params={"year": YEAR, "province": PROVINCE} | params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_calendar_marks_late_and_missing_reports(platform: Platform, schools: dict[str, str]) -> None:
    records = platform.apps["records"]
    before = records.state.clock
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    hcm = await login(platform, "officer.hcm.demo", "dev-only-Officer#2026")
    admin = await platform.admin_headers()
    ids: dict[str, str] = {}
    try:
        async with platform.client("records") as c:
            records.state.clock = FixedClock(datetime(2031, 12, 10, 3, 0, tzinfo=UTC))
            for key in ("P", "Q"):
                r = await c.post("/v1/reports", json={"scope": "institution", "code": schools[key], "year": YEAR}, headers=admin)
                assert r.status_code == 201, r.text
                ids[key] = r.json()["id"]
            r = await c.post(f"/v1/reports/{ids['Q']}/submit", headers=admin)
            assert r.status_code == 200 and r.json()["late"] is False, r.text
            early = await calendar(c, ministry)
            # 16 December, 08:00 in Vietnam (01:00 UTC): the day after the deadline
            records.state.clock = FixedClock(datetime(2031, 12, 16, 1, 0, tzinfo=UTC))
            after = await calendar(c, ministry)
            r = await c.post(f"/v1/reports/{ids['P']}/submit", headers=admin)
            assert r.status_code == 200 and r.json()["late"] is True, r.text
            final = await calendar(c, ministry)
            late_only = await calendar(c, ministry, late="true")
            refused = await c.get("/v1/report-calendar", params={"year": YEAR, "province": PROVINCE}, headers=hcm)
            own = await c.get("/v1/report-calendar", params={"year": YEAR}, headers=hcm)
    finally:
        records.state.clock = before

    def states(doc: dict[str, Any]) -> dict[str, str]:
        return {i["scope_code"]: i["state"] for i in doc["items"]}

    p, q = schools["P"], schools["Q"]
    assert states(early) == {p: "draft", q: "submitted_on_time", PROVINCE: "not_started"}
    assert states(after) == {p: "overdue_draft", q: "submitted_on_time", PROVINCE: "missing"}
    assert {i["scope_code"]: i["late"] for i in after["items"]} == {p: True, q: False, PROVINCE: True}
    assert states(final) == {p: "submitted_late", q: "submitted_on_time", PROVINCE: "missing"}
    assert final["counts"] == {"submitted_on_time": 1, "submitted_late": 1, "draft": 0, "overdue_draft": 0,
                               "not_started": 0, "missing": 1}
    assert sorted(i["scope_code"] for i in late_only["items"]) == sorted([p, PROVINCE])
    assert all(i["due"] == "2031-12-15" for i in final["items"])
    assert refused.status_code == 403
    assert own.status_code == 200 and {i["province_code"] for i in own.json()["items"]} == {"079"}


async def test_signed_exports_of_a_submitted_report(platform: Platform, schools: dict[str, str]) -> None:
    admin = await platform.admin_headers()
    async with platform.client("records") as c:
        r = await c.post("/v1/reports", json={"scope": "province", "code": PROVINCE, "year": 2030}, headers=admin)
        assert r.status_code in (200, 201), r.text
        report_id = r.json()["id"]
        draft = await c.get(f"/v1/reports/{report_id}/export", headers=admin)
        if r.json()["status"] == "draft":
            assert draft.status_code == 409
            assert (await c.post(f"/v1/reports/{report_id}/submit", headers=admin)).status_code == 200
        as_json = await c.get(f"/v1/reports/{report_id}/export", headers=admin)
        as_csv = await c.get(f"/v1/reports/{report_id}/export", params={"format": "csv"}, headers=admin)
        as_jws = await c.get(f"/v1/reports/{report_id}/export", params={"format": "jws"}, headers=admin)
        keys = (await c.get("/v1/report-signing-keys")).json()  # public
        schema = (await c.get("/v1/report-schemas/yearly-report")).json()  # public
        teacher = await c.get(f"/v1/reports/{report_id}/export", headers=await login(platform, "teacher.demo", "dev-only-Teacher#2026"))
    assert as_json.status_code == 200, as_json.text
    doc = as_json.json()
    Draft202012Validator(schema, format_checker=FormatChecker()).validate(doc)
    assert (doc["scope"], doc["scope_code"], doc["year"], doc["kind"], doc["deadline"]) == ("province", PROVINCE, 2030, "province-yearly", "2030-12-15")
    assert signing.verify(keys, as_json.headers["signature-jws"], as_json.content) == as_json.content
    with pytest.raises(ValueError, match="bad signature"):
        signing.verify(keys, as_json.headers["signature-jws"], as_json.content.replace(b'"year":2030', b'"year":2029'))
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[0].startswith("report_id,scope,scope_code,year,section,level,sex")
    assert as_csv.text.splitlines()[1].split(",")[4] == "totals"
    assert signing.verify(keys, as_csv.headers["signature-jws"], as_csv.content) == as_csv.content
    header = json.loads(signing.b64url_decode(as_jws.text.split(".")[0]))
    assert header["alg"] == "EdDSA" and header["kid"] == keys["keys"][0]["kid"]
    assert json.loads(signing.verify(keys, as_jws.text))["report_id"] == report_id
    assert teacher.status_code == 403
