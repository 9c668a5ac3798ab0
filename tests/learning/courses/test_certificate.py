"""Across services: a student completes a national course; the completion event (delivered twice) becomes exactly
one verifiable Open Badges course certificate; credentials' issued event marks the enrolment certified."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update

from services.common.models import OutboxEvent
from services.common.outbox import OutboxDeliverer
from services.credentials.models import Credential
from services.learning.models import CourseEnrolment
from tests.learning.conftest import People
from tests.learning.courses.helpers import COMPLETED, answers_for, build_course, completion_events, ministry, ok
from tests.support import Platform, eventually


def deliverer(platform: Platform, service: str) -> OutboxDeliverer:
    state = platform.apps[service].state
    return OutboxDeliverer(state.db, state.http, state.tokens, base_delay=0.0)


async def test_completion_becomes_one_certificate(platform: Platform, people: People) -> None:
    boss = await ministry(platform)
    async with platform.client("learning") as c:
        built = await build_course(c, boss, national=True, title=f"Kỹ năng giao tiếp {uuid.uuid4().hex[:6]}")
        cid, lessons, quiz = built["course"]["id"], built["lessons"], built["quiz"]
        eid = (await ok(await c.post(f"/v1/courses/{cid}/enrolments", headers=people.student), 201))["id"]
        for lesson in lessons[:2]:
            await ok(await c.post(f"/v1/enrolments/{eid}/lessons/{lesson['id']}/progress", json={"event": "completed"}, headers=people.student))
        attempt = await ok(await c.post(f"/v1/enrolments/{eid}/quizzes/{quiz['id']}/attempts", headers=people.student), 201)
        await ok(await c.post(f"/v1/attempts/{attempt['id']}/submit", json={"answers": answers_for(attempt, built["specs"], right=True)},
                              headers=people.student))
    [event] = await completion_events(platform, eid)
    assert event.data["person_id"] and "holder" not in event.data and "institution_code" not in event.data  # national

    # learning → credentials, then the same event again
    sender = deliverer(platform, "learning")
    for _ in range(100):
        if not await sender.run_once():
            break
    async with platform.apps["learning"].state.db.session() as session:
        await session.execute(update(OutboxEvent).where(OutboxEvent.id == event.id).values(status="pending"))
    await sender.run_once()

    back = deliverer(platform, "credentials")
    async with platform.client("learning") as c:
        async def certified() -> str | None:  # credentials issues in the background, then tells learning through its outbox
            await back.run_once()
            standing = await ok(await c.get(f"/v1/enrolments/{eid}", headers=people.student))
            return await credential_of(platform, eid) if standing["certified_at"] else None

        credential_id = await eventually(certified, interval=0.1, what="the enrolment certified")
        report = await ok(await c.get("/v1/course-reports", params={"course_id": cid}, headers=boss))
        assert (report["total"]["completed"], report["total"]["certified"]) == (1, 1)

    admin = await platform.admin_headers()
    async with platform.client("credentials") as c:
        full = await ok(await c.get(f"/v1/credentials/{credential_id}", headers=admin))
        assert full["kind"] == "course_certificate"
        assert full["document"]["credentialSubject"]["achievement"]["name"] == built["course"]["title"]
        verified = await ok(await c.post("/v1/verify", json=full["document"]))
        assert verified["outcome"] == "valid", verified
    # exactly one certificate for the two deliveries
    async with platform.apps["credentials"].state.db.session(write=False) as session:
        count = await session.scalar(select(func.count()).select_from(Credential).where(Credential.source_event_id == event.id))
    assert count == 1 and event.type == COMPLETED


async def credential_of(platform: Platform, enrolment_id: str) -> str | None:
    async with platform.apps["learning"].state.db.session(write=False) as session:
        row = await session.get(CourseEnrolment, uuid.UUID(enrolment_id))
        return row.credential_id if row else None
