"""Transactional outbox: an event survives the receiver being down and arrives exactly once as the receiver sees it."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, update

from services.common.models import OutboxEvent
from services.common.outbox import OutboxDeliverer
from tests.support import Platform, authority, service_url

EVENT = "vn.vet.records.learner.graduated"


def deliverer(platform: Platform, **kw) -> OutboxDeliverer:
    state = platform.apps["records"].state
    return OutboxDeliverer(state.db, state.http, state.tokens, base_delay=0.0, **kw)


async def emit(platform: Platform, data: dict, *, fail: bool = False) -> uuid.UUID:
    state = platform.apps["records"].state
    try:
        async with state.db.session() as session:
            rows = state.outbox.emit(session, EVENT, data, subject="learner/1", destinations=[f"{service_url('credentials')}/v1/events"])
            if fail:
                raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    return rows[0].id


async def status_of(platform: Platform, event_id: uuid.UUID) -> OutboxEvent:
    async with platform.apps["records"].state.db.session(write=False) as session:
        return await session.scalar(select(OutboxEvent).where(OutboxEvent.id == event_id))


async def inbox_ids(platform: Platform) -> list[str]:
    headers = await platform.admin_headers("credentials:admin")
    ids: list[str] = []
    cursor = None
    async with platform.client("credentials") as c:
        while True:
            params = {"type": EVENT, "limit": 200} | ({"cursor": cursor} if cursor else {})
            r = await c.get("/v1/admin/inbox", params=params, headers=headers)
            assert r.status_code == 200, r.text
            ids += [item["id"] for item in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if not cursor:
                return ids


async def test_event_waits_for_a_down_receiver_and_arrives_exactly_once(platform: Platform) -> None:
    event_id = await emit(platform, {"learner": "Lê Thị Hoa", "year": 2026})
    platform.transport.remove(authority("credentials"))  # the receiver is down
    try:
        assert await deliverer(platform).run_once() == 0
        row = await status_of(platform, event_id)
        assert row.status == "pending" and row.attempts == 1 and "ConnectError" in row.last_error
    finally:
        platform.transport.add(authority("credentials"), platform.apps["credentials"])
    assert await deliverer(platform).run_once() >= 1
    row = await status_of(platform, event_id)
    assert row.status == "delivered" and row.attempts == 2
    # the acknowledgement was "lost": the sender delivers again; the receiver dedupes by event id
    async with platform.apps["records"].state.db.session() as session:
        await session.execute(update(OutboxEvent).where(OutboxEvent.id == event_id).values(status="pending"))
    await deliverer(platform).run_once()
    assert (await inbox_ids(platform)).count(str(event_id)) == 1
    assert await deliverer(platform).run_once() == 0


async def test_rolled_back_change_emits_nothing(platform: Platform) -> None:
    event_id = await emit(platform, {"x": 1}, fail=True)
    assert await status_of(platform, event_id) is None


async def test_refused_events_become_dead_and_stay_listed(platform: Platform) -> None:
    """A receiver's 4xx (here 404: no such endpoint) refuses the event for good: dead, listed, retried on demand."""
    state = platform.apps["records"].state
    async with state.db.session() as session:
        rows = state.outbox.emit(session, EVENT, {"x": 2}, destinations=[f"{service_url('credentials')}/v1/no-such-receiver"])
    event_id = rows[0].id
    await deliverer(platform).run_once()
    row = await status_of(platform, event_id)
    assert row.status == "dead" and row.attempts == 1 and row.last_error.startswith("HTTP 404")
    headers = await platform.admin_headers("records:admin")
    async with platform.client("records") as c:
        for params in ({"status": "dead"}, {"state": "dead"}, {}):
            listed = await c.get("/v1/admin/outbox", params=params | {"limit": 500}, headers=headers)
            assert str(event_id) in [e["id"] for e in listed.json()["items"]], params
        retried = await c.post(f"/v1/admin/outbox/{event_id}/retry", headers=headers)
        assert retried.status_code == 200 and retried.json()["status"] == "pending"
        refused = await c.get("/v1/admin/outbox", headers=await platform.school_headers())
        assert refused.status_code == 403
    async with state.db.session() as session:  # gone, so later runs do not keep sending it
        await session.execute(delete(OutboxEvent).where(OutboxEvent.id == event_id))


async def test_a_receiver_that_stays_unreachable_never_makes_an_event_dead(platform: Platform) -> None:
    state = platform.apps["records"].state
    async with state.db.session() as session:
        rows = state.outbox.emit(session, EVENT, {"x": 3}, destinations=["http://127.0.0.1:9/v1/events"])
    event_id = rows[0].id
    try:
        d = deliverer(platform)
        for _ in range(30):  # more than the 12 attempts after which events used to die
            await d.run_once()
        row = await status_of(platform, event_id)
        assert (row.status, row.attempts) == ("pending", 30) and "ConnectError" in row.last_error
    finally:
        async with state.db.session() as session:
            await session.execute(delete(OutboxEvent).where(OutboxEvent.id == event_id))


async def test_receiver_requires_the_delivery_scope(platform: Platform) -> None:
    event = {"specversion": "1.0", "id": str(uuid.uuid4()), "type": EVENT, "source": "records", "data": {}}
    async with platform.client("credentials") as c:
        anonymous = await c.post("/v1/events", json=event)
        school = await c.post("/v1/events", json=event, headers=await platform.school_headers())
        bad = await c.post("/v1/events", json={**event, "specversion": "0.3"},
                           headers={"Authorization": f"Bearer {await platform.token('svc-records', 'dev-only-svc-records-secret')}"})
    assert anonymous.status_code == 401 and school.status_code == 403
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "specversion"
