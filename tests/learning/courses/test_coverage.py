"""Coverage by institution type toward the Decision 123 2030 targets (100% of colleges, 80% of intermediate schools,
50% of VET centres): registry institutions (identity, active) against those with a student who completed a course,
in the caller's scope; the type kept on the enrolment, and resolved through the registry for enrolments without it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from services.learning.courses import directory
from services.learning.models import CourseEnrolment
from tests.learning.conftest import People
from tests.learning.courses.helpers import answers_for, build_course, learner, ministry, ok
from tests.learning.helpers import new_person
from tests.support import Platform

#: no call to identity (or another service) while a write transaction is open: services.common.testing.WriteTransactions
pytestmark = pytest.mark.usefixtures("no_calls_in_write_transactions")

TARGETS = {"college": 1.0, "intermediate": 0.8, "vet_centre": 0.5}


async def registry_codes(platform: Platform, type: str, province: str | None = None) -> set[str]:
    """The registry's active institutions of a type, read page by page from identity as any client would."""
    codes: set[str] = set()
    params: dict[str, Any] = {"type": type, "status": "active", "limit": 2}  # small pages: paging is exercised
    if province:
        params["province"] = province
    async with platform.client("identity") as c:
        while True:
            page = await ok(await c.get("/v1/institutions", params=params))
            codes |= {i["code"] for i in page["items"]}
            if not page["next_cursor"]:
                return codes
            params["cursor"] = page["next_cursor"]


async def coverage(c: httpx.AsyncClient, platform: Platform, who: dict[str, str]) -> dict[str, tuple[int, int, float, float]]:
    directory.forget_listings(platform.apps["learning"].state.learning)  # the registry changed in this test: read it again
    targets = await ok(await c.get("/v1/course-reports/targets", headers=who))
    return {x["institution_type"]: (x["institutions"], x["institutions_trained"], x["share"], x["target"])
            for x in targets["institution_coverage"]}


async def test_coverage_by_institution_type(platform: Platform, people: People) -> None:
    # Đà Nẵng (048): a province no other test counts in, and an officer of it
    boss, school = await ministry(platform), await platform.school_headers()
    danang = await new_person(platform, "province:048", "province_officer")
    tag = uuid.uuid4().hex[:6].upper()
    new = {"college": f"CDX{tag}", "intermediate": f"TCX{tag}", "vet_centre": f"TTX{tag}"}
    async with platform.client("learning") as c:
        before = await coverage(c, platform, boss)
        for kind, (n, _, share, target) in before.items():
            assert n == len(await registry_codes(platform, kind)) and target == TARGETS[kind]
            assert share == (round(before[kind][1] / n, 4) if n else 0.0)
        async with platform.client("identity") as ic:
            for kind, code in new.items():
                await ok(await ic.post("/v1/institutions", json={"code": code, "name": f"Cơ sở thử {kind} {tag}", "type": kind,
                                                                 "province_code": "048"}, headers=boss), 201)
        grown = await coverage(c, platform, boss)
        assert {k: (v[0], v[1]) for k, v in grown.items()} == {k: (v[0] + 1, v[1]) for k, v in before.items()}

        built = await build_course(c, boss, national=True, audience="both", release_rule="all_open", skill_area="teamwork")
        cid, lessons, quiz = built["course"]["id"], built["lessons"], built["quiz"]

        async def enrol_and_complete(at: str, role: str = "student") -> str:
            who, _ = await learner(platform, at, role)
            enrolment = await ok(await c.post(f"/v1/courses/{cid}/enrolments", headers=who), 201)
            assert enrolment["institution_code"] == at and enrolment["institution_type"] == next(k for k, v in new.items() if v == at)
            for lesson in lessons[:2]:
                await ok(await c.post(f"/v1/enrolments/{enrolment['id']}/lessons/{lesson['id']}/progress", json={"event": "completed"}, headers=who))
            attempt = await ok(await c.post(f"/v1/enrolments/{enrolment['id']}/quizzes/{quiz['id']}/attempts", headers=who), 201)
            await ok(await c.post(f"/v1/attempts/{attempt['id']}/submit", json={"answers": answers_for(attempt, built["specs"], right=True)}, headers=who))
            assert (await ok(await c.get(f"/v1/enrolments/{enrolment['id']}", headers=who)))["status"] == "completed"
            return str(enrolment["id"])

        # two students of the new college complete (one institution), a teacher of the new intermediate school
        # completes (teachers do not count), a student of the new VET centre enrols and withdraws (no completion)
        await enrol_and_complete(new["college"])
        await enrol_and_complete(new["college"])
        await enrol_and_complete(new["intermediate"], "teacher")
        dropout, _ = await learner(platform, new["vet_centre"])
        gone = await ok(await c.post(f"/v1/courses/{cid}/enrolments", headers=dropout), 201)
        await ok(await c.post(f"/v1/enrolments/{gone['id']}/withdraw", json={"reason": "Thôi học"}, headers=dropout))
        now = await coverage(c, platform, boss)
        assert now["college"][:2] == (before["college"][0] + 1, before["college"][1] + 1)
        assert now["intermediate"][:2] == (before["intermediate"][0] + 1, before["intermediate"][1])
        assert now["vet_centre"][:2] == (before["vet_centre"][0] + 1, before["vet_centre"][1])
        assert now["college"][2] == round(now["college"][1] / now["college"][0], 4)

        # an enrolment from before the type was kept (null): its institution's type comes from the registry
        legacy = await enrol_and_complete(new["intermediate"])
        async with platform.apps["learning"].state.db.session() as session:
            await session.execute(update(CourseEnrolment).where(CourseEnrolment.id == uuid.UUID(legacy)).values(institution_type=None))
        now = await coverage(c, platform, boss)
        assert now["intermediate"][:2] == (before["intermediate"][0] + 1, before["intermediate"][1] + 1)

        # the province officer's scope: the registry's institutions of the province, its institutions trained
        in_danang = await coverage(c, platform, danang)
        for kind in TARGETS:
            assert in_danang[kind][0] == len(await registry_codes(platform, kind, "048"))
        assert in_danang["college"][1] >= 1 and in_danang["intermediate"][1] >= 1
        # a school sees its own institution only (CD0101 is a college)
        mine = await coverage(c, platform, school)
        assert mine["college"][0] == 1 and mine["intermediate"][0] == 0 and mine["vet_centre"] == (0, 0, 0.0, 0.5)

        # an institution that closes leaves both numbers
        async with platform.client("identity") as ic:
            await ok(await ic.patch(f"/v1/institutions/{new['college']}", json={"status": "closed"}, headers=boss))
        closed = await coverage(c, platform, boss)
        assert closed["college"][:2] == (before["college"][0], before["college"][1])
        # students only: teachers and learners without a report scope see nothing
        assert (await c.get("/v1/course-reports/targets", headers=people.student)).status_code == 403
