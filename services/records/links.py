"""Links this service puts in responses (``Location``, ``errors_url``, ``transcript_url``), right whether the client
called the service directly (``/v1/…``) or through the gateway (``/api/records/v1/…``).

The gateway maps ``/api/records/<path>`` to ``<path>``; when it says so with ``X-Forwarded-Prefix: /api/records``
the links carry that prefix. Without the header (direct calls, tests) they are service-relative as before."""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Any

_prefix: ContextVar[str] = ContextVar("records_link_prefix", default="")
_SAFE = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")


def link(path: str) -> str:
    return _prefix.get() + path


class ForwardedPrefix:
    """Pure ASGI middleware: takes a well-formed ``X-Forwarded-Prefix`` for the links of this request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-forwarded-prefix":
                    prefix = value.decode("latin-1").rstrip("/")
                    if _SAFE.match(prefix):
                        token = _prefix.set(prefix)
                        try:
                            await self.app(scope, receive, send)
                        finally:
                            _prefix.reset(token)
                        return
                    break
        await self.app(scope, receive, send)
