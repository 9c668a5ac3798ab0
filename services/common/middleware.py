"""Pure ASGI middleware: request id in and out, a last-resort 500 problem that never leaks internals, and the
sampling of the access log on an app's hot public paths."""

from __future__ import annotations

import json
import logging
import random
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import PROBLEM_JSON, internal_error_body, retry_after_of, unavailable_problem
from services.common.logging import request_id_var

log = logging.getLogger("services.request")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

#: a response slower than this (seconds to its status line) is always in the access log
SLOW_SECONDS = 1.0
#: the access log's verdict on the current response: None (keep), or the sampling rate it was kept at, or False
_access_verdict: ContextVar[float | bool | None] = ContextVar("access_verdict", default=None)


def sample_access_log(app: Any, path: str, rate: float) -> None:
    """Keep only a share ``rate`` (0–1) of the access-log lines of successful, fast responses to ``path`` (exact
    path) — for an app's hot public endpoints. Error responses (4xx, 5xx) and slow ones are always logged, every
    line with its request id; a sampled line says ``"sampled": <rate>``."""
    app.state.access_log_sampling = {**getattr(app.state, "access_log_sampling", {}), path: rate}


#: path segments that are secrets themselves (a holder's share link, a package player's signed link); logged as "…"
_SECRET_SEGMENT = re.compile(r"(/shared/|/players/)[^/?\s\"']+")


def mask_secret_segments(text: str) -> str:
    """``text`` with secret path segments (share-link tokens, player links) replaced by "…"."""
    return _SECRET_SEGMENT.sub(r"\1…", text)


def loggable_path(full_path: str) -> str:
    """A request path fit for the access log: without its query string (signed links' signatures, OIDC codes and
    states) and with secret segments (share-link tokens, player links) replaced."""
    return _SECRET_SEGMENT.sub(r"\1…", full_path.split("?", 1)[0])


class _AccessLogSampler(logging.Filter):
    """On ``uvicorn.access`` (the server writes the access line while the status line goes out, inside the
    request's context): follows the verdict :class:`RequestContextMiddleware` gave for that response, and logs
    the path without what must not be logged (:func:`loggable_path`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        verdict = _access_verdict.get()
        if verdict is False:
            return False
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):  # uvicorn's (client, method, path, http, status)
            record.args = (args[0], args[1], loggable_path(args[2]), args[3], args[4])
        if verdict is not None and verdict is not True:
            record.sampled = verdict
        return True


_SAMPLER = _AccessLogSampler()


def _install_sampler() -> None:
    logger = logging.getLogger("uvicorn.access")
    if _SAMPLER not in logger.filters:
        logger.addFilter(_SAMPLER)


def incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _VALID_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Accepts a well-formed ``X-Request-ID`` or makes one, keeps it in a context variable for every log line,
    echoes it on the response, and turns an unhandled exception into a logged 500 problem (a 503 with ``Retry-After``
    when it is transient: the database or another service unreachable)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        _install_sampler()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_request_id(scope["headers"])
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        started = False
        app_state = getattr(scope.get("app"), "state", None)
        sampling: dict[str, float] = getattr(app_state, "access_log_sampling", None) or {}
        rate = sampling.get(scope.get("path", ""))
        begun = time.perf_counter() if rate is not None else 0.0

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message["headers"] = headers
                if rate is not None and message["status"] < 400 and time.perf_counter() - begun < SLOW_SECONDS:
                    _access_verdict.set(rate if random.random() < rate else False)
                else:
                    _access_verdict.set(None)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            path = scope.get("path", "")
            found = None if started else unavailable_problem(exc, loggable_path(path), retry_after_of(scope.get("app")))
            if found is None:
                log.exception("unhandled error on %s %s", scope.get("method"), loggable_path(path))
            if started:
                raise
            problem, extra = found if found is not None else (internal_error_body(path), {})
            body = json.dumps(problem, ensure_ascii=False).encode()
            headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
            headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
            await send_with_id({"type": "http.response.start", "status": problem["status"], "headers": headers})
            await send_with_id({"type": "http.response.body", "body": body})
        finally:
            request_id_var.reset(token)
