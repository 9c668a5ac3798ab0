"""Several replicas of a service: the URL lists, round robin with passive ejection, and an httpx transport that
spreads service-to-service calls over them.

A setting that names another service (``<SVC>_IDENTITY_URL``, each receiver in ``<SVC>_EVENT_ROUTES``) takes one
URL, a comma-separated list or a JSON list of its replicas; the replicas of one list differ only in scheme, host and
port (``http://10.0.0.5:8001,http://10.0.0.6:8001``). The settings keep the first as *the* URL (links built from it,
outbox rows naming it); :class:`ReplicaTransport` sends a request for any replica's origin to the replicas in turn:

* **round robin**: each request starts at the next replica;
* **passive ejection**: a replica that refuses the connection or does not accept it in time is skipped for
  ``eject_seconds`` (``<SVC>_REPLICA_EJECT_SECONDS``, 10 s), then tried again by the next request that comes its
  way; when every replica is skipped they are tried anyway, the one skipped first leading;
* **failover**: a request whose connection could not be made moves to the next replica, whatever its method (nothing
  was sent). A request that may have been sent — the connection dropped or reset before the answer began, as when a
  replica dies mid-request — moves on only if it is safe to send twice: an idempotent method (RFC 9110 §9.2.2) or a
  request carrying ``Idempotency-Key`` (the receiver answers a repeat with the first response), and a body held
  whole. A timeout moves nothing and ejects nobody: a slow answer says more about the request than the replica.

The gateway uses :class:`ReplicaPool` for its upstreams (``gateway/upstreams.py``) with the same rules.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence

import httpx

log = logging.getLogger("services.replicas")

#: methods a client may expect to be resent on a failure (RFC 9110 §9.2.2)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

#: the request may have reached the replica: resent only when that is safe
_MAYBE_SENT = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
#: the connection was never made: nothing was sent
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)


def parse_urls(value: str | list[str]) -> list[str]:
    """One URL, a comma-separated list, or a JSON list of URLs; trailing slashes dropped, duplicates kept once."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            items = json.loads(text)
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ValueError("a JSON list of URLs is expected")
        else:
            items = text.split(",")
    else:
        items = list(value)
    urls: list[str] = []
    for item in items:
        url = item.strip().rstrip("/")
        if not url:
            continue
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {url!r}")
        if url not in urls:
            urls.append(url)
    if not urls:
        raise ValueError("at least one URL is needed")
    return urls


def origin(url: str | httpx.URL) -> str:
    """``scheme://host:port`` (the port always written, 80 / 443 when the URL leaves it out)."""
    u = httpx.URL(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    host = f"[{u.host}]" if ":" in u.host else u.host
    return f"{u.scheme}://{host}:{port}"


def replica_list(value: str | list[str]) -> list[str]:
    """A setting naming one service: its replicas' URLs (:func:`parse_urls`), refused if they differ in more than
    scheme, host and port (a path, a query)."""
    urls = parse_urls(value)
    rest = {str(httpx.URL(u).copy_with(scheme="http", host="x", port=None)) for u in urls}
    if len(rest) > 1:
        raise ValueError(f"the replicas of one service differ only in scheme, host and port: {', '.join(urls)}")
    return urls


class Replica:
    __slots__ = ("url", "ejected_until", "ejections")

    def __init__(self, url: str) -> None:
        self.url = url
        self.ejected_until = 0.0
        self.ejections = 0


class ReplicaPool:
    """The replicas of one service. Not thread-safe; one event loop uses it (no awaits inside)."""

    def __init__(self, service: str, urls: list[str], eject_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.replicas = [Replica(u) for u in urls]
        self.eject_seconds = eject_seconds
        self.clock = clock
        self._next = 0

    def candidates(self) -> list[Replica]:
        """The replicas in the order to try them for one request: from the next in turn, live ones first, then
        the ejected ones (soonest back first), so a request is never refused only because all were ejected."""
        replicas = self.replicas
        n = len(replicas)
        if n == 1:
            return replicas
        start = self._next
        self._next = (start + 1) % n
        now = self.clock()
        ordered = replicas[start:] + replicas[:start]
        live = [r for r in ordered if r.ejected_until <= now]
        if len(live) == n:
            return ordered
        return live + sorted((r for r in ordered if r.ejected_until > now), key=lambda r: r.ejected_until)

    def pick(self) -> str:
        """One replica's URL (for the gateway's own fetches: JWKS, OpenAPI documents)."""
        return self.candidates()[0].url

    def eject(self, replica: Replica) -> None:
        if len(self.replicas) > 1:
            replica.ejected_until = self.clock() + self.eject_seconds
            replica.ejections += 1

    def restore(self, replica: Replica) -> None:
        """It answered: in rotation again at once."""
        if replica.ejected_until:
            replica.ejected_until = 0.0

    def ejected_for(self, replica: Replica) -> float:
        """Seconds until an ejected replica is tried again (0: in rotation)."""
        return max(0.0, replica.ejected_until - self.clock())


def _merge(groups: Iterable[Sequence[str]]) -> list[list[str]]:
    """Lists of origins; lists that share an origin become one (first seen first)."""
    merged: list[list[str]] = []
    for group in groups:
        members = list(dict.fromkeys(origin(u) for u in group))
        overlapping = [m for m in merged if set(m) & set(members)]
        for m in overlapping:
            merged.remove(m)
        combined = [o for m in overlapping for o in m]
        merged.append(list(dict.fromkeys(combined + members)))
    return merged


class ReplicaTransport(httpx.AsyncBaseTransport):
    """Sends a request for one of a service's replicas to the next live one, with failover (module docstring).
    ``groups``: each service's replica URLs (only scheme, host and port are used). Requests for other origins go
    to ``inner`` unchanged."""

    def __init__(self, groups: Iterable[Sequence[str]], *, eject_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.pools: dict[str, ReplicaPool] = {}
        for members in _merge(groups):
            if len(members) < 2:
                continue
            pool = ReplicaPool(members[0], members, eject_seconds, clock)
            self.pools.update(dict.fromkeys(members, pool))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pool = self.pools.get(origin(request.url))
        if pool is None:
            return await self.inner.handle_async_request(request)
        replayable = isinstance(request.stream, httpx.ByteStream)
        safe_twice = replayable and (request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers)
        candidates = pool.candidates()
        for attempt, replica in enumerate(candidates):
            last = attempt == len(candidates) - 1
            try:
                response = await self.inner.handle_async_request(_to(request, replica.url))
            except _NOT_SENT as exc:
                pool.eject(replica)
                if last:
                    raise
                _moved(request, replica, exc)
                continue
            except _MAYBE_SENT as exc:
                if last or not safe_twice:
                    raise
                _moved(request, replica, exc)
                continue
            pool.restore(replica)
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    async def aclose(self) -> None:
        await self.inner.aclose()


def _moved(request: httpx.Request, replica: Replica, exc: Exception) -> None:
    log.info("replica %s failed (%s: %s); %s %s goes to the next", replica.url, type(exc).__name__, exc,
             request.method, request.url.path)


def _to(request: httpx.Request, replica_origin: str) -> httpx.Request:
    """The request addressed to another replica (same path, query, headers and body; its own Host)."""
    if origin(request.url) == replica_origin:
        return request
    target = httpx.URL(replica_origin)
    url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
    headers = [(k, url.netloc if k.lower() == b"host" else v) for k, v in request.headers.raw]
    return httpx.Request(request.method, url, headers=headers, stream=request.stream, extensions=request.extensions)


def replica_transport(groups: Sequence[Sequence[str]], eject_seconds: float,
                      inner: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncBaseTransport | None:
    """The transport of a service's internal client: ``inner`` as it is when no setting lists several replicas,
    else a :class:`ReplicaTransport` over it."""
    if not any(len(g) > 1 for g in groups):
        return inner
    return ReplicaTransport(groups, eject_seconds=eject_seconds, inner=inner)
