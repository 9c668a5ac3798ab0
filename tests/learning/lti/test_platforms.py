"""Platform registrations (the data a Moodle administrator exchanges with the tool, LTI 1.3 core §3.1.3): who may
register and change them, what is checked, and that inline keys (no JWKS URL) work for a launch."""

from __future__ import annotations

from typing import Any

from tests.learning.courses.helpers import ok
from tests.learning.lti.conftest import Browser, learning_client, session_token
from tests.learning.lti.harness import LEARNER, Launch, PlatformHarness
from tests.support import Platform


async def test_registration_is_authorised_and_validated(platform: Platform, harness: PlatformHarness, people: Any,
                                                        school_admin: dict[str, str]) -> None:
    body = harness.registration(institution_code="CD0101")
    async with learning_client(platform) as c:
        assert (await c.post("/v1/lti/platforms", json=body)).status_code == 401
        assert (await c.post("/v1/lti/platforms", json=body, headers=people.teacher)).status_code == 403
        assert (await c.post("/v1/lti/platforms", json=body | {"institution_code": "TC7901"}, headers=school_admin)).status_code == 403
        assert (await c.post("/v1/lti/platforms", json=body | {"institution_code": None}, headers=school_admin)).status_code == 403
        r = await c.post("/v1/lti/platforms", json=body | {"auth_login_url": "ftp://moodle.test/auth", "token_url": "not a url"},
                         headers=school_admin)
        assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"auth_login_url", "token_url"}
        r = await c.post("/v1/lti/platforms", json=body | {"jwks_url": None}, headers=school_admin)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "jwks_url"
        r = await c.post("/v1/lti/platforms", json=body | {"deployment_ids": ["1", "1"]}, headers=school_admin)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "deployment_ids"
        r = await c.post("/v1/lti/platforms", json=body | {"jwks_url": None, "jwks": {"keys": [harness.public_jwk | {"d": "x"}]}},
                         headers=school_admin)
        assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("jwks")
        created = await ok(await c.post("/v1/lti/platforms", json=body, headers=school_admin), 201)
        assert created["institution_code"] == "CD0101" and created["created_by"] and created["active"] is True
        r = await c.post("/v1/lti/platforms", json=body, headers=school_admin)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "client_id"
        # the school's admin and platform admins see and change it; nobody else sees it
        mine = await ok(await c.get("/v1/lti/platforms", headers=school_admin, params={"limit": 200}))
        assert created["id"] in {p["id"] for p in mine["items"]}
        everything = await ok(await c.get("/v1/lti/platforms", headers=await platform.admin_headers(), params={"limit": 200}))
        assert created["id"] in {p["id"] for p in everything["items"]}
        assert (await c.get(f"/v1/lti/platforms/{created['id']}", headers=people.teacher)).status_code == 404
        changed = await ok(await c.patch(f"/v1/lti/platforms/{created['id']}", json={"deployment_ids": ["1", "2"]}, headers=school_admin))
        assert changed["deployment_ids"] == ["1", "2"]
        r = await c.patch(f"/v1/lti/platforms/{created['id']}", json={"jwks_url": None}, headers=school_admin)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "jwks_url"
        r = await c.patch(f"/v1/lti/platforms/{created['id']}", json={"active": None}, headers=school_admin)
        assert r.status_code == 422


async def test_inline_keys_and_a_deactivated_registration(platform: Platform, harness: PlatformHarness, browser: Browser,
                                                          course: dict[str, Any], school_admin: dict[str, str]) -> None:
    body = harness.registration(institution_code="CD0101", jwks_url=None, jwks={"keys": [harness.public_jwk]})
    async with learning_client(platform) as c:
        created = await ok(await c.post("/v1/lti/platforms", json=body, headers=school_admin), 201)
        launch = Launch("LtiResourceLinkRequest", [LEARNER], target=f"course:{course['course']['id']}")
        session_token(await browser.launch(launch))
        await ok(await c.patch(f"/v1/lti/platforms/{created['id']}", json={"active": False}, headers=school_admin))
        r = await browser.client.get("/v1/lti/login", params={"iss": harness.issuer, "login_hint": "x", "client_id": harness.client_id,
                                                              "target_link_uri": harness.redirect_uri})
        assert r.status_code == 403 and r.json()["reason"] == "platform"
