"""The demo targets `make run` loads (data/targets.csv): the decisions' and the provincial plans' numbers, read back
through the API; loading twice changes nothing."""

from __future__ import annotations

from pathlib import Path

import httpx

from services.records.app import create_app
from services.records.seed import seed
from tests.records.helpers import login
from tests.support import Platform, UrlFactory, service_settings


async def test_plans_targets_loaded_once(platform: Platform, database_factory: UrlFactory, tmp_path: Path) -> None:
    settings = service_settings("records", await database_factory("records"), tmp_path / "objects",
                                environment="development", oversight_pull_seconds=0)
    first = await seed(settings)
    again = await seed(settings)
    assert "38 target(s) from data/targets.csv" in first and again == []
    assert {"learning outcomes of CD0101/OTO-CD-2025", "learning outcomes of CD7902/CKOTO-CD-2027"} <= set(first)
    app = create_app(settings, http_transport=platform.transport)
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://records") as c:
        hanoi = (await c.get("/v1/oversight/targets", params={"province": "001"}, headers=ministry)).json()
        quang_nam = (await c.get("/v1/oversight/targets", params={"province": "049"}, headers=ministry)).json()
        hai_phong = (await c.get("/v1/oversight/targets", params={"province": "031", "indicator": "female_share_new_enrolments"},
                                 headers=ministry)).json()
    mine = {(t["indicator"], t["year"]): t["value"] for t in hanoi if t["province_code"] == "001"}
    assert mine == {("trainees_total", 2025): 240000, ("trainees_college", 2025): 26500, ("trainees_intermediate", 2025): 31000,
                    ("trainees_elementary_short", 2025): 182500, ("trained_labour_share", 2025): 0.75,
                    ("certified_labour_share", 2025): 0.55}
    national = {(t["indicator"], t["year"], t["institution_type"]): t["value"] for t in hanoi if t["scope"] == "national"}
    assert national[("connected_share", 2025, None)] == 0.5 and national[("connected_share", 2030, None)] == 1.0
    assert national[("soft_skills_coverage", 2030, "intermediate")] == 0.8
    qn = {(t["indicator"], t["year"]): t["value"] for t in quang_nam if t["province_code"] == "049"}
    assert qn[("trainees_total", 2025)] == 24000 and qn[("trainees_college_intermediate", 2025)] == 4000
    assert qn[("it_skills_share", 2025)] == 0.7
    assert {t["year"]: t["value"] for t in hai_phong if t["province_code"] == "031"} == {2025: 0.3, 2030: 0.4}
    assert all(t["created_by"] == "seed" for t in hanoi)
