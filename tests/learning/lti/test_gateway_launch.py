"""An LTI 1.3 launch through the gateway, as a school's Moodle sends a browser: the login (LTI 1.3 core §4.1) and
the launch (§5.1) pass the edge without a bearer token, the login cookie is scoped to the tool's public path, and
the player reaches its session with the launch's token (in a course, and answering an exam)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from services.common.db import utcnow
from services.common.testing import FakeClock
from tests.e2e.gateway import gateway_for, on_gateway
from tests.learning.assessment.helpers import answer_for, bank, exam, item, single, window
from tests.learning.courses.helpers import ok
from tests.learning.lti.conftest import learning_client
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


async def test_an_exam_answered_through_the_gateway(platform: Platform, registered: dict[str, Any], harness: PlatformHarness,
                                                    people: Any) -> None:
    """The player saves an exam answer with PUT and the launch's session token: the gateway lets it through."""
    async with learning_client(platform) as c:
        b = await bank(c, people.teacher)
        keyed = await item(c, people.teacher, b["id"], single("Điện áp định mức của lưới hạ thế?", "220 V", tags=["dien-ap"]))
        e = await exam(c, people.teacher, {"bank_ids": [b["id"]], "blueprint": [{"tag": "dien-ap", "count": 1}], "duration_minutes": 30,
                                           **window(FakeClock(utcnow() - timedelta(minutes=1)))})
    target = f"exam:{e['id']}"
    async with gateway_for(platform, "learning") as gw:
        config = await ok(await gw.get("/api/learning/v1/lti/tool"))
        hint = harness.expect(Launch("LtiResourceLinkRequest", [LEARNER], target=target))
        r = await gw.get(on_gateway(config["initiate_login_url"]), params={
            "iss": harness.issuer, "login_hint": "moodle-user-gw-exam", "client_id": harness.client_id, "lti_message_hint": hint,
            "target_link_uri": f"{config['redirection_uris'][0]}?target={target}"})
        assert r.status_code == 302, r.text
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=harness.app), base_url=harness.issuer) as moodle:
            fields = form_fields((await moodle.get(r.headers["location"])).text)
        r = await gw.post(on_gateway(config["redirection_uris"][0]), data=fields)
        assert r.status_code == 303, r.text
        auth = {"Authorization": f"Bearer {r.headers['location'].split('#lti_session=', 1)[1]}"}
        attempt = await ok(await gw.post("/api/learning/v1/lti/session/exam/attempts", headers=auth), 201)
        [shown] = attempt["items"]
        saved = await ok(await gw.put(f"/api/learning/v1/lti/session/exam/attempts/{attempt['id']}/responses/{shown['id']}",
                                      json={"answer": answer_for(shown, keyed["key"])}, headers=auth))
        assert saved["item_id"] == shown["id"] and saved["changes"] == 1
