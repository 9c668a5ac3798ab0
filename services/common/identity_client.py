"""Calls to identity from every other service: one meaning for each answer, one cache.

:class:`IdentityClient` is built once per app by ``create_service_app`` (``app.state.identity``) over the app's
internal HTTP client, so its calls go through :class:`~services.common.replicas.ReplicaTransport` (round robin over
identity's replicas, passive ejection, failover) like every other service-to-service call, and calls that need
this service's own token take it from :class:`~services.common.service_client.ServiceTokenProvider`.

What an answer means, for every call:

* **2xx**: the body (JSON) is the answer; a body that is not the JSON expected is :class:`IdentityError`.
* **404** on a lookup (an institution, a person): ``None``, "identity does not know it". Never cached.
* **5xx, 408, 429, a timeout, a refused or dropped connection**: :class:`IdentityUnavailable`, a transient error
  (503 problem+json with ``Retry-After`` on an API path; :func:`services.common.retry.transient_reason` knows it,
  so background jobs wait and try again rather than failing items; how long a job waits is its retry policy's).
* **401 / 403** on a call with this service's token: the token is dropped, a fresh one fetched and the call made
  once more; refused again (or the token endpoint refusing the client credentials, or none configured, or a 401 /
  403 on a public lookup, which carries no token to renew):
  :class:`IdentityMisconfigured`, logged at ERROR (an operator must act) and answered 503 to callers, so a job waits
  for the fix rather than failing its items.
* **anything else** (another 4xx, a redirect): :class:`IdentityError` (502), never taken for "found" or "not found".

The cache: institution lookups, the institution listings and person lookups are kept in one bounded LRU
(``max_entries``) for ``ttl`` seconds (by an injected monotonic clock). Past ``ttl`` identity is asked again; if it is
*unavailable* (:class:`IdentityUnavailable` only: not when it refused this service, not when it said 404), an entry
no older than ``ttl + stale`` is served instead and a warning logged. "Not found" is never kept: an institution
registered a moment later is found at once. Person resolution (``POST /v1/persons/resolve``) creates persons and
is never cached.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from services.common.errors import DEFAULT_RETRY_AFTER, AppError, ServiceUnavailable
from services.common.retry import TRANSIENT_STATUSES
from services.common.service_client import ServiceTokenProvider

log = logging.getLogger("services.identity_client")

T = TypeVar("T")

#: identity's largest page of the institution listing
LISTING_PAGE = 500


class IdentityError(AppError):
    """Identity answered something this service cannot use (an unexpected status or body): a 502, not retried."""

    status, title, slug = 502, "Bad gateway", "upstream-refused"


class IdentityUnavailable(IdentityError, ServiceUnavailable):
    """Identity cannot be reached, timed out, or answered 5xx / 408 / 429: transient, try again later."""

    status, title, slug = 503, "Service unavailable", "unavailable"


class IdentityMisconfigured(IdentityError, ServiceUnavailable):
    """Identity refuses this service's own credentials (401/403 even with a fresh token, or the token endpoint
    refusing the client): an operator must fix the configuration. 503 to callers; jobs wait for the fix."""

    status, title, slug = 503, "Service unavailable", "unavailable"


class TTLCache:
    """A bounded LRU of values with the (monotonic) time each was stored. Not thread-safe: one event loop."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, max_age: float) -> tuple[Any, float] | None:
        """The value and its age if stored no more than ``max_age`` seconds ago (marked recently used), else None."""
        found = self._entries.get(key)
        if found is None:
            return None
        age = self.clock() - found[0]
        if age > max_age:
            return None
        self._entries.move_to_end(key)
        return found[1], age

    def put(self, key: Hashable, value: Any) -> None:
        self._entries[key] = (self.clock(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def discard(self, predicate: Callable[[Hashable], bool]) -> int:
        keys = [k for k in self._entries if predicate(k)]
        for k in keys:
            del self._entries[k]
        return len(keys)


class IdentityClient:
    """Identity's API as other services use it (module docstring: what each answer means, what is cached).

    ``base_url``: identity's URL (the first replica's; the transport spreads calls over all of them).
    ``tokens``: this service's client-credentials token, for the calls that need one (persons).
    ``clock``: monotonic seconds, for the cache (tests pass their own)."""

    def __init__(
        self,
        base_url: str,
        http: httpx.AsyncClient,
        tokens: ServiceTokenProvider | None = None,
        *,
        ttl: float = 300.0,
        stale: float = 3600.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        retry_after: int = DEFAULT_RETRY_AFTER,
        timeout: float = 5.0,
        resolve_timeout: float = 120.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.tokens = tokens
        self.ttl = ttl
        self.stale = stale
        self.retry_after = retry_after
        self.timeout = timeout
        self.resolve_timeout = resolve_timeout
        self.cache = TTLCache(max_entries, clock)

    @property
    def authenticated(self) -> bool:
        """Whether this service has client credentials to call identity's protected routes with."""
        return self.tokens is not None and self.tokens.configured

    # -- lookups ---------------------------------------------------------------------------------------------------
    async def institution(self, code: str, *, max_age: float | None = None) -> dict[str, Any] | None:
        """The public registry's entry of institution ``code`` (``GET /v1/institutions/{code}``); None if identity
        does not know it. ``max_age`` (default: the client's ``ttl``) bounds how old a kept entry may be; 0 asks
        identity every time, still falling back to a kept entry within the stale window while identity is down."""
        path = f"/v1/institutions/{quote(code, safe='')}"  # one path segment, whatever the code holds
        return await self._cached(("institution", code), max_age, lambda: self._get_object(path))

    async def institutions(self, *, type: str | None = None, status: str | None = None,
                           max_age: float | None = None) -> list[dict[str, Any]]:
        """The registry's institutions (``GET /v1/institutions``, every page), filtered by ``type`` / ``status``."""
        params = {k: v for k, v in (("type", type), ("status", status)) if v is not None}

        async def fetch() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            query: dict[str, Any] = {**params, "limit": LISTING_PAGE}
            while True:
                body = await self._call("GET", "/v1/institutions", params=query)
                if body is None:
                    raise self._unexpected("GET /v1/institutions", "404")
                items, cursor = _page(body)
                found += items
                if not cursor:
                    return found
                query["cursor"] = cursor

        result = await self._cached(("institutions", type, status), max_age, fetch)
        assert result is not None  # a listing is never "not found"
        return result

    async def person(self, person_id: str, *, max_age: float | None = None) -> dict[str, Any] | None:
        """Identity's person ``person_id`` (``GET /v1/persons/{id}``, with this service's token); None if unknown."""
        path = f"/v1/persons/{quote(str(person_id), safe='')}"
        return await self._cached(("person", str(person_id)), max_age, lambda: self._get_object(path, auth=True))

    async def resolve_persons(self, persons: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``POST /v1/persons/resolve``: each person found or created, or why identity refused it; same order."""
        body = await self._call("POST", "/v1/persons/resolve", json={"persons": persons}, auth=True,
                                wait=self.resolve_timeout, not_found_is_none=False)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or len(results) != len(persons) or not all(isinstance(r, dict) for r in results):
            raise self._unexpected("POST /v1/persons/resolve", "a body without one result per person")
        return results

    def forget(self, kind: str | None = None) -> int:
        """Drops kept entries (of one kind: ``institution``, ``institutions``, ``person``); how many."""
        return self.cache.discard(lambda k: kind is None or (isinstance(k, tuple) and k[0] == kind))

    # -- the cache policy ------------------------------------------------------------------------------------------
    async def _cached(self, key: tuple[Any, ...], max_age: float | None, fetch: Callable[[], Awaitable[T]]) -> T:
        fresh_for = self.ttl if max_age is None else min(max_age, self.ttl)
        kept = self.cache.get(key, fresh_for) if fresh_for > 0 else None
        if kept is not None:
            value: T = kept[0]
            return copy.deepcopy(value)
        try:
            value = await fetch()
        except IdentityUnavailable as exc:
            stale = self.cache.get(key, self.ttl + self.stale)
            if stale is None:
                raise
            log.warning("identity unavailable (%s); serving %s as read %.0f s ago", exc.detail, key[0], stale[1])
            old: T = stale[0]
            return copy.deepcopy(old)
        if value is not None:
            self.cache.put(key, value)
        return copy.deepcopy(value)

    # -- one call, one meaning per answer --------------------------------------------------------------------------
    async def _get_object(self, path: str, *, auth: bool = False) -> dict[str, Any] | None:
        body = await self._call("GET", path, auth=auth)
        if body is not None and not isinstance(body, dict):
            raise self._unexpected(f"GET {path}", "a body that is not a JSON object")
        return body

    async def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
                    auth: bool = False, wait: float | None = None, not_found_is_none: bool = True) -> Any:
        """The JSON body of a 2xx answer; None for a 404 when ``not_found_is_none``; else the mapped error."""
        what = f"{method} {path}"
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {await self._token(what)}"} if auth else {}
            try:
                resp = await self.http.request(method, self.base_url + path, params=params, json=json, headers=headers,
                                               timeout=self.timeout if wait is None else wait)
            except (httpx.TransportError, OSError) as exc:
                raise self._unavailable(f"{what}: {type(exc).__name__}") from exc
            status = resp.status_code
            if status in (401, 403):
                if auth and attempt == 1 and self.tokens is not None:
                    self.tokens.invalidate()  # expired, or identity's keys rotated: one more try with a fresh token
                    continue
                raise self._misconfigured(f"{what} answered HTTP {status}" + (" with a fresh token" if auth else ""))
            if status == 404 and not_found_is_none:
                return None
            if status in TRANSIENT_STATUSES or status >= 500:
                raise self._unavailable(f"{what} answered HTTP {status}")
            if not 200 <= status < 300:
                raise self._unexpected(what, f"HTTP {status}")
            try:
                return resp.json()
            except ValueError as exc:
                raise self._unexpected(what, "a body that is not JSON") from exc
        raise AssertionError("unreachable: the second attempt returns or raises")  # pragma: no cover

    async def _token(self, what: str) -> str:
        if self.tokens is None or not self.tokens.configured:
            raise self._misconfigured(f"{what} needs this service's client credentials, and none are configured")
        try:
            return await self.tokens.token()
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            if status in TRANSIENT_STATUSES or status >= 500:
                raise self._unavailable(f"the token endpoint answered HTTP {status}") from exc
            raise self._misconfigured(f"the token endpoint refused this service's client credentials: HTTP {status}") from exc
        except (httpx.TransportError, OSError) as exc:
            raise self._unavailable(f"the token endpoint: {type(exc).__name__}") from exc
        except (KeyError, ValueError, TypeError) as exc:
            raise self._unexpected("POST /oauth/token", "a body without an access token") from exc

    def _unavailable(self, reason: str) -> IdentityUnavailable:
        log.warning("identity unavailable: %s", reason)
        return IdentityUnavailable(f"A service this request needs (identity) is unavailable ({reason}); "
                                   f"try again in {self.retry_after} s.",
                                   headers={"Retry-After": str(self.retry_after)})

    def _misconfigured(self, reason: str) -> IdentityMisconfigured:
        log.error("IDENTITY REFUSES THIS SERVICE (check its client id and secret, and identity's URL): %s", reason)
        return IdentityMisconfigured("A service this request needs (identity) refuses this service's credentials; the "
                                     "operators are alerted.",
                                     headers={"Retry-After": str(self.retry_after)})

    @staticmethod
    def _unexpected(what: str, got: str) -> IdentityError:
        log.error("identity answered %s with %s", what, got)
        return IdentityError(f"Identity answered {what} with {got}.")


def _page(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """A listing page's items and next cursor; IdentityError if the body is not a listing page."""
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise IdentityClient._unexpected("GET /v1/institutions", "a body that is not a listing page")
    cursor = body.get("next_cursor")
    return items, cursor if isinstance(cursor, str) and cursor else None
