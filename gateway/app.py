"""The gateway: the platform's one public entry, a lean pure-ASGI app (no framework on the request path).

Routes (README, "API map"):

* ``/api/<service>/<path>`` → ``<path>`` on identity, learning, records or credentials;
* ``/verify/<path>`` → credentials ``/v1/verify/<path>`` (the address in a diploma's QR code);
* ``/issuers/<path>`` → credentials ``/issuers/<path>`` (issuers' did:web documents);
* ``/.well-known/jwks.json`` and ``/.well-known/openid-configuration`` → identity;
* ``/dashboard`` — national oversight for signed-in officers, rendered here (:mod:`gateway.dashboard`);
* its own ``/healthz``, ``/readyz`` (each upstream's readiness), ``/openapi.json`` (merged) and ``/docs``.

On the way: ``X-Request-ID`` accepted or made, forwarded and echoed; the client's address taken from the peer
(or, behind configured trusted proxies, the right-most untrusted ``X-Forwarded-For`` hop); at most
``max_concurrent_per_client`` requests in progress per client address; bearer tokens verified at the edge except
on the public allow-list (verified tokens cached until ``exp``), and meant for the service routed to (``aud``);
token buckets per client IP and per client; bodies bounded per route, read whole before the service is contacted
unless the route takes uploads (:mod:`gateway.limits`, :mod:`gateway.proxy`); one JSON access-log line per request,
without secrets.

Run: ``python -m gateway`` (uvicorn with a header timeout, and without uvicorn's own X-Forwarded-For handling:
the gateway decides whom to believe; see :mod:`gateway.server`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from gateway.auth import PublicRoutes, TokenCache, bearer_from_header
from gateway.config import GatewaySettings
from gateway.dashboard.views import Dashboard
from gateway.limits import BodyRules, ClientConcurrency
from gateway.metrics import GatewayMetrics
from gateway.observability import AccessLog, RequestIds
from gateway.openapi import OpenAPIAggregator
from gateway.problems import (
    send_app_error,
    send_not_found,
    send_problem,
    send_rate_limited,
    send_too_many_in_progress,
    send_unauthorized,
)
from gateway.proxy import Proxy, forwarded_request
from gateway.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from gateway.upstreams import ReplicaPool, Upstreams
from services.common.auth import JWKSCache, TokenVerifier, audiences_of
from services.common.client_ip import TrustedProxies, client_address
from services.common.errors import AppError, internal_error_body
from services.common.logging import configure_logging, request_id_var
from services.common.middleware import loggable_path

log = logging.getLogger("gateway")

LocalHandler = Callable[[Scope, Receive, Send, str], Awaitable[int]]

#: paths at the gateway's root that belong to identity
_IDENTITY_ROOT_PATHS = ("/.well-known/jwks.json", "/.well-known/openid-configuration")
#: the platform's JSON-LD context documents (their URLs are named in every credential it issues)
_CREDENTIALS_ROOT_PATHS = ("/ns/credentials/v1",)
_SAFE_PATH_CHARS = "/:@!$&'()*+,;=-._~"
#: the services' own API documents, not passed on when the gateway serves no documentation
_DOC_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
#: first path segments of a service that are for the platform's network only, never routed (Prometheus metrics)
_INTERNAL_SEGMENTS = frozenset({"metrics"})


def _is_internal(rest: str) -> bool:
    """Whether a service path (after ``/api/<service>/``) names an internal route: its first segment, however the
    path is padded with empty or ``.`` segments (which the service's router would not see either)."""
    for segment in rest.split("/"):
        if segment not in ("", "."):
            return segment in _INTERNAL_SEGMENTS
    return False


def _has_dot_segment(path: str) -> bool:
    return any(segment in (".", "..") for segment in path.split("/"))


def _raw_tail(scope: Scope, skip: int) -> str:
    """The request path after its first ``skip`` characters, as the client encoded it."""
    path: str = scope["path"]
    raw: bytes | None = scope.get("raw_path")
    if raw is not None and raw[:skip] == path[:skip].encode("latin-1"):
        tail = raw[skip:].decode("latin-1")
    else:  # the prefix itself was percent-encoded: re-encode the decoded tail
        tail = quote(path[skip:], safe=_SAFE_PATH_CHARS)
    return tail or "/"


class Gateway:
    """The ASGI app. ``create_app()`` builds one; uvicorn drives its lifespan (tests use ``lifespan_context``)."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        #: each service's replicas; as a mapping, ``upstreams[name]`` is one replica's URL, taken in turn
        self.upstreams = Upstreams(settings.upstreams, settings.upstream_eject_seconds)
        self.pools = self.upstreams.pools
        self.public = PublicRoutes(settings.public_routes)
        self.proxy = Proxy(settings)
        # every audience is accepted here; a token must name the service it is sent to (checked per route)
        self.verifier = TokenVerifier(
            JWKSCache(provider=self._fetch_jwks, min_refresh_seconds=1.0), issuer=settings.jwt_issuer
        )
        self.trusted = TrustedProxies(settings.trusted_proxies)
        self.body_rules = BodyRules(settings.body_routes, settings.max_body_bytes)
        self.concurrency = (
            ClientConcurrency(settings.max_concurrent_per_client) if settings.max_concurrent_per_client > 0 else None
        )
        self._serve_docs = settings.serve_docs
        self.tokens = TokenCache(self.verifier, settings.token_cache_size)
        self.limiter: RateLimiter | None = None
        self._ip_rate = (settings.rate_limit_ip_burst, settings.rate_limit_per_ip_per_minute / 60.0)
        self._client_rate = (settings.rate_limit_client_burst, settings.rate_limit_per_client_per_minute / 60.0)
        self.openapi = OpenAPIAggregator(
            self.upstreams,
            lambda: self.proxy.session,
            public_routes=self.public,
            cache_seconds=settings.openapi_cache_seconds,
            fetch_timeout=settings.openapi_fetch_timeout,
        )
        identity = self.pools["identity"]
        self._root_routes = {path: identity for path in _IDENTITY_ROOT_PATHS}
        self._root_routes.update((path, self.pools["credentials"]) for path in _CREDENTIALS_ROOT_PATHS)
        self._root_services = {path: "identity" for path in _IDENTITY_ROOT_PATHS}
        self._root_services.update((path, "credentials") for path in _CREDENTIALS_ROOT_PATHS)
        self._local: dict[str, LocalHandler] = {"/healthz": self._healthz, "/readyz": self._readyz}
        if self._serve_docs:
            self._local.update({
                "/openapi.json": self._openapi,
                "/docs": self._docs,
                "/docs/oauth2-redirect": self._docs_redirect,
            })
        self._access_log = settings.access_log
        self.access_log = AccessLog("gateway")
        self.request_ids = RequestIds()
        self._cors: Any = None
        if settings.cors_origins:
            self._cors = CORSMiddleware(
                self._cors_inner,
                allow_origins=settings.cors_origins,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=["X-Request-ID", "Retry-After", "ETag", "Location",
                                # xAPI clients in a browser read these (xAPI 1.0.3 communication, CORS)
                                "X-Experience-API-Version", "X-Experience-API-Consistent-Through", "Last-Modified"],
                max_age=600,
            )
        self.metrics = GatewayMetrics(
            self.upstreams, [*self._root_routes, "/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect"]
        )
        self._started = False
        self.dashboard = Dashboard(self)

    # -- ASGI ---------------------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:  # websockets are not routed
            await receive()
            await send({"type": "websocket.close", "code": 1008})

    def concurrency_in_progress(self, client: str | None = None) -> int:
        """Requests in progress (of one client address, or of all), as counted for the per-client cap."""
        return self.concurrency.in_progress(client) if self.concurrency is not None else 0

    def client_of(self, scope: Scope) -> tuple[str, bool]:
        """The client's address, and whether the peer is a trusted proxy (whose X-Forwarded-For is believed)."""
        client = scope.get("client")
        peer = client[0] if client else ""
        if not self.trusted or peer not in self.trusted:
            return peer, False
        chain = [value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"]
        return client_address(peer, chain, self.trusted), True

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        rid = self.request_ids(scope["headers"])
        context = request_id_var.set(rid)
        status = 500
        client_ip, trusted_peer = self.client_of(scope)
        concurrency = self.concurrency
        entered = False
        self.metrics.http.in_progress.inc()
        try:
            if concurrency is not None:
                entered = concurrency.enter(client_ip)
                if not entered:
                    status = await send_too_many_in_progress(send, concurrency.cap, scope["path"], rid)
                    return
            if self._cors is None:
                status = await self._route(scope, receive, send, rid, client_ip, trusted_peer)
            else:
                status = await self._route_with_cors(scope, receive, send, rid, client_ip, trusted_peer)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], loggable_path(scope["path"]))
            status = 500
            with contextlib.suppress(Exception):  # fails if the response had already started
                body = internal_error_body(scope["path"])
                await send_problem(
                    send, 500, body["title"], body["detail"], slug="internal", instance=scope["path"], request_id=rid
                )
        finally:
            if entered:
                concurrency.leave(client_ip)  # type: ignore[union-attr]
            elapsed = time.perf_counter() - started
            self.metrics.http.in_progress.dec()
            self.metrics.http.observe(scope["method"], self.metrics.route(scope["path"]), status, elapsed)
            if self._access_log and self.access_log.enabled():
                # no query string, no secret path segments (share tokens, player links)
                self.access_log.write(
                    scope["method"], loggable_path(scope["path"]), status,
                    round(elapsed * 1000.0, 2), rid, client_ip or None,
                )
            request_id_var.reset(context)

    async def _route_with_cors(
        self, scope: Scope, receive: Receive, send: Send, rid: str, client_ip: str, trusted_peer: bool
    ) -> int:
        status = [0]
        rid_header = (b"x-request-id", rid.encode("latin-1"))

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = list(message.get("headers", []))
                if rid_header not in headers:  # a preflight answered by the CORS middleware itself
                    headers.append(rid_header)
                message["headers"] = headers
            await send(message)

        scope["gateway.client"] = (client_ip, trusted_peer)
        await self._cors(scope, receive, send_and_note)
        return status[0] or 499  # nothing sent: the client had gone

    async def _cors_inner(self, scope: Scope, receive: Receive, send: Send) -> None:
        client_ip, trusted_peer = scope["gateway.client"]
        await self._route(scope, receive, send, request_id_var.get() or "", client_ip, trusted_peer)

    # -- routing, auth, limits ------------------------------------------------------------------------------------

    async def _route(
        self, scope: Scope, receive: Receive, send: Send, rid: str, client_ip: str, trusted_peer: bool
    ) -> int:
        path: str = scope["path"]
        method: str = scope["method"]
        local: LocalHandler | None = None
        prefix: str | None = None
        pool: ReplicaPool | None
        #: the service the request goes to: a token must name it in its ``aud``
        service: str | None = "credentials"
        if path.startswith("/api/"):
            service, _, rest = path[5:].partition("/")
            pool = self.pools.get(service)
            if pool is None:
                return await send_not_found(send, path, rid)
            if not self._serve_docs and "/" + rest in _DOC_PATHS:
                return await send_not_found(send, path, rid)
            if _is_internal(rest):  # e.g. a service's /metrics: scraped inside the platform, never through here
                return await send_not_found(send, path, rid)
            upstream_path = _raw_tail(scope, 5 + len(service))
            prefix = "/api/" + service
        elif path.startswith("/verify") and (len(path) == 7 or path[7] == "/"):
            pool = self.pools["credentials"]
            upstream_path = "/v1/verify" + (_raw_tail(scope, 7) if len(path) > 7 else "")
        elif path.startswith("/issuers/"):
            # did:web documents of issuers: did:web:<host>:issuers:<code> resolves to /issuers/<code>/did.json
            pool = self.pools["credentials"]
            upstream_path = _raw_tail(scope, 0)
        elif path == "/dashboard" or path.startswith("/dashboard/"):
            # server-rendered for signed-in officers; checks its own cookie or bearer token (gateway/dashboard)
            pool, local, upstream_path, service = None, self.dashboard.handle, "", None
        else:
            pool = self._root_routes.get(path)
            if pool is None:
                local = self._local.get(path)
                if local is None:
                    return await send_not_found(send, path, rid)
                upstream_path = ""
                service = None
            else:
                upstream_path = _raw_tail(scope, 0)
                service = self._root_services[path]
        if "/." in path and _has_dot_segment(path):
            return await send_problem(
                send, 400, "Bad request", "Paths with '.' or '..' segments are not accepted.",
                slug="bad-request", instance=path, request_id=rid,
            )

        request = forwarded_request(scope, rid, prefix, trusted_peer=trusted_peer)
        ip_bucket = ("ip:" + (client_ip or "-"), *self._ip_rate)
        limiter = self.limiter

        if not self.public.is_public(method, path):
            token = bearer_from_header(request.authorization)
            cached = self.tokens.cached(token) if token is not None else None
            if cached is None:
                # unknown token or none: the IP's bucket first, so bad tokens cannot burn CPU without limit
                if limiter is not None:
                    wait = await limiter.hit((ip_bucket,))
                    if wait:
                        return await send_rate_limited(send, wait, path, rid)
                if token is None:
                    return await send_unauthorized(send, "A bearer token is required.", path, rid)
                try:
                    principal = await self.tokens.principal(token)
                except AppError as exc:
                    return await send_app_error(send, exc, instance=path, request_id=rid)
                if service is not None and service not in audiences_of(principal.claims):
                    return await self._wrong_audience(send, service, path, rid)
                if limiter is not None:
                    wait = await limiter.hit((("client:" + principal.sub, *self._client_rate),))
                    if wait:
                        return await send_rate_limited(send, wait, path, rid)
            else:
                if service is not None and service not in audiences_of(cached.claims):
                    return await self._wrong_audience(send, service, path, rid)
                if limiter is not None:
                    wait = await limiter.hit((ip_bucket, ("client:" + cached.sub, *self._client_rate)))
                    if wait:
                        return await send_rate_limited(send, wait, path, rid)
        elif limiter is not None:
            wait = await limiter.hit((ip_bucket,))
            if wait:
                return await send_rate_limited(send, wait, path, rid)

        if local is not None:
            return await local(scope, receive, send, rid)
        query: bytes = scope["query_string"]
        target = upstream_path + ("?" + query.decode("latin-1") if query else "")
        body_limit = self.body_rules(method, path) if request.has_body else None
        return await self.proxy.forward(scope, receive, send, pool, target, request, rid, body_limit)  # type: ignore[arg-type]

    @staticmethod
    async def _wrong_audience(send: Send, service: str, path: str, rid: str) -> int:
        return await send_problem(
            send, 401, "Authentication required", f"The bearer token is not meant for {service} (its aud).",
            slug="unauthorized", instance=path, request_id=rid,
            headers={"WWW-Authenticate": 'Bearer realm="vet", error="invalid_token"'},
        )

    # -- the gateway's own routes --------------------------------------------------------------------------------

    @staticmethod
    async def _respond(response: Response, scope: Scope, receive: Receive, send: Send, rid: str) -> int:
        response.headers["X-Request-ID"] = rid
        await response(scope, receive, send)
        return response.status_code

    async def _healthz(self, scope: Scope, receive: Receive, send: Send, rid: str) -> int:
        return await self._respond(JSONResponse({"status": "ok", "service": "gateway"}), scope, receive, send, rid)

    async def _readyz(self, scope: Scope, receive: Receive, send: Send, rid: str) -> int:
        """Each replica's ``/readyz``. 200 while the gateway itself can serve (``degraded`` if a replica is not
        ready, so one service's outage does not pull the whole gateway out of a load balancer); add
        ``?strict=1`` for 503 unless every service has a ready replica. Per service: ``status`` (``ready`` when
        one of its replicas is) and ``replicas``, each with its own status and, if ejected, ``ejected_seconds``
        (how long it is still skipped)."""
        session = self.proxy.session
        timeout = aiohttp.ClientTimeout(total=self.settings.readyz_timeout)

        async def probe(base: str) -> dict[str, Any]:
            if session is None:
                return {"status": "unavailable", "error": "gateway not started"}
            try:
                async with session.get(base + "/readyz", timeout=timeout, headers={"X-Request-ID": rid}) as resp:
                    await resp.read()
                    return {"status": "ready" if resp.status == 200 else "unavailable", "http_status": resp.status}
            except (TimeoutError, aiohttp.ClientError) as exc:
                return {"status": "unavailable", "error": type(exc).__name__}

        replicas = [(pool, replica) for pool in self.pools.values() for replica in pool.replicas]
        results = await asyncio.gather(*(probe(replica.url) for _, replica in replicas))
        upstreams: dict[str, dict[str, Any]] = {
            name: {"status": "unavailable", "replicas": []} for name in self.pools
        }
        for (pool, replica), result in zip(replicas, results, strict=True):
            entry = upstreams[pool.service]
            ejected = pool.ejected_for(replica)
            entry["replicas"].append({"url": replica.url, **result, **({"ejected_seconds": round(ejected, 1)} if ejected else {})})
            if result["status"] == "ready":
                entry["status"] = "ready"
        all_ready = all(r["status"] == "ready" for r in results)
        every_service = all(e["status"] == "ready" for e in upstreams.values())
        strict = b"strict=1" in scope.get("query_string", b"")
        status = 200 if every_service or (not strict and session is not None) else 503
        body = {"status": "ready" if all_ready else "degraded", "service": "gateway", "upstreams": upstreams}
        return await self._respond(JSONResponse(body, status_code=status), scope, receive, send, rid)

    async def _openapi(self, scope: Scope, receive: Receive, send: Send, rid: str) -> int:
        document = await self.openapi.document()
        return await self._respond(JSONResponse(document), scope, receive, send, rid)

    async def _docs(self, scope: Scope, receive: Receive, send: Send, rid: str) -> int:
        from fastapi.openapi.docs import get_swagger_ui_html

        page: HTMLResponse = get_swagger_ui_html(
            openapi_url="/openapi.json", title="VET platform API", oauth2_redirect_url="/docs/oauth2-redirect"
        )
        return await self._respond(page, scope, receive, send, rid)

    async def _docs_redirect(self, scope: Scope, receive: Receive, send: Send, rid: str) -> int:
        from fastapi.openapi.docs import get_swagger_ui_oauth2_redirect_html

        return await self._respond(get_swagger_ui_oauth2_redirect_html(), scope, receive, send, rid)

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def _fetch_jwks(self) -> dict[str, Any]:
        session = self.proxy.session
        if session is None:
            raise ValueError("the gateway has not started")
        pool = self.pools["identity"]
        candidates = pool.candidates()
        for attempt, replica in enumerate(candidates):
            try:
                async with session.get(replica.url + "/.well-known/jwks.json",
                                       timeout=aiohttp.ClientTimeout(total=5.0)) as resp:
                    if resp.status != 200:
                        raise ValueError(f"JWKS answered {resp.status}")
                    document = await resp.json(content_type=None)
                break
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                pool.eject(replica)  # another replica may have the keys
                if attempt == len(candidates) - 1:
                    raise ValueError(f"JWKS unavailable: {type(exc).__name__}") from exc
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise ValueError(f"JWKS unavailable: {type(exc).__name__}") from exc
        if not isinstance(document, dict):
            raise ValueError("JWKS is not a JSON object")
        return document

    async def startup(self) -> None:
        if self._started:
            return
        await self.proxy.start()
        s = self.settings
        if s.rate_limit_enabled:
            if s.redis_url:
                self.limiter = RedisRateLimiter(
                    s.redis_url, timeout=s.redis_timeout_seconds, retry_seconds=s.redis_retry_seconds
                )
            else:
                self.limiter = MemoryRateLimiter()
        self._started = True
        log.info(
            "gateway started",
            extra={"upstreams": ", ".join(f"{k}={','.join(r.url for r in p.replicas)}" for k, p in self.pools.items()),
                   "rate_limiter": type(self.limiter).__name__ if self.limiter else "off"},
        )

    async def shutdown(self) -> None:
        if not self._started:
            return
        self._started = False
        if self.limiter is not None:
            await self.limiter.close()
            self.limiter = None
        await self.proxy.close()
        self.access_log.flush()

    @contextlib.asynccontextmanager
    async def lifespan_context(self, app: Any = None) -> AsyncIterator[None]:
        """Run startup and shutdown around a block (for tests without a server)."""
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()

    @property
    def router(self) -> Gateway:
        """Starlette-style ``app.router.lifespan_context(app)`` works too."""
        return self

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("gateway startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: GatewaySettings | None = None) -> Gateway:
    settings = settings or GatewaySettings()
    configure_logging("gateway", settings.log_level)
    return Gateway(settings)
