"""The kit's identity client (``services/common/identity_client.py``) against a stand-in identity
(``httpx.MockTransport``): what each answer means (404 → None; 5xx / 408 / 429 / timeouts / refused connections →
IdentityUnavailable, a transient 503 with Retry-After; 401/403 → one retry with a fresh token, then
IdentityMisconfigured; any other answer → IdentityError, never "found"), the cache (TTL, the stale window while
identity is down, its bound) on an injected clock, and its calls spread over identity's replicas."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from httpx import ASGITransport

from services.common.errors import ServiceUnavailable, install_error_handlers
from services.common.identity_client import (
    IdentityClient,
    IdentityError,
    IdentityMisconfigured,
    IdentityUnavailable,
    TTLCache,
)
from services.common.replicas import ReplicaTransport
from services.common.retry import transient_reason
from services.common.service_client import ServiceTokenProvider

IDENTITY = "http://identity.test:8001"
INSTITUTION = {"code": "HN001", "name": "Trường Cao đẳng Hà Nội", "province_code": "01", "type": "college", "status": "active"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Handler = Callable[[httpx.Request], httpx.Response]


class Identity:
    """A stand-in identity: ``answer`` decides each answer; tokens are numbered, ``accepted`` lists the valid ones."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.tokens_issued = 0
        self.accepted: set[str] | None = None  # None: every token
        self.answer: Handler = lambda request: httpx.Response(200, json=INSTITUTION)
        self.token_answer: Handler | None = None
        self.authorizations: list[str | None] = []
        self.raw_paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.calls["token"] += 1
            if self.token_answer is not None:
                return self.token_answer(request)
            self.tokens_issued += 1
            return httpx.Response(200, json={"access_token": f"t{self.tokens_issued}", "expires_in": 300})
        self.calls[f"{request.method} {request.url.path}"] += 1
        self.raw_paths.append(request.url.raw_path.decode())
        auth = request.headers.get("authorization")
        self.authorizations.append(auth)
        if self.accepted is not None and request.url.path.startswith("/v1/persons"):
            if auth is None or auth.removeprefix("Bearer ") not in self.accepted:
                return httpx.Response(401, json={"title": "Authentication required"})
        return self.answer(request)


def client_for(identity: Identity, clock: Clock | None = None, *, configured: bool = True, **kw: Any) -> IdentityClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(identity))
    tokens = ServiceTokenProvider(f"{IDENTITY}/oauth/token", "records" if configured else "", "secret" if configured else "", http)
    return IdentityClient(IDENTITY, http, tokens, clock=clock or Clock(), **kw)


# -- what each answer means ----------------------------------------------------------------------------------------
async def test_found_is_the_body_and_404_is_none() -> None:
    identity = Identity()
    client = client_for(identity)
    assert await client.institution("HN001") == INSTITUTION
    identity.answer = lambda request: httpx.Response(404, json={"title": "Not found"})
    assert await client.institution("XX999") is None
    # the code is one path segment, whatever it holds
    assert await client.institution("a/b\nc") is None
    assert identity.raw_paths[-1] == "/v1/institutions/a%2Fb%0Ac"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
async def test_5xx_408_429_are_unavailable(status: int) -> None:
    identity = Identity()
    identity.answer = lambda request: httpx.Response(status)
    client = client_for(identity, retry_after=7)
    with pytest.raises(IdentityUnavailable) as caught:
        await client.institution("HN001")
    exc = caught.value
    assert exc.status == 503 and exc.headers == {"Retry-After": "7"}
    assert isinstance(exc, ServiceUnavailable)
    assert transient_reason(exc) is not None  # background jobs wait it out


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"),
                                   httpx.RemoteProtocolError("dropped"), ConnectionResetError("reset")])
async def test_timeouts_and_connection_errors_are_unavailable(error: Exception) -> None:
    identity = Identity()

    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    identity.answer = fail
    with pytest.raises(IdentityUnavailable):
        await client_for(identity).institution("HN001")


@pytest.mark.parametrize("answer", [
    httpx.Response(400, json={"title": "Bad request"}),
    httpx.Response(409),
    httpx.Response(422, json={"title": "Validation failed"}),
    httpx.Response(302, headers={"location": "/elsewhere"}),
    httpx.Response(200, text="<html>a proxy's page</html>"),
    httpx.Response(200, json=["not", "an", "object"]),
])
async def test_anything_else_is_an_error_never_found(answer: httpx.Response) -> None:
    identity = Identity()
    identity.answer = lambda request: answer
    client = client_for(identity)
    with pytest.raises(IdentityError) as caught:
        await client.institution("HN001")
    assert type(caught.value) is IdentityError and caught.value.status == 502
    assert transient_reason(caught.value) is None  # not retried blindly
    with pytest.raises(IdentityError):
        await client.person("p-1")


async def test_401_on_a_public_lookup_is_misconfigured() -> None:
    identity = Identity()
    identity.answer = lambda request: httpx.Response(403)
    with pytest.raises(IdentityMisconfigured):
        await client_for(identity).institution("HN001")
    assert identity.calls["token"] == 0


async def test_401_fetches_a_fresh_token_and_retries_once() -> None:
    identity = Identity()
    identity.answer = lambda request: httpx.Response(200, json={"id": "p-1", "full_name": "Nguyễn Văn An"})
    client = client_for(identity)
    assert await client.person("p-1") == {"id": "p-1", "full_name": "Nguyễn Văn An"}
    assert identity.authorizations == ["Bearer t1"]
    identity.accepted = {"t2"}  # identity's keys rotated: t1 is refused now
    assert (await client.person("p-2"))["id"] == "p-1"
    assert identity.authorizations[1:] == ["Bearer t1", "Bearer t2"]
    assert identity.calls["token"] == 2


async def test_401_twice_is_misconfigured_and_logged_loudly(caplog: pytest.LogCaptureFixture) -> None:
    identity = Identity()
    identity.accepted = set()  # no token is ever accepted
    client = client_for(identity)
    with caplog.at_level(logging.ERROR, logger="services.identity_client"), pytest.raises(IdentityMisconfigured) as caught:
        await client.person("p-1")
    assert identity.calls["GET /v1/persons/p-1"] == 2 and identity.calls["token"] == 2  # one retry, not more
    assert caught.value.status == 503 and caught.value.headers["Retry-After"]
    assert transient_reason(caught.value) is not None  # a job waits for the operator's fix rather than failing items
    assert any(r.levelno == logging.ERROR and "HTTP 401" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("token_status", "expected"), [(401, IdentityMisconfigured), (400, IdentityMisconfigured),
                                                        (503, IdentityUnavailable), (500, IdentityUnavailable)])
async def test_the_token_endpoint_refusing_or_down(token_status: int, expected: type[Exception]) -> None:
    identity = Identity()
    identity.token_answer = lambda request: httpx.Response(token_status, json={"error": "invalid_client"})
    with pytest.raises(expected):
        await client_for(identity).resolve_persons([{"id_number": "001090000001"}])
    assert identity.calls["POST /v1/persons/resolve"] == 0


async def test_no_client_credentials_is_misconfigured_before_any_call() -> None:
    identity = Identity()
    client = client_for(identity, configured=False)
    assert not client.authenticated
    with pytest.raises(IdentityMisconfigured):
        await client.person("p-1")
    assert sum(identity.calls.values()) == 0


async def test_resolve_persons_is_posted_with_the_token_and_never_cached() -> None:
    identity = Identity()
    identity.answer = lambda request: httpx.Response(200, json={"results": [
        {"person_id": f"p-{i}"} for i, _ in enumerate(json.loads(request.content)["persons"])]})
    client = client_for(identity)
    persons = [{"id_number": "001090000001"}, {"id_number": "001090000002"}]
    assert await client.resolve_persons(persons) == [{"person_id": "p-0"}, {"person_id": "p-1"}]
    assert await client.resolve_persons(persons) == [{"person_id": "p-0"}, {"person_id": "p-1"}]
    assert identity.calls["POST /v1/persons/resolve"] == 2
    assert identity.authorizations == ["Bearer t1", "Bearer t1"]
    # a 404 there is no "not found": an error; so is a body without one result per person
    identity.answer = lambda request: httpx.Response(404)
    with pytest.raises(IdentityError):
        await client.resolve_persons(persons)
    identity.answer = lambda request: httpx.Response(200, json={"results": [{"person_id": "p-0"}]})
    with pytest.raises(IdentityError):
        await client.resolve_persons(persons)


async def test_the_listing_reads_every_page() -> None:
    identity = Identity()
    pages = {None: (["A1", "A2"], "c1"), "c1": (["A3"], "c2"), "c2": ([], None)}

    def listing(request: httpx.Request) -> httpx.Response:
        assert request.url.params["type"] == "college" and request.url.params["status"] == "active"
        codes, cursor = pages[request.url.params.get("cursor")]
        return httpx.Response(200, json={"items": [{"code": c} for c in codes], "next_cursor": cursor})

    identity.answer = listing
    client = client_for(identity)
    assert [i["code"] for i in await client.institutions(type="college", status="active")] == ["A1", "A2", "A3"]
    assert identity.calls["GET /v1/institutions"] == 3
    # a page that is not a listing is an error, not an empty registry
    identity.answer = lambda request: httpx.Response(200, json={"title": "something else"})
    client.forget()
    with pytest.raises(IdentityError):
        await client.institutions(type="college", status="active")


# -- on an API path --------------------------------------------------------------------------------------------------
async def test_unavailable_is_a_503_problem_with_retry_after_through_an_api() -> None:
    identity = Identity()
    identity.answer = lambda request: httpx.Response(502)
    client = client_for(identity, retry_after=9)
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/institution/{code}")
    async def read(code: str) -> Any:
        return await client.institution(code)

    async with httpx.AsyncClient(transport=ASGITransport(app=app), base_url="http://svc") as api:
        resp = await api.get("/institution/HN001")
    assert resp.status_code == 503 and resp.headers["retry-after"] == "9"
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["status"] == 503 and "identity.test" not in resp.text  # no internal host named


# -- the cache -------------------------------------------------------------------------------------------------------
async def test_kept_for_the_ttl_then_asked_again() -> None:
    identity, clock = Identity(), Clock()
    client = client_for(identity, clock, ttl=60, stale=600)
    assert await client.institution("HN001") == INSTITUTION
    clock.now += 59
    (await client.institution("HN001"))["name"] = "changed by a caller"  # a copy: the kept entry is unchanged
    assert (await client.institution("HN001"))["name"] == INSTITUTION["name"]
    assert identity.calls["GET /v1/institutions/HN001"] == 1
    clock.now += 2
    identity.answer = lambda request: httpx.Response(200, json={**INSTITUTION, "status": "closed"})
    assert (await client.institution("HN001"))["status"] == "closed"
    assert identity.calls["GET /v1/institutions/HN001"] == 2
    # max_age=0: identity asked every time
    assert (await client.institution("HN001", max_age=0))["status"] == "closed"
    assert identity.calls["GET /v1/institutions/HN001"] == 3


async def test_not_found_is_never_kept() -> None:
    identity = Identity()
    identity.answer = lambda request: httpx.Response(404)
    client = client_for(identity)
    assert await client.institution("HN002") is None
    identity.answer = lambda request: httpx.Response(200, json={**INSTITUTION, "code": "HN002"})
    assert (await client.institution("HN002"))["code"] == "HN002"  # registered a moment later: found at once


async def test_stale_entries_are_served_while_identity_is_down_within_the_window() -> None:
    identity, clock = Identity(), Clock()
    client = client_for(identity, clock, ttl=60, stale=600)
    assert await client.institution("HN001") == INSTITUTION
    assert (await client.person("p-1"))["code"] == "HN001"
    identity.answer = lambda request: httpx.Response(503)
    clock.now += 60 + 600  # past the TTL, at the end of the stale window: the kept entry is served
    assert await client.institution("HN001") == INSTITUTION
    assert await client.person("p-1") == INSTITUTION
    assert identity.calls["GET /v1/institutions/HN001"] == 2  # identity was asked first
    clock.now += 1  # past the window: identity's outage shows
    with pytest.raises(IdentityUnavailable):
        await client.institution("HN001")
    # nothing kept: unavailable at once
    with pytest.raises(IdentityUnavailable):
        await client.institution("HN003")


async def test_stale_entries_are_not_served_when_identity_refuses_or_does_not_know() -> None:
    identity, clock = Identity(), Clock()
    client = client_for(identity, clock, ttl=60, stale=600)
    await client.institution("HN001")
    clock.now += 61
    identity.answer = lambda request: httpx.Response(404)
    assert await client.institution("HN001") is None  # identity said so: no stale copy hides it
    identity.answer = lambda request: httpx.Response(200, json=INSTITUTION)
    await client.institution("HN001")
    clock.now += 61
    identity.answer = lambda request: httpx.Response(403)
    with pytest.raises(IdentityMisconfigured):
        await client.institution("HN001")


async def test_the_cache_is_bounded_least_recently_used_first() -> None:
    identity, clock = Identity(), Clock()
    identity.answer = lambda request: httpx.Response(200, json={"code": request.url.path.rsplit("/", 1)[1]})
    client = client_for(identity, clock, max_entries=3)
    for code in ("A", "B", "C"):
        await client.institution(code)
    await client.institution("A")  # A used recently: B is the oldest
    await client.institution("D")
    assert len(client.cache) == 3
    for code in ("A", "C", "D"):
        await client.institution(code)
    assert identity.calls["GET /v1/institutions/A"] == 1
    await client.institution("B")
    assert identity.calls["GET /v1/institutions/B"] == 2  # B was dropped, asked again


def test_ttl_cache_ages_by_the_injected_clock() -> None:
    clock = Clock()
    cache = TTLCache(2, clock)
    cache.put("k", 1)
    clock.now += 10
    assert cache.get("k", 10) == (1, 10) and cache.get("k", 9.9) is None
    with pytest.raises(ValueError):
        TTLCache(0)


async def test_forget_drops_one_kind_or_all() -> None:
    identity = Identity()
    client = client_for(identity)
    await client.institution("HN001")
    identity.answer = lambda request: httpx.Response(200, json={"items": [], "next_cursor": None})
    await client.institutions(type="college")
    assert client.forget("institutions") == 1 and len(client.cache) == 1
    assert client.forget() == 1 and len(client.cache) == 0


# -- over identity's replicas ----------------------------------------------------------------------------------------
async def test_calls_go_round_robin_over_replicas_and_skip_a_dead_one() -> None:
    urls = ["http://10.0.0.5:8001", "http://10.0.0.6:8001", "http://10.0.0.7:8001"]
    seen: Counter[str] = Counter()
    dead: set[str] = set()

    def replicas(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host in dead:
            raise httpx.ConnectError("refused", request=request)
        seen[host] += 1
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 300})
        return httpx.Response(200, json={"id": request.url.path.rsplit("/", 1)[1]})

    clock = Clock()
    transport = ReplicaTransport([urls], eject_seconds=30, clock=clock, inner=httpx.MockTransport(replicas))
    http = httpx.AsyncClient(transport=transport)
    client = IdentityClient(urls[0], http, ServiceTokenProvider(f"{urls[0]}/oauth/token", "records", "secret", http),
                            clock=clock, ttl=0)
    for i in range(6):
        await client.institution(f"I{i}")
    assert seen == Counter({"10.0.0.5": 2, "10.0.0.6": 2, "10.0.0.7": 2})
    dead.add("10.0.0.6")
    seen.clear()
    for i in range(6):
        assert await client.institution(f"J{i}") == {"id": f"J{i}"}  # failover: no caller sees the dead replica
    assert seen["10.0.0.6"] == 0 and seen["10.0.0.5"] + seen["10.0.0.7"] == 6
    dead.add("10.0.0.5")
    dead.add("10.0.0.7")
    with pytest.raises(IdentityUnavailable):
        await client.institution("K")
