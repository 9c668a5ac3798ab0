"""Limits against slow and large requests: body size per route, body deadlines, concurrent requests per client.

* :class:`BodyRules`: the largest body of a route and whether it may stream (``GatewaySettings.body_routes``;
  every other route takes ``max_body_bytes``).
* :func:`read_head`: reads a body whole, or its first part on upload routes, within a deadline, before the
  gateway contacts the service: a client that trickles its body holds no upstream connection.
* :func:`stream_rest`: the rest of an upload, with an idle timeout and the route's limit counted as it passes.
* :class:`ClientConcurrency`: requests in progress per client address, capped.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable

from starlette.types import Receive

from gateway.auth import parse_route
from gateway.config import BodyRoute


class BodyError(Exception):
    """The request body cannot be forwarded (see the subclasses)."""


class ClientDisconnected(BodyError):
    """The client went away while its request body was being read."""


class BodyTooLarge(BodyError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"body larger than {limit} bytes")
        self.limit = limit


class BodyTimeout(BodyError):
    def __init__(self, seconds: float, streaming: bool) -> None:
        super().__init__(f"body not received within {seconds:g} s")
        self.seconds = seconds
        self.streaming = streaming


def body_error_of(exc: BaseException | None) -> BodyError | None:
    """The :class:`BodyError` behind an exception (aiohttp wraps what the body iterator raised)."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, BodyError):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


class BodyRules:
    """``(method, path)`` → ``(max_bytes, stream)``: the first rule that matches, else the default."""

    def __init__(self, rules: Iterable[BodyRoute], default_max_bytes: int) -> None:
        self.default = (default_max_bytes, False)
        per_method: dict[str, list[tuple[re.Pattern[str], tuple[int, bool]]]] = {}
        for rule in rules:
            names, regex = parse_route(rule.route)
            compiled = re.compile(regex + r"\Z")
            for name in names:
                per_method.setdefault(name, []).append((compiled, (rule.max_bytes, rule.stream)))
        self._rules = per_method

    def __call__(self, method: str, path: str) -> tuple[int, bool]:
        for regex, value in self._rules.get(method, ()):
            if regex.match(path) is not None:
                return value
        return self.default


async def read_head(receive: Receive, limit: int) -> tuple[list[bytes], int, bool]:
    """Reads body chunks until the body ends or more than ``limit`` bytes have come. Returns the chunks, their
    total and whether the body is complete. The caller bounds the time (``asyncio.timeout``)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
            total += len(chunk)
        if not message.get("more_body", False):
            return chunks, total, True
        if total > limit:
            return chunks, total, False


class StreamedBody:
    """The rest of an upload as aiohttp consumes it: the chunks already read, then ``receive()`` until the end,
    each chunk within ``idle_seconds``, at most ``limit`` bytes in all. Remembers whether the body was drained."""

    __slots__ = ("receive", "head", "total", "limit", "idle", "done")

    def __init__(self, receive: Receive, head: list[bytes], total: int, limit: int, idle_seconds: float) -> None:
        self.receive = receive
        self.head = head
        self.total = total
        self.limit = limit
        self.idle = idle_seconds
        self.done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.head:
            yield chunk
        self.head = []
        receive = self.receive
        while True:
            try:
                async with asyncio.timeout(self.idle):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(self.idle, streaming=True) from None
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            chunk = message.get("body", b"")
            if chunk:
                self.total += len(chunk)
                if self.total > self.limit:
                    raise BodyTooLarge(self.limit)
                yield chunk
            if not message.get("more_body", False):
                self.done = True
                return


class ClientConcurrency:
    """Requests in progress per client address. ``enter`` is false when the client is at its cap."""

    __slots__ = ("cap", "_counts")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._counts: dict[str, int] = {}

    def enter(self, client: str) -> bool:
        n = self._counts.get(client, 0)
        if n >= self.cap:
            return False
        self._counts[client] = n + 1
        return True

    def leave(self, client: str) -> None:
        n = self._counts.get(client, 0) - 1
        if n > 0:
            self._counts[client] = n
        else:
            self._counts.pop(client, None)

    def in_progress(self, client: str | None = None) -> int:
        if client is not None:
            return self._counts.get(client, 0)
        return sum(self._counts.values())
