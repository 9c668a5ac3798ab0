"""The gateway's HTTP server: uvicorn (httptools, uvloop) configured for an edge that faces the internet.

* A header timeout: a connection must deliver a request's line and headers within
  ``GatewaySettings.header_timeout_seconds`` of opening (or of its previous response, after the keep-alive wait),
  else it gets a 408 and is closed. uvicorn alone waits for ever for the first request of a connection and for
  headers sent a byte at a time (slowloris).
* A drain deadline: when the gateway answers before a body has arrived (401, 413, 429 …), the rest of the body is
  discarded as it comes for at most the header timeout, then the connection is closed — a refused client cannot
  keep a connection open by trickling a body nobody reads.
* uvicorn's own ``X-Forwarded-For`` handling is off (``proxy_headers=False``): by default it believes the header
  from 127.0.0.1, which would let any local client choose its address. The gateway takes the client's address from
  the peer, and believes ``X-Forwarded-For`` only from its configured ``trusted_proxies``.
* Body limits and deadlines are the gateway's (:mod:`gateway.limits`).

``python -m gateway [--host H] [--port P]`` runs it; tests build the same server with :func:`server_config`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.config import GatewaySettings

_TIMEOUT_BODY = (
    b'{"type": "https://vet.gov.vn/problems/request-timeout", "title": "Request timeout", "status": 408, '
    b'"detail": "The request line and headers did not arrive in time."}'
)
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\nconnection: close\r\n\r\n" + _TIMEOUT_BODY
)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's line and headers."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._drain_timer: asyncio.TimerHandle | None = None

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()  # a connection that never sends a request is closed too

    def on_message_begin(self) -> None:
        # between requests the keep-alive timeout rules; a request's first byte starts its header deadline
        super().on_message_begin()
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        cycle = self.cycle
        super().on_response_complete()
        if cycle is not None and cycle.more_body and self._drain_timer is None and not self.transport.is_closing():
            # answered before the body arrived: what is left is discarded as it comes, for a bounded time
            self._drain_timer = self.loop.call_later(self.header_timeout, self._drain_timed_out)

    def on_message_complete(self) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        super().connection_lost(exc)

    def _drain_timed_out(self) -> None:
        self._drain_timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _header_timed_out(self) -> None:
        self._header_timer = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # never write into another response
            transport.write(_TIMEOUT_RESPONSE)
        transport.close()


def protocol_for(settings: GatewaySettings) -> type[HeaderTimeoutProtocol]:
    """The protocol class with this gateway's header timeout."""
    return type("GatewayHttpProtocol", (HeaderTimeoutProtocol,), {"header_timeout": settings.header_timeout_seconds})


def server_config(app: Any, settings: GatewaySettings, *, host: str = "127.0.0.1", port: int = 8000, **kwargs: Any) -> uvicorn.Config:
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "http": protocol_for(settings),
        "loop": "uvloop",
        "proxy_headers": False,
        "server_header": False,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "access_log": False,  # the gateway writes its own access log, without secrets
        "log_level": settings.log_level.lower(),
    }
    options.update(kwargs)
    return uvicorn.Config(app, **options)


def main(argv: list[str] | None = None) -> None:
    import argparse

    from gateway.app import create_app

    parser = argparse.ArgumentParser(prog="python -m gateway", description="The platform's gateway (uvicorn)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default=None)
    args = parser.parse_args(argv)
    settings = GatewaySettings()
    app = create_app(settings)
    extra = {"log_level": args.log_level} if args.log_level else {}
    if settings.metrics_port:
        from gateway.metrics import serve_metrics

        serve_metrics(app.metrics.registry, settings.metrics_host, settings.metrics_port)
    uvicorn.Server(server_config(app, settings, host=args.host, port=args.port, **extra)).run()
