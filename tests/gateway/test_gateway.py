"""The gateway through its public interface: HTTP in, HTTP out, against a real upstream server."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.ratelimit import RedisRateLimiter
from services.common.errors import PROBLEM_JSON
from services.common.testing import in_ci
from tests.gateway.conftest import (
    CHUNK,
    ServerThread,
    SigningKeys,
    closed_port_url,
    gateway_settings,
    in_process,
    pattern_chunk,
    pattern_stream_digest,
    request_id,
)
from tests.support import eventually

LARGE = 200 * 1024 * 1024
#: a route meant for uploads (bodies past max_body_bytes stream only on those); the stand-in hashes what arrives
UPLOAD = "/api/records/v1/institutions/CD0101/sync/csv?hash=1"
#: the most the test process may grow while 200 MB pass through it (a buffered body would add ≥ 200 MB)
MEMORY_BOUND = 96 * 1024 * 1024


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response: httpx.Response, status: int, slug: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    for field in ("type", "title", "status", "detail", "instance"):
        assert field in body, body
    assert body["status"] == status
    if slug is not None:
        assert body["type"].endswith("/" + slug), body["type"]
    assert response.headers.get("x-request-id")
    return body


@pytest.fixture
async def client(served_gateway: Any) -> AsyncIterator[httpx.AsyncClient]:
    _, server = served_gateway
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
        yield c


class PeakRss:
    """Samples this process's resident memory in a thread while a block runs."""

    def __enter__(self) -> PeakRss:
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth(self) -> int:
        return self.peak - self.base


# -- routing --------------------------------------------------------------------------------------------------------

async def test_routes_to_the_service_with_path_query_and_headers(client: httpx.AsyncClient, keys: SigningKeys) -> None:
    rid = request_id()
    token = keys.token()
    r = await client.get(
        "/api/records/v1/things/a%2Fb?x=1&y=two%20words&x=3",
        headers=bearer(token) | {
            "X-Request-ID": rid,
            "X-Forwarded-For": "203.0.113.9",
            "Connection": "keep-alive, X-Hop",
            "X-Hop": "not for the upstream",
            "TE": "trailers",
            "X-Custom": "kept",
            "X-Forwarded-Prefix": "/evil",
        },
    )
    assert r.status_code == 200, r.text
    echo = r.json()
    assert echo["service"] == "records"
    assert echo["raw_path"] == "/records/v1/things/a%2Fb"  # the client's encoding, untouched
    assert echo["query"] == "x=1&y=two%20words&x=3"
    seen = echo["headers"]
    assert seen["x-request-id"] == rid
    assert r.headers["x-request-id"] == rid
    assert r.headers.get_list("x-request-id") == [rid]
    assert seen["authorization"] == f"Bearer {token}"  # forwarded unchanged: the service checks again
    assert seen["x-forwarded-for"] == "127.0.0.1"  # the client's own value is replaced: it is no trusted proxy
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == client.base_url.netloc.decode()
    assert seen["x-forwarded-prefix"] == "/api/records"  # where clients reach the service; the client's value is dropped
    assert seen["x-custom"] == "kept"
    assert "x-hop" not in seen and "te" not in seen
    assert r.headers.get_list("set-cookie") == ["a=1", "b=2"]


async def test_request_id_is_generated_when_missing_or_malformed(client: httpx.AsyncClient, keys: SigningKeys) -> None:
    for sent in (None, "not a valid id!"):
        headers = bearer(keys.token()) | ({"X-Request-ID": sent} if sent else {})
        r = await client.post("/api/learning/v1/things", headers=headers, content=b"hello")
        assert r.status_code == 200
        rid = r.headers["x-request-id"]
        assert rid and rid != sent
        assert r.json()["headers"]["x-request-id"] == rid
        assert r.json()["body"] == "hello"
        assert r.json()["method"] == "POST"


async def test_verify_well_known_and_token_routes(client: httpx.AsyncClient, keys: SigningKeys) -> None:
    r = await client.get("/verify/3f2b?format=json")
    assert r.status_code == 200, r.text
    assert (r.json()["service"], r.json()["path"], r.json()["query"]) == ("credentials", "/v1/verify/3f2b", "format=json")

    r = await client.get("/.well-known/openid-configuration")
    assert (r.json()["service"], r.json()["path"]) == ("identity", "/.well-known/openid-configuration")

    r = await client.get("/issuers/CD0101/did.json")  # did:web resolution, public
    assert r.status_code == 200, r.text
    assert (r.json()["service"], r.json()["path"]) == ("credentials", "/issuers/CD0101/did.json")

    for path in ("/api/identity/v1/auth/vneid/login", "/api/identity/v1/institutions.geojson", "/api/identity/dev-oidc/jwks"):
        assert (await client.get(path)).status_code == 200, path  # sign-in and the map need no token

    r = await client.get("/.well-known/jwks.json")
    assert r.json() == keys.jwks

    r = await client.post("/api/identity/oauth/token", data={"grant_type": "client_credentials"}, auth=("c", "s"))
    assert r.status_code == 200
    assert r.json()["path"] == "/oauth/token"
    assert r.json()["headers"]["authorization"].startswith("Basic ")
    assert r.json()["body"] == "grant_type=client_credentials"


async def test_unknown_routes_are_404_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/nosuchservice/v1/x"), 404, "not-found")
    body = assert_problem(await client.get("/elsewhere"), 404, "not-found")
    assert body["instance"] == "/elsewhere"


async def test_dot_segments_are_refused(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/identity/v1/institutions/%2e%2e/admin/signing-keys")
    assert_problem(r, 400, "bad-request")


# -- edge auth -----------------------------------------------------------------------------------------------------

async def test_missing_or_invalid_tokens_are_refused(client: httpx.AsyncClient, keys: SigningKeys) -> None:
    other = SigningKeys()
    cases = {
        "none": {},
        "not a bearer": {"Authorization": "Basic Zm9vOmJhcg=="},
        "garbage": bearer("not.a.jwt"),
        "expired": bearer(keys.token(ttl=-30)),
        "wrong issuer": bearer(keys.token(issuer="http://evil.test")),
        "wrong audience": bearer(keys.token(aud="someone-else")),
        "foreign key": bearer(other.token()),
        "refresh token": bearer(keys.token(typ="refresh")),
    }
    for name, headers in cases.items():
        r = await client.get("/api/records/v1/admin/inbox", headers=headers)
        assert_problem(r, 401, "unauthorized")
        assert r.headers["www-authenticate"].startswith("Bearer"), name


async def test_public_routes_need_no_token(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/records/healthz"),
        ("GET", "/api/learning/readyz"),
        ("GET", "/api/identity/v1/institutions?province=01"),
        ("GET", "/api/identity/v1/institutions/CD0101"),
        ("GET", "/api/credentials/v1/status-lists/1"),
        ("POST", "/api/credentials/v1/verify"),
        ("GET", "/api/learning/v1/objects/abc?sig=x"),
        ("HEAD", "/api/records/healthz"),
        ("GET", "/api/learning/v1/courses?skill_area=communication"),
        ("GET", "/api/learning/v1/xapi/about"),
    ]:
        r = await client.request(method, path)
        assert r.status_code == 200, (method, path, r.text)
    # xAPI content reports with its launch's Basic credentials: passed on for learning to check, not refused here
    for method in ("POST", "PUT", "GET"):
        r = await client.request(method, "/api/learning/v1/xapi/statements", headers={"Authorization": "Basic bGF1bmNoOnNlY3JldA=="})
        assert r.status_code == 200, (method, r.text)
        assert r.json()["headers"]["authorization"] == "Basic bGF1bmNoOnNlY3JldA=="
    assert (await client.delete("/api/learning/v1/xapi/statements")).status_code == 401
    # not public: the same prefix with another method, or a look-alike path
    assert (await client.delete("/api/identity/v1/institutions/CD0101")).status_code == 401
    assert (await client.get("/api/identity/v1/institutions-internal")).status_code == 401
    assert (await client.get("/api/records/v1/healthz/more")).status_code == 401


async def test_lti_launch_routes_need_no_bearer_token(client: httpx.AsyncClient) -> None:
    """A school's LMS sends the browser to the LTI login and posts the launch with no platform token; the player then
    calls with the launch's own session token, which only learning can check."""
    for method, path in [("GET", "/api/learning/v1/lti/login?iss=x"), ("POST", "/api/learning/v1/lti/login"),
                         ("POST", "/api/learning/v1/lti/launch"), ("GET", "/api/learning/v1/lti/tool"),
                         ("GET", "/api/learning/v1/lti/jwks.json"), ("GET", "/api/learning/v1/lti/session"),
                         ("POST", "/api/learning/v1/lti/session/course/quizzes/q1/attempts"),
                         ("PUT", "/api/learning/v1/lti/session/exam/attempts/a1/responses/i1")]:
        r = await client.request(method, path, headers={"Authorization": "Bearer an-lti-session-token"} if "session" in path else {})
        assert r.status_code == 200, (method, path, r.text)
        if "session" in path:
            assert r.json()["headers"]["authorization"] == "Bearer an-lti-session-token"
    # registering platforms and rotating the tool's key need identity's tokens
    for method, path in [("POST", "/api/learning/v1/lti/platforms"), ("GET", "/api/learning/v1/lti/platforms"),
                         ("POST", "/api/learning/v1/lti/keys/rotate"), ("GET", "/api/learning/v1/lti/launch"),
                         ("DELETE", "/api/learning/v1/lti/session/exam/attempts/a1")]:
        assert (await client.request(method, path)).status_code == 401, (method, path)


async def test_verified_tokens_are_cached(served_gateway: Any, client: httpx.AsyncClient, keys: SigningKeys) -> None:
    app, _ = served_gateway
    token = keys.token(sub="cache-me")
    assert app.tokens.cached(token) is None
    assert (await client.get("/api/records/v1/x", headers=bearer(token))).status_code == 200
    assert app.tokens.cached(token).sub == "cache-me"


# -- streaming -----------------------------------------------------------------------------------------------------

async def test_large_upload_streams_through_with_bounded_memory(client: httpx.AsyncClient, keys: SigningKeys) -> None:
    expected, size = pattern_stream_digest(LARGE)

    async def body() -> AsyncIterator[bytes]:
        for i in range(LARGE // CHUNK):
            yield pattern_chunk(i)

    started = time.monotonic()
    with PeakRss() as memory:
        r = await client.post(UPLOAD, content=body(), headers=bearer(keys.token()) | {"Content-Length": str(size)})
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["sha256"], got["length"]) == (expected, size)
    assert got["content_length"] == str(size) and got["transfer_encoding"] is None  # the length was kept
    assert memory.growth < MEMORY_BOUND, f"grew by {memory.growth / 2**20:.0f} MiB"
    print(f"upload {size / 2**20:.0f} MiB in {time.monotonic() - started:.1f} s, RSS +{memory.growth / 2**20:.0f} MiB")


async def test_chunked_upload_stays_chunked(client: httpx.AsyncClient, keys: SigningKeys) -> None:
    size = 8 * CHUNK + 123
    expected, _ = pattern_stream_digest(size)

    async def body() -> AsyncIterator[bytes]:
        sent, i = 0, 0
        while sent < size:
            chunk = pattern_chunk(i, min(CHUNK, size - sent))
            sent += len(chunk)
            i += 1
            yield chunk

    r = await client.post(UPLOAD, content=body(), headers=bearer(keys.token()))
    got = r.json()
    assert (got["sha256"], got["length"], got["transfer_encoding"]) == (expected, size, "chunked")


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "chunked"])
async def test_large_download_streams_back(client: httpx.AsyncClient, keys: SigningKeys, with_length: bool) -> None:
    size = LARGE if with_length else 32 * CHUNK + 7
    expected, _ = pattern_stream_digest(size)
    import hashlib

    digest, received = hashlib.sha256(), 0
    with PeakRss() as memory:
        async with client.stream(
            "GET", f"/api/records/download?size={size}&length={int(with_length)}", headers=bearer(keys.token())
        ) as r:
            assert r.status_code == 200
            assert r.headers.get("content-length") == (str(size) if with_length else None)
            async for chunk in r.aiter_raw():
                digest.update(chunk)
                received += len(chunk)
    assert (digest.hexdigest(), received) == (expected, size)
    assert memory.growth < MEMORY_BOUND, f"grew by {memory.growth / 2**20:.0f} MiB"


async def test_client_leaving_mid_upload_leaves_the_gateway_serving(served_gateway: Any, client: httpx.AsyncClient, keys: SigningKeys) -> None:
    gateway, server = served_gateway

    async def in_progress() -> float:
        return gateway.metrics.registry.get_sample_value("vet_http_requests_in_progress")

    idle = await in_progress()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        f"POST {UPLOAD} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {keys.token()}\r\n"
        f"Content-Length: {64 * CHUNK}\r\n\r\n".encode()
    )
    writer.write(pattern_chunk(0))
    await writer.drain()

    async def handling() -> bool:
        return await in_progress() > idle

    async def done() -> bool:
        return await in_progress() == idle

    await eventually(handling, interval=0.01, what="the gateway handling the upload")
    writer.close()  # gone after 1 MiB of 64
    await eventually(done, interval=0.01, what="the gateway ending the abandoned upload")
    r = await client.post("/api/records/hash", content=b"abc", headers=bearer(keys.token()))
    assert r.status_code == 200 and r.json()["length"] == 3


# -- upstream failures ---------------------------------------------------------------------------------------------

async def test_unreachable_upstream_is_503(upstream: ServerThread, keys: SigningKeys) -> None:
    async with in_process(gateway_settings(upstream, records_url=closed_port_url())) as (_, c):
        started = time.monotonic()
        r = await c.get("/api/records/v1/items", headers=bearer(keys.token()))
        assert_problem(r, 503, "upstream-unavailable")
        assert time.monotonic() - started < 3


async def test_unreachable_identity_keys_are_503_not_401(upstream: ServerThread, keys: SigningKeys) -> None:
    async with in_process(gateway_settings(upstream, identity_url=closed_port_url())) as (_, c):
        assert_problem(await c.get("/api/records/v1/items", headers=bearer(keys.token())), 503)
        assert (await c.get("/api/records/healthz")).status_code == 200  # public routes still pass


async def test_slow_upstream_is_504(upstream: ServerThread, keys: SigningKeys) -> None:
    async with in_process(gateway_settings(upstream, upstream_read_timeout=0.3)) as (_, c):
        started = time.monotonic()
        r = await c.get("/api/records/slow?seconds=3", headers=bearer(keys.token()))
        assert_problem(r, 504, "upstream-timeout")
        assert time.monotonic() - started < 2


async def test_broken_upstream_is_502(upstream: ServerThread, keys: SigningKeys) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"THIS IS NOT HTTP\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with in_process(gateway_settings(upstream, learning_url=f"http://127.0.0.1:{port}")) as (_, c):
            assert_problem(await c.get("/api/learning/v1/x", headers=bearer(keys.token())), 502, "bad-gateway")
    finally:
        server.close()
        await server.wait_closed()


# -- rate limits ---------------------------------------------------------------------------------------------------

def assert_rate_limited(r: httpx.Response) -> None:
    assert_problem(r, 429, "rate-limited")
    retry_after = r.headers["retry-after"]
    assert retry_after.isdigit() and int(retry_after) >= 1


async def test_rate_limit_per_ip_in_memory(upstream: ServerThread) -> None:
    settings = gateway_settings(upstream, rate_limit_ip_burst=3, rate_limit_per_ip_per_minute=6)
    async with in_process(settings) as (_, c):
        statuses = [(await c.get("/api/records/healthz")).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        assert_rate_limited(await c.get("/api/records/healthz"))


async def test_rate_limit_per_client_in_memory(upstream: ServerThread, keys: SigningKeys) -> None:
    settings = gateway_settings(upstream, rate_limit_client_burst=2, rate_limit_per_client_per_minute=2)
    a, b = bearer(keys.token(sub="school-a")), bearer(keys.token(sub="school-b"))
    async with in_process(settings) as (_, c):
        assert [(await c.get("/api/records/v1/x", headers=a)).status_code for _ in range(2)] == [200, 200]
        r = await c.get("/api/records/v1/x", headers=a)
        assert_rate_limited(r)
        assert int(r.headers["retry-after"]) >= 29  # one token per 30 s
        assert (await c.get("/api/records/v1/x", headers=b)).status_code == 200  # another client is not held back


REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        await r.ping()
    except Exception as exc:
        await r.aclose()
        reason = f"Redis at {REDIS_URL} does not answer: {type(exc).__name__}: {exc}"
        if in_ci():
            pytest.fail(f"CI=true and Redis is required: {reason}")
        pytest.skip(reason)
    keys = [k async for k in r.scan_iter("vet:gw:rl:*")]
    if keys:
        await r.delete(*keys)
    yield REDIS_URL
    keys = [k async for k in r.scan_iter("vet:gw:rl:*")]
    if keys:
        await r.delete(*keys)
    await r.aclose()


async def test_rate_limit_in_redis_is_shared_by_replicas(upstream: ServerThread, keys: SigningKeys, redis_url: str) -> None:
    settings = gateway_settings(upstream, redis_url=redis_url, rate_limit_client_burst=3, rate_limit_per_client_per_minute=6)
    token = bearer(keys.token(sub="school-redis"))
    async with in_process(settings) as (one, c1), in_process(settings) as (two, c2):
        assert isinstance(one.limiter, RedisRateLimiter) and isinstance(two.limiter, RedisRateLimiter)
        assert (await c1.get("/api/records/v1/x", headers=token)).status_code == 200
        assert (await c2.get("/api/records/v1/x", headers=token)).status_code == 200
        assert (await c1.get("/api/records/v1/x", headers=token)).status_code == 200
        assert_rate_limited(await c2.get("/api/records/v1/x", headers=token))
        assert one.limiter.failures == two.limiter.failures == 0


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def gateway_logs() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("gateway")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_rate_limit_fails_open_when_redis_is_down(upstream: ServerThread, keys: SigningKeys, gateway_logs: Records) -> None:
    settings = gateway_settings(
        upstream, redis_url=f"redis://127.0.0.1:{closed_port_url().rsplit(':', 1)[1]}/0",
        rate_limit_client_burst=1, rate_limit_ip_burst=1,
    )
    async with in_process(settings) as (app, c):
        statuses = [(await c.get("/api/records/v1/x", headers=bearer(keys.token()))).status_code for _ in range(4)]
        assert statuses == [200] * 4
        assert app.limiter.failures >= 1
    warnings = [r for r in gateway_logs.records if r.name == "gateway.ratelimit" and r.levelno == logging.WARNING]
    assert warnings and "Redis unavailable" in warnings[0].getMessage()


# -- the gateway's own routes ---------------------------------------------------------------------------------------

def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for token in ref[2:].split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


async def test_merged_openapi_document(upstream: ServerThread) -> None:
    async with in_process(gateway_settings(upstream, credentials_url=closed_port_url())) as (_, c):
        r = await c.get("/openapi.json")
        assert r.status_code == 200
        doc = r.json()
        assert doc["openapi"].startswith("3.1")
        assert {"/api/records/v1/items", "/api/learning/v1/courses", "/api/identity/v1/things"} <= set(doc["paths"])
        assert doc["x-unavailable-services"] == ["credentials"]
        schemas = doc["components"]["schemas"]
        assert {"records_Item", "learning_Item", "records_Page", "learning_Page"} <= set(schemas)
        assert "Item" not in schemas and "Page" not in schemas
        assert schemas["records_Item"] != schemas["learning_Item"]
        all_refs = list(refs(doc))
        assert "#/components/schemas/learning_Item" in all_refs
        for ref in all_refs:
            resolve(doc, ref)  # no dangling reference
        page = doc["paths"]["/api/records/v1/items"]["get"]
        assert page["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/records_Page"
        assert page["operationId"] == "records_list_items"
        assert page["tags"] == ["records: items"]
        assert {"name": "records", "tags": ["records: items", "records: health"]} in doc["x-tagGroups"]
        assert doc["paths"]["/api/records/healthz"]["get"]["security"] == []  # public at the edge
        assert "security" not in page  # the document's default: bearer

        docs = await c.get("/docs")
        assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
        assert "/openapi.json" in docs.text


async def test_health_and_readiness(upstream: ServerThread) -> None:
    async with in_process(gateway_settings(upstream, learning_url=closed_port_url())) as (_, c):
        r = await c.get("/healthz")
        assert r.json() == {"status": "ok", "service": "gateway"}
        r = await c.get("/readyz")
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "degraded"
        assert body["upstreams"]["records"]["status"] == "ready"
        assert body["upstreams"]["learning"]["status"] == "unavailable"
        assert (await c.get("/readyz?strict=1")).status_code == 503


async def test_cors(upstream: ServerThread, keys: SigningKeys) -> None:
    origin = "https://app.vet.example"
    async with in_process(gateway_settings(upstream, cors_origins=[origin])) as (_, c):
        r = await c.options(
            "/api/records/v1/items",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
        )
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == origin
        assert r.headers.get("x-request-id")
        r = await c.get("/api/records/v1/items", headers=bearer(keys.token()) | {"Origin": origin})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == origin
        assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
        assert "x-experience-api-version" in r.headers["access-control-expose-headers"].lower()
        r = await c.options("/api/records/v1/items", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
        assert r.status_code == 400


async def test_sandboxed_package_content_may_report_to_xapi(upstream: ServerThread, keys: SigningKeys) -> None:
    """Packages play in sandboxed frames (no allow-same-origin): their xAPI calls come from the opaque origin
    ``null`` with the launch's Basic credentials, which `python -m services run` and compose allow."""
    from services.__main__ import platform_env

    allowed = json.loads(platform_env("127.0.0.1", {n: 8001 + i for i, n in enumerate(("identity", "learning", "records", "credentials"))},
                                      8000, Path("var"))["GATEWAY_CORS_ORIGINS"])
    assert allowed == ["null"]
    async with in_process(gateway_settings(upstream, cors_origins=allowed)) as (_, c):
        r = await c.options("/api/learning/v1/xapi/statements", headers={
            "Origin": "null", "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type,x-experience-api-version"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "null", r.headers
        assert "authorization" in r.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in r.headers  # never cookies


async def test_one_access_log_line_per_request_without_secrets(upstream: ServerThread, keys: SigningKeys) -> None:
    token = keys.token()
    rid = request_id()
    stream = io.StringIO()
    async with in_process(gateway_settings(upstream, access_log=True, log_level="INFO")) as (app, c):
        app.access_log.stream = stream
        await c.get("/api/records/v1/items?secret=query", headers=bearer(token) | {"X-Request-ID": rid})
        await c.get("/api/records/v1/items")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]  # flushed at shutdown at the latest
    assert len(lines) == 2
    first = lines[0]
    assert (first["method"], first["path"], first["status"], first["request_id"]) == ("GET", "/api/records/v1/items", 200, rid)
    assert (first["service"], first["logger"], first["level"]) == ("gateway", "gateway.access", "INFO")
    assert isinstance(first["duration_ms"], float) and first["time"].endswith("+00:00")
    assert lines[1]["status"] == 401 and len(lines[1]["request_id"]) == 32
    text = stream.getvalue()
    assert token not in text and "secret=query" not in text and "Bearer" not in text
