"""A yearly report's deadline (15 December of its year) as the API shows it, and a submission after it marked late."""

from __future__ import annotations

from tests.support import Platform


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
