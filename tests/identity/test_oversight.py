"""Staff counts reported by schools (who may report, audit, public history) and the registry's oversight listing
(who reads which institutions; active machine clients that may sync; latest staff counts)."""

from __future__ import annotations

import uuid

from tests.records.helpers import login
from tests.support import Platform


def code(prefix: str = "CD") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"


async def bearer(platform: Platform, client_id: str, secret: str, scope: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {await platform.token(client_id, secret, scope)}"}


async def test_staff_counts_reported_by_the_school_or_its_officers(platform: Platform) -> None:
    school_admin = await login(platform, "schooladmin.demo", "dev-only-SchoolAdmin#2026")  # CD0101
    hcm = await login(platform, "officer.hcm.demo", "dev-only-Officer#2026")  # province 079
    teacher = await login(platform, "teacher.demo", "dev-only-Teacher#2026")  # CD0101, not a reporter
    admin = await platform.admin_headers()
    async with platform.client("identity") as c:
        first = await c.put("/v1/institutions/CD0101/staff-counts/2031", json={"teachers": 121, "managers": 17}, headers=school_admin)
        again = await c.put("/v1/institutions/CD0101/staff-counts/2031", json={"teachers": 125, "managers": 17}, headers=school_admin)
        by_teacher = await c.put("/v1/institutions/CD0101/staff-counts/2031", json={"teachers": 1, "managers": 1}, headers=teacher)
        other_province = await c.put("/v1/institutions/CD0101/staff-counts/2031", json={"teachers": 1, "managers": 1}, headers=hcm)
        own_province = await c.put("/v1/institutions/TC7901/staff-counts/2031", json={"teachers": 44, "managers": 8}, headers=hcm)
        negative = await c.put("/v1/institutions/CD0101/staff-counts/2031", json={"teachers": -1, "managers": 1}, headers=school_admin)
        unknown = await c.put("/v1/institutions/NOPE99/staff-counts/2031", json={"teachers": 1, "managers": 1}, headers=admin)
        history = await c.get("/v1/institutions/CD0101/staff-counts")  # public
        audit = await c.get("/v1/admin/audit", params={"action": "institution.staff_reported", "target_id": "CD0101", "limit": 100}, headers=admin)
    assert first.status_code == 200, first.text
    assert again.status_code == 200 and again.json()["teachers"] == 125
    assert by_teacher.status_code == 403 and other_province.status_code == 403
    assert own_province.status_code == 200 and own_province.json()["institution_code"] == "TC7901"
    assert negative.status_code == 422 and "teachers" in negative.text
    assert unknown.status_code == 404
    years = {r["year"]: r for r in history.json()}
    assert years[2031]["teachers"] == 125 and years[2031]["managers"] == 17
    assert [r["year"] for r in history.json()] == sorted(years, reverse=True)  # newest year first
    entries = [e for e in audit.json()["items"] if e["target_id"] == "CD0101" and e["details"]["year"] == 2031]
    assert [e["details"]["teachers"] for e in entries][:2] == [125, 121]
    assert entries[0]["details"]["before"] == {"teachers": 121, "managers": 17}


async def test_oversight_listing_by_scope(platform: Platform) -> None:
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    hcm = await login(platform, "officer.hcm.demo", "dev-only-Officer#2026")
    teacher = await login(platform, "teacher.demo", "dev-only-Teacher#2026")
    settings = platform.settings["records"]
    service = await bearer(platform, settings.client_id, settings.client_secret)
    async with platform.client("identity") as c:
        everything = await c.get("/v1/oversight/institutions", headers=ministry)
        by_service = await c.get("/v1/oversight/institutions", headers=service)
        province = await c.get("/v1/oversight/institutions", headers=hcm)
        refused = await c.get("/v1/oversight/institutions", headers=teacher)
        anonymous = await c.get("/v1/oversight/institutions")
    assert everything.status_code == 200 and by_service.status_code == 200
    codes = {i["code"] for i in everything.json()["items"]}
    assert {"CD0101", "TC7901", "TT4901", "CD3101"} <= codes
    assert {i["code"] for i in by_service.json()["items"]} == codes
    assert province.status_code == 200
    assert {i["province_code"] for i in province.json()["items"]} == {"079"}
    assert "TC7901" in {i["code"] for i in province.json()["items"]}
    assert refused.status_code == 403 and anonymous.status_code == 401
    cd0101 = next(i for i in everything.json()["items"] if i["code"] == "CD0101")
    assert cd0101["machine_clients_active"] >= 1  # demo-school-sis
    assert cd0101["staff"] is not None and cd0101["staff"]["year"] >= 2025


async def test_machine_clients_counted_while_active_and_syncing(platform: Platform) -> None:
    officer = {"Authorization": f"Bearer {await platform.token('demo-province-079', 'dev-only-demo-province-secret')}"}
    admin = await platform.admin_headers()
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    school = code("TC")
    async with platform.client("identity") as c:
        r = await c.post("/v1/institutions", json={"code": school, "name": "Trường Trung cấp Thử nghiệm", "type": "intermediate",
                                                   "province_code": "079"}, headers=officer)
        assert r.status_code == 201, r.text

        async def clients_of() -> int:
            r = await c.get("/v1/oversight/institutions", headers=ministry)
            return next(i for i in r.json()["items"] if i["code"] == school)["machine_clients_active"]

        assert await clients_of() == 0
        syncing = {"client_id": f"sis-{school.lower()}", "name": "SIS", "scopes": ["records:sync", "records:read"],
                   "institution_code": school, "roles": ["school_system"]}
        verifier = {"client_id": f"ver-{school.lower()}", "name": "Reader", "scopes": ["records:read"],
                    "institution_code": school, "roles": ["school_system"]}
        for body in (syncing, verifier):
            r = await c.post("/v1/clients", json=body, headers=admin)
            assert r.status_code == 201, r.text
        assert await clients_of() == 1  # the one that may sync
        r = await c.patch(f"/v1/clients/{syncing['client_id']}", json={"active": False}, headers=admin)
        assert r.status_code == 200, r.text
        assert await clients_of() == 0
