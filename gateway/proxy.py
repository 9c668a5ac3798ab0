"""The streaming reverse proxy: one aiohttp ``ClientSession`` (a large keep-alive pool) for every upstream.

Bodies stream both ways and are never held whole: the ASGI ``receive()`` chunks feed aiohttp as an async
generator (with the client's ``Content-Length`` kept, else chunked), and the upstream's response goes to
``send()`` chunk by chunk as it arrives, with backpressure on both sides. Upstream failures become problems:
refused / unreachable → 503, timed out → 504, anything else broken → 502. Never a hang: connect and read
timeouts are always set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from starlette.types import Receive, Scope, Send
from yarl import URL

from gateway.config import GatewaySettings
from gateway.problems import send_problem

log = logging.getLogger("gateway.proxy")

#: request headers never forwarded: hop-by-hop ones (RFC 9110 §7.6.1), and those the gateway sets itself
_REQUEST_DROP = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection", b"te",
        b"trailer", b"trailers", b"transfer-encoding", b"upgrade", b"host", b"expect", b"x-request-id",
        b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-prefix",
    }
)
#: response headers never passed back: hop-by-hop ones, and those the gateway's own server writes
_RESPONSE_DROP = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-connection", b"te", b"trailer", b"trailers",
        b"transfer-encoding", b"upgrade", b"server", b"date", b"x-request-id",
    }
)
_SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
#: responses at least this large (or of unknown length) are watched for the client going away
_WATCH_DISCONNECT_BYTES = 1 << 20


class ClientDisconnected(Exception):
    """The client went away while its request body was being forwarded."""


class ForwardedRequest:
    """What the gateway learned from the request's headers in its one pass over them."""

    __slots__ = ("headers", "authorization", "has_body")

    def __init__(self, headers: list[tuple[str, str]], authorization: bytes | None, has_body: bool) -> None:
        self.headers = headers
        self.authorization = authorization
        self.has_body = has_body


def _text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")


def forwarded_request(scope: Scope, request_id: str, prefix: str | None = None) -> ForwardedRequest:
    """One pass over the request headers: the list to forward, plus the Authorization value and body presence.
    ``prefix`` (``/api/<service>``) tells the service where clients reach it, so the links it returns are right;
    a client's own ``X-Forwarded-Prefix`` is dropped."""
    headers: list[tuple[str, str]] = []
    authorization = None
    has_body = False
    host = forwarded_for = connection = None
    for name, value in scope["headers"]:
        if name in _REQUEST_DROP:
            if name == b"transfer-encoding":
                has_body = True
            elif name == b"host":
                host = value
            elif name == b"x-forwarded-for":
                forwarded_for = value if forwarded_for is None else forwarded_for + b", " + value
            elif name == b"connection":
                connection = value
            continue
        if name == b"authorization":
            authorization = value
        elif name == b"content-length":
            has_body = value != b"0"
        headers.append((name.decode("latin-1"), _text(value)))
    if connection is not None:
        # headers named in Connection are hop-by-hop too
        named = {t.strip().lower() for t in connection.decode("latin-1").split(",")} - {"close", "keep-alive", ""}
        if named:
            headers = [(k, v) for k, v in headers if k not in named]
    client = scope.get("client")
    ip = client[0] if client else ""
    if forwarded_for is None:
        headers.append(("X-Forwarded-For", ip))
    else:
        chain = forwarded_for.decode("latin-1")
        # uvicorn's --proxy-headers may already have taken the client address from this chain: don't repeat it
        if ip not in (entry.strip() for entry in chain.split(",")):
            chain = f"{chain}, {ip}"
        headers.append(("X-Forwarded-For", chain))
    headers.append(("X-Forwarded-Proto", scope.get("scheme", "http")))
    if host is not None:
        headers.append(("X-Forwarded-Host", host.decode("latin-1")))
    if prefix is not None:
        headers.append(("X-Forwarded-Prefix", prefix))
    headers.append(("X-Request-ID", request_id))
    return ForwardedRequest(headers, authorization, has_body)


class _Body:
    """The request body as aiohttp consumes it; remembers whether ``receive()`` was drained."""

    __slots__ = ("receive", "done")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.done = False

    async def first(self) -> tuple[bytes, bool]:
        message = await self.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        more = message.get("more_body", False)
        self.done = not more
        return message.get("body", b""), more

    async def rest(self, first: bytes) -> AsyncIterator[bytes]:
        if first:
            yield first
        receive = self.receive
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                self.done = True
                return


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class Proxy:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        s = self.settings
        connector = aiohttp.TCPConnector(
            limit=s.upstream_pool_size,
            limit_per_host=0,
            keepalive_timeout=s.upstream_keepalive_seconds,
            ttl_dns_cache=300,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=s.upstream_connect_timeout,
                sock_connect=s.upstream_connect_timeout,
                sock_read=s.upstream_read_timeout,
            ),
            # bytes pass through untouched: no decompression, no cookies kept between clients, no added headers
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            trust_env=False,
            requote_redirect_url=False,
            read_bufsize=1 << 16,
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        url: str,
        request: ForwardedRequest,
        request_id: str,
    ) -> int:
        """Send the request to ``url`` (already encoded, query included) and stream the answer back.
        Returns the status sent (``499`` if the client left first)."""
        assert self.session is not None, "the gateway's lifespan has not run"
        method = scope["method"]
        body: _Body | None = None
        data: Any = None
        if request.has_body:
            body = _Body(receive)
            try:
                first, more = await body.first()
            except ClientDisconnected:
                return 499
            # a body that arrived in one piece is passed as is; anything longer streams
            data = body.rest(first) if more else first
        try:
            response = await self.session.request(
                method, URL(url, encoded=True), headers=request.headers, data=data, allow_redirects=False
            )
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError) as exc:
            return await self._fail(send, scope, request_id, 504, exc)
        except aiohttp.ClientConnectorError as exc:
            return await self._fail(send, scope, request_id, 503, exc)
        except aiohttp.ClientError as exc:
            if isinstance(exc.__cause__, ClientDisconnected) or isinstance(exc.__context__, ClientDisconnected):
                return 499
            return await self._fail(send, scope, request_id, 502, exc)
        except ClientDisconnected:
            return 499
        return await self._relay(response, receive, send, body, request_id)

    async def _relay(
        self, response: aiohttp.ClientResponse, receive: Receive, send: Send, body: _Body | None, request_id: str
    ) -> int:
        status = response.status
        watcher: asyncio.Future[None] | None = None
        try:
            headers = []
            length = -1
            for name, value in response.raw_headers:
                name = name.lower()
                if name in _RESPONSE_DROP:
                    continue
                if name == b"content-length":
                    length = int(value)
                headers.append((name, value))
            headers.append((b"x-request-id", request_id.encode("latin-1")))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            if (length < 0 or length >= _WATCH_DISCONNECT_BYTES) and (body is None or body.done):
                watcher = asyncio.ensure_future(_wait_disconnect(receive))
            content = response.content
            try:
                while True:
                    chunk = await content.readany()
                    if not chunk:
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                        break
                    last = content.at_eof()
                    await send({"type": "http.response.body", "body": chunk, "more_body": not last})
                    if last:
                        break
                    if watcher is not None and watcher.done():
                        log.info("client went away during the response; upstream stream abandoned",
                                 extra={"request_id": request_id})
                        response.close()
                        return 499
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                # headers are out: the client sees a truncated body and a closed connection
                log.warning("upstream response broke off: %s: %s", type(exc).__name__, exc,
                            extra={"request_id": request_id})
                response.close()
            return status
        finally:
            if watcher is not None:
                watcher.cancel()
            response.release()

    async def _fail(self, send: Send, scope: Scope, request_id: str, status: int, exc: BaseException) -> int:
        path = scope["path"]
        reason = str(exc)
        query = scope.get("query_string", b"")
        if query:  # query strings can carry signatures: keep them out of the logs
            reason = reason.replace(query.decode("latin-1"), "…")
        log.warning("upstream %s for %s %s: %s: %s", status, scope["method"], path, type(exc).__name__, reason,
                    extra={"request_id": request_id})
        if status == 503:
            return await send_problem(
                send, 503, "Upstream unavailable", "The service behind this route cannot be reached.",
                slug="upstream-unavailable", instance=path, request_id=request_id, headers={"Retry-After": "5"},
            )
        if status == 504:
            return await send_problem(
                send, 504, "Upstream timeout", "The service behind this route did not answer in time.",
                slug="upstream-timeout", instance=path, request_id=request_id,
            )
        return await send_problem(
            send, 502, "Bad gateway", "The service behind this route gave an invalid or broken response.",
            slug="bad-gateway", instance=path, request_id=request_id,
        )
