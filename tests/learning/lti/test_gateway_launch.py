"""An LTI 1.3 launch through the gateway, as a school's Moodle sends a browser: the login (LTI 1.3 core §4.1) and
the launch (§5.1) pass the edge without a bearer token, the login cookie is scoped to the tool's public path, and
the player reaches its session with the launch's token."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.gateway import gateway_for, on_gateway
from tests.learning.courses.helpers import ok
from tests.learning.lti.harness import LEARNER, Launch, PlatformHarness, form_fields
from tests.support import Platform


async def test_launch_through_the_gateway(platform: Platform, registered: dict[str, Any], harness: PlatformHarness,
                                          course: dict[str, Any]) -> None:
    async with gateway_for(platform, "learning") as gw:
        config = await ok(await gw.get("/api/learning/v1/lti/tool"))
        assert (await gw.get(on_gateway(config["jwks_url"]))).status_code == 200
        hint = harness.expect(Launch("LtiResourceLinkRequest", [LEARNER], target=f"course:{course['course']['id']}"))
        r = await gw.get(on_gateway(config["initiate_login_url"]), params={
            "iss": harness.issuer, "login_hint": "moodle-user-gw", "client_id": harness.client_id, "lti_message_hint": hint,
            "target_link_uri": f"{config['redirection_uris'][0]}?target=course:{course['course']['id']}"})
        assert r.status_code == 302, r.text
        assert "Path=/api/learning/v1/lti" in r.headers["set-cookie"]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=harness.app), base_url=harness.issuer) as moodle:
            fields = form_fields((await moodle.get(r.headers["location"])).text)
        r = await gw.post(on_gateway(config["redirection_uris"][0]), data=fields)
        assert r.status_code == 303, r.text
        token = r.headers["location"].split("#lti_session=", 1)[1]
        me = await ok(await gw.get("/api/learning/v1/lti/session", headers={"Authorization": f"Bearer {token}"}))
        assert me["role"] == "learner" and me["target"]["id"] == course["course"]["id"]
        view = await ok(await gw.get("/api/learning/v1/lti/session/course", headers={"Authorization": f"Bearer {token}"}))
        assert view["enrolment"]["method"] == "lti"
