"""The gateway's Prometheus metrics, on a port of their own (``GATEWAY_METRICS_HOST``:``GATEWAY_METRICS_PORT``,
127.0.0.1:9464 by default), never on the public one: behind a load balancer every peer of the public port looks
like the same private address, so no address check there could keep them private.

The same request metrics as the services (:mod:`services.common.metrics`): ``vet_http_requests_total{method,
route, status}``, ``vet_http_request_duration_seconds{method, route}``, ``vet_http_requests_in_progress``. A
route here is where the gateway sends the request: ``/api/<service>/{path}``, ``/verify/{path}``,
``/issuers/{path}``, or one of its fixed paths (``/healthz``, ``/.well-known/jwks.json`` …); anything else is
``unmatched`` (a scanner's paths never become labels). Refused requests (401, 413, 429 …) count with their status.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Info, generate_latest, start_http_server

from services.common.metrics import UNMATCHED, HttpMetrics

log = logging.getLogger("gateway.metrics")


class GatewayMetrics:
    def __init__(self, services: Iterable[str], fixed_paths: Iterable[str]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http = HttpMetrics(self.registry)
        Info("vet_service", "The service these metrics describe.", registry=self.registry).info({"service": "gateway"})
        self._api = {name: f"/api/{name}/{{path}}" for name in services}
        self._fixed = frozenset(fixed_paths)

    def route(self, path: str) -> str:
        """The route template of a request path (what the gateway does with it), never the path itself."""
        if path.startswith("/api/"):
            return self._api.get(path[5:].partition("/")[0], UNMATCHED)
        if path == "/verify" or path.startswith("/verify/"):
            return "/verify/{path}"
        if path.startswith("/issuers/"):
            return "/issuers/{path}"
        return path if path in self._fixed else UNMATCHED

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> tuple[WSGIServer, threading.Thread] | None:
    """Serve ``registry`` on ``host:port`` from a daemon thread (prometheus-client's own server). A port that cannot
    be bound is logged, not fatal: the gateway serves traffic without its metrics rather than not at all."""
    try:
        return start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.error("gateway metrics not served: cannot listen on %s:%d (%s)", host, port, exc)
        return None
