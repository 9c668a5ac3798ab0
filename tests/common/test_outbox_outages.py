"""The outbox through outages (issue 14, finding 4): transient failures never make an event dead, the back-off is
capped at 60 s, a sender wakes when the receiver's /readyz answers again, and dead events are re-driven in bulk
(admin API and ``python -m services outbox redrive``). Outages are played on a fake clock."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, func, insert, select

from services.common.db import Database
from services.common.models import OutboxEvent
from services.common.outbox import Outbox, OutboxDeliverer, outbox_stats
from services.common.service_client import ServiceTokenProvider
from services.common.testing import FakeClock, FaultInjectingTransport
from tests.support import Platform, UrlFactory, authority, service_url

ROOT = Path(__file__).resolve().parents[2]
RECEIVER = authority("credentials")
EVENTS_URL = f"{service_url('credentials')}/v1/events"


@dataclass
class Sender:
    """A sending service's outbox on a database of its own, delivering to the platform's credentials service
    through a transport that can take it down, on a fake clock."""

    db: Database
    clock: FakeClock
    transport: FaultInjectingTransport
    deliverer: OutboxDeliverer
    outbox: Outbox

    async def emit(self, n: int, event_type: str) -> list[uuid.UUID]:
        async with self.db.session() as session:
            rows = [self.outbox.emit(session, event_type, {"n": i}, destinations=[EVENTS_URL])[0] for i in range(n)]
        return [r.id for r in rows]

    async def rows(self) -> list[OutboxEvent]:
        async with self.db.session(write=False) as session:
            return list((await session.scalars(select(OutboxEvent))).all())

    def deliveries(self) -> Counter[str]:
        """Event id → how many POSTs of it the receiver accepted (202) or acknowledged as a repeat (200)."""
        return Counter(x.idempotency_key for x in self.transport.exchanges
                       if x.url == EVENTS_URL and x.status is not None and 200 <= x.status < 300)


@pytest.fixture
async def sender(platform: Platform, database_factory: UrlFactory) -> AsyncIterator[Sender]:
    db = Database(await database_factory("records"))
    clock = FakeClock()
    transport = FaultInjectingTransport(platform.transport, clock)
    client = httpx.AsyncClient(transport=transport)
    settings = platform.settings["records"]
    tokens = ServiceTokenProvider(f"{service_url('identity')}/oauth/token", settings.client_id, settings.client_secret, client)
    deliverer = OutboxDeliverer(db, client, tokens, max_delay=60.0, health_poll_seconds=5.0, clock=clock)
    try:
        yield Sender(db, clock, transport, deliverer, Outbox("records"))
    finally:
        await client.aclose()
        await db.dispose()


def outage_type() -> str:
    return f"vn.vet.test.outage-{uuid.uuid4().hex[:8]}"  # a type no receiver handles: stored in the inbox only


@pytest.mark.parametrize("how", ["connect", "timeout", 408, 429, 500, 502, 503, 504])
async def test_transient_failures_keep_the_event_pending(sender: Sender, how: str | int) -> None:
    (event_id,) = await sender.emit(1, outage_type())
    sender.transport.fail(RECEIVER, how)
    delays = []
    for _ in range(15):  # more than the 12 attempts after which events used to die
        await sender.clock.advance(61, step=61)
        await sender.deliverer.run_once()
        (row,) = await sender.rows()
        assert row.status == "pending", row.last_error
        delays.append((row.next_attempt_at - sender.clock.now()).total_seconds())
    assert row.attempts == 15
    assert max(delays) <= 60.0 and max(delays) >= 30.0  # doubled up to the cap of 60 s (with jitter), never more
    sender.transport.restore(RECEIVER)
    await sender.clock.advance(61, step=61)
    assert await sender.deliverer.run_once() == 1
    assert sender.deliveries() == {str(event_id): 1}


@pytest.mark.parametrize("status", [400, 403, 404, 409, 410, 413, 422])
async def test_a_refusal_makes_the_event_dead_at_once(sender: Sender, status: int) -> None:
    await sender.emit(1, outage_type())
    sender.transport.fail(RECEIVER, status)
    await sender.deliverer.run_once()
    (row,) = await sender.rows()
    assert (row.status, row.attempts) == ("dead", 1) and row.last_error.startswith(f"HTTP {status}")


async def test_receiver_down_20_minutes_every_event_arrives_once_soon_after_it_returns(sender: Sender) -> None:
    clock, transport = sender.clock, sender.transport
    kind = outage_type()
    transport.fail(RECEIVER, "connect")
    loop = clock.spawn(sender.deliverer.run_forever(poll_seconds=1.0))
    try:
        ids = await sender.emit(20, kind)
        await clock.advance(10 * 60)
        ids += await sender.emit(20, kind)  # more events while it is down
        await clock.advance(10 * 60)
        # the outage, as an operator sees it: nothing dead, everything pending, the lag as long as the outage
        async with sender.db.session(write=False) as session:
            stats = await outbox_stats(session, clock.now())
        first = min(r.created_at for r in await sender.rows())
        assert (stats.pending, stats.dead) == (40, 0)
        assert stats.lag_seconds == pytest.approx((clock.now() - first).total_seconds()) and stats.lag_seconds >= 20 * 60
        attempts = Counter(x.idempotency_key for x in transport.exchanges if x.url == EVENTS_URL)
        assert max(attempts.values()) <= 30  # held back while it is down: about one try a minute, not a storm
        probes = [x for x in transport.exchanges if x.url.endswith("/readyz")]
        assert len(probes) >= 20 * 60 / 5 - 5  # its health is polled every 5 s

        transport.restore(RECEIVER)
        back = clock.now()

        async def all_delivered() -> bool:
            return all(r.status == "delivered" for r in await sender.rows())

        await clock.advance_until(all_delivered, limit=120)
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    delivered_at = {x.idempotency_key: x.at for x in transport.exchanges if x.url == EVENTS_URL and x.status == 202}
    assert sender.deliveries() == {str(i): 1 for i in ids}  # every event exactly once (no repeat reached the receiver)
    latest = max(delivered_at.values()) - back
    assert latest <= timedelta(seconds=60)
    assert latest <= timedelta(seconds=5 + 2)  # woken by the health poll, not by its back-off
    # the receiver has each of them once
    async with httpx.AsyncClient(transport=transport, base_url=service_url("credentials")) as c:
        token = (await c.post(f"{service_url('identity')}/oauth/token", data={"grant_type": "client_credentials",
                 "scope": "credentials:admin"}, auth=("platform-admin", "dev-only-platform-admin-secret"))).json()["access_token"]
        r = await c.get("/v1/admin/inbox", params={"type": kind, "limit": 500}, headers={"Authorization": f"Bearer {token}"})
    assert sorted(e["id"] for e in r.json()["items"]) == sorted(str(i) for i in ids)


# -- dead events, re-driven in bulk -----------------------------------------------------------------------------------
async def add_dead(db: Database, event_type: str, destination: str, created_at: datetime, n: int = 1) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(n)]
    async with db.session() as session:
        await session.execute(insert(OutboxEvent), [
            {"id": i, "type": event_type, "source": "records", "subject": None, "data": {}, "destination": destination,
             "status": "dead", "attempts": 3, "next_attempt_at": created_at, "last_error": "HTTP 400", "created_at": created_at}
            for i in ids])
    return ids


async def states(db: Database, ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, int]]:
    async with db.session(write=False) as session:
        rows = (await session.execute(select(OutboxEvent.id, OutboxEvent.status, OutboxEvent.attempts)
                                      .where(OutboxEvent.id.in_(ids)))).all()
    return {r[0]: (r[1], r[2]) for r in rows}


async def test_redrive_by_filter_through_the_admin_api(platform: Platform) -> None:
    db: Database = platform.apps["records"].state.db
    kind = outage_type()
    old = datetime(2026, 1, 1, tzinfo=UTC)
    new = datetime.now(UTC)
    a = await add_dead(db, kind, "http://127.0.0.1:9/v1/events", new, 3)
    b = await add_dead(db, kind, "http://127.0.0.2:9/v1/events", new)
    c_old = await add_dead(db, kind, "http://127.0.0.1:9/v1/events", old)
    other = await add_dead(db, kind + "-other", "http://127.0.0.1:9/v1/events", new)
    every = a + b + c_old + other
    headers = await platform.admin_headers("records:admin")
    try:
        async with platform.client("records") as c:
            listed = await c.get("/v1/admin/outbox", params={"state": "dead", "type": kind, "limit": 500}, headers=headers)
            assert sorted(e["id"] for e in listed.json()["items"]) == sorted(str(i) for i in a + b + c_old)
            stats = (await c.get("/v1/admin/outbox/stats", headers=headers)).json()
            assert stats["dead"] >= 6
            # a misspelt or malformed filter is refused, naming the field: it must never widen to every dead event
            for body, field in (({"typ": kind}, "typ"), ({"type": kind, "since": "2026-01-01T00:00:00"}, "since"),
                                ({"type": ""}, "type"), ({"type": "a\u0000b"}, "type"), ({"receiver": "x" * 2001}, "receiver"),
                                ({"since": "9999-12-31T23:59:59-23:59"}, "since"), ({"since": "0001-01-01T00:00:00+23:00"}, "since")):
                r = await c.post("/v1/admin/outbox/redrive", json=body, headers=headers)
                assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
            for params, field in (({"since": "9999-12-31T23:59:59-23:59"}, "since"), ({"type": "a\u0000"}, "type")):
                r = await c.get("/v1/admin/outbox", params=params, headers=headers)
                assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
            assert (await c.post("/v1/admin/outbox/redrive", json={"type": kind}, headers=await platform.school_headers())).status_code == 403
            r = await c.post("/v1/admin/outbox/redrive", headers=headers,
                             json={"type": kind, "receiver": "http://127.0.0.1:9", "since": "2026-06-01T00:00:00+07:00"})
            assert r.status_code == 200 and r.json() == {"redriven": 3}
        after = await states(db, every)
        assert {after[i] for i in a} == {("pending", 0)}
        assert {after[i] for i in b + c_old + other} == {("dead", 3)}
    finally:
        async with db.session() as session:
            await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(every)))


async def test_redrive_from_the_command_line(database_factory: UrlFactory) -> None:
    url = await database_factory("records")
    db = Database(url)
    kind = outage_type()
    try:
        mine = await add_dead(db, kind, EVENTS_URL, datetime.now(UTC), 2)
        other = await add_dead(db, "vn.vet.other.kind", EVENTS_URL, datetime.now(UTC))
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECORDS_")} | {"RECORDS_DATABASE_URL": url}

        async def cli(*args: str) -> str:
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "services", "outbox", *args, cwd=ROOT, env=env,
                                                        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await asyncio.wait_for(proc.communicate(), 120)
            assert proc.returncode == 0, out.decode()
            return out.decode()

        assert "records: pending 0, dead 3" in await cli("stats", "records")
        assert "records: 2 dead event(s) re-driven" in await cli("redrive", "records", "--type", "vn.vet.test.*")
        after = await states(db, mine + other)
        assert [after[i] for i in mine] == [("pending", 0)] * 2 and after[other[0]] == ("dead", 3)
        async with db.session(write=False) as session:
            assert await session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.status == "pending")) == 2
    finally:
        await db.dispose()
