"""One OpenAPI 3.1 document for the whole platform, merged from every service's ``/openapi.json``.

Paths get the gateway prefix (``/v1/x`` of records → ``/api/records/v1/x``); every component is renamed with the
service's name (``Page`` → ``records_Page``) and every ``$ref`` (and discriminator mapping and security
requirement) rewritten to match, so no two services' names collide and no reference dangles; tags are prefixed
with the service and grouped per service (``x-tagGroups``); operation ids get the service prefix. A service that
does not answer is listed in ``x-unavailable-services`` instead of failing the document.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from gateway.auth import PublicRoutes

log = logging.getLogger("gateway.openapi")

_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
BEARER_SCHEME = "bearerAuth"


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class _Renamer:
    def __init__(self, service: str, components: dict[str, Any]) -> None:
        self.service = service
        self.prefix = f"/api/{service}"
        self.names = {kind: set(items) for kind, items in components.items() if isinstance(items, dict)}

    def component(self, name: str) -> str:
        return f"{self.service}_{name}"

    def path(self, path: str) -> str:
        return self.prefix + (path if path.startswith("/") else "/" + path)

    def ref(self, ref: str) -> str:
        if ref.startswith("#/components/"):
            parts = ref[len("#/components/"):].split("/", 2)
            if len(parts) >= 2 and _unescape(parts[1]) in self.names.get(parts[0], ()):
                parts[1] = _escape(self.component(_unescape(parts[1])))
                return "#/components/" + "/".join(parts)
        elif ref.startswith("#/paths/"):
            head, _, tail = ref[len("#/paths/"):].partition("/")
            return "#/paths/" + _escape(self.path(_unescape(head))) + ("/" + tail if tail else "")
        return ref

    def walk(self, node: Any) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    out[key] = self.ref(value)
                elif key == "discriminator" and isinstance(value, dict) and isinstance(value.get("mapping"), dict):
                    out[key] = {**value, "mapping": {k: self.ref(v) for k, v in value["mapping"].items()}}
                else:
                    out[key] = self.walk(value)
            return out
        if isinstance(node, list):
            return [self.walk(item) for item in node]
        return node

    def security(self, requirements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        schemes = self.names.get("securitySchemes", set())
        return [{(self.component(k) if k in schemes else k): v for k, v in req.items()} for req in requirements]


def merge_documents(
    documents: dict[str, dict[str, Any] | None],
    *,
    public_routes: PublicRoutes | None = None,
    title: str = "VET platform API",
    version: str = "1.0.0",
) -> dict[str, Any]:
    """Merge ``{service: openapi document or None if unavailable}`` into one document."""
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "All services of the national VET platform behind one gateway. Send "
            "`Authorization: Bearer <token>` (from `POST /api/identity/oauth/token`) except on public routes.",
        },
        "servers": [{"url": "/"}],
        "paths": {},
        "components": {
            "securitySchemes": {BEARER_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
        },
        "security": [{BEARER_SCHEME: []}],
        "tags": [],
        "x-tagGroups": [],
    }
    unavailable: list[str] = []
    for service, document in documents.items():
        if not isinstance(document, dict):
            unavailable.append(service)
            continue
        source = copy.deepcopy(document)
        components = source.get("components") or {}
        rn = _Renamer(service, components)
        for kind, items in components.items():
            if not isinstance(items, dict):
                continue
            target = merged["components"].setdefault(kind, {})
            for name, value in items.items():
                target[rn.component(name)] = rn.walk(value)

        tag_names: list[str] = []
        declared = {t.get("name"): t for t in source.get("tags") or [] if isinstance(t, dict)}
        for path, item in (source.get("paths") or {}).items():
            if not isinstance(item, dict):
                continue
            new_path = rn.path(path)
            new_item = rn.walk(item)
            for method in _HTTP_METHODS:
                operation = new_item.get(method)
                if not isinstance(operation, dict):
                    continue
                operation["tags"] = [f"{service}: {t}" for t in operation.get("tags") or [service]]
                for full in operation["tags"]:
                    if full not in tag_names:
                        tag_names.append(full)
                if "operationId" in operation:
                    operation["operationId"] = f"{service}_{operation['operationId']}"
                if "security" in operation and isinstance(operation["security"], list):
                    operation["security"] = rn.security(operation["security"])
                elif public_routes is not None and public_routes.is_public(method.upper(), new_path):
                    operation["security"] = []
            merged["paths"][new_path] = new_item

        for full in tag_names:
            short = full.split(": ", 1)[1]
            entry = {"name": full}
            description = (declared.get(short) or {}).get("description")
            if description:
                entry["description"] = description
            merged["tags"].append(entry)
        merged["x-tagGroups"].append({"name": service, "tags": tag_names})
    if unavailable:
        merged["x-unavailable-services"] = unavailable
    return merged


Fetcher = Callable[[str, str], Awaitable[dict[str, Any] | None]]


class OpenAPIAggregator:
    """Fetches every service's document at request time (short timeout), merges, caches the result a while."""

    def __init__(
        self,
        upstreams: Mapping[str, str],
        session_getter: Callable[[], aiohttp.ClientSession | None],
        *,
        public_routes: PublicRoutes | None = None,
        cache_seconds: float = 30.0,
        fetch_timeout: float = 3.0,
    ) -> None:
        self.upstreams = upstreams
        self._session = session_getter
        self.public_routes = public_routes
        self.cache_seconds = cache_seconds
        self.fetch_timeout = fetch_timeout
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def _fetch(self, service: str, base: str) -> dict[str, Any] | None:
        session = self._session()
        if session is None:
            return None
        try:
            async with session.get(
                base + "/openapi.json",
                timeout=aiohttp.ClientTimeout(total=self.fetch_timeout),
                headers={"Accept": "application/json"},
            ) as resp:
                if resp.status != 200:
                    log.warning("openapi: %s answered %s", service, resp.status)
                    return None
                document = await resp.json(content_type=None)
                return document if isinstance(document, dict) else None
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            log.warning("openapi: %s unavailable (%s)", service, type(exc).__name__)
            return None

    async def document(self) -> dict[str, Any]:
        cached = self._cached
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        async with self._lock:
            cached = self._cached
            if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
                return cached[1]
            names = list(self.upstreams)
            results = await asyncio.gather(*(self._fetch(n, self.upstreams[n]) for n in names))
            merged = merge_documents(dict(zip(names, results, strict=True)), public_routes=self.public_routes)
            # a degraded document is kept only briefly, so a service that comes back shows up soon
            ttl = self.cache_seconds if "x-unavailable-services" not in merged else min(5.0, self.cache_seconds)
            self._cached = (time.monotonic() - self.cache_seconds + ttl, merged)
            return merged
