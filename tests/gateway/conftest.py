"""Gateway test rig: a real upstream server (a tiny pure-ASGI app under uvicorn, in a thread, on a free port)
standing in for all four services, ES256 tokens minted with a test key whose JWKS the stand-in identity serves,
and helpers to run gateways under uvicorn or in-process (ASGITransport) with their lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwk, jwt

from gateway.app import Gateway, create_app
from gateway.config import GatewaySettings
from services.common.auth import SERVICE_AUDIENCES

ISSUER = "http://identity.test"
KID = "test-key-1"
CHUNK = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pattern_chunk(i: int, size: int = CHUNK) -> bytes:
    """Deterministic test bytes, generated chunk by chunk (never a whole large body in memory)."""
    return (i.to_bytes(8, "big") * (size // 8 + 1))[:size]


def pattern_stream_digest(total: int) -> tuple[str, int]:
    h = hashlib.sha256()
    sent, i = 0, 0
    while sent < total:
        chunk = pattern_chunk(i, min(CHUNK, total - sent))
        h.update(chunk)
        sent += len(chunk)
        i += 1
    return h.hexdigest(), sent


# -- tokens ------------------------------------------------------------------------------------------------------

class SigningKeys:
    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.private_pem = self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public_pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.jwks = {"keys": [jwk.construct(public_pem, "ES256").to_dict() | {"kid": KID, "use": "sig"}]}

    def token(self, sub: str = "client-a", *, ttl: int = 600, issuer: str = ISSUER, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": issuer, "sub": sub, "aud": list(SERVICE_AUDIENCES), "iat": now, "exp": now + ttl, "typ": "access",
            "kind": "client", "client_id": sub, "scope": "records:read", "roles": {},
        } | claims
        return jwt.encode(body, self.private_pem, algorithm="ES256", headers={"kid": KID})


# -- the stand-in upstream -----------------------------------------------------------------------------------------

def _openapi(service: str) -> dict[str, Any]:
    """Each stand-in service's document; records and learning both define ``Item`` and ``Page``."""
    item_props = {"records": {"code": {"type": "string"}}, "learning": {"title": {"type": "string"}}}.get(
        service, {"id": {"type": "string"}}
    )
    resource = {"records": "items", "learning": "courses"}.get(service, "things")
    return {
        "openapi": "3.1.0",
        "info": {"title": service, "version": "1.0.0"},
        "paths": {
            f"/v1/{resource}": {
                "get": {
                    "tags": [resource],
                    "operationId": f"list_{resource}",
                    "parameters": [{"$ref": "#/components/parameters/Limit"}],
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Page"}}}},
                        "404": {"$ref": "#/components/responses/Problem"},
                    },
                }
            },
            "/healthz": {"get": {"tags": ["health"], "responses": {"200": {"description": "ok"}}}},
        },
        "components": {
            "schemas": {
                "Item": {"type": "object", "properties": item_props},
                "Page": {
                    "type": "object",
                    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                                   "next_cursor": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
                },
                "Problem": {"type": "object", "properties": {"type": {"type": "string"}}},
            },
            "parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"type": "integer"}}},
            "responses": {
                "Problem": {"description": "problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            },
        },
        "tags": [{"name": resource, "description": f"{service} {resource}"}],
    }


def make_upstream(jwks: dict[str, Any]):
    """Pure ASGI app. The first path segment names the service (gateway targets are ``http://host:port/<svc>``)."""

    async def send_json(send: Any, body: Any, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        data = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())] + (headers or [])})
        await send({"type": "http.response.body", "body": data})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        service, _, rest = scope["path"][1:].partition("/")
        rest = "/" + rest
        query = parse_qs(scope["query_string"].decode())
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        if rest == "/.well-known/jwks.json":
            return await send_json(send, jwks)
        if rest == "/openapi.json":
            return await send_json(send, _openapi(service))
        if rest in ("/healthz", "/readyz"):
            return await send_json(send, {"status": "ok", "service": service})
        if rest == "/hash" or query.get("hash") == ["1"]:  # any route: upload routes stream through the gateway
            h, n = hashlib.sha256(), 0
            while True:
                message = await receive()
                chunk = message.get("body", b"")
                h.update(chunk)
                n += len(chunk)
                if not message.get("more_body"):
                    break
            return await send_json(send, {"sha256": h.hexdigest(), "length": n,
                                          "content_length": headers.get("content-length"),
                                          "transfer_encoding": headers.get("transfer-encoding")})
        if rest == "/download":
            size = int(query["size"][0])
            out = [(b"content-type", b"application/octet-stream")]
            if query.get("length") == ["1"]:
                out.append((b"content-length", str(size).encode()))
            await send({"type": "http.response.start", "status": 200, "headers": out})
            sent, i = 0, 0
            while sent < size:
                chunk = pattern_chunk(i, min(CHUNK, size - sent))
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += len(chunk)
                i += 1
            await send({"type": "http.response.body", "body": b""})
            return
        if rest == "/slow":
            await asyncio.sleep(float(query.get("seconds", ["2"])[0]))
            return await send_json(send, {"slow": True})
        # anything else: echo what arrived
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send_json(send, {
            "service": service,
            "method": scope["method"],
            "path": rest,
            "raw_path": scope["raw_path"].decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"),
            "headers": headers,
            "body": body.decode("latin-1"),
        }, headers=[(b"x-request-id", headers.get("x-request-id", "").encode()), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")])

    return app


class ServerThread:
    """An ASGI app under uvicorn in a background thread (its own event loop), on a free 127.0.0.1 port."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, lifespan="on", log_level="warning",
                                access_log=False, loop="uvloop", http="httptools",
                                proxy_headers=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(15)


# -- fixtures ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def keys() -> SigningKeys:
    return SigningKeys()


@pytest.fixture(scope="session")
def upstream(keys: SigningKeys) -> Iterator[ServerThread]:
    with ServerThread(make_upstream(keys.jwks)) as server:
        yield server


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def gateway_settings(upstream: ServerThread, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "identity_url": upstream.url + "/identity",
        "learning_url": upstream.url + "/learning",
        "records_url": upstream.url + "/records",
        "credentials_url": upstream.url + "/credentials",
        "jwt_issuer": ISSUER,
        "log_level": "WARNING",
        "access_log": False,
        "environment": "test",
    }
    values.update(overrides)
    return GatewaySettings(**values)


@contextlib.asynccontextmanager
async def in_process(settings: GatewaySettings) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    """A gateway driven through httpx's ASGITransport (bodies small), its lifespan running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client:
            yield app, client


@pytest.fixture(scope="session")
def served_gateway(upstream: ServerThread) -> Iterator[tuple[Gateway, ServerThread]]:
    """The default gateway under uvicorn on a real socket (for the large streaming tests)."""
    app = create_app(gateway_settings(upstream))
    with ServerThread(app) as server:
        yield app, server


def request_id() -> str:
    return "test-" + uuid.uuid4().hex[:12]
