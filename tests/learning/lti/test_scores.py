"""Assignment and Grade Services 2.0 against the platform harness: a learner launched with a line item (AGS §3.1,
the endpoint claim) completes the course; its score is posted to ``<lineitem>/scores`` (AGS §3.4) with an access
token from the platform's token endpoint, obtained with a signed client assertion (IMS Security Framework §4.1,
RFC 7523). Transient failures wait and are tried again; a sender that dies leaves its scores to the next; the same
grading queues one score; a refusal is kept and re-driven."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from services.common.retry import RetryPolicy
from services.common.testing import FakeClock
from services.learning.lti import outcomes
from services.learning.lti.outcomes import ScoreSender
from services.learning.models import CourseCompletion, LtiGradeLink, LtiScore
from tests.learning.courses.helpers import answers_for, ok, wrong_answer
from tests.learning.lti.conftest import Browser, learning_client, session_token
from tests.learning.lti.harness import LEARNER, Launch
from tests.support import Platform


async def complete_course(browser: Browser, course: dict[str, Any], lineitem: str | None) -> tuple[str, dict[str, Any]]:
    """Launch as a learner with the line item, complete both required lessons, pass the quiz with 4 of 5 right
    (80 %): the course completes. Returns the session token and the submitted attempt."""
    token = session_token(await browser.launch(Launch("LtiResourceLinkRequest", [LEARNER], target=f"course:{course['course']['id']}",
                                                      lineitem=lineitem)))
    auth = {"Authorization": f"Bearer {token}"}
    c = browser.client
    for lesson in course["lessons"][:2]:
        await ok(await c.post(f"/v1/lti/session/course/lessons/{lesson['id']}/progress", json={"event": "completed"}, headers=auth))
    attempt = await ok(await c.post(f"/v1/lti/session/course/quizzes/{course['quiz']['id']}/attempts", headers=auth), 201)
    answers = answers_for(attempt, course["specs"], right=True)
    first = attempt["questions"][0]
    answers[first["id"]] = wrong_answer(first, course["specs"][first["prompt"]])
    done = await ok(await c.post(f"/v1/lti/session/course/attempts/{attempt['id']}/submit", json={"answers": answers}, headers=auth))
    assert done["status"] == "submitted" and done["score"] == 80.0 and done["passed"] is True
    view = await ok(await c.get("/v1/lti/session/course", headers=auth))
    assert view["enrolment"]["status"] == "completed" and view["enrolment"]["completion"]["final_score"] == 80.0
    return token, done


async def scores_of(platform: Platform, browser: Browser, token: str) -> list[LtiScore]:
    """The scores queued for the learner of this launch (through any of their grade links)."""
    record = (await ok(await browser.client.get("/v1/lti/session", headers={"Authorization": f"Bearer {token}"})))["record"]
    async with platform.apps["learning"].state.db.session(write=False) as session:
        links = select(LtiGradeLink.id).where(LtiGradeLink.record == record)
        return list((await session.scalars(select(LtiScore).where(LtiScore.grade_link_id.in_(links)))).all())


def sender(platform: Platform, clock: FakeClock | None = None, **kw: Any) -> ScoreSender:
    state = platform.apps["learning"].state
    return ScoreSender(state.db, state.http, state.lti.keys, policy=RetryPolicy(base=1.0, max_delay=30.0, give_up_after=0),
                       clock=clock or FakeClock(), **kw)


async def test_a_completed_course_sends_its_score_to_the_line_item(platform: Platform, registered: dict[str, Any],
                                                                   browser: Browser, course: dict[str, Any]) -> None:
    h = browser.harness
    lineitem = h.lineitem(item="42")
    token, _ = await complete_course(browser, course, lineitem)
    [score] = await scores_of(platform, browser, token)
    assert score.status == "pending" and score.lineitem_url == lineitem and score.source.startswith("completion/")
    clock = FakeClock()
    await sender(platform, clock).run_once()
    [received] = h.scores
    # AGS §3.4: posted to the line item's scores URL (its query kept), as application/vnd.ims.lis.v1.score+json
    assert received.path == "/mod/lti/services.php/7/lineitems/42/lineitem/scores"
    assert received.content_type == "application/vnd.ims.lis.v1.score+json"
    body = received.body
    assert body["userId"] == browser.login_hint and body["scoreGiven"] == 80.0 and body["scoreMaximum"] == 100.0
    assert body["activityProgress"] == "Completed" and body["gradingProgress"] == "FullyGraded"
    assert h.token_requests == 1 and len(h.seen_jti) == 1  # one client assertion, verified against the tool's JWKS
    [score] = await scores_of(platform, browser, token)
    assert score.status == "sent" and score.attempts == 1 and score.sent_at is not None
    # the same grading again queues nothing (one score per grade link and completion); nothing more is sent
    async with platform.apps["learning"].state.db.session() as session:
        completion = await session.get(CourseCompletion, uuid.UUID(score.source.split("/")[1]))
        assert completion is not None
        assert await outcomes.course_completed(session, completion.enrolment_id, completion.id, 80.0, clock.now()) == 0
    await sender(platform, clock).run_once()
    assert len(h.scores) == 1


async def test_transient_failures_are_retried_and_nothing_is_lost(platform: Platform, registered: dict[str, Any],
                                                                   browser: Browser, course: dict[str, Any]) -> None:
    h = browser.harness
    token, _ = await complete_course(browser, course, h.lineitem())
    clock = FakeClock()
    # the platform is briefly down: 503 twice; the score waits, back-off doubling, and is sent on the third try
    h.fail_scores = 2
    one = sender(platform, clock)
    await one.run_once()
    [score] = await scores_of(platform, browser, token)
    assert score.status == "pending" and score.attempts == 1 and "503" in (score.last_error or "")
    first_wait = score.next_attempt_at - clock.now()
    assert timedelta(seconds=0.5) <= first_wait <= timedelta(seconds=1)
    await one.run_once()  # not due yet: not tried
    assert h.fail_scores == 1 and (await scores_of(platform, browser, token))[0].attempts == 1
    await clock.advance(2)
    await one.run_once()
    [score] = await scores_of(platform, browser, token)
    assert score.status == "pending" and score.attempts == 2 and h.fail_scores == 0
    assert timedelta(seconds=1.4) <= score.next_attempt_at - clock.now() <= timedelta(seconds=2)
    # the platform unreachable altogether: a connection error is transient too
    platform.transport.remove(h.authority)
    await clock.advance(3)
    await one.run_once()
    [score] = await scores_of(platform, browser, token)
    assert score.status == "pending" and score.attempts == 3 and "unreachable" in (score.last_error or "")
    platform.transport.add(h.authority, h.app)
    # a sender that claims the score and dies before posting it: its lease runs out and another sender posts it
    await clock.advance(60)
    claimed = await sender(platform, clock, lease_seconds=30)._claim()
    assert score.id in {row.id for row, _ in claimed}
    other = sender(platform, clock)
    await other.run_once()
    assert (await scores_of(platform, browser, token))[0].status == "pending" and not h.scores  # still leased
    await clock.advance(31)
    await other.run_once()
    [score] = await scores_of(platform, browser, token)
    assert score.status == "sent" and len(h.scores) == 1 and h.scores[0].body["scoreGiven"] == 80.0


async def test_a_refused_score_is_kept_and_redriven(platform: Platform, registered: dict[str, Any], browser: Browser,
                                                    course: dict[str, Any], school_admin: dict[str, str], people: Any) -> None:
    h = browser.harness
    token, _ = await complete_course(browser, course, h.lineitem())
    async with learning_client(platform) as c:
        # a registration with a wrong client id: the platform's token endpoint refuses the assertion (401)
        wrong = await ok(await c.patch(f"/v1/lti/platforms/{registered['id']}", json={"token_audience": h.issuer + "/nope"},
                                       headers=school_admin))
        assert wrong["token_audience"].endswith("/nope")
        clock = FakeClock()
        await sender(platform, clock).run_once()
        [score] = await scores_of(platform, browser, token)
        assert score.status == "failed" and "token endpoint answered HTTP 401" in (score.last_error or "") and not h.scores
        listed = await ok(await c.get(f"/v1/lti/platforms/{registered['id']}/scores", params={"status": "failed"}, headers=school_admin))
        assert [s["id"] for s in listed["items"]] == [str(score.id)]
        assert (await c.get(f"/v1/lti/platforms/{registered['id']}/scores", headers=people.teacher)).status_code == 404
        # fixed, re-driven: sent
        await ok(await c.patch(f"/v1/lti/platforms/{registered['id']}", json={"token_audience": None}, headers=school_admin))
        assert (await ok(await c.post(f"/v1/lti/platforms/{registered['id']}/scores/redrive", headers=school_admin)))["requeued"] == 1
        await sender(platform, clock).run_once()
        [score] = await scores_of(platform, browser, token)
        assert score.status == "sent" and len(h.scores) == 1


async def test_no_line_item_no_score(platform: Platform, registered: dict[str, Any], browser: Browser,
                                     course: dict[str, Any]) -> None:
    """A launch without the AGS endpoint claim (AGS §3.1: the platform offers no line item) sends nothing back."""
    token, _ = await complete_course(browser, course, None)
    assert await scores_of(platform, browser, token) == []
