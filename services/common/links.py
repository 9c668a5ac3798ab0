"""Links a service puts in responses (``Location``, ``errors_url``, ``transcript_url`` …), right whether the client
called the service directly (``/v1/…``) or through the gateway (``/api/<service>/v1/…``).

The gateway maps ``/api/<service>/<path>`` to ``<path>`` and says so with ``X-Forwarded-Prefix: /api/<service>``;
the links then carry that prefix. Without the header (direct calls, tests) they are service-relative."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from contextvars import ContextVar
from typing import Any

_prefix: ContextVar[str] = ContextVar("link_prefix", default="")
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


def _mac(secret: str, purpose: str, key: uuid.UUID) -> str:
    digest = hmac.new(secret.encode(), purpose.encode() + b":" + key.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:20]).decode().rstrip("=")


def signed_id(secret: str, purpose: str, key: uuid.UUID) -> str:
    """``<key>.<mac>``, the token of a link that needs no account (a survey, an enterprise's invitation): the HMAC
    under ``secret`` is the credential, nothing secret is stored; ``purpose`` keeps one kind of link from opening
    another kind."""
    return f"{key}.{_mac(secret, purpose, key)}"


def id_of_signed(secret: str, purpose: str, token: str) -> uuid.UUID | None:
    """The key of a token :func:`signed_id` made for ``purpose``; None for an altered or foreign one."""
    head, _, mac = token.partition(".")
    try:
        key = uuid.UUID(head)
    except ValueError:
        return None
    return key if hmac.compare_digest(mac, _mac(secret, purpose, key)) else None
