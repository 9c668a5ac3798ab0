"""Public documents' HTTP caching (services.common.httpcache): ETags and 304s, copies answered from memory, and
never one caller's answer to another."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from services.common.httpcache import PublicCache, PublicCacheMiddleware, cache_public, invalidate_public


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> FastAPI:
    """Routes whose answers say who asked and how many times the route ran."""
    app = FastAPI()
    app.state.ran = 0
    app.state.document = "v1"
    app.state.public_cache = PublicCache(clock=clock)
    app.state.gate = None
    app.state.waiting = asyncio.Event()  # set when a read stops at the gate

    def who(request: Request) -> str:
        return request.headers.get("authorization") or request.headers.get("cookie") or "anonymous"

    @app.get("/doc/{name}")
    async def doc(name: str, request: Request) -> Response:
        app.state.ran += 1
        if app.state.gate is not None:
            app.state.waiting.set()
            await app.state.gate.wait()
        return Response(f'{{"doc":"{name}","version":"{app.state.document}","for":"{who(request)}"}}',
                        media_type="application/json", headers={"Cache-Control": "public, max-age=300"})

    @app.get("/tagged")
    async def tagged() -> Response:
        app.state.ran += 1
        return Response("{}", media_type="application/json", headers={"Cache-Control": "public, max-age=300", "ETag": '"v7"'})

    @app.get("/personal/{kind}")
    async def personal(kind: str, request: Request) -> Response:
        app.state.ran += 1
        headers = {"private": {"Cache-Control": "private, max-age=60"},
                   "cookie": {"Cache-Control": "public, max-age=60", "Set-Cookie": f"s={who(request)}"},
                   "vary": {"Cache-Control": "public, max-age=60", "Vary": "Accept-Language"},
                   "none": {}}[kind]
        return Response(f'{{"for":"{who(request)}"}}', media_type="application/json", headers=headers)

    @app.get("/missing")
    async def missing() -> Response:
        app.state.ran += 1
        return Response("{}", status_code=404, headers={"Cache-Control": "public, max-age=60"})

    for path in ("/doc/{name}", "/tagged", "/personal/{kind}", "/missing"):
        cache_public(app, path, 5.0)
    app.add_middleware(PublicCacheMiddleware, owner=app)
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_copy_answers_until_it_expires_with_an_etag_and_304s(app: FastAPI, clock: Clock) -> None:
    async with client(app) as c:
        first = await c.get("/doc/a")
        again = await c.get("/doc/a")
        revalidated = await c.get("/doc/a", headers={"If-None-Match": first.headers["etag"]})
        other_tag = await c.get("/doc/a", headers={"If-None-Match": '"not-it"'})
        head = await c.head("/doc/a")
        assert app.state.ran == 1
        clock.now += 5.0
        app.state.document = "v2"
        expired = await c.get("/doc/a")
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert first.headers["etag"] == again.headers["etag"] and again.headers["age"] == "0"
    assert revalidated.status_code == 304 and revalidated.content == b""
    assert revalidated.headers["etag"] == first.headers["etag"] and "max-age=300" in revalidated.headers["cache-control"]
    assert other_tag.status_code == 200 and other_tag.json()["version"] == "v1"
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(first.content))
    assert expired.json()["version"] == "v2" and expired.headers["etag"] != first.headers["etag"]
    assert app.state.ran == 2


async def test_the_routes_own_etag_is_kept_and_revalidates_on_a_miss(app: FastAPI) -> None:
    async with client(app) as c:
        miss = await c.get("/tagged", headers={"If-None-Match": 'W/"v7"'})
        hit = await c.get("/tagged")
    assert miss.status_code == 304 and hit.status_code == 200 and hit.headers["etag"] == '"v7"'
    assert app.state.ran == 1


async def test_a_caller_with_credentials_never_gets_nor_leaves_a_shared_copy(app: FastAPI) -> None:
    async with client(app) as c:
        alice = await c.get("/doc/a", headers={"Authorization": "Bearer alice"})
        bob = await c.get("/doc/a", headers={"Authorization": "Bearer bob"})
        cookie = await c.get("/doc/a", headers={"Cookie": "session=carol"})
        anonymous = await c.get("/doc/a")
        alice_again = await c.get("/doc/a", headers={"Authorization": "Bearer alice"})
        anonymous_again = await c.get("/doc/a")
    assert [r.json()["for"] for r in (alice, bob, cookie, anonymous, alice_again, anonymous_again)] == [
        "Bearer alice", "Bearer bob", "session=carol", "anonymous", "Bearer alice", "anonymous"]
    assert app.state.ran == 5  # only the second anonymous request was answered from the copy
    assert "etag" not in alice.headers  # an identified caller's response is passed through untouched


@pytest.mark.parametrize("kind", ["private", "cookie", "vary", "none"])
async def test_responses_that_are_not_public_and_shareable_are_never_kept(app: FastAPI, kind: str) -> None:
    async with client(app) as c:
        for _ in range(3):
            r = await c.get(f"/personal/{kind}")
            assert r.status_code == 200 and "age" not in r.headers
    assert app.state.ran == 3


async def test_errors_are_never_kept(app: FastAPI) -> None:
    async with client(app) as c:
        for _ in range(2):
            assert (await c.get("/missing")).status_code == 404
    assert app.state.ran == 2


async def test_copies_are_per_query_and_forwarded_prefix(app: FastAPI) -> None:
    async with client(app) as c:
        await c.get("/doc/a?x=1")
        await c.get("/doc/a?x=2")
        await c.get("/doc/a?x=1", headers={"X-Forwarded-Prefix": "/api/svc"})
        await c.get("/doc/a?x=1")
    assert app.state.ran == 3


async def test_invalidation_drops_copies_and_a_response_begun_before_it_is_not_kept(app: FastAPI) -> None:
    async with client(app) as c:
        await c.get("/doc/a")
        await c.get("/doc/b")
        invalidate_public(app, "/doc/a")
        app.state.document = "v2"
        assert (await c.get("/doc/b")).json()["version"] == "v1"  # another path keeps its copy
        assert (await c.get("/doc/a")).json()["version"] == "v2"
        assert app.state.ran == 3

        # a read that began before a change commits and ends after it: its (old) answer must not be kept
        app.state.gate = asyncio.Event()
        invalidate_public(app)
        slow = asyncio.create_task(c.get("/doc/c"))
        async with asyncio.timeout(10):  # the read has begun: it waits at the gate
            await app.state.waiting.wait()
        assert app.state.ran == 4
        invalidate_public(app, "/doc/c")  # the change commits while the read is in flight
        app.state.gate.set()
        assert (await slow).status_code == 200
        app.state.gate = None
        await c.get("/doc/c")
    assert app.state.ran == 5


async def test_the_copies_are_bounded(clock: Clock) -> None:
    cache = PublicCache(max_entries=2, max_bytes=10, clock=clock)
    from services.common.httpcache import _Entry

    def entry(body: bytes) -> Any:
        return _Entry(clock(), clock() + 60, b'"t"', [], body)

    cache.put(("/a", b"", b""), entry(b"1234"), cache.generation)
    cache.put(("/b", b"", b""), entry(b"1234"), cache.generation)
    cache.put(("/c", b"", b""), entry(b"1234"), cache.generation)  # over both bounds: the oldest goes
    assert len(cache) == 2 and cache.get(("/a", b"", b"")) is None
    cache.put(("/d", b"", b""), entry(b"12345678901"), cache.generation)  # larger than all copies together
    assert cache.get(("/d", b"", b"")) is None


async def test_no_copy_is_made_while_a_replica_may_still_lag_behind_a_change(app: FastAPI, clock: Clock) -> None:
    from services.common.httpcache import SETTLE_SECONDS

    async with client(app) as c:
        invalidate_public(app, "/doc/a")  # a change committed: reads for a moment may come from a lagging replica
        await c.get("/doc/a")
        await c.get("/doc/a")
        assert app.state.ran == 2
        clock.now += SETTLE_SECONDS
        await c.get("/doc/a")
        await c.get("/doc/a")
    assert app.state.ran == 3
