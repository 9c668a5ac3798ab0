"""Service-to-service calls over several replicas of the called service (``services/common/replicas.py``): round
robin, a replica that cannot be reached skipped for its ejection period, failover of what was never sent, resending
of what may have been sent only when that is safe; the settings' list forms; a service app's own client, its token
and its events reaching the live replica; an event whose first delivery is still running waits instead of dying."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from services.common.models import OutboxEvent
from services.common.outbox import OutboxDeliverer
from services.common.replicas import ReplicaTransport, origin, replica_transport
from services.common.service_client import ServiceTokenProvider
from services.learning.app import create_app as create_learning
from services.records.config import RecordsSettings
from tests.gateway.conftest import ServerThread
from tests.support import Platform, authority, service_settings, service_url

DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port


class Clock:
    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


def named(name: str, seen: Counter[str]) -> Any:
    """A stand-in replica: answers every request with its name and counts what it received."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        while (await receive()).get("more_body"):
            pass
        seen[f"{scope['method']} {scope['path']}"] += 1
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-replica", name.encode())]})
        await send({"type": "http.response.body", "body": name.encode()})

    return app


class Replica:
    def __init__(self, name: str, port: int | None = None) -> None:
        self.name, self.seen = name, Counter[str]()
        self.server = ServerThread(named(name, self.seen), port=port)
        self.url = self.server.url

    def start(self) -> Replica:
        self.server.__enter__()
        return self

    def stop(self) -> None:
        self.server.__exit__(None, None, None)


@pytest.fixture
def two() -> Iterator[tuple[Replica, Replica]]:
    a, b = Replica("a").start(), Replica("b").start()
    yield a, b
    for r in (a, b):
        if r.server.thread.is_alive():
            r.stop()


async def names(client: httpx.AsyncClient, url: str, n: int, method: str = "GET", **kw: Any) -> list[str]:
    out = []
    for _ in range(n):
        r = await client.request(method, url, **kw)
        assert r.status_code == 200, r.text
        out.append(r.headers["x-replica"])
    return out


async def test_round_robin_a_dead_replica_skipped_for_its_period_then_back(two: tuple[Replica, Replica]) -> None:
    a, b = two
    clock = Clock()
    transport = ReplicaTransport([[a.url, b.url]], eject_seconds=10, clock=clock)
    pool = transport.pools[origin(a.url)]
    assert transport.pools[origin(b.url)] is pool  # a call to any replica's address is spread
    async with httpx.AsyncClient(transport=transport, timeout=5) as c:
        assert await names(c, f"{a.url}/v1/x?q=1", 4) == ["a", "b", "a", "b"]
        assert a.seen["GET /v1/x"] == b.seen["GET /v1/x"] == 2

        b.stop()
        # the connection to b is refused: nothing was sent, so even a POST without a key moves on to a
        assert await names(c, f"{b.url}/v1/x", 2, "POST", json={"n": 1}) == ["a", "a"]
        [replica_b] = [r for r in pool.replicas if r.url == origin(b.url)]
        assert pool.ejected_for(replica_b) == 10 and replica_b.ejections == 1
        assert await names(c, f"{a.url}/v1/x", 3) == ["a", "a", "a"]  # skipped: not even tried
        assert replica_b.ejections == 1

        clock.now += 10.5  # its period is over: tried again, still refusing, skipped again
        assert await names(c, f"{a.url}/v1/x", 2) == ["a", "a"]
        assert replica_b.ejections == 2

        restarted = Replica("b", port=b.server.port).start()
        try:
            clock.now += 10.5
            assert sorted(await names(c, f"{a.url}/v1/x", 4)) == ["a", "a", "b", "b"]
            assert pool.ejected_for(replica_b) == 0
        finally:
            restarted.stop()

        a.stop()
        with pytest.raises(httpx.ConnectError):  # every replica down: the caller gets the connection error
            await c.get(f"{a.url}/v1/x")


async def test_when_every_replica_is_ejected_they_are_tried_anyway(two: tuple[Replica, Replica]) -> None:
    a, b = two
    clock = Clock()
    transport = ReplicaTransport([[a.url, b.url]], eject_seconds=10, clock=clock)
    async with httpx.AsyncClient(transport=transport, timeout=5) as c:
        pool = transport.pools[origin(a.url)]
        replica_a, replica_b = pool.replicas
        pool.eject(replica_a)
        clock.now += 1
        pool.eject(replica_b)
        # both skipped: tried anyway, the one back soonest first; it answers, so it is in rotation again
        assert await names(c, f"{b.url}/v1/x", 2) == ["a", "a"]
        assert pool.ejected_for(replica_a) == 0 and pool.ejected_for(replica_b) == 10


class Dropping(httpx.AsyncBaseTransport):
    """Replica ``a`` drops the connection (``error``) after the request went out; ``b`` answers. Records who got
    what, with the body each received."""

    def __init__(self, error: type[Exception]) -> None:
        self.error = error
        self.received: list[tuple[str, str, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = b"".join([chunk async for chunk in request.stream])  # type: ignore[union-attr]
        self.received.append((request.url.host, request.headers["host"], body))
        if request.url.host == "a.test":
            raise self.error("the replica died mid-request", request=request)
        return httpx.Response(200, text="b")


async def _streamed() -> AsyncIterator[bytes]:
    yield b'{"n": 1}'


@pytest.mark.parametrize(("method", "headers", "body", "resent"), [
    ("GET", {}, None, True),
    ("PUT", {}, b'{"n": 1}', True),
    ("DELETE", {}, None, True),
    ("POST", {"Idempotency-Key": "k-1"}, b'{"n": 1}', True),
    ("POST", {}, b'{"n": 1}', False),          # not idempotent, no key: it may have run
    ("PATCH", {}, b'{"n": 1}', False),
    ("POST", {"Idempotency-Key": "k-2"}, "stream", False),  # a streamed body cannot be sent twice
])
@pytest.mark.parametrize("error", [httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError])
async def test_a_request_that_may_have_been_sent_is_resent_only_when_safe(
        method: str, headers: dict[str, str], body: Any, resent: bool, error: type[Exception]) -> None:
    inner = Dropping(error)
    transport = ReplicaTransport([["http://a.test:8001", "http://b.test:8101"]], inner=inner)
    content = _streamed() if body == "stream" else body
    async with httpx.AsyncClient(transport=transport) as c:
        if resent:
            r = await c.request(method, "http://a.test:8001/v1/x?y=1", headers=headers, content=content)
            assert r.status_code == 200 and r.text == "b"
            assert [(host, h) for host, h, _ in inner.received] == [("a.test", "a.test:8001"), ("b.test", "b.test:8101")]
            assert inner.received[0][2] == inner.received[1][2] == (body or b"")  # the same body, whole
        else:
            with pytest.raises(error):
                await c.request(method, "http://a.test:8001/v1/x", headers=headers, content=content)
            assert [host for host, _, _ in inner.received] == ["a.test"]
    # a dropped connection is no reason to skip the replica (it may have been one request's fate)
    assert all(r.ejections == 0 for r in transport.pools["http://a.test:8001"].replicas)


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout])
async def test_a_timeout_is_not_resent_and_ejects_nobody(error: type[Exception]) -> None:
    tried: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tried.append(request.url.host)
        raise error("slow", request=request)

    transport = ReplicaTransport([["http://a.test", "http://b.test"]], inner=httpx.MockTransport(handler))
    async with httpx.AsyncClient(transport=transport) as c:
        with pytest.raises(error):
            await c.get("http://a.test/v1/x")
    assert tried == ["a.test"]
    assert all(r.ejections == 0 for r in transport.pools["http://a.test:80"].replicas)


async def test_other_addresses_and_single_urls_pass_through() -> None:
    seen: list[str] = []
    inner = httpx.MockTransport(lambda request: (seen.append(str(request.url)), httpx.Response(204))[1])
    assert replica_transport([["http://a.test"], ["http://c.test"]], 10, inner) is inner  # nothing to spread
    transport = replica_transport([["http://a.test", "http://b.test"]], 10, inner)
    assert isinstance(transport, ReplicaTransport)
    async with httpx.AsyncClient(transport=transport) as c:
        await c.get("http://other.test:8080/x")
        await c.get("http://a.test:8080/x")  # another port: another service
    assert seen == ["http://other.test:8080/x", "http://a.test:8080/x"]


def test_settings_take_lists_keep_the_first_and_refuse_replicas_that_differ_in_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORDS_IDENTITY_URL", "http://10.0.0.5:8001, http://10.0.0.6:8001/")
    monkeypatch.setenv("RECORDS_EVENT_ROUTES", json.dumps({"vn.vet.records.*": [
        "http://10.0.0.7:8004/v1/events,http://10.0.0.8:8004/v1/events", "http://10.0.0.9:8002/v1/events"]}))
    s = RecordsSettings()
    assert s.identity_url == "http://10.0.0.5:8001"  # links and the outbox rows name the first
    assert s.event_routes == {"vn.vet.records.*": ["http://10.0.0.7:8004/v1/events", "http://10.0.0.9:8002/v1/events"]}
    assert s.replica_groups == [["http://10.0.0.5:8001", "http://10.0.0.6:8001"],
                                ["http://10.0.0.7:8004/v1/events", "http://10.0.0.8:8004/v1/events"]]
    monkeypatch.setenv("RECORDS_IDENTITY_URL", '["http://10.0.0.5:8001", "http://10.0.0.6:8001"]')
    assert RecordsSettings().replica_groups[0] == ["http://10.0.0.5:8001", "http://10.0.0.6:8001"]
    monkeypatch.delenv("RECORDS_EVENT_ROUTES")
    monkeypatch.setenv("RECORDS_IDENTITY_URL", "http://10.0.0.5:8001")
    assert RecordsSettings().replica_groups == []  # one URL: the client as it always was
    for bad in ("http://10.0.0.5:8001/a,http://10.0.0.6:8001/b", "http://10.0.0.5:8001,ftp://x"):
        monkeypatch.setenv("RECORDS_IDENTITY_URL", bad)
        with pytest.raises(ValidationError) as refused:
            RecordsSettings()
        assert "identity_url" in str(refused.value) or "URL" in str(refused.value)


# -- a service's own client, on the in-process platform ------------------------------------------------------------

async def test_a_service_app_gets_its_token_from_the_live_identity_replica(platform: Platform, tmp_path: Any) -> None:
    """The app's shared client (``create_service_app``) takes identity's list: with the first replica down, the
    service's token (a POST never sent: the connection was refused) and identity's keys come from the second."""
    settings = service_settings("learning", platform.settings["learning"].database_url, tmp_path,
                                identity_url=f"{DEAD},{service_url('identity')}")
    app = create_learning(settings, http_transport=platform.transport)
    try:
        for _ in range(2):  # whichever replica is next in turn
            app.state.tokens.invalidate()
            assert await app.state.tokens.token()
            keys = await app.state.http.get(f"{DEAD}/.well-known/jwks.json")
            assert keys.status_code == 200 and keys.json()["keys"]
    finally:
        await app.state.http.aclose()
        await app.state.db.dispose()


class LostAnswers(httpx.AsyncBaseTransport):
    """In front of the platform, as credentials' replica ``a`` (an address of its own): it runs the request, then
    its connection drops before the answer (it died after doing the work). ``busy``: the next N event deliveries
    get the receiver's 409 for a key whose first request is still running."""

    def __init__(self, inner: httpx.AsyncBaseTransport, a: str, busy: int = 0) -> None:
        self.inner, self.a, self.busy = inner, a, busy
        self.log: list[tuple[str, int | str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        netloc = request.url.netloc.decode()
        if self.busy and request.url.path == "/v1/events":
            self.busy -= 1
            self.log.append((netloc, 409))
            return httpx.Response(409, headers={"retry-after": "2"}, json={"status": 409, "title": "Conflict"})
        if netloc != self.a:
            response = await self.inner.handle_async_request(request)
            replayed = response.headers.get("idempotent-replayed") == "true"
            self.log.append((netloc, f"{response.status_code}{' replayed' if replayed else ''}"))
            return response
        real = httpx.URL(service_url("credentials"))
        response = await self.inner.handle_async_request(httpx.Request(
            request.method, request.url.copy_with(host=real.host, port=real.port), headers=request.headers,
            stream=request.stream))
        await response.aread()
        self.log.append((netloc, None))
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)


async def _inbox_count(platform: Platform, event_type: str, event_id: uuid.UUID) -> int:
    headers = await platform.admin_headers("credentials:admin")
    async with platform.client("credentials") as c:
        r = await c.get("/v1/admin/inbox", params={"type": event_type, "limit": 200}, headers=headers)
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"]].count(str(event_id))


async def test_an_event_reaches_the_live_replica_once_and_a_busy_key_waits(platform: Platform) -> None:
    """Records' outbox sends to credentials' replicas: the first drops the connection after storing the event (it
    died answering); the event carries its id as ``Idempotency-Key``, so it is resent to the second, which answers
    with the first outcome; the inbox holds it once. A 409 with ``Retry-After`` (the key's first request still
    running) leaves the event pending for that long, never dead."""
    state = platform.apps["records"].state
    a = "127.0.0.1:18004"
    inner = LostAnswers(platform.transport, a)
    client = httpx.AsyncClient(transport=ReplicaTransport([[f"http://{a}", service_url("credentials")]], inner=inner))
    tokens = ServiceTokenProvider(f"{service_url('identity')}/oauth/token", state.settings.client_id,
                                  state.settings.client_secret, client)
    sender = OutboxDeliverer(state.db, client, tokens, base_delay=0.0)
    event_type = f"vn.vet.test.replicas-{uuid.uuid4().hex[:8]}"
    try:
        async with state.db.session() as session:
            [row] = state.outbox.emit(session, event_type, {"n": 1}, destinations=[f"http://{a}/v1/events"])
        assert await sender.run_once() == 1
        # a stored it and died answering; b answers with a's outcome (the key's stored response), storing nothing
        assert inner.log[-2:] == [(a, None), (authority("credentials"), "202 replayed")]
        async with state.db.session(write=False) as session:
            sent = await session.scalar(select(OutboxEvent).where(OutboxEvent.id == row.id))
        assert sent.status == "delivered", sent.last_error
        assert await _inbox_count(platform, event_type, row.id) == 1

        inner.busy = 1
        async with state.db.session() as session:
            [busy] = state.outbox.emit(session, event_type, {"n": 2}, destinations=[f"http://{a}/v1/events"])
        await sender.run_once()
        async with state.db.session(write=False) as session:
            waiting = await session.scalar(select(OutboxEvent).where(OutboxEvent.id == busy.id))
        assert waiting.status == "pending" and waiting.last_error.startswith("HTTP 409"), waiting.last_error
        assert (waiting.next_attempt_at - waiting.created_at).total_seconds() >= 1.9
    finally:
        await client.aclose()
