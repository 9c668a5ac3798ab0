"""Bounds on what one request can make a service hold, checked before anything parses it.

* **Body size per route**, read incrementally: a declared ``Content-Length`` over the limit is refused before a
  byte of the body is read; a body sent without one (chunked) is counted as it arrives and refused as soon as the
  count passes the limit. Either way a 413 problem naming ``body``, and the connection is closed (what the client
  still sends is never read). The limit is the service's ``max_body_bytes`` unless the route has its own
  (:func:`set_body_limits`: uploads, bulk requests).
* **JSON structure**: a JSON body (``application/json``, ``…+json``, or no content type, which FastAPI reads as
  JSON) is checked for nesting depth and element count before the route's parser sees it — a 200 KB body nested
  100,000 deep must not reach a recursive parser, a 1 MiB body of ``[[],[],…]`` must not become half a million
  Python lists. :func:`loads` applies the same checks where a service parses JSON itself.

The check of a JSON document works on bytes with C-speed string operations only: strings are cut out with one
regular expression, what remains is counted (``,`` ``[`` ``{`` bound the number of values from above) and its
brackets summed for the depth. Malformed JSON passes through unchanged for the real parser to report.
"""

from __future__ import annotations

import json
import re
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from fastapi import FastAPI
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import PROBLEM_JSON, AppError, PayloadTooLarge, ValidationFailed, problem_body

MiB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 1 * MiB
DEFAULT_MAX_JSON_DEPTH = 64
DEFAULT_MAX_JSON_ELEMENTS = 100_000

#: a JSON string, complete or running to the end of the input (possessive: linear time, whatever the input)
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.S)
_KEEP_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
#: [ and { → +1, ] and } → -1 (as signed bytes), so a running sum is the nesting depth
_DEPTH_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


@dataclass(frozen=True)
class BodyLimit:
    """A route's own limits. ``json=False``: the body is not checked as JSON here (an upload stored as it is, whose
    parser has limits of its own)."""

    max_bytes: int
    json: bool = True
    max_json_elements: int | None = None


class JsonTooComplex(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def check_json(body: bytes, *, max_depth: int = DEFAULT_MAX_JSON_DEPTH, max_elements: int = DEFAULT_MAX_JSON_ELEMENTS) -> None:
    """Raises :class:`JsonTooComplex` when the JSON text ``body`` nests deeper than ``max_depth`` or holds more
    than ``max_elements`` values. Cost: a few passes at C speed over the bytes; nothing is parsed."""
    skeleton = _STRING.sub(b"", body)
    elements = skeleton.count(b",") + skeleton.count(b"[") + skeleton.count(b"{")
    if elements > max_elements:
        raise JsonTooComplex(413, f"holds more than {max_elements} JSON values")
    brackets = skeleton.translate(None, _KEEP_BRACKETS)
    if len(brackets) > max_depth:  # fewer brackets cannot nest deeper
        steps = array("b", brackets.translate(_DEPTH_STEP))
        if max(accumulate(steps), default=0) > max_depth:
            raise JsonTooComplex(422, f"nests deeper than {max_depth} levels")


def loads(body: bytes | str, *, field: str = "body", max_depth: int = DEFAULT_MAX_JSON_DEPTH,
          max_elements: int = DEFAULT_MAX_JSON_ELEMENTS) -> Any:
    """``json.loads`` for what a client sent: the structure checked first (:func:`check_json`), every failure an
    :class:`~services.common.errors.AppError` naming ``field`` (413 too many values, 422 too deep or not JSON)."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    try:
        check_json(raw, max_depth=max_depth, max_elements=max_elements)
    except JsonTooComplex as exc:
        raise _problem(exc, field) from None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValidationFailed(f"The {field} is not valid JSON.", errors=[{"field": field, "message": "invalid JSON"}]) from None


def _problem(exc: JsonTooComplex, field: str) -> AppError:
    cls = PayloadTooLarge if exc.status == 413 else ValidationFailed
    return cls(f"The {field} {exc.message}.", errors=[{"field": field, "in": "body", "message": exc.message}])


def declared_routes(app: FastAPI) -> set[str]:
    """Every route of ``app`` as ``"METHOD /path/{template}"`` (routers included into it too)."""
    from fastapi import routing

    if hasattr(routing, "iter_route_contexts"):  # FastAPI keeps included routers as such
        contexts: Any = routing.iter_route_contexts(app.routes)
    else:
        contexts = app.routes
    return {f"{m} {c.path}" for c in contexts for m in (getattr(c, "methods", None) or ())}


def set_body_limits(app: FastAPI, limits: dict[str, BodyLimit]) -> None:
    """Give routes their own limits, keyed ``"METHOD /path/{template}"`` exactly as the route is declared. A key
    that names no route is an error at start-up, so a renamed route cannot silently fall back to the default."""
    unknown = sorted(set(limits) - declared_routes(app))
    if unknown:
        raise ValueError(f"body limits for routes that do not exist: {', '.join(unknown)}")
    table: list[tuple[str, re.Pattern[str], str, BodyLimit]] = getattr(app.state, "body_limits", [])
    table = [entry for entry in table if f"{entry[0]} {entry[2]}" not in limits]
    for key, limit in limits.items():
        method, _, path = key.partition(" ")
        table.append((method, compile_path(path)[0], path, limit))
    app.state.body_limits = table


def _is_json(headers: dict[bytes, bytes]) -> bool:
    content_type = headers.get(b"content-type")
    if content_type is None:
        return True
    main = content_type.split(b";", 1)[0].strip().lower()
    return main == b"application/json" or (main.startswith(b"application/") and main.endswith(b"+json"))


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, max_bytes: int) -> bytes | None:
    """The whole request body, read from the ASGI ``receive`` up to ``max_bytes`` (raises :class:`BodyTooLarge`
    as soon as it passes them, without reading the rest); ``None`` when the client went away first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app a body already read, then the client's own messages (its disconnect)."""
    done = False

    async def replay() -> Message:
        nonlocal done
        if done:
            return await receive()
        done = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class BodyLimitMiddleware:
    """Pure ASGI middleware enforcing the limits above (outermost but for the request-id middleware, so neither the
    ``Idempotency-Key`` spool nor any route ever holds more than the limit)."""

    CACHE_SIZE = 2048

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
                 max_json_elements: int = DEFAULT_MAX_JSON_ELEMENTS) -> None:
        self.app = app
        self.default = BodyLimit(max_body_bytes, json=True, max_json_elements=max_json_elements)
        self.max_json_depth = max_json_depth
        self._routes: OrderedDict[tuple[str, str], tuple[str, BodyLimit]] = OrderedDict()

    def _limit_for(self, scope: Scope) -> tuple[str, BodyLimit]:
        """(the route as ``METHOD /template`` when it has a limit of its own, its limit); cached by method and path
        (bounded)."""
        key = (scope["method"], scope["path"])
        found = self._routes.get(key)
        if found is not None:
            self._routes.move_to_end(key)
            return found
        table = getattr(getattr(scope.get("app"), "state", None), "body_limits", None) or []
        found = (f"{scope['method']} {scope['path']}", self.default)
        for method, pattern, path, limit in table:
            if method == scope["method"] and pattern.match(scope["path"]):
                found = (f"{method} {path}", limit)
                break
        self._routes[key] = found
        if len(self._routes) > self.CACHE_SIZE:
            self._routes.popitem(last=False)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        try:
            length = int(declared) if declared is not None else None
        except ValueError:
            length = None
        if length == 0:
            await self.app(scope, receive, send)
            return
        route, limit = self._limit_for(scope)
        if length is not None and length > limit.max_bytes:
            await self._refuse_size(send, scope, route, limit)
            return
        if limit.json and _is_json(headers):
            await self._buffered_json(scope, receive, send, route, limit)
        else:
            await self._counted(scope, receive, send, route, limit)

    async def _buffered_json(self, scope: Scope, receive: Receive, send: Send, route: str, limit: BodyLimit) -> None:
        """Reads the whole body (at most the limit), checks its JSON structure, then hands it on."""
        try:
            body = await read_body(receive, limit.max_bytes)
        except BodyTooLarge:
            await self._refuse_size(send, scope, route, limit)
            return
        if body is None:
            return
        try:
            check_json(body, max_depth=self.max_json_depth, max_elements=limit.max_json_elements or self.default.max_json_elements or 0)
        except JsonTooComplex as exc:
            await _send_problem(send, _problem(exc, "body"), scope, close=False)
            return
        await self.app(scope, replaying(body, receive), send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, route: str, limit: BodyLimit) -> None:
        """Streams the body to the route, counting; past the limit the route's reading fails and, whatever the route
        answers to that, the client gets the 413."""
        size = 0
        exceeded = False
        started = False

        async def counting() -> Message:
            nonlocal size, exceeded
            if exceeded:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit.max_bytes:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._refuse_size(send, scope, route, limit)
                return  # the route's own answer to the failed read is replaced
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting, guarded_send)
        except Exception:
            if not exceeded:
                raise
            if not started:
                started = True
                await self._refuse_size(send, scope, route, limit)

    async def _refuse_size(self, send: Send, scope: Scope, route: str, limit: BodyLimit) -> None:
        error = PayloadTooLarge(
            f"The request body is larger than {limit.max_bytes} bytes, the limit of {route}.",
            errors=[{"field": "body", "in": "body", "message": f"larger than {limit.max_bytes} bytes"}],
            limit=limit.max_bytes,
        )
        await _send_problem(send, error, scope)


async def _send_problem(send: Send, error: AppError, scope: Scope, *, close: bool = True) -> None:
    body = json.dumps(
        problem_body(error.status, error.title, error.detail, slug=error.slug, instance=scope.get("path"), errors=error.errors,
                     **error.extensions),
        ensure_ascii=False,
    ).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))  # the rest of the body is never read: the connection is done
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
