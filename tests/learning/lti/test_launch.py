"""LTI 1.3 launches against the platform harness: the OIDC third-party-initiated login (LTI 1.3 core §4.1, IMS
Security Framework §5.1.1), the id_token launch (LTI 1.3 core §5.1.3 and §5.3, Security Framework §5.1.3), the
session it opens in the course player, and every refusal as problem+json."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
from jose import jwt
from sqlalchemy import update

from services.common.db import utcnow
from services.learning.lti.service import keyed_hash
from services.learning.models import LtiLoginState
from tests.learning.courses.helpers import ok
from tests.learning.lti.conftest import Browser, learning_client, now, resign, session_token
from tests.learning.lti.harness import INSTRUCTOR, LEARNER, Launch, PlatformHarness, query_of, rsa_key
from tests.support import Platform


def refused(r: httpx.Response, reason: str, claim: str | None = None) -> dict[str, Any]:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"].endswith("/lti-launch-refused") and body["reason"] == reason, body
    if claim is not None:
        assert body["claim"] == claim, body
    return body


def learner(course: dict[str, Any], **kw: Any) -> Launch:
    return Launch("LtiResourceLinkRequest", [LEARNER], target=f"course:{course['course']['id']}", **kw)


async def test_tool_configuration_and_its_keys(platform: Platform) -> None:
    async with learning_client(platform) as c:
        config = await ok(await c.get("/v1/lti/tool"))
        base = "http://127.0.0.1:8000/api/learning/v1/lti"
        assert config["initiate_login_url"] == f"{base}/login" and config["redirection_uris"] == [f"{base}/launch"]
        assert config["jwks_url"] == f"{base}/jwks.json" and config["signing_algorithm"] == "RS256"
        keys = (await ok(await c.get("/v1/lti/jwks.json")))["keys"]
        assert keys and all(k["kty"] == "RSA" and k["alg"] == "RS256" and k["kid"] and "d" not in k for k in keys)


async def test_login_initiation_redirects_to_the_platform_with_state_and_nonce(
        platform: Platform, registered: dict[str, Any], browser: Browser, course: dict[str, Any]) -> None:
    """Security Framework §5.1.1.2: the authentication request the tool sends the platform (GET and POST login)."""
    h = browser.harness
    target = f"{h.redirect_uri}?target=course:{course['course']['id']}"
    params = {"iss": h.issuer, "login_hint": "u1", "target_link_uri": target, "lti_message_hint": "m1", "client_id": h.client_id}
    for r in (await browser.client.get("/v1/lti/login", params=params), await browser.client.post("/v1/lti/login", data=params)):
        assert r.status_code == 302, r.text
        assert r.headers["location"].startswith(h.auth_login_url + "?")
        q = query_of(r.headers["location"])
        assert q | {"state": "", "nonce": ""} == {
            "scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
            "client_id": h.client_id, "redirect_uri": h.redirect_uri, "login_hint": "u1", "lti_message_hint": "m1",
            "state": "", "nonce": ""}
        assert len(q["state"]) >= 32 and len(q["nonce"]) >= 32
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "Path=/v1/lti" in cookie and "Max-Age=300" in cookie
    # a login is refused, naming the parameter, for an unknown issuer or deployment, another tool's URL, or a gap
    r = await browser.client.get("/v1/lti/login", params=params | {"iss": "https://moodle.other.test"})
    refused(r, "platform", "iss")
    r = await browser.client.get("/v1/lti/login", params=params | {"lti_deployment_id": "99"})
    refused(r, "deployment", "lti_deployment_id")
    r = await browser.client.get("/v1/lti/login", params=params | {"target_link_uri": "https://evil.test/launch"})
    refused(r, "target_link_uri", "target_link_uri")
    r = await browser.client.get("/v1/lti/login", params={k: v for k, v in params.items() if k != "login_hint"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "login_hint"


async def test_a_learner_launch_opens_the_course_player(
        platform: Platform, registered: dict[str, Any], browser: Browser, course: dict[str, Any], people: Any) -> None:
    """LTI 1.3 core §5.1.3 (resource link launch): the platform's user becomes a pseudonymous learner, enrolled in
    the course at the first launch, with a session in the player; a second launch finds the same enrolment."""
    r = await browser.launch(learner(course, lineitem=browser.harness.lineitem()))
    token = session_token(r)
    assert "lti1p3_" in r.headers.get("set-cookie", "") and "Max-Age=0" in r.headers["set-cookie"]  # the login cookie goes
    auth = {"Authorization": f"Bearer {token}"}
    c = browser.client
    me = await ok(await c.get("/v1/lti/session", headers=auth))
    assert me["role"] == "learner" and me["platform_role"] == "student" and me["message_type"] == "LtiResourceLinkRequest"
    assert me["user"]["name"] == "Nguyễn Thị Lan" and me["platform"] == "Moodle Trường Cao đẳng CD0101"
    assert me["target"] == {"kind": "course", "id": course["course"]["id"], "title": course["course"]["title"],
                            "text": course["course"]["description"]}
    assert me["record"].startswith("enrolment/")
    view = await ok(await c.get("/v1/lti/session/course", headers=auth))
    assert [len(m["lessons"]) for m in view["course"]["modules"]] == [3]
    enrolment = view["enrolment"]
    assert enrolment["id"] == me["record"].split("/")[1] and enrolment["method"] == "lti" and enrolment["status"] == "enrolled"
    assert enrolment["institution_code"] == "CD0101" and enrolment["full_name"] == "Nguyễn Thị Lan"
    # the school sees its LTI learner among the course's enrolments
    listed = await ok(await c.get(f"/v1/courses/{course['course']['id']}/enrolments", headers=people.teacher, params={"limit": 200}))
    assert enrolment["id"] in {e["id"] for e in listed["items"]}
    # lessons open in order, through the session
    lessons = course["lessons"]
    r = await c.post(f"/v1/lti/session/course/lessons/{lessons[1]['id']}/progress", json={"event": "completed"}, headers=auth)
    assert r.status_code == 409
    await ok(await c.post(f"/v1/lti/session/course/lessons/{lessons[0]['id']}/progress", json={"event": "completed"}, headers=auth))
    # relaunch: the same learner, the same enrolment, a new session; the old one still works until it expires
    # (this time the platform shares no name: the one it sent before is kept)
    again = session_token(await browser.launch(learner(course, name=None)))
    assert again != token
    me2 = await ok(await c.get("/v1/lti/session", headers={"Authorization": f"Bearer {again}"}))
    assert me2["record"] == me["record"] and me2["user"] == me["user"]
    # no session, a wrong one: 401 problem
    assert (await c.get("/v1/lti/session")).status_code == 401
    r = await c.get("/v1/lti/session/course", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


async def test_an_instructor_launch_previews(platform: Platform, registered: dict[str, Any], browser: Browser,
                                             course: dict[str, Any]) -> None:
    """Roles (LTI 1.3 core §5.3.7, §A.2): an Instructor previews the course (no enrolment, no progress)."""
    token = session_token(await browser.launch(Launch("LtiResourceLinkRequest", [INSTRUCTOR], target=f"course:{course['course']['id']}")))
    auth = {"Authorization": f"Bearer {token}"}
    me = await ok(await browser.client.get("/v1/lti/session", headers=auth))
    assert me["role"] == "instructor" and me["platform_role"] == "teacher" and me["record"] is None
    view = await ok(await browser.client.get("/v1/lti/session/course", headers=auth))
    assert view["enrolment"] is None and view["course"]["id"] == course["course"]["id"]
    r = await browser.client.post(f"/v1/lti/session/course/lessons/{course['lessons'][0]['id']}/progress",
                                  json={"event": "opened"}, headers=auth)
    assert r.status_code == 403


async def test_refused_launches(platform: Platform, registered: dict[str, Any], browser: Browser, course: dict[str, Any]) -> None:
    """Each check of LTI 1.3 core §5.1.3 / Security Framework §5.1.3 refuses with problem+json naming the claim."""
    h: PlatformHarness = browser.harness
    launch = learner(course)
    # a tampered id_token: a claim changed after signing (the signature no longer covers the payload)
    def tamper(token: str) -> str:
        head, payload, sig = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["sub"] = "someone-else"
        changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"{head}.{changed}.{sig}"

    refused(await browser.launch(launch, tamper), "signature", "id_token")
    # alg none (unsigned) and HS256 keyed with the platform's public key (algorithm confusion)
    def unsigned(token: str) -> str:
        header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT", "kid": h.kid}).encode()).rstrip(b"=").decode()
        return f"{header}.{token.split('.')[1]}."

    refused(await browser.launch(launch, unsigned), "algorithm", "alg")
    confused = lambda token: jwt.encode(jwt.get_unverified_claims(token), json.dumps(h.public_jwk), algorithm="HS256",  # noqa: E731
                                        headers={"kid": h.kid})
    refused(await browser.launch(launch, confused), "algorithm", "alg")
    # signed by a key the platform does not publish (an unknown kid; the platform's kid on another key)
    other, _ = rsa_key()
    refused(await browser.launch(launch, resign(h, lambda c: c, headers={"kid": "stolen"}, key=other)), "key", "kid")
    refused(await browser.launch(launch, resign(h, lambda c: c, key=other)), "signature", "id_token")
    # validly signed, but not for this tool, too old, from the future, another issuer, an unknown deployment …
    refused(await browser.launch(launch, resign(h, lambda c: c | {"aud": "another-tool"})), "audience", "aud")
    refused(await browser.launch(launch, resign(h, lambda c: c | {"aud": [h.client_id, "x"]})), "audience", "azp")
    refused(await browser.launch(launch, resign(h, lambda c: c | {"iat": now() - 4000, "exp": now() - 3600})), "expired", "exp")
    refused(await browser.launch(launch, resign(h, lambda c: c | {"iat": now() + 3600})), "issued_at", "iat")
    refused(await browser.launch(launch, resign(h, lambda c: c | {"iss": "https://moodle.other.test"})), "issuer", "iss")
    refused(await browser.launch(launch, resign(h, lambda c: c | {"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "99"})),
            "deployment", "https://purl.imsglobal.org/spec/lti/claim/deployment_id")
    refused(await browser.launch(launch, resign(h, lambda c: c | {"https://purl.imsglobal.org/spec/lti/claim/version": "1.1"})),
            "version", "https://purl.imsglobal.org/spec/lti/claim/version")
    refused(await browser.launch(launch, resign(h, lambda c: c | {"https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiSubmissionReviewRequest"})),
            "message_type", "https://purl.imsglobal.org/spec/lti/claim/message_type")
    refused(await browser.launch(launch, resign(h, lambda c: c | {"nonce": "a-nonce-of-another-login"})), "nonce", "nonce")
    other_course = {"https://purl.imsglobal.org/spec/lti/claim/target_link_uri": f"{h.redirect_uri}?target=course:{'0' * 8}-0000-0000-0000-{'0' * 12}"}
    refused(await browser.launch(launch, resign(h, lambda c: c | other_course)), "target_link_uri",
            "https://purl.imsglobal.org/spec/lti/claim/target_link_uri")
    refused(await browser.launch(Launch("LtiResourceLinkRequest", ["http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor#x"],
                                        target=launch.target)), "role")
    refused(await browser.launch(Launch("LtiResourceLinkRequest", [LEARNER], target=None)), "target")
    # one-time state: the same launch posted again is a replay; the id_token with a fresh login's state has the
    # wrong nonce; a launch from a browser that did not start the login (no cookie) or with an unknown state
    fields = await browser.login(launch)
    session_token(await browser.post(fields))
    refused(await browser.post(fields), "replay", "state")
    fresh = await browser.login(launch)
    refused(await browser.post({"id_token": fields["id_token"], "state": fresh["state"]}), "nonce", "nonce")
    fields = await browser.login(launch)
    async with learning_client(platform) as stranger:
        refused(await stranger.post("/v1/lti/launch", data=fields), "browser", "state")
    session_token(await browser.post(fields))  # the stranger's attempt did not use the login up
    refused(await browser.post({"id_token": fields["id_token"], "state": "made-up"}), "state", "state")
    # a login older than its lifetime (LEARNING_LTI_LOGIN_SECONDS, 5 minutes) is refused
    fields = await browser.login(launch)
    settings = platform.settings["learning"]
    async with platform.apps["learning"].state.db.session() as session:
        await session.execute(update(LtiLoginState).where(LtiLoginState.state_hash == keyed_hash(settings.secret_key, "state", fields["state"]))
                              .values(expires_at=utcnow() - timedelta(seconds=1)))
    refused(await browser.post(fields), "state_expired", "state")
    # a failed launch uses its login up as well
    fields = await browser.login(launch)
    refused(await browser.post({"id_token": resign(h, lambda c: c | {"aud": "x"})(fields["id_token"]), "state": fields["state"]}), "audience")
    refused(await browser.post(fields), "replay")
    # missing form fields: 422 naming them
    r = await browser.client.post("/v1/lti/launch", data={"state": "x"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "id_token"


async def test_a_course_of_another_school_is_not_launched(platform: Platform, registered: dict[str, Any], browser: Browser,
                                                          people: Any) -> None:
    """A school's platform launches national courses and the school's own, not another school's."""
    from tests.learning.courses.helpers import build_course

    async with learning_client(platform) as c:
        other = await build_course(c, people.other_teacher)
    r = await browser.launch(Launch("LtiResourceLinkRequest", [LEARNER], target=f"course:{other['course']['id']}"))
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")


async def test_content_launched_from_the_session_reports_to_the_lrs(platform: Platform, registered: dict[str, Any],
                                                                    browser: Browser, course: dict[str, Any]) -> None:
    """The player launches a lesson as the course player does (xAPI endpoint, Basic credentials of the launch); the
    content's "completed" statement completes the lesson of the LTI learner's enrolment."""
    token = session_token(await browser.launch(learner(course)))
    auth = {"Authorization": f"Bearer {token}"}
    c = browser.client
    lesson = course["lessons"][0]
    launched = await ok(await c.post(f"/v1/lti/session/course/lessons/{lesson['id']}/launch", headers=auth), 201)
    enrolment = (await ok(await c.get("/v1/lti/session", headers=auth)))["record"].split("/")[1]
    assert launched["registration"] == enrolment and launched["auth"].startswith("Basic ")
    assert launched["actor"]["account"]["name"].startswith("lti:")
    done = {"actor": launched["actor"], "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"vi-VN": "đã hoàn thành"}},
            "object": {"objectType": "Activity", "id": launched["activity_id"]}, "context": {"registration": enrolment}}
    r = await c.post("/v1/xapi/statements", json=done, headers={"Authorization": launched["auth"], "X-Experience-API-Version": "1.0.3"})
    assert r.status_code == 200, r.text
    view = await ok(await c.get("/v1/lti/session/course", headers=auth))
    assert {p["lesson_id"]: p for p in view["enrolment"]["lessons"]}[lesson["id"]]["completed_at"]
    # an instructor's preview launches no content for itself
    preview = session_token(await browser.launch(Launch("LtiResourceLinkRequest", [INSTRUCTOR], target=f"course:{course['course']['id']}")))
    r = await c.post(f"/v1/lti/session/course/lessons/{lesson['id']}/launch", headers={"Authorization": f"Bearer {preview}"})
    assert r.status_code == 403
