"""Exams as LTI launch targets, against the platform harness (a school's Moodle, written from the IMS specs):

* Deep Linking 2.0: an instructor's ``LtiDeepLinkingRequest`` (DL §4.1) is offered the school's published exams; the
  signed ``LtiDeepLinkingResponse`` (DL §4.2) holds an ``ltiResourceLink`` for the exam (DL §3.1) with a line item
  (DL §3.2.3) and the exam's window as its submission window, verified by the platform with the tool's JWKS (IMS
  Security Framework §6.3).
* The resource link launch (LTI 1.3 core §5.1.3; the exam named by the link's custom claim or its target link URI): the learner goes on the
  exam's roster and sits it through the launch's session; the exam's window, duration and the learner's extra time
  are enforced by the server's clock (a fake one here, moved by hand) as for any sitting.
* Refusals (IMS Security Framework §5.1.3, the id_token's validation): a tampered ``id_token``, a launch naming another
  platform's deployment (LTI 1.3 core §5.3.3), an exam of another school.
* Assignment and Grade Services 2.0: the line item of the launch (AGS §3.1, the endpoint claim) gets the exam's
  result (AGS §3.4, a score with an access token from the platform's token endpoint, IMS Security Framework §4.1)
  once the teachers release it, not before; released again, nothing more is sent.
* A file answer (a photo of the work) uploaded through the launch, under the same deadline.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.common.retry import RetryPolicy
from services.learning.lti import outcomes
from services.learning.lti.outcomes import ScoreSender
from services.learning.models import LtiGradeLink, LtiScore
from tests.learning.assessment.conftest import Assessment, assessment_app
from tests.learning.assessment.helpers import answer_for, bank, exam, item, single, window
from tests.learning.assessment.test_exams import png
from tests.learning.conftest import People
from tests.learning.courses.helpers import ok
from tests.learning.helpers import pdf
from tests.learning.lti.conftest import Browser, learning_client, session_token
from tests.learning.lti.harness import DL, INSTRUCTOR, LEARNER, LTI, Launch, PlatformHarness
from tests.learning.lti.test_deep_linking import verify_as_platform
from tests.learning.lti.test_launch import refused
from tests.support import Platform, service_url


@pytest.fixture(scope="module")
async def timed(platform: Platform) -> AsyncIterator[Assessment]:
    """The learning service on a clock the tests move (exam windows and deadlines are the server's to check)."""
    async with assessment_app(platform) as a:
        yield a


@pytest.fixture
async def api(timed: Assessment) -> AsyncIterator[httpx.AsyncClient]:
    async with timed.client() as c:
        yield c


@pytest.fixture
async def browser(timed: Assessment, harness: PlatformHarness) -> AsyncIterator[Browser]:
    """A learner's browser on the timed service (the harness's redirect URI is the same public launch URL)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=timed.app), base_url=service_url("learning"), timeout=60) as client:
        yield Browser(harness, client, login_hint=f"moodle-user-{uuid.uuid4().hex[:6]}")


async def written_exam(api: httpx.AsyncClient, teacher: dict[str, str], clock: Any, *, opens_in: float = 0,
                       duration: int = 30, publish: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """A written exam of two single-choice items drawn from a bank of three, a 2-hour window: (exam, keys by item)."""
    b = await bank(api, teacher)
    items = [await item(api, teacher, b["id"], single(f"Câu {i}: điện áp định mức của lưới hạ thế?", "220 V", tags=["dien-ap"]))
             for i in range(3)]
    e = await exam(api, teacher, {"bank_ids": [b["id"]], "blueprint": [{"tag": "dien-ap", "count": 2}], "duration_minutes": duration,
                                  **window(clock, opens_in=opens_in, hours=2)}, publish=publish)
    return e, {i["id"]: i["key"] for i in items}


def learner(exam_id: str, **kw: Any) -> Launch:
    return Launch("LtiResourceLinkRequest", [LEARNER], target=f"exam:{exam_id}", **kw)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sender(timed: Assessment) -> ScoreSender:
    state = timed.app.state
    return ScoreSender(state.db, state.http, state.lti.keys, policy=RetryPolicy(base=1.0, max_delay=30.0, give_up_after=0),
                       clock=timed.clock)


async def scores_for(timed: Assessment, record: str) -> list[LtiScore]:
    async with timed.app.state.db.session(write=False) as session:
        links = select(LtiGradeLink.id).where(LtiGradeLink.record == record)
        return list((await session.scalars(select(LtiScore).where(LtiScore.grade_link_id.in_(links)).order_by(LtiScore.created_at))).all())


async def test_deep_linking_offers_the_schools_exams_and_the_link_launches_one(
        platform: Platform, timed: Assessment, api: httpx.AsyncClient, registered: dict[str, Any], browser: Browser,
        people: People) -> None:
    h, c = browser.harness, browser.client
    mine, _ = await written_exam(api, people.teacher, timed.clock)
    draft, _ = await written_exam(api, people.teacher, timed.clock, publish=False)
    foreign, _ = await written_exam(api, people.other_teacher, timed.clock)  # another school's exam
    request = Launch("LtiDeepLinkingRequest", [INSTRUCTOR])
    auth = bearer(session_token(await browser.launch(request)))
    choices = await ok(await c.get("/v1/lti/session/deep-linking/choices", headers=auth))
    offered = {x["id"]: x for x in choices if x["kind"] == "exam"}
    assert mine["id"] in offered and draft["id"] not in offered and foreign["id"] not in offered
    assert offered[mine["id"]]["title"] == mine["title"] and "30 minutes" in offered[mine["id"]]["text"]
    for other in (foreign, draft):
        r = await c.post("/v1/lti/session/deep-linking", json={"items": [{"kind": "exam", "id": other["id"]}]}, headers=auth)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items.0.id", r.text

    found = await ok(await c.post("/v1/lti/session/deep-linking", json={"items": [{"kind": "exam", "id": mine["id"]}]}, headers=auth))
    claims = await verify_as_platform(browser, found["jwt"])  # DL §4.2, verified with the tool's JWKS
    assert claims[LTI + "message_type"] == "LtiDeepLinkingResponse" and claims[LTI + "deployment_id"] == h.deployment_id
    assert claims[DL + "data"] == "moodle-dl-data-" + request.resource_link_id
    [link] = claims[DL + "content_items"]
    ref = f"exam:{mine['id']}"
    assert link["type"] == "ltiResourceLink" and link["title"] == mine["title"]
    assert link["url"] == f"{h.redirect_uri}?target={ref}" and link["custom"] == {"vet_target": ref}
    assert link["lineItem"] == {"scoreMaximum": 100, "label": mine["title"], "resourceId": ref, "tag": "vet-platform"}
    assert link["submission"] == {"startDateTime": mine["opens_at"].replace("+00:00", "Z"),
                                  "endDateTime": mine["closes_at"].replace("+00:00", "Z")}

    # the platform launches the link it created (the custom parameter names the exam): the learner is on its roster
    launched = Launch("LtiResourceLinkRequest", [LEARNER], target=None, extra={LTI + "custom": link["custom"]})
    token = session_token(await browser.launch(launched))
    me = await ok(await c.get("/v1/lti/session", headers=bearer(token)))
    assert me["role"] == "learner" and me["target"]["kind"] == "exam" and me["target"]["id"] == mine["id"]
    assert me["record"].startswith("exam-candidate/")
    roster = await ok(await api.get(f"/v1/exams/{mine['id']}/roster", headers=people.teacher))
    [entry] = roster["items"]
    assert entry["id"] == me["record"].split("/")[1] and entry["full_name"] == "Nguyễn Thị Lan" and entry["extra_minutes"] == 0
    # a second launch of the same learner: the same roster entry
    again = await ok(await c.get("/v1/lti/session", headers=bearer(session_token(await browser.launch(learner(mine["id"]))))))
    assert again["record"] == me["record"]
    assert len((await ok(await api.get(f"/v1/exams/{mine['id']}/roster", headers=people.teacher)))["items"]) == 1


async def test_an_exam_launched_from_the_lms_is_timed_by_the_server(
        platform: Platform, timed: Assessment, api: httpx.AsyncClient, registered: dict[str, Any], browser: Browser,
        people: People) -> None:
    clock, c = timed.clock, browser.client
    e, keys = await written_exam(api, people.teacher, clock, opens_in=600, duration=30)
    token = session_token(await browser.launch(learner(e["id"])))
    auth = bearer(token)
    view = await ok(await c.get("/v1/lti/session/exam", headers=auth))
    assert view["exam"]["id"] == e["id"] and view["result"]["released"] is False and view["result"]["attempts"] == []
    # before the window opens: refused, saying when it opens
    r = await c.post("/v1/lti/session/exam/attempts", headers=auth)
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json", r.text
    assert r.json()["type"].endswith("/exam-window-closed") and "opens_at" in r.json()

    # the teacher gives the LTI learner 10 minutes more (an accommodation, as for anyone on the roster)
    candidate = (await ok(await c.get("/v1/lti/session", headers=auth)))["record"].split("/")[1]
    await ok(await api.put(f"/v1/exams/{e['id']}/roster/{candidate}/accommodation", json={"extra_minutes": 10, "note": "Khuyết tật vận động"},
                           headers=people.teacher))
    await clock.advance(600, step=600)
    attempt = await ok(await c.post("/v1/lti/session/exam/attempts", headers=auth), 201)
    assert len(attempt["items"]) == 2 and "key" not in json.dumps(attempt) and attempt["scores_visible"] is False
    assert (await ok(await c.post("/v1/lti/session/exam/attempts", headers=auth)))["id"] == attempt["id"]  # the running one
    first, second = attempt["items"]
    url = f"/v1/lti/session/exam/attempts/{attempt['id']}"
    await ok(await c.put(f"{url}/responses/{first['id']}", json={"answer": answer_for(first, keys[first["id"]])}, headers=auth))
    # 35 minutes in: past the 30 minutes, within the learner's 40
    await clock.advance(35 * 60, step=35 * 60)
    await ok(await c.put(f"{url}/responses/{second['id']}", json={"answer": answer_for(second, keys[second["id"]], right=False)},
                         headers=auth))
    # 41 minutes in: the deadline has passed: answers and the hand-in are refused, the attempt is scored on what it had
    await clock.advance(6 * 60, step=6 * 60)
    r = await c.put(f"{url}/responses/{second['id']}", json={"answer": answer_for(second, keys[second["id"]])}, headers=auth)
    assert r.status_code == 409 and r.json()["type"].endswith("/exam-deadline-passed"), r.text
    assert r.json()["deadline_at"] == attempt["deadline_at"]
    r = await c.post(f"{url}/submit", json={}, headers=auth)
    assert r.status_code == 409 and r.json()["type"].endswith("/exam-deadline-passed"), r.text
    closed = await ok(await c.get(url, headers=auth))
    assert closed["status"] == "graded" and closed["scores_visible"] is False and closed["score"] is None
    seen = await ok(await api.get(f"/v1/exam-attempts/{attempt['id']}", headers=people.teacher))
    assert seen["status"] == "graded" and seen["score"] == 50.0
    # one attempt allowed: no second one
    r = await c.post("/v1/lti/session/exam/attempts", headers=auth)
    assert r.status_code == 409, r.text

    # another learner's launch does not reach this attempt; an instructor's launch shows the exam and sits nothing
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=timed.app), base_url=service_url("learning")) as other_client:
        other = Browser(browser.harness, other_client, login_hint="moodle-user-other")
        other_auth = bearer(session_token(await other.launch(learner(e["id"]))))
        assert (await other_client.get(url, headers=other_auth)).status_code == 404
        assert (await other_client.put(f"{url}/responses/{first['id']}", json={"answer": None}, headers=other_auth)).status_code == 404
    preview = bearer(session_token(await browser.launch(Launch("LtiResourceLinkRequest", [INSTRUCTOR], target=f"exam:{e['id']}"))))
    shown = await ok(await c.get("/v1/lti/session/exam", headers=preview))
    assert shown["exam"]["id"] == e["id"] and shown["result"] is None
    assert (await c.post("/v1/lti/session/exam/attempts", headers=preview)).status_code == 403
    # an exam's launch opens no course
    assert (await c.get("/v1/lti/session/course", headers=auth)).status_code == 404


async def test_tampered_and_foreign_launches_into_an_exam_are_refused(
        platform: Platform, timed: Assessment, api: httpx.AsyncClient, registered: dict[str, Any], browser: Browser,
        people: People, school_admin: dict[str, str]) -> None:
    h, c = browser.harness, browser.client
    e, _ = await written_exam(api, people.teacher, timed.clock)
    hidden, _ = await written_exam(api, people.teacher, timed.clock)

    # Security Framework §5.1.3: a claim changed after signing (the exam named), the signature no longer covers it
    def retarget(token: str) -> str:
        head, payload, sig = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims[LTI + "custom"] = {"vet_target": f"exam:{hidden['id']}"}
        changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"{head}.{changed}.{sig}"

    refused(await browser.launch(learner(e["id"]), retarget), "signature", "id_token")

    # another platform registered with the tool (its own deployment): its deployment id in this platform's launch
    # is refused (LTI 1.3 core §5.3.3: the deployment is the platform's), at login and in the id_token
    other = PlatformHarness(f"moodle-{uuid.uuid4().hex[:8]}.cd0101.test:8443", client_id=f"vet-{uuid.uuid4().hex[:6]}",
                            deployment_id="deployment-of-the-other-lms")
    platform.transport.add(other.authority, other.app)
    try:
        async with learning_client(platform) as admin:
            await ok(await admin.post("/v1/lti/platforms", json=other.registration(institution_code="CD0101"), headers=school_admin), 201)
        r = await c.get("/v1/lti/login", params={
            "iss": h.issuer, "login_hint": browser.login_hint, "target_link_uri": f"{h.redirect_uri}?target=exam:{e['id']}",
            "client_id": h.client_id, "lti_deployment_id": other.deployment_id})
        refused(r, "deployment", "lti_deployment_id")
        foreign_deployment = learner(e["id"], extra={LTI + "deployment_id": other.deployment_id})
        refused(await browser.launch(foreign_deployment), "deployment", LTI + "deployment_id")
        # the other platform's own launch, signed with its key but claiming to be this platform: not this one's key
        signed_elsewhere = lambda token: other.sign(json.loads(base64.urlsafe_b64decode(  # noqa: E731
            token.split(".")[1] + "=" * (-len(token.split(".")[1]) % 4))))
        refused(await browser.launch(learner(e["id"]), signed_elsewhere), "key", "kid")
    finally:
        platform.transport.remove(other.authority)
    # none of the refused launches put anyone on a roster
    for x in (e, hidden):
        assert (await ok(await api.get(f"/v1/exams/{x['id']}/roster", headers=people.teacher)))["items"] == []

    # another school's exam, and a draft, are not launched (404 problem)
    foreign, _ = await written_exam(api, people.other_teacher, timed.clock)
    draft, _ = await written_exam(api, people.teacher, timed.clock, publish=False)
    for x in (foreign, draft):
        r = await browser.launch(learner(x["id"]))
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json"), r.text


async def test_the_result_goes_back_once_released_and_only_once(
        platform: Platform, timed: Assessment, api: httpx.AsyncClient, registered: dict[str, Any], browser: Browser,
        people: People) -> None:
    h, c, clock = browser.harness, browser.client, timed.clock
    e, keys = await written_exam(api, people.teacher, clock)
    lineitem = h.lineitem(item="91")
    placement = learner(e["id"], lineitem=lineitem)
    auth = bearer(session_token(await browser.launch(placement)))
    record = (await ok(await c.get("/v1/lti/session", headers=auth)))["record"]
    attempt = await ok(await c.post("/v1/lti/session/exam/attempts", headers=auth), 201)
    first, second = attempt["items"]
    answers = {first["id"]: answer_for(first, keys[first["id"]]), second["id"]: answer_for(second, keys[second["id"]], right=False)}
    done = await ok(await c.post(f"/v1/lti/session/exam/attempts/{attempt['id']}/submit", json={"answers": answers}, headers=auth))
    assert done["status"] == "graded" and done["score"] is None  # scored, not shown: not released

    # graded but not released: nothing is queued (a launch now neither), nothing is sent
    await ok(await c.get("/v1/lti/session", headers=bearer(session_token(await browser.launch(placement)))))
    assert await scores_for(timed, record) == []
    await sender(timed).run_once()
    assert h.scores == []
    view = await ok(await c.get("/v1/lti/session/exam", headers=auth))
    assert view["result"]["released"] is False and view["result"]["score"] is None

    # released: one score queued in the release's transaction, then posted to the line item (AGS §3.4)
    await ok(await api.post(f"/v1/exams/{e['id']}/release", headers=people.teacher))
    [score] = await scores_for(timed, record)
    assert score.status == "pending" and score.lineitem_url == lineitem and score.source == f"exam/{e['id']}/50.00"
    await sender(timed).run_once()
    [received] = h.scores
    assert received.path == "/mod/lti/services.php/7/lineitems/91/lineitem/scores"
    assert received.content_type == "application/vnd.ims.lis.v1.score+json"
    assert received.body["userId"] == browser.login_hint and received.body["scoreGiven"] == 50.0
    assert received.body["scoreMaximum"] == 100.0
    assert received.body["activityProgress"] == "Completed" and received.body["gradingProgress"] == "FullyGraded"
    view = await ok(await c.get("/v1/lti/session/exam", headers=auth))
    assert view["result"]["released"] is True and view["result"]["score"] == 50.0 and view["result"]["score_10"] == "5.0"

    # released again, relaunched on the same link, the same result queued again: nothing changes, nothing more is sent
    await ok(await api.post(f"/v1/exams/{e['id']}/release", headers=people.teacher))
    await ok(await c.get("/v1/lti/session", headers=bearer(session_token(await browser.launch(placement)))))
    async with timed.app.state.db.session() as session:
        assert await outcomes.exam_result_released(session, uuid.UUID(e["id"]), uuid.UUID(record.split("/")[1]), 50.0, clock.now()) == 0
    await sender(timed).run_once()
    [score] = await scores_for(timed, record)
    assert score.status == "sent" and len(h.scores) == 1

    # a launch from another placement after the release (a new line item): the released result goes there too
    elsewhere = h.lineitem(item="92")
    await ok(await c.get("/v1/lti/session", headers=bearer(session_token(await browser.launch(learner(e["id"], lineitem=elsewhere))))))
    await sender(timed).run_once()
    assert [s.path for s in h.scores] == ["/mod/lti/services.php/7/lineitems/91/lineitem/scores",
                                          "/mod/lti/services.php/7/lineitems/92/lineitem/scores"]
    assert h.scores[1].body["scoreGiven"] == 50.0


async def test_a_file_answer_through_the_launch(platform: Platform, timed: Assessment, api: httpx.AsyncClient,
                                                registered: dict[str, Any], browser: Browser, people: People) -> None:
    """An exam with a photo to hand in: the learner uploads it through the launch (the bytes say what it is), the
    teacher scores it, the release sends the result back; after the deadline a file is refused like any answer."""
    h, c, clock, teacher = browser.harness, browser.client, timed.clock, people.teacher
    b = await bank(api, teacher)
    photo = await item(api, teacher, b["id"], {"kind": "file_upload", "prompt": "Chụp ảnh mạch đã đấu.", "tags": ["anh"],
                                               "accept": ["image"]})
    e = await exam(api, teacher, {"bank_ids": [b["id"]], "blueprint": [{"tag": "anh", "count": 1}], "duration_minutes": 20,
                                  **window(clock, hours=2)})
    auth = bearer(session_token(await browser.launch(learner(e["id"], lineitem=h.lineitem(item="93")))))
    attempt = await ok(await c.post("/v1/lti/session/exam/attempts", headers=auth), 201)
    url = f"/v1/lti/session/exam/attempts/{attempt['id']}/responses/{photo['id']}/file"
    r = await c.put(url, content=pdf(4096), params={"filename": "mạch.pdf"}, headers=auth | {"Content-Type": "application/pdf"})
    assert r.status_code == 415 and r.json()["accepted"] == ["image"], r.text  # this item takes images only
    r = await c.put(url, content=png(), headers={"Content-Type": "image/png"})
    assert r.status_code == 401, r.text  # no launch session, no file
    saved = await ok(await c.put(url, content=png(), params={"filename": "mạch điện.png"}, headers=auth | {"Content-Type": "image/png"}))
    assert saved["filename"] == "mạch điện.png" and saved["answer"]["content_type"] == "image/png"
    seen = await ok(await api.get(f"/v1/exam-attempts/{attempt['id']}/responses/{photo['id']}/file", headers=teacher))
    assert seen["size"] == len(png())
    # the deadline passes: a file is refused too (checked on the server's clock)
    await clock.advance(21 * 60, step=21 * 60)
    r = await c.put(url, content=png(), headers=auth | {"Content-Type": "image/png"})
    assert r.status_code == 409 and r.json()["type"].endswith("/exam-deadline-passed"), r.text
    await ok(await api.put(f"/v1/exam-attempts/{attempt['id']}/responses/{photo['id']}/grade", json={"points": 0.75}, headers=teacher))
    await ok(await api.post(f"/v1/exams/{e['id']}/release", headers=teacher))
    await sender(timed).run_once()
    [received] = h.scores
    assert received.path.endswith("/lineitems/93/lineitem/scores") and received.body["scoreGiven"] == 75.0
