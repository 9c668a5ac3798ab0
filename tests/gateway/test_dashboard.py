"""``/dashboard`` in headless Chromium (Debian's ``chromium``, driven by Playwright): an officer signs in through
the form, the page shows the map coloured by connection status and the indicator cards, whose numbers are read
from the page's text and checked against a data set counted by hand in a province no other test uses (089, An
Giang):

    A  college       active machine client, synced now   connected
    B  college       active machine client, never synced  not connected (has a system)
    C  intermediate  no machine client                    not connected

Connection share (colleges and intermediate schools): 1 / 3 = 33.3%. Teachers trained in digital competence:
none of A's 20 reported teachers → 0 / 20 = 0.0%. From A on the map, the institution's page gives the public count
of its diplomas and the verification link format. A province officer of TP HCM is refused An Giang's page.

The screenshot is saved as ``test-artefacts/dashboard.png`` (``VET_TEST_ARTEFACTS`` to put it elsewhere). Without
Chromium or Playwright the test skips saying why — in CI it fails (``make test-tools`` installs Chromium)."""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from services.common.testing import in_ci
from tests.e2e.gateway import served
from tests.records.helpers import grade, id_number, learner, login, run_json, world
from tests.support import Platform, service_url

PROVINCE = "089"
ARTEFACTS = Path(os.environ.get("VET_TEST_ARTEFACTS", Path(__file__).resolve().parents[2] / "test-artefacts"))


def browser_or_skip() -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    reason = None
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        reason = "Playwright is not installed (pip install -e '.[dev]')"
    if chromium is None:
        reason = "no Chromium on this machine (make test-tools installs Debian's chromium)"
    if reason:
        if in_ci():
            pytest.fail(f"CI=true and the dashboard test needs a browser: {reason}")
        pytest.skip(reason)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return chromium  # type: ignore[return-value]


async def seed_province(platform: Platform) -> dict[str, str]:
    ministry = await login(platform, "ministry.demo", "dev-only-Ministry#2026")
    admin = await platform.admin_headers()
    schools = {"A": f"CD{uuid.uuid4().hex[:6].upper()}", "B": f"CD{uuid.uuid4().hex[:6].upper()}",
               "C": f"TC{uuid.uuid4().hex[:6].upper()}"}
    kinds = {"A": "college", "B": "college", "C": "intermediate"}
    where = {"A": (10.38, 105.44), "B": (10.70, 105.12), "C": (10.52, 105.25)}
    tokens = {}
    async with platform.client("identity") as c:
        for key, school in schools.items():
            r = await c.post("/v1/institutions", headers=ministry, json={
                "code": school, "name": f"Trường thử {key} An Giang", "type": kinds[key], "province_code": PROVINCE,
                "latitude": where[key][0], "longitude": where[key][1]})
            assert r.status_code == 201, r.text
        for key in ("A", "B"):
            r = await c.post("/v1/clients", headers=admin, json={
                "client_id": f"sis-{schools[key].lower()}", "name": "SIS", "scopes": ["records:sync", "records:read"],
                "institution_code": schools[key], "roles": ["school_system"]})
            assert r.status_code == 201, r.text
            tokens[key] = {"Authorization": f"Bearer {await platform.token(r.json()['client_id'], r.json()['client_secret'])}"}
        r = await c.put(f"/v1/institutions/{schools['A']}/staff-counts/2026", json={"teachers": 20, "managers": 3}, headers=ministry)
        assert r.status_code == 200, r.text
    n = id_number()
    async with platform.client("records") as c:
        job = await run_json(c, tokens["A"], world("PA", "T1", "K1", [learner(n, "Nguyễn Văn An", "PA", "K1")],
                                                   [grade(n, "PA", "M1", "T1", "8", "8")]), institution=schools["A"])
        assert job["status"] == "succeeded", job
        for year, value in ((2025, 0.5), (2030, 1.0)):  # Decision 2222's connection targets (make run loads them)
            r = await c.post("/v1/oversight/targets", headers=ministry, json={
                "source_decision": "2222/QĐ-TTg", "indicator": "connected_share", "year": year, "value": value})
            assert r.status_code in (200, 201), r.text
        r = await c.post("/v1/oversight/refresh", headers=ministry)
        assert r.status_code == 200 and not r.json()["identity"].startswith("failed"), r.text
    return schools


async def test_dashboard_renders_in_chromium(platform: Platform) -> None:
    chromium = browser_or_skip()
    from playwright.async_api import async_playwright

    schools = await seed_province(platform)
    async with AsyncExitStack() as stack:
        urls = {name: await stack.enter_async_context(served(platform.apps[name]))
                for name in ("identity", "learning", "records", "credentials")}
        gateway = create_gateway(GatewaySettings(**{f"{n}_url": u for n, u in urls.items()}, jwt_issuer=service_url("identity"),
                                                 environment="test", log_level="WARNING", access_log=False, rate_limit_enabled=False))
        await stack.enter_async_context(gateway.router.lifespan_context(gateway))
        base = await stack.enter_async_context(served(gateway))  # type: ignore[arg-type]
        pw = await stack.enter_async_context(async_playwright())
        # one renderer, no GPU process, no extensions: the page is static HTML + SVG, and the suite's memory cap
        # (2 GiB over pytest and every process it starts) counts the browser too
        browser = await pw.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--no-zygote", "--disable-gpu", "--disable-extensions", "--renderer-process-limit=1",
            "--disable-features=site-per-process", "--disable-dev-shm-usage"])
        stack.push_async_callback(browser.close)

        page = await (await browser.new_context(viewport={"width": 1500, "height": 1000})).new_page()
        await page.goto(f"{base}/dashboard")
        assert page.url.endswith("/dashboard/login")
        await page.fill("input[name=username]", "ministry.demo")
        await page.fill("input[name=password]", "dev-only-Ministry#2026")
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/dashboard")
        response = await page.goto(f"{base}/dashboard?province={PROVINCE}")
        assert response is not None and response.status == 200
        assert "script-src" not in response.headers["content-security-policy"]  # no script at all: default-src 'none'
        await page.screenshot(path=str(ARTEFACTS / "dashboard.png"), full_page=True)

        connected = await page.locator('[data-indicator="connected_share"]').inner_text()
        assert "33.3%" in connected and "1 / 3" in connected, connected
        assert "50.0%" in connected and "100.0%" in connected  # the 2025 and 2030 targets of Decision 2222
        teachers = await page.locator('[data-indicator="teachers_digital_trained_share"]').inner_text()
        assert "0.0%" in teachers and "0 / 20" in teachers, teachers
        summary = await page.locator("p.summary").inner_text()
        assert summary.startswith("1 / 3 cơ sở đã kết nối"), summary
        statuses = {k: await page.locator(f'circle.institution[data-code="{v}"]').get_attribute("data-status")
                    for k, v in schools.items()}
        assert statuses == {"A": "connected", "B": "client_not_synced", "C": "not_connected"}
        assert await page.locator("svg path").count() == 34  # the province outlines
        # and the two archipelagos, which the outline data lacks, each with the province it belongs to
        archipelagos = {await g.get_attribute("data-province"): await g.locator("text").text_content()
                        for g in await page.locator("svg g.archipelago").all()}
        assert archipelagos == {"048": "Quần đảo Hoàng Sa", "056": "Quần đảo Trường Sa"}, archipelagos

        await page.locator(f'a:has(circle[data-code="{schools["A"]}"])').click()
        await page.wait_for_url(f"{base}/dashboard/institutions/{schools['A']}")
        lookup = await page.locator("main").inner_text()
        assert "Văn bằng đã cấp trên nền tảng: 0" in lookup and "/verify/{credential_id}" in lookup, lookup
        assert "Đã kết nối" in lookup

        officer = await (await browser.new_context()).new_page()
        await officer.goto(f"{base}/dashboard/login")
        await officer.fill("input[name=username]", "officer.hcm.demo")
        await officer.fill("input[name=password]", "dev-only-Officer#2026")
        await officer.click("button[type=submit]")
        await officer.wait_for_url(f"{base}/dashboard")
        own = await officer.locator("main").inner_text()
        assert "Thành phố Hồ Chí Minh" in own
        refused = await officer.goto(f"{base}/dashboard?province={PROVINCE}")
        assert refused is not None and refused.status == 403
