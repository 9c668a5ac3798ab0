"""A yearly report's deadline (its report kind's due date: 15 December of its year) as the API shows it, and a
submission after it marked late — by Vietnam's date, as the report calendar judges it."""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.clock import Clock
from tests.support import Platform


class FixedClock(Clock):
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


async def test_report_deadline_and_late_submission(platform: Platform) -> None:
    school = await platform.school_headers()
    async with platform.client("records") as c:
        reports = {}
        for year in (2000, 2099):  # long past, and years ahead: no other test reports on them
            r = await c.post("/v1/reports", json={"scope": "institution", "code": "CD0101", "year": year}, headers=school)
            assert r.status_code == 201, r.text
            assert r.json()["status"] == "draft" and r.json()["deadline"] == f"{year}-12-15" and r.json()["late"] is False
            reports[year] = r.json()["id"]
        past = await c.post(f"/v1/reports/{reports[2000]}/submit", headers=school)
        ahead = await c.post(f"/v1/reports/{reports[2099]}/submit", headers=school)
        assert past.status_code == ahead.status_code == 200, (past.text, ahead.text)
        assert (past.json()["status"], past.json()["late"]) == ("submitted", True)
        assert (ahead.json()["status"], ahead.json()["late"]) == ("submitted", False)
        assert ahead.json()["deadline"] == "2099-12-15" and ahead.json()["submitted_by"]
        again = await c.post(f"/v1/reports/{reports[2099]}/submit", headers=school)
        assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
        assert (await c.get(f"/v1/reports/{reports[2000]}", headers=school)).json()["late"] is True


async def test_late_is_judged_by_the_date_in_vietnam(platform: Platform) -> None:
    """15 December 23:59 in Vietnam is on time, 16 December 00:00 (still 15 December in UTC) is late."""
    records = platform.apps["records"]
    before = records.state.clock
    school = await platform.school_headers()
    try:
        async with platform.client("records") as c:
            ids = {}
            for year in (2096, 2097):
                r = await c.post("/v1/reports", json={"scope": "institution", "code": "CD0101", "year": year}, headers=school)
                assert r.status_code == 201, r.text
                ids[year] = r.json()["id"]
            records.state.clock = FixedClock(datetime(2096, 12, 15, 16, 59, tzinfo=UTC))  # 23:59 in Vietnam
            on_time = await c.post(f"/v1/reports/{ids[2096]}/submit", headers=school)
            records.state.clock = FixedClock(datetime(2097, 12, 15, 17, 0, tzinfo=UTC))  # 00:00 on the 16th in Vietnam
            late = await c.post(f"/v1/reports/{ids[2097]}/submit", headers=school)
    finally:
        records.state.clock = before
    assert on_time.status_code == late.status_code == 200, (on_time.text, late.text)
    assert (on_time.json()["deadline"], on_time.json()["late"]) == ("2096-12-15", False)
    assert (late.json()["deadline"], late.json()["late"]) == ("2097-12-15", True)
