"""OWASP API4:2023 Unrestricted Resource Consumption, at the gateway: slow bodies, slow headers, too many requests
at once from one client, oversized bodies. Driven over real sockets against the gateway served as production
serves it; an attacker (127.0.0.2) and a victim (127.0.0.3) are different clients."""

from __future__ import annotations

import json

from gateway.config import BodyRoute
from tests.gateway.conftest import SigningKeys, pattern_chunk, pattern_stream_digest
from tests.security.gateway_rig import (
    ATTACKER,
    VICTIM,
    CountingUpstream,
    closed_by_server,
    connect,
    get,
    read_response,
    request,
    served,
    settings_for,
    wait_until,
)

LOGIN = "/api/identity/v1/auth/login"
UPLOAD = "/api/records/v1/institutions/CD0101/sync/csv?hash=1"


def trickle_head(path: str, length: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def problem(body: bytes) -> dict:
    document = json.loads(body)
    assert {"type", "title", "status", "detail", "instance"} <= set(document), document
    return document


async def test_trickled_login_bodies_do_not_starve_other_routes(upstream, counted: CountingUpstream, keys: SigningKeys) -> None:
    """Issue 13 item 5: unauthenticated POSTs to the login route sending one body byte each filled the upstream pool
    and every other route answered 504. Now a body is read whole, within a deadline, before any upstream
    connection is taken, and the trickler gets a 408."""
    pool, attackers = 4, 10
    settings = settings_for(upstream, upstream_pool_size=pool, upstream_connect_timeout=1.0,
                            body_timeout_seconds=3.0, body_min_bytes_per_second=1 << 30, max_concurrent_per_client=1000)
    async with served(settings) as (gateway, port):
        streams = []
        for _ in range(attackers):
            reader, writer = await connect(port, ATTACKER)
            writer.write(trickle_head(LOGIN, 100) + b"{")
            await writer.drain()
            streams.append((reader, writer))
        try:
            # every trickler is being served: either its body is being read at the gateway, or (as before)
            # it holds one of the pool's upstream connections
            await wait_until(lambda: gateway.concurrency_in_progress() >= attackers or counted.busy() >= pool, 10,
                             "the slow requests to be taken up")
            status, _, body = await request(port, VICTIM, get("/api/records/v1/items", keys.token()), timeout=10)
            assert status == 200, body
            assert json.loads(body)["path"] == "/v1/items"
            assert counted.in_progress.get("/identity/v1/auth/login", 0) == 0  # no upstream connection held
            for reader, _ in streams:  # each trickler is cut off at its deadline, and its connection closed
                status, headers, body = await read_response(reader, timeout=10)
                assert status == 408 and headers["connection"] == "close"
                assert problem(body)["type"].endswith("/request-timeout")
                assert await closed_by_server(reader, 5) == b""
        finally:
            for _, writer in streams:
                writer.close()
    assert "/identity/v1/auth/login" not in counted.seen  # the service never saw the unfinished bodies


async def test_a_client_has_a_cap_on_requests_in_progress(upstream, keys: SigningKeys) -> None:
    settings = settings_for(upstream, max_concurrent_per_client=3, body_timeout_seconds=30.0)
    async with served(settings) as (gateway, port):
        held = []
        for _ in range(3):
            reader, writer = await connect(port, ATTACKER)
            writer.write(trickle_head(LOGIN, 100) + b"{")
            await writer.drain()
            held.append(writer)
        try:
            await wait_until(lambda: gateway.concurrency_in_progress(ATTACKER) == 3, 10, "three requests in progress")
            status, headers, body = await request(port, ATTACKER, get("/healthz"))
            assert status == 429 and headers["retry-after"] == "1"
            document = problem(body)
            assert document["type"].endswith("/too-many-in-progress") and document["max_in_progress"] == 3
            # another client is not affected
            assert (await request(port, VICTIM, get("/api/records/v1/items", keys.token())))[0] == 200
        finally:
            for writer in held:
                writer.close()
        await wait_until(lambda: gateway.concurrency_in_progress(ATTACKER) == 0, 10, "the held requests to end")
        assert (await request(port, ATTACKER, get("/healthz")))[0] == 200


async def test_headers_must_arrive_in_time(upstream) -> None:
    settings = settings_for(upstream, header_timeout_seconds=0.5)
    async with served(settings) as (_, port):
        silent_reader, silent = await connect(port, ATTACKER)  # opens a connection and sends nothing
        slow_reader, slow = await connect(port, ATTACKER)
        slow.write(b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\nX-Slow: ")  # headers a byte at a time
        await slow.drain()
        try:
            for reader in (slow_reader, silent_reader):
                sent = await closed_by_server(reader, 10)
                assert sent.startswith(b"HTTP/1.1 408 "), sent
        finally:
            silent.close()
            slow.close()
        # refused before its body arrived (no token here): the rest of the body cannot hold the connection open
        reader, writer = await connect(port, ATTACKER)
        try:
            writer.write(trickle_head("/api/records/v1/items", 100) + b"{")
            await writer.drain()
            assert (await read_response(reader, 10))[0] == 401
            writer.write(b" ")  # still trickling
            await writer.drain()
            assert await closed_by_server(reader, 10) == b""
        finally:
            writer.close()
        # a request that arrives in time is served, and its keep-alive connection serves the next one in time
        reader, writer = await connect(port, VICTIM)
        try:
            for _ in range(2):
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
                await writer.drain()
                assert (await read_response(reader, 10))[0] == 200
        finally:
            writer.close()


def chunked(*pieces: bytes, last: bool = True) -> bytes:
    """Chunked transfer coding; without ``last`` the body stays open (the gateway reads all that was sent)."""
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + (b"0\r\n\r\n" if last else b"")


def post(path: str, *, length: int | None = None, token: str | None = None) -> str:
    framing = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"POST {path} HTTP/1.1\r\nHost: gateway.test\r\n{auth}{framing}Connection: close\r\n\r\n"


async def test_bodies_are_limited_per_route(upstream, keys: SigningKeys) -> None:
    """Issue 13 item 6, at the gateway: 300 MB to public /verify or /auth/login reached the services whole. Each
    refused request sends only as much as the gateway reads (a server closing on unread data resets the
    connection, and the client may lose the answer)."""
    kib = 1024
    settings = settings_for(upstream, max_body_bytes=64 * kib, body_routes=[
        BodyRoute(route="POST /api/records/v1/institutions/*/sync/*", max_bytes=4 * 1024 * kib, stream=True),
        BodyRoute(route="POST /api/learning/v1/xapi/statements", max_bytes=256 * kib),
    ])
    token = keys.token()

    def too_large(response: tuple[int, dict[str, str], bytes], limit: int) -> None:
        status, headers, body = response
        assert status == 413, body
        document = problem(body)
        assert document["type"].endswith("/payload-too-large") and document["max_bytes"] == limit
        assert f"{limit} bytes" in document["detail"]
        assert document["errors"] == [{"field": "body", "in": "body", "message": f"larger than {limit} bytes"}]
        assert headers["connection"] == "close"

    async with served(settings) as (_, port):
        # declared too large: refused before a byte of the body is read, naming the limit, connection closed
        for path in (LOGIN, "/verify", "/api/credentials/v1/verify"):
            too_large(await request(port, ATTACKER, post(path, length=64 * kib + 1)), 64 * kib)
        # no Content-Length: counted as it arrives
        too_large(await request(port, ATTACKER, post(LOGIN), chunked(b" " * (64 * kib), b" ", last=False)), 64 * kib)
        # at the limit: passed on whole
        status, _, body = await request(port, ATTACKER, post(LOGIN, length=64 * kib), b"x" * (64 * kib))
        assert status == 200 and len(json.loads(body)["body"]) == 64 * kib
        status, _, body = await request(port, ATTACKER, post(LOGIN), chunked(b"x" * (32 * kib), b"y" * (32 * kib)))
        assert status == 200 and len(json.loads(body)["body"]) == 64 * kib
        # a route with its own larger limit, read whole
        xapi = "/api/learning/v1/xapi/statements"
        status, _, body = await request(port, VICTIM, post(xapi, length=200 * kib, token=token), b"y" * (200 * kib))
        assert status == 200 and len(json.loads(body)["body"]) == 200 * kib
        too_large(await request(port, VICTIM, post(xapi, length=256 * kib + 1, token=token)), 256 * kib)
        # an upload route streams past max_body_bytes, up to its own limit
        expected, size = pattern_stream_digest(3 * 1024 * kib)
        data = b"".join(pattern_chunk(i) for i in range(3))
        status, _, body = await request(port, VICTIM, post(UPLOAD, length=size, token=token), data)
        assert status == 200 and (json.loads(body)["sha256"], json.loads(body)["length"]) == (expected, size)
        status, _, body = await request(port, VICTIM, post(UPLOAD, token=token), chunked(*(pattern_chunk(i) for i in range(3))))
        assert status == 200 and (json.loads(body)["sha256"], json.loads(body)["length"]) == (expected, size)
        too_large(await request(port, VICTIM, post(UPLOAD, length=4 * 1024 * kib + 1, token=token)), 4 * 1024 * kib)
        # chunked past the upload limit: cut off mid-stream
        pieces = [pattern_chunk(i) for i in range(4)] + [b"!"]
        too_large(await request(port, VICTIM, post(UPLOAD, token=token), chunked(*pieces, last=False)), 4 * 1024 * kib)


async def test_a_stalled_upload_is_cut_off(upstream, counted: CountingUpstream, keys: SigningKeys) -> None:
    settings = settings_for(upstream, max_body_bytes=64 * 1024, upload_idle_timeout_seconds=0.5)
    async with served(settings) as (_, port):
        reader, writer = await connect(port, ATTACKER)
        head = (f"POST {UPLOAD} HTTP/1.1\r\nHost: gateway.test\r\nAuthorization: Bearer {keys.token()}\r\n"
                f"Content-Length: {1024 * 1024}\r\n\r\n")
        writer.write(head.encode() + b"a" * (128 * 1024))  # past the part read whole: streaming, then silence
        await writer.drain()
        try:
            status, headers, body = await read_response(reader, 10)
            assert status == 408 and headers["connection"] == "close", body
            assert "sent nothing for 0.5 s" in problem(body)["detail"]
        finally:
            writer.close()
        await wait_until(lambda: counted.busy() == 0, 10, "the upstream request to be abandoned")
