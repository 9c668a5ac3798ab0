"""Across services, through their public APIs: a school syncs a cohort into records, decides its graduation;
the outbox carries `learner.graduated` to credentials, which issues a signed diploma once (even when the event is
delivered twice) and tells records through its own outbox; anyone verifies the diploma."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select, update

from services.common.models import OutboxEvent
from services.common.outbox import OutboxDeliverer
from tests.credentials.factories import wait_for_event_jobs
from tests.records.helpers import code, grade, id_number, learner, run_ok, world
from tests.support import Platform


def deliverer(platform: Platform, service: str) -> OutboxDeliverer:
    state = platform.apps[service].state
    return OutboxDeliverer(state.db, state.http, state.tokens, base_delay=0.0)


async def diplomas_of(platform: Platform, name: str, school: dict[str, str]) -> list[dict[str, Any]]:
    async with platform.client("credentials") as c:
        r = await c.get("/v1/credentials", params={"institution": "CD0101", "limit": 500}, headers=school)
    assert r.status_code == 200, r.text
    return [i for i in r.json()["items"] if i["holder_name"] == name]


async def test_graduation_becomes_one_verifiable_diploma(platform: Platform) -> None:
    school = await platform.school_headers()
    p, t, k, number, name = code("CNTT"), code("HK"), code("K"), id_number(), "Đặng Quốc Việt"
    async with platform.client("records") as c:
        batch = world(p, t, k, [learner(number, name, p, k, date_of_birth="2004-01-20", sex="male", birth_place="Nam Định")], [
            grade(number, p, "M1", t, "8", "9"),
            grade(number, p, "M2", t, "7", "8"),
            grade(number, p, "GDQP", t, "6", "6"),
        ])
        await run_ok(c, school, batch)
        cohort = next(x for x in (await c.get("/v1/institutions/CD0101/cohorts", headers=school)).json() if x["code"] == k)
        grad = await c.post(f"/v1/cohorts/{cohort['id']}/graduation",
                            json={"decision_number": "77/QĐ-CĐKT", "decision_date": "2026-06-30"}, headers=school)
    assert grad.status_code == 200 and grad.json()["graduated"] == 1, grad.text

    # records → credentials, and then the same event again, as an at-least-once channel may
    assert await deliverer(platform, "records").run_once() >= 1
    async with platform.apps["records"].state.db.session() as session:
        await session.execute(update(OutboxEvent).where(OutboxEvent.type == "vn.vet.records.learner.graduated",
                                                        OutboxEvent.status == "delivered").values(status="pending"))
    await deliverer(platform, "records").run_once()

    # the credentials job worker issues in the background: one job per event accepted (the redelivery of an id it
    # has seen is a no-op), waited for until every one has ended
    async with platform.apps["records"].state.db.session() as session:  # this test's graduation (its programme)
        events = (await session.scalars(select(OutboxEvent).where(OutboxEvent.type == "vn.vet.records.learner.graduated"))).all()
        event_ids = [str(e.id) for e in events if p in json.dumps(e.data, ensure_ascii=False)]
    assert len(event_ids) == 1, event_ids
    async with platform.client("credentials") as c:
        await wait_for_event_jobs(c, school, "CD0101", event_ids, timeout=120)
    found = await diplomas_of(platform, name, school)
    assert len(found) == 1, found

    async with platform.client("credentials") as c:
        full = (await c.get(f"/v1/credentials/{found[0]['id']}", headers=school)).json()
        verified = (await c.post("/v1/verify", json=full["document"])).json()
    assert full["kind"] == "diploma" and full["document"]["credentialSubject"]["classification"]
    # the holder is the learner's personal ID number, salted and hashed (OB 3.0 IdentityObject), never in clear
    [identity] = full["document"]["credentialSubject"]["identifier"]
    assert identity["identityType"] == "nationalIdentityNumber" and identity["hashed"] is True
    assert identity["identityHash"] == "sha256$" + hashlib.sha256((number + identity["salt"]).encode()).hexdigest()
    assert number not in json.dumps(full["document"])
    assert verified["outcome"] == "valid", verified

    # credentials → records: the issued event arrives in records' inbox (other tests' events may be queued first)
    sender = deliverer(platform, "credentials")
    for _ in range(1000):
        if not await sender.run_once():
            break
    issued: list[dict[str, Any]] = []
    cursor = None
    async with platform.client("records") as c:
        while True:
            params = {"type": "vn.vet.credentials.credential.issued", "limit": 500} | ({"cursor": cursor} if cursor else {})
            page = (await c.get("/v1/admin/inbox", params=params, headers=await platform.admin_headers())).json()
            issued += [e for e in page["items"] if e["data"]["credential_id"] == found[0]["id"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
    assert len(issued) == 1 and issued[0]["data"]["type"] == "diploma" and issued[0]["data"]["status"] == "active"
