"""Learning's per-institution activity for national oversight: who may read it (platform services holding
learning:oversight and national officers; province officers read the board in records instead) and its shape. Its
numbers are checked where they are used: records' oversight tests and the dashboard's."""

from __future__ import annotations

from tests.records.helpers import login
from tests.support import Platform


async def test_readers_of_institution_activity(platform: Platform) -> None:
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    hcm = await login(platform, "officer.hcm.demo", "dev-only-Officer#2026")
    teacher = await login(platform, "teacher.demo", "dev-only-Teacher#2026")
    records = platform.settings["records"]
    service = {"Authorization": f"Bearer {await platform.token(records.client_id, records.client_secret)}"}
    async with platform.client("learning") as c:
        by_ministry = await c.get("/v1/institution-activity", headers=ministry)
        by_service = await c.get("/v1/institution-activity", headers=service)
        by_province = await c.get("/v1/institution-activity", headers=hcm)
        by_teacher = await c.get("/v1/institution-activity", headers=teacher)
        anonymous = await c.get("/v1/institution-activity")
    assert by_ministry.status_code == 200 and by_service.status_code == 200
    assert by_ministry.json() == by_service.json()
    assert by_province.status_code == 403 and by_teacher.status_code == 403 and anonymous.status_code == 401
    for item in by_ministry.json()["items"]:
        assert set(item) == {"institution_code", "objects_published", "last_published_at", "students_completed",
                             "teachers_digital_completed", "last_completed_at"}
        assert min(item["objects_published"], item["students_completed"], item["teachers_digital_completed"]) >= 0
