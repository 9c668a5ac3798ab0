"""HTTP caching of public documents: ``ETag``, conditional GET (``304 Not Modified``) and a short-lived copy in
memory that answers before the framework, the session and the database.

The documents employers, wallets and every service read over and over — an issuer's did:web document, a status
list, identity's JWKS, the institution registry — change rarely and are the same for every caller. A service
names their routes (:func:`cache_public`); :class:`PublicCacheMiddleware` then

* gives every ``200`` of those routes an ``ETag`` (the route's own, else a hash of the body) and answers a request
  whose ``If-None-Match`` names it with ``304`` and no body;
* keeps the response in memory for ``seconds`` (the route's, at most the ``max-age`` it declares) and serves it
  from there, with an ``Age`` header, until then or until :meth:`PublicCache.invalidate` drops it — every write
  that changes one of these documents invalidates it in its own process, so a change is served at once by the
  replica that made it and within ``seconds`` by the others (far inside the ``max-age`` the documents declare).

What is never cached or served from the cache, so one caller's answer never reaches another: a request carrying
``Authorization`` or ``Cookie`` (it runs as usual; so does one with ``Origin``, whose CORS headers are its own), a response that is not a ``200``, does not say ``public``,
says ``no-store`` or ``private``, sets a cookie, varies by a request header (``Vary``), or is larger than
``MAX_BODY``. The copy is per path, query string and ``X-Forwarded-Prefix`` (links in a body may depend on it).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 1024 * 1024
MAX_ENTRIES = 1024
#: all copies of one app together
MAX_BYTES = 32 * 1024 * 1024
#: how long after an invalidation no copy is made (a read replica's lag)
SETTLE_SECONDS = 2.0
_MAX_AGE = re.compile(rb"max-age=(\d+)")
#: headers a stored response does not keep (each answer gets its own)
_NOT_STORED = {b"content-length", b"date", b"server", b"x-request-id", b"age", b"connection", b"transfer-encoding"}


@dataclass
class _Entry:
    stored_at: float
    expires_at: float
    etag: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes


class PublicCache:
    """The copies kept by one app (bounded: the least recently used goes first)."""

    def __init__(self, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.clock = clock
        self._entries: OrderedDict[tuple[str, bytes, bytes], _Entry] = OrderedDict()
        self._bytes = 0
        #: bumped by every invalidation: a response computed while one happened is not kept (it may predate it)
        self.generation = 0
        #: after an invalidation nothing is kept for SETTLE_SECONDS: a read from a replica (ReadSessionDep) may not
        #: show the commit yet, and its copy would outlive the replica's lag by the copy's whole lifetime
        self._keep_after = float("-inf")
        self.hits = self.misses = 0

    def get(self, key: tuple[str, bytes, bytes]) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() >= entry.expires_at:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[str, bytes, bytes], entry: _Entry, generation: int) -> None:
        """Keeps ``entry`` unless an invalidation happened since ``generation`` was read (when its response began)."""
        if generation != self.generation or len(entry.body) > self.max_bytes or self.clock() < self._keep_after:
            return
        self._drop(key)
        self._entries[key] = entry
        self._bytes += len(entry.body)
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: tuple[str, bytes, bytes]) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.body)

    def invalidate(self, path_prefix: str = "") -> None:
        """Drops every copy whose path starts with ``path_prefix`` (all of them by default), and keeps none of the
        responses being computed meanwhile. A write calls it once its transaction has committed
        (:func:`invalidate_on_commit`): a read that began before the commit may have read the old rows."""
        self.generation += 1
        self._keep_after = self.clock() + SETTLE_SECONDS
        for key in [k for k in self._entries if k[0].startswith(path_prefix)]:
            self._drop(key)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    seconds: float


def cache_public(app: Any, path: str, seconds: float) -> None:
    """Cache the public ``GET`` responses of the route ``path`` (a route template: ``/v1/status-lists/{list_id}``)
    for at most ``seconds`` (0: only ``ETag`` and ``304``, no copy)."""
    regex, _, _ = compile_path(path)
    rules: list[_Rule] = getattr(app.state, "public_cache_rules", [])
    app.state.public_cache_rules = [*rules, _Rule(regex, seconds)]


def public_cache(app: Any) -> PublicCache:
    """The app's cache (made on first use), for invalidation."""
    cache = getattr(app.state, "public_cache", None)
    if cache is None:
        cache = app.state.public_cache = PublicCache()
    return cache


def invalidate_public(request_or_app: Any, path_prefix: str = "") -> None:
    """:meth:`PublicCache.invalidate` on the app of a request (or an app)."""
    app = getattr(request_or_app, "app", request_or_app)
    public_cache(app).invalidate(path_prefix)


def invalidate_on_commit(session: Any, cache: PublicCache | None, path_prefix: str = "") -> None:
    """Invalidates ``path_prefix`` in ``cache`` now and again when ``session``'s transaction commits (an
    :class:`~sqlalchemy.ext.asyncio.AsyncSession` or a sync ``Session``): no copy of the old document survives
    the change, and none made from the old rows while the transaction was still open."""
    if cache is None:
        return
    from sqlalchemy import event

    cache.invalidate(path_prefix)
    sync = getattr(session, "sync_session", session)
    event.listen(sync, "after_commit", lambda _session: cache.invalidate(path_prefix), once=True)


def _etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    if if_none_match.strip() == b"*":
        return True
    weak = etag.removeprefix(b"W/")
    return any(tag.strip().removeprefix(b"W/") == weak for tag in if_none_match.split(b","))


def _cacheable(headers: list[tuple[bytes, bytes]]) -> tuple[bool, float | None]:
    """Whether a 200's headers allow a shared copy, and the max-age it declares."""
    public, max_age = False, None
    for name, value in headers:
        name = name.lower()
        if name == b"cache-control":
            lowered = value.lower()
            if b"no-store" in lowered or b"private" in lowered or b"no-cache" in lowered:
                return False, None
            public = public or b"public" in lowered
            m = _MAX_AGE.search(lowered)
            if m:
                max_age = float(m.group(1))
        elif name in (b"set-cookie", b"vary"):
            return False, None
    return public, max_age


class PublicCacheMiddleware:
    """Pure ASGI: the cached routes of the app (``app.state.public_cache_rules``) answered as the module says."""

    def __init__(self, app: ASGIApp, owner: Any) -> None:
        self.app = app
        self.owner = owner  # the FastAPI app whose state holds the rules and the cache

    def _rule(self, path: str) -> _Rule | None:
        rules: Iterable[_Rule] = getattr(self.owner.state, "public_cache_rules", ())
        for rule in rules:
            if rule.regex.match(path):
                return rule
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        rule = self._rule(path)
        if rule is None:
            await self.app(scope, receive, send)
            return
        if_none_match = prefix = b""
        for name, value in scope["headers"]:
            if name == b"authorization" or name == b"cookie":
                await self.app(scope, receive, send)  # an identified caller: never a shared copy
                return
            if name == b"origin":  # a browser's cross-origin call: CORS headers depend on it
                await self.app(scope, receive, send)
                return
            if name == b"if-none-match":
                if_none_match = value
            elif name == b"x-forwarded-prefix":
                prefix = value
        cache = public_cache(self.owner)
        key = (path, scope.get("query_string", b""), prefix)
        entry = cache.get(key) if rule.seconds > 0 else None
        if entry is not None:
            cache.hits += 1
            await self._answer(send, entry, if_none_match, scope["method"] == "HEAD", cache.clock())
            return
        cache.misses += 1
        if scope["method"] == "HEAD":  # no body to tag or keep: the route answers
            await self.app(scope, receive, send)
            return
        if if_none_match:  # the route makes the whole document (to keep); the 304 is answered here
            scope = dict(scope, headers=[(k, v) for k, v in scope["headers"] if k not in (b"if-none-match", b"if-modified-since")])
        await self._through(scope, receive, send, rule, cache, key, if_none_match)

    @staticmethod
    async def _answer(send: Send, entry: _Entry, if_none_match: bytes, head: bool, now: float) -> None:
        age = (b"age", str(int(now - entry.stored_at)).encode())
        if if_none_match and _etag_matches(if_none_match, entry.etag):
            headers = [(k, v) for k, v in entry.headers if k in (b"etag", b"cache-control", b"expires", b"last-modified")]
            await send({"type": "http.response.start", "status": 304, "headers": [*headers, age]})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [*entry.headers, age, (b"content-length", str(len(entry.body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else entry.body})

    async def _through(self, scope: Scope, receive: Receive, send: Send, rule: _Rule, cache: PublicCache,
                       key: tuple[str, bytes, bytes], if_none_match: bytes) -> None:
        """Runs the route; a cacheable 200 gets its ETag (and a 304 when the request named it) and is kept."""
        generation = cache.generation
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        passing = False  # not kept: messages go straight out

        async def capture(message: Message) -> None:
            nonlocal start, size, passing
            if passing:
                await send(message)
                return
            if message["type"] == "http.response.start":
                public, _ = _cacheable(message.get("headers", []))
                if message["status"] != 200 or not public:
                    passing = True
                    await send(message)
                    return
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body = message.get("body", b"")
            size += len(body)
            chunks.append(body)
            if size > MAX_BODY:  # too large to keep: what was held goes out, the rest streams
                passing = True
                await send(start)
                for chunk in chunks[:-1]:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send(message)
                return
            if message.get("more_body", False):
                return
            await self._keep_and_answer(send, start, b"".join(chunks), rule, cache, key, if_none_match, generation)

        await self.app(scope, receive, capture)

    async def _keep_and_answer(self, send: Send, start: Message, body: bytes, rule: _Rule, cache: PublicCache,
                               key: tuple[str, bytes, bytes], if_none_match: bytes, generation: int) -> None:
        headers = [(k.lower(), v) for k, v in start.get("headers", []) if k.lower() not in _NOT_STORED]
        etag = next((v for k, v in headers if k == b"etag"), None)
        if etag is None:
            etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
            headers.append((b"etag", etag))
        _, max_age = _cacheable(headers)
        seconds = rule.seconds if max_age is None else min(rule.seconds, max_age)
        now = cache.clock()
        entry = _Entry(now, now + seconds, etag, headers, body)
        if seconds > 0:
            cache.put(key, entry, generation)
        await self._answer(send, entry, if_none_match, False, now)
