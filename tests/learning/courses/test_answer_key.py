"""The answer key never leaves the server: not to authors reading their bank, not to learners in attempts or results."""

from __future__ import annotations

from typing import Any

from tests.learning.conftest import People
from tests.learning.courses.helpers import answers_for, build_course, learner, ok
from tests.support import Platform

QUESTION_KEYS = {"id", "kind", "prompt", "pool", "points", "choices", "left", "right"}


def questions_in(value: Any) -> list[dict[str, Any]]:
    """Every object in a response that looks like a question (it has a prompt)."""
    found = []
    if isinstance(value, dict):
        if "prompt" in value:
            found.append(value)
        for v in value.values():
            found += questions_in(v)
    elif isinstance(value, list):
        for v in value:
            found += questions_in(v)
    return found


def assert_no_key(body: Any) -> None:
    for q in questions_in(body):
        assert set(q) <= QUESTION_KEYS, q
        for part in ("choices", "left", "right"):
            for option in q.get(part) or []:
                assert set(option) == {"id", "text"}, option


async def test_answer_key_never_leaves_the_server(platform: Platform, people: People) -> None:
    async with platform.client("learning") as c:
        seen: list[Any] = []
        built = await build_course(c, people.teacher)
        seen += built["questions"]
        cid, quiz = built["course"]["id"], built["quiz"]
        seen.append(await ok(await c.get(f"/v1/courses/{cid}/questions", headers=people.teacher)))
        seen.append(await ok(await c.get(f"/v1/courses/{cid}", headers=people.teacher)))
        assert (await c.get(f"/v1/courses/{cid}/questions", headers=people.student)).status_code == 403
        me, _ = await learner(platform, "CD0101")
        enrolment = await ok(await c.post(f"/v1/courses/{cid}/enrolments", headers=me), 201)
        attempt = await ok(await c.post(f"/v1/enrolments/{enrolment['id']}/quizzes/{quiz['id']}/attempts", headers=me), 201)
        seen.append(attempt)
        seen.append(await ok(await c.get(f"/v1/attempts/{attempt['id']}", headers=me)))
        result = await ok(await c.post(f"/v1/attempts/{attempt['id']}/submit",
                                       json={"answers": answers_for(attempt, built["specs"], right=False)}, headers=me))
        seen.append(result)
        seen.append(await ok(await c.get(f"/v1/attempts/{attempt['id']}", headers=me)))
        for body in seen:
            assert_no_key(body)
        assert len(questions_in(seen)) >= 5 * 4
        # results say right or wrong per question and nothing more
        assert all(set(r) == {"question_id", "correct", "points_awarded"} for r in result["results"])
        # the numeric answer (21) and the true/false answer are nowhere in what the learner got
        shown = [q for q in attempt["questions"] if q["kind"] in ("numeric", "true_false")]
        assert all(q.get("choices") is None and q.get("left") is None for q in shown)
