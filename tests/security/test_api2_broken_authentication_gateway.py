"""OWASP API2:2023 Broken Authentication, at the gateway and in how the services know the caller:

* the client address that sign-in lockouts count is not the client's to choose (issue 13 item 7): the gateway
  replaces a client's own ``X-Forwarded-For`` unless the peer is a configured trusted proxy, and identity takes
  the right-most hop that is not one of its trusted proxies;
* a token is accepted only by the services its ``aud`` names (issue 13 item 11): identity issues one audience per
  service, each service checks its own, the gateway checks the one it routes to.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from jose import jwt

from gateway.app import create_app as create_gateway
from gateway.config import GatewaySettings
from services.common.auth import SERVICE_AUDIENCES
from tests.gateway.conftest import SigningKeys, gateway_settings, in_process
from tests.security.gateway_rig import wait_until
from tests.support import Platform, service_url

PASSWORD = "Sec-test#2026-" + uuid.uuid4().hex[:6]


def random_ip(prefix: str = "198.51.100") -> str:
    return f"{prefix}.{random.randrange(1, 255)}"


def fresh_ip() -> str:
    return ".".join(str(random.randrange(1, 255)) for _ in range(4))


# -- the gateway alone (stand-in services) ------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def gateway_from(settings: GatewaySettings, peer: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an in-process gateway whose connections come from ``peer``."""
    app = create_gateway(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client


async def test_a_clients_own_forwarded_for_is_replaced(upstream, keys: SigningKeys) -> None:
    attacker = random_ip()
    token = {"Authorization": f"Bearer {keys.token()}"}
    async with gateway_from(gateway_settings(upstream), attacker) as c:
        r = await c.get("/api/identity/v1/institutions", headers={"X-Forwarded-For": "203.0.113.50",
                                                                  "X-Forwarded-Proto": "https"})
        seen = r.json()["headers"]
        assert seen["x-forwarded-for"] == attacker  # replaced, not appended to
        assert seen["x-forwarded-proto"] == "http"  # the client's claim about TLS is not believed either
        r = await c.post("/api/records/v1/things", headers=token | {"X-Forwarded-For": "10.0.0.1, 203.0.113.50"}, content=b"{}")
        assert r.json()["headers"]["x-forwarded-for"] == attacker


async def test_behind_a_trusted_proxy_the_chain_is_kept_and_the_real_client_counted(upstream, keys: SigningKeys) -> None:
    balancer = "10.20.30.40"
    settings = gateway_settings(upstream, trusted_proxies=["10.0.0.0/8"], rate_limit_ip_burst=2,
                                rate_limit_per_ip_per_minute=1)
    async with gateway_from(settings, balancer) as c:
        # the balancer appended the address it saw; anything to its left is the client's own claim
        chain = {"X-Forwarded-For": "203.0.113.50, 198.51.100.7", "X-Forwarded-Proto": "https"}
        r = await c.get("/api/identity/v1/institutions", headers=chain)
        assert r.json()["headers"]["x-forwarded-for"] == f"203.0.113.50, 198.51.100.7, {balancer}"
        assert r.json()["headers"]["x-forwarded-proto"] == "https"
        # per-IP buckets count 198.51.100.7 (the right-most untrusted hop), not the balancer …
        assert (await c.get("/api/identity/v1/institutions", headers=chain)).status_code == 200
        spoofing = {"X-Forwarded-For": f"{fresh_ip()}, 198.51.100.7"}
        assert (await c.get("/api/identity/v1/institutions", headers=spoofing)).status_code == 429
        # … so another client behind the same balancer is not limited with it
        other = {"X-Forwarded-For": "198.51.100.8"}
        assert (await c.get("/api/identity/v1/institutions", headers=other)).status_code == 200


async def test_the_gateway_accepts_a_token_only_for_the_services_it_names(upstream, keys: SigningKeys) -> None:
    records_only = {"Authorization": f"Bearer {keys.token(sub='records-client', aud=['records'])}"}
    single = {"Authorization": f"Bearer {keys.token(sub='credentials-client', aud='credentials')}"}
    none = {"Authorization": f"Bearer {keys.token(sub='no-audience', aud=[])}"}
    async with in_process(gateway_settings(upstream)) as (_, c):
        for _ in range(2):  # verified, then from the cache
            assert (await c.get("/api/records/v1/items", headers=records_only)).status_code == 200
            for path in ("/api/learning/v1/items", "/api/identity/v1/accounts/me", "/api/credentials/v1/credentials"):
                r = await c.get(path, headers=records_only)
                assert r.status_code == 401, (path, r.text)
                assert "not meant for" in r.json()["detail"] and 'error="invalid_token"' in r.headers["www-authenticate"]
        assert (await c.post("/verify/bulk", headers=single, content=b"{}")).status_code == 200
        assert (await c.get("/api/records/v1/items", headers=single)).status_code == 401
        assert (await c.get("/api/records/v1/items", headers=none)).status_code == 401
        # public routes still need no token, whatever a sent token names
        assert (await c.get("/api/learning/v1/courses", headers=records_only)).status_code == 200


# -- through the gateway to the real identity service (SQLite and PostgreSQL) ---------------------------------------

@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """A service app (lifespan already running) on a free port, without uvicorn's own X-Forwarded-For handling: the
    service decides whom to believe (its ``trusted_proxies``), as when the gateway is on another host."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", access_log=False,
                            proxy_headers=False)
    server = uvicorn.Server(config)
    import asyncio

    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), 15, "uvicorn to start")
    assert server.started
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def identity_behind_gateway(platform: Platform) -> AsyncIterator[Any]:
    async with served(platform.apps["identity"]) as identity:
        settings = GatewaySettings(
            identity_url=identity, learning_url="http://127.0.0.1:9", records_url="http://127.0.0.1:9",
            credentials_url="http://127.0.0.1:9", jwt_issuer=service_url("identity"), environment="test",
            log_level="WARNING", access_log=False, rate_limit_enabled=False,
        )
        yield lambda peer: gateway_from(settings, peer)


async def new_account(platform: Platform) -> str:
    username = f"sec.{uuid.uuid4().hex[:10]}"
    async with platform.client("identity") as c:
        r = await c.post("/v1/accounts", json={"username": username, "full_name": "Người dùng thử", "password": PASSWORD,
                                               "memberships": [{"at": "CD0101", "role": "student"}]},
                         headers=await platform.admin_headers())
    assert r.status_code == 201, r.text
    return username


def login(username: str, password: str) -> dict[str, Any]:
    return {"json": {"username": username, "password": password}}


async def test_password_spraying_with_a_fresh_forwarded_for_is_locked_out_by_address(platform: Platform) -> None:
    """Before: the gateway appended to the client's own header and identity believed its first entry, so a new
    made-up address per guess was never locked out."""
    attacker = random_ip("198.51.100")
    limit = platform.settings["identity"].lockout_ip_failures
    statuses = []
    async with identity_behind_gateway(platform) as gateway_for:
        async with gateway_for(attacker) as gw:
            for _ in range(limit + 2):
                username = f"nobody.{uuid.uuid4().hex[:10]}"  # one guess per account: no account lockout
                r = await gw.post("/api/identity/v1/auth/login", headers={"X-Forwarded-For": fresh_ip()},
                                  **login(username, "Guess#123456"))
                statuses.append(r.status_code)
            assert statuses[:limit] == [401] * limit, statuses
            assert statuses[limit:] == [429, 429], statuses
            assert r.json()["type"].endswith("/sign-in-locked")


async def test_sending_a_victims_address_does_not_lock_the_victim_out(platform: Platform) -> None:
    """Before: identity believed the first X-Forwarded-For entry, so an attacker naming the victim's address locked
    the victim out."""
    victim_ip, attacker = random_ip("203.0.113"), random_ip("192.0.2")
    username = await new_account(platform)
    limit = platform.settings["identity"].lockout_ip_failures
    async with identity_behind_gateway(platform) as gateway_for:
        async with gateway_for(attacker) as gw:
            for _ in range(limit + 1):
                await gw.post("/api/identity/v1/auth/login", headers={"X-Forwarded-For": victim_ip},
                              **login(f"nobody.{uuid.uuid4().hex[:10]}", "Guess#123456"))
            locked = await gw.post("/api/identity/v1/auth/login", **login(username, PASSWORD))
            assert locked.status_code == 429  # the attacker's own address is what got locked
        async with gateway_for(victim_ip) as gw:
            r = await gw.post("/api/identity/v1/auth/login", **login(username, PASSWORD))
            assert r.status_code == 200, r.text


async def test_identity_takes_the_right_most_untrusted_hop(platform: Platform) -> None:
    """Straight to identity from a trusted proxy (127.0.0.1, as the gateway): the hops a client wrote itself sit to
    the left of the address the proxy saw, and are never reached."""
    attacker = random_ip("192.0.2")
    limit = platform.settings["identity"].lockout_ip_failures
    statuses = []
    async with platform.client("identity") as c:
        for _ in range(limit + 1):
            r = await c.post("/v1/auth/login", headers={"X-Forwarded-For": f"{fresh_ip()}, {attacker}"},
                             **login(f"nobody.{uuid.uuid4().hex[:10]}", "Guess#123456"))
            statuses.append(r.status_code)
    assert statuses[-1] == 429, statuses


# -- audiences issued by identity and checked by every service (SQLite and PostgreSQL) -----------------------------

def claims(headers_or_token: dict[str, str] | str) -> dict[str, Any]:
    token = headers_or_token if isinstance(headers_or_token, str) else headers_or_token["Authorization"].split(" ", 1)[1]
    return jwt.get_unverified_claims(token)


async def test_each_token_names_the_services_it_is_for_and_each_service_checks_its_own(platform: Platform) -> None:
    cid = f"sec-records-{uuid.uuid4().hex[:8]}"
    async with platform.client("identity") as c:
        r = await c.post("/v1/clients", json={"client_id": cid, "name": "Báo cáo thống kê", "scopes": ["records:read"]},
                         headers=await platform.admin_headers())
        assert r.status_code == 201, r.text
        secret = r.json()["client_secret"]
        person = await c.post("/v1/auth/login", **login("student.demo", "dev-only-Student#2026"))
    token = await platform.token(cid, secret)
    assert claims(token)["aud"] == ["records"]
    assert claims(person.json()["access_token"])["aud"] == list(SERVICE_AUDIENCES)  # people use every service
    employer = await platform.token("demo-employer", "dev-only-demo-employer-secret")
    assert claims(employer)["aud"] == ["credentials"]

    bearer = {"Authorization": f"Bearer {token}"}
    # a call that needs any signed-in caller, in each service: records knows the token (and says what it lacks)
    async with platform.client("records") as c:
        r = await c.get("/v1/me/records", headers=bearer)
        assert r.status_code != 401, r.text
    for service, path in (("identity", "/v1/accounts/me"), ("learning", "/v1/me/enrolments"),
                          ("credentials", "/v1/credentials")):
        async with platform.client(service) as c:
            r = await c.get(path, headers=bearer)
            assert r.status_code == 401, (service, r.text)
