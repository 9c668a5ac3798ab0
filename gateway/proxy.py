"""The reverse proxy: one aiohttp ``ClientSession`` (a large keep-alive pool) for every upstream.

Request bodies up to ``max_body_bytes`` (or their route's limit) are read whole, within a deadline, before the
service is contacted, so a client that trickles its body holds no upstream connection (:mod:`gateway.limits`).
Past that, only upload routes stream: the ASGI ``receive()`` chunks feed aiohttp as an async generator (with the
client's ``Content-Length`` kept, else chunked), with an idle timeout and the route's limit counted as they pass.
The upstream's response goes to ``send()`` chunk by chunk as it arrives, with backpressure on both sides.
Upstream failures become problems: refused / unreachable → 503, timed out → 504, anything else broken → 502.
Never a hang: connect and read timeouts are always set. A service may have several replicas: round robin, a
replica that cannot be reached is skipped a while, idempotent requests are retried on the next
(:mod:`gateway.upstreams`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from starlette.types import Receive, Scope, Send
from yarl import URL

from gateway.config import GatewaySettings
from gateway.limits import BodyTimeout, BodyTooLarge, ClientDisconnected, StreamedBody, body_error_of, read_head
from gateway.problems import send_problem
from gateway.upstreams import IDEMPOTENT_METHODS, ReplicaPool
from services.common.middleware import loggable_path, mask_secret_segments

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


_PROXY_SCHEMES = frozenset({b"http", b"https"})


class ForwardedRequest:
    """What the gateway learned from the request's headers in its one pass over them."""

    __slots__ = ("headers", "authorization", "has_body", "content_length")

    def __init__(
        self, headers: list[tuple[str, str]], authorization: bytes | None, has_body: bool, content_length: int | None
    ) -> None:
        self.headers = headers
        self.authorization = authorization
        self.has_body = has_body
        self.content_length = content_length


def _text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")


def forwarded_request(
    scope: Scope, request_id: str, prefix: str | None = None, *, trusted_peer: bool = False
) -> ForwardedRequest:
    """One pass over the request headers: the list to forward, plus the Authorization value and body presence.
    ``prefix`` (``/api/<service>``) tells the service where clients reach it, so the links it returns are right;
    a client's own ``X-Forwarded-Prefix`` is dropped.

    ``X-Forwarded-For``: the peer's address replaces whatever the client sent, unless the peer is a trusted proxy
    (``trusted_peer``): then the chain is kept and the peer appended, as every proxy does. Likewise a trusted
    proxy's ``X-Forwarded-Proto`` is kept (it terminated TLS); anyone else's is replaced."""
    headers: list[tuple[str, str]] = []
    authorization = None
    has_body = False
    content_length: int | None = None
    host = forwarded_for = forwarded_proto = connection = None
    for name, value in scope["headers"]:
        if name in _REQUEST_DROP:
            if name == b"transfer-encoding":
                has_body = True
            elif name == b"host":
                host = value
            elif name == b"x-forwarded-for":
                forwarded_for = value if forwarded_for is None else forwarded_for + b", " + value
            elif name == b"x-forwarded-proto":
                forwarded_proto = value
            elif name == b"connection":
                connection = value
            continue
        if name == b"authorization":
            authorization = value
        elif name == b"content-length":
            has_body = value != b"0"
            if value.isdigit():
                content_length = int(value)
        headers.append((name.decode("latin-1"), _text(value)))
    if connection is not None:
        # headers named in Connection are hop-by-hop too
        named = {t.strip().lower() for t in connection.decode("latin-1").split(",")} - {"close", "keep-alive", ""}
        if named:
            headers = [(k, v) for k, v in headers if k not in named]
    client = scope.get("client")
    ip = client[0] if client else ""
    if trusted_peer and forwarded_for is not None and forwarded_for.strip():
        headers.append(("X-Forwarded-For", f"{forwarded_for.decode('latin-1')}, {ip}"))
    else:
        headers.append(("X-Forwarded-For", ip))
    if trusted_peer and forwarded_proto is not None and forwarded_proto.strip().lower() in _PROXY_SCHEMES:
        headers.append(("X-Forwarded-Proto", forwarded_proto.strip().lower().decode("latin-1")))
    else:
        headers.append(("X-Forwarded-Proto", scope.get("scheme", "http")))
    if host is not None:
        headers.append(("X-Forwarded-Host", host.decode("latin-1")))
    if prefix is not None:
        headers.append(("X-Forwarded-Prefix", prefix))
    headers.append(("X-Request-ID", request_id))
    return ForwardedRequest(headers, authorization, has_body, content_length)


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
        pool: ReplicaPool,
        target: str,
        request: ForwardedRequest,
        request_id: str,
        body_limit: tuple[int, bool] | None = None,
    ) -> int:
        """Send the request to a replica of ``pool`` at ``target`` (path and query, already encoded) and stream
        the answer back; on a failure before any response byte, an idempotent request with a replayable body
        goes to the next replica (:mod:`gateway.upstreams`). ``body_limit`` is the route's
        ``(max_bytes, stream)``. Returns the status sent (``499`` if the client left first)."""
        assert self.session is not None, "the gateway's lifespan has not run"
        s = self.settings
        method = scope["method"]
        body: StreamedBody | None = None
        data: Any = None
        if request.has_body:
            limit, stream = body_limit or (s.max_body_bytes, False)
            declared = request.content_length
            if declared is not None and declared > limit:
                return await self._body_refused(send, scope, request_id, BodyTooLarge(limit))
            # read whole (or, on upload routes, the first max_body_bytes) before the service is contacted
            head_limit = min(limit, s.max_body_bytes) if stream else limit
            expected = min(declared if declared is not None else head_limit, head_limit)
            deadline = s.body_timeout_seconds + expected / s.body_min_bytes_per_second
            try:
                async with asyncio.timeout(deadline):
                    chunks, total, complete = await read_head(receive, head_limit)
            except TimeoutError:
                return await self._body_refused(send, scope, request_id, BodyTimeout(deadline, streaming=False))
            except ClientDisconnected:
                return 499
            if complete:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            elif not stream:
                return await self._body_refused(send, scope, request_id, BodyTooLarge(limit))
            else:
                body = StreamedBody(receive, chunks, total, limit, s.upload_idle_timeout_seconds)
                data = body.__aiter__()
        candidates = pool.candidates()
        # a streamed body cannot be sent twice, nor may a non-idempotent request
        retries = len(candidates) - 1 if body is None and method in IDEMPOTENT_METHODS else 0
        for attempt, replica in enumerate(candidates):
            try:
                response = await self.session.request(
                    method, URL(replica.url + target, encoded=True), headers=request.headers, data=data,
                    allow_redirects=False,
                )
            except (TimeoutError, aiohttp.ClientError, ClientDisconnected, BodyTooLarge, BodyTimeout) as exc:
                problem = body_error_of(exc)
                if isinstance(problem, ClientDisconnected):
                    return 499
                if problem is not None:
                    return await self._body_refused(send, scope, request_id, problem)
                # the replica could not be reached: skip it a while (the request was not sent)
                unreachable = isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError))
                if unreachable:
                    pool.eject(replica)
                # nothing came back yet: the connection failed, or closed (reset) before the answer began
                if attempt < retries and (unreachable or isinstance(exc, (aiohttp.ServerDisconnectedError,
                                                                          aiohttp.ClientOSError))):
                    log.info("upstream %s replica %s failed (%s); retrying %s %s on the next", pool.service,
                             replica.url, type(exc).__name__, method, loggable_path(scope["path"]),
                             extra={"request_id": request_id})
                    continue
                if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
                    return await self._fail(send, scope, request_id, 504, exc)
                if isinstance(exc, aiohttp.ClientConnectorError):
                    return await self._fail(send, scope, request_id, 503, exc)
                return await self._fail(send, scope, request_id, 502, exc)
            pool.restore(replica)
            return await self._relay(response, receive, send, body, request_id)
        raise AssertionError("unreachable: the last attempt returns")  # pragma: no cover

    async def _body_refused(self, send: Send, scope: Scope, request_id: str, problem: Exception) -> int:
        """413 or 408, and the connection closed (the rest of the body is not read)."""
        path = scope["path"]
        close = {"Connection": "close"}
        if isinstance(problem, BodyTooLarge):
            return await send_problem(
                send, 413, "Payload too large",
                f"The request body is larger than this route accepts: at most {problem.limit} bytes.",
                slug="payload-too-large", instance=path, request_id=request_id, headers=close, max_bytes=problem.limit,
                errors=[{"field": "body", "in": "body", "message": f"larger than {problem.limit} bytes"}],
            )
        assert isinstance(problem, BodyTimeout)
        detail = (f"The upload sent nothing for {problem.seconds:g} s." if problem.streaming
                  else f"The request body did not arrive within {problem.seconds:g} s.")
        log.info("request body timed out on %s %s", scope["method"], loggable_path(path),
                 extra={"request_id": request_id})
        return await send_problem(
            send, 408, "Request timeout", detail, slug="request-timeout", instance=path, request_id=request_id,
            headers=close, timeout_seconds=round(problem.seconds, 3),
        )

    async def _relay(
        self, response: aiohttp.ClientResponse, receive: Receive, send: Send, body: StreamedBody | None, request_id: str
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
            except (TimeoutError, aiohttp.ClientError) as exc:
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
        if query:  # query strings carry signatures, OIDC codes and states: keep them out of the logs
            reason = reason.replace(query.decode("latin-1"), "…")
        reason = mask_secret_segments(reason)  # share tokens and player links in a URL the error names
        log.warning("upstream %s for %s %s: %s: %s", status, scope["method"], loggable_path(path), type(exc).__name__,
                    reason, extra={"request_id": request_id})
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
