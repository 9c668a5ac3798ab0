"""Deep Linking 2.0 against the platform harness: an instructor's ``LtiDeepLinkingRequest`` (DL §4.1) opens a
content-selection session; the tool answers with a signed ``LtiDeepLinkingResponse`` (DL §4.2) holding an
``ltiResourceLink`` per chosen course (DL §3.1, with a line item §3.2.3), which the platform verifies with the tool's
JWKS (IMS Security Framework §6.3); launching that link opens the course. The tool's key rotates without breaking
what it signed."""

from __future__ import annotations

from typing import Any

from jose import jwt

from tests.learning.courses.helpers import build_course, ok
from tests.learning.lti.conftest import Browser, learning_client, session_token
from tests.learning.lti.harness import DL, INSTRUCTOR, LEARNER, LTI, Launch, form_fields
from tests.support import Platform


async def verify_as_platform(browser: Browser, token: str) -> dict[str, Any]:
    """What the platform does with the response: the tool's key by kid from its JWKS, RS256, aud = the platform."""
    keys = (await ok(await browser.client.get("/v1/lti/jwks.json")))["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in keys if k["kid"] == kid)
    return jwt.decode(token, key, algorithms=["RS256"], audience=browser.harness.issuer, issuer=browser.harness.client_id)


async def test_deep_linking_returns_a_signed_resource_link_that_launches(
        platform: Platform, registered: dict[str, Any], browser: Browser, course: dict[str, Any], people: Any) -> None:
    h = browser.harness
    request = Launch("LtiDeepLinkingRequest", [INSTRUCTOR])
    token = session_token(await browser.launch(request))
    auth = {"Authorization": f"Bearer {token}"}
    c = browser.client
    me = await ok(await c.get("/v1/lti/session", headers=auth))
    assert me["message_type"] == "LtiDeepLinkingRequest" and me["role"] == "instructor" and me["accept_multiple"] is True
    choices = await ok(await c.get("/v1/lti/session/deep-linking/choices", headers=auth))
    ids = {(x["kind"], x["id"]) for x in choices}
    assert ("course", course["course"]["id"]) in ids
    async with learning_client(platform) as other:
        foreign = await build_course(other, people.other_teacher)  # another school's course: not offered, not linkable
    assert ("course", foreign["course"]["id"]) not in ids
    r = await c.post("/v1/lti/session/deep-linking", json={"items": [{"kind": "course", "id": foreign["course"]["id"]}]}, headers=auth)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items.0.id"

    found = await ok(await c.post("/v1/lti/session/deep-linking", json={"items": [{"kind": "course", "id": course["course"]["id"]}]},
                                  headers=auth))
    assert found["deep_link_return_url"] == f"{h.issuer}/mod/lti/contentitem_return.php?course=7&id=3"
    claims = await verify_as_platform(browser, found["jwt"])
    assert claims[LTI + "message_type"] == "LtiDeepLinkingResponse" and claims[LTI + "version"] == "1.3.0"
    assert claims[LTI + "deployment_id"] == h.deployment_id and claims[DL + "data"] == "moodle-dl-data-" + request.resource_link_id
    assert claims["nonce"] and claims["exp"] > claims["iat"]
    [item] = claims[DL + "content_items"]
    ref = f"course:{course['course']['id']}"
    assert item["type"] == "ltiResourceLink" and item["title"] == course["course"]["title"]
    assert item["url"] == f"{h.redirect_uri}?target={ref}" and item["custom"] == {"vet_target": ref}
    assert item["lineItem"] == {"scoreMaximum": 100, "label": course["course"]["title"], "resourceId": ref, "tag": "vet-platform"}
    # the page that posts it (DL §4.2: form field JWT, to the return URL)
    page = await c.post("/v1/lti/session/deep-linking?format=html", json={"items": [{"kind": "course", "id": course["course"]["id"]}]},
                        headers=auth)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'action="https://' in page.text and set(form_fields(page.text)) == {"JWT"}

    # the platform then launches the link it created: the custom parameter names the course (no target in the URL)
    learner = Launch("LtiResourceLinkRequest", [LEARNER], target=None, extra={LTI + "custom": item["custom"]})
    me = await ok(await c.get("/v1/lti/session", headers={"Authorization": f"Bearer {session_token(await browser.launch(learner))}"}))
    assert me["target"]["id"] == course["course"]["id"] and me["record"].startswith("enrolment/")

    # a learner may not choose content; a resource-link session is not a deep-linking one
    r = await browser.launch(Launch("LtiDeepLinkingRequest", [LEARNER]))
    assert r.status_code == 403 and r.json()["reason"] == "role"
    learner_auth = {"Authorization": f"Bearer {session_token(await browser.launch(learner))}"}
    assert (await c.get("/v1/lti/session/deep-linking/choices", headers=learner_auth)).status_code == 403


async def test_tool_key_rotation_keeps_the_previous_key_published(platform: Platform, registered: dict[str, Any],
                                                                  browser: Browser, course: dict[str, Any],
                                                                  school_admin: dict[str, str]) -> None:
    auth = {"Authorization": f"Bearer {session_token(await browser.launch(Launch('LtiDeepLinkingRequest', [INSTRUCTOR])))}"}
    choose = {"items": [{"kind": "course", "id": course["course"]["id"]}]}
    before = (await ok(await browser.client.post("/v1/lti/session/deep-linking", json=choose, headers=auth)))["jwt"]
    c = browser.client
    assert (await c.post("/v1/lti/keys/rotate", headers=school_admin)).status_code == 403
    rotated = await ok(await c.post("/v1/lti/keys/rotate", headers=await platform.admin_headers()))
    assert rotated["kid"] != jwt.get_unverified_header(before)["kid"]
    after = (await ok(await c.post("/v1/lti/session/deep-linking", json=choose, headers=auth)))["jwt"]
    assert jwt.get_unverified_header(after)["kid"] == rotated["kid"]
    # both verify: the previous key stays in the JWKS while platforms may still hold what it signed
    await verify_as_platform(browser, before)
    await verify_as_platform(browser, after)
