"""Token-bucket rate limits per client IP and per authenticated client (the token's ``sub``).

* :class:`MemoryRateLimiter`: one process's buckets in a bounded dict — the default, and right for one replica.
* :class:`RedisRateLimiter`: buckets in Redis, updated by one atomic Lua script per request (both buckets at
  once), keys expiring once they would be full again, so every gateway replica shares them. If Redis does not
  answer the request passes (fail open) with a logged warning, and Redis is left alone for
  ``retry_seconds`` so an outage costs one timeout, not one per request.

``hit(keys)`` takes ``(key, capacity, refill_per_second)`` triples and returns ``0.0`` when the request may pass,
else the seconds until it could.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

log = logging.getLogger("gateway.ratelimit")

Bucket = tuple[str, float, float]  # key, capacity, refill per second


class RateLimiter(Protocol):
    async def hit(self, buckets: Sequence[Bucket]) -> float: ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    def __init__(self, max_keys: int = 100_000) -> None:
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, updated_at]
        self._max_keys = max_keys

    def take(self, key: str, capacity: float, rate: float, now: float) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._evict(now)
            self._buckets[key] = [capacity - 1.0, now]
            return 0.0 if capacity >= 1.0 else (1.0 - capacity) / rate
        tokens = bucket[0] + (now - bucket[1]) * rate
        if tokens > capacity:
            tokens = capacity
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / rate

    async def hit(self, buckets: Sequence[Bucket]) -> float:
        now = time.monotonic()
        wait = 0.0
        for key, capacity, rate in buckets:
            w = self.take(key, capacity, rate, now)
            if w > wait:
                wait = w
        return wait

    def _evict(self, now: float) -> None:
        # a bucket idle long enough to be full again carries no information: forget it
        full = [k for k, (tokens, at) in self._buckets.items() if now - at > 60.0]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self._max_keys:
            for k in list(self._buckets)[: max(1, self._max_keys // 10)]:
                del self._buckets[k]

    async def close(self) -> None:
        return None


# KEYS: bucket keys. ARGV: capacity_1, rate_1, capacity_2, rate_2, ... (rate in tokens per second).
# All buckets must have a token for the request to pass; then each gives one. Returns the wait in seconds
# (a string: Lua numbers become integers on the way back).
_TOKEN_BUCKET_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wait = 0
local levels = {}
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local tokens = tonumber(state[1])
  local at = tonumber(state[2])
  if tokens == nil or at == nil then
    tokens = capacity
  else
    local elapsed = now - at
    if elapsed < 0 then elapsed = 0 end
    tokens = math.min(capacity, tokens + elapsed * rate)
  end
  levels[i] = tokens
  if tokens < 1 then
    local w = (1 - tokens) / rate
    if w > wait then wait = w end
  end
end
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local tokens = levels[i]
  if wait == 0 then tokens = tokens - 1 end
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((capacity - tokens) / rate * 1000) + 1000)
end
return tostring(wait)
"""


class RedisRateLimiter:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.25,
        retry_seconds: float = 5.0,
        prefix: str = "vet:gw:rl:",
    ) -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry_on_timeout=False,
            health_check_interval=30,
        )
        self._script = self._redis.register_script(_TOKEN_BUCKET_LUA)
        self._prefix = prefix
        self._retry_seconds = retry_seconds
        self._down_until = 0.0
        self.failures = 0

    async def hit(self, buckets: Sequence[Bucket]) -> float:
        if not buckets:
            return 0.0
        now = time.monotonic()
        if now < self._down_until:
            return 0.0
        keys = [self._prefix + key for key, _, _ in buckets]
        args: list[float] = []
        for _, capacity, rate in buckets:
            args += (capacity, rate)
        try:
            result = await self._script(keys=keys, args=args)
        except Exception as exc:  # redis errors, OSError, timeouts: never take the platform down
            self.failures += 1
            self._down_until = now + self._retry_seconds
            log.warning(
                "rate limiter: Redis unavailable (%s: %s); letting requests through for %.0f s",
                type(exc).__name__, exc, self._retry_seconds,
            )
            return 0.0
        return float(result)

    async def close(self) -> None:
        await self._redis.aclose()
