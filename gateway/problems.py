"""RFC 9457 problem responses sent straight over ASGI (no framework on the gateway's path)."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.types import Send

from services.common.errors import PROBLEM_JSON, AppError, problem_body

_PROBLEM_CT = PROBLEM_JSON.encode()


async def send_problem(
    send: Send,
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    instance: str,
    request_id: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> int:
    """Send a complete problem+json response; returns the status for the access log."""
    body = json.dumps(
        problem_body(status, title, detail, slug=slug, instance=instance, **extensions), ensure_ascii=False
    ).encode()
    raw_headers = [
        (b"content-type", _PROBLEM_CT),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode("latin-1")),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]
    for name, value in (headers or {}).items():
        raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
    return status


async def send_app_error(send: Send, exc: AppError, *, instance: str, request_id: str) -> int:
    return await send_problem(
        send,
        exc.status,
        exc.title,
        exc.detail,
        slug=exc.slug,
        instance=instance,
        request_id=request_id,
        headers=exc.headers,
        **exc.extensions,
    )


async def send_not_found(send: Send, path: str, request_id: str) -> int:
    return await send_problem(
        send, 404, "Not found", f"No route for {path}. Services are reached under /api/<service>/.",
        slug="not-found", instance=path, request_id=request_id,
    )


async def send_unauthorized(send: Send, detail: str, path: str, request_id: str) -> int:
    return await send_problem(
        send, 401, "Authentication required", detail, slug="unauthorized", instance=path, request_id=request_id,
        headers={"WWW-Authenticate": 'Bearer realm="vet"'},
    )


async def send_rate_limited(send: Send, retry_after: float, path: str, request_id: str) -> int:
    seconds = max(1, math.ceil(retry_after))
    return await send_problem(
        send, 429, "Too many requests", f"Rate limit exceeded; retry in {seconds} s.",
        slug="rate-limited", instance=path, request_id=request_id,
        headers={"Retry-After": str(seconds)}, retry_after=seconds,
    )


async def send_too_many_in_progress(send: Send, cap: int, path: str, request_id: str) -> int:
    return await send_problem(
        send, 429, "Too many requests in progress",
        f"At most {cap} requests from one client address are served at a time; retry when one has finished.",
        slug="too-many-in-progress", instance=path, request_id=request_id,
        headers={"Retry-After": "1"}, retry_after=1, max_in_progress=cap,
    )
