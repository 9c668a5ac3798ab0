"""OWASP API Security Top 10 2023 — API5: Broken Function Level Authorization. Vertical escalation through the
role and client administration of identity, tried through the gateway: nobody grants a role they do not hold (or
one above it), nobody grants themselves anything, platform_admin only from an existing platform admin, machine
clients only with scopes and roles their creator holds — and every grant, refused ones too, is in the audit trail."""

from __future__ import annotations

import uuid

import httpx

from tests.e2e.gateway import gateway_for
from tests.support import Platform

MINISTRY = ("ministry.demo", "dev-only-Ministry#2026")
SCHOOL_ADMIN = ("schooladmin.demo", "dev-only-SchoolAdmin#2026")
PASSWORD = "Mật-khẩu-Tốt-2026"


async def sign_in(gw: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await gw.post("/api/identity/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def my_id(gw: httpx.AsyncClient, auth: dict[str, str]) -> str:
    r = await gw.get("/api/identity/v1/accounts/me", headers=auth)
    assert r.status_code == 200, r.text
    return r.json()["id"]


async def audit(platform: Platform, **params: str) -> list[dict]:
    async with platform.client("identity") as c:
        r = await c.get("/v1/admin/audit", params=params | {"limit": 200}, headers=await platform.admin_headers())
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def new_account(gw: httpx.AsyncClient, auth: dict[str, str], *memberships: tuple[str, str]) -> httpx.Response:
    return await gw.post("/api/identity/v1/accounts", headers=auth, json={
        "username": f"u.{uuid.uuid4().hex[:10]}", "full_name": "Người dùng thử", "password": PASSWORD,
        "memberships": [{"at": at, "role": role} for at, role in memberships]})


async def test_a_ministry_officer_cannot_make_itself_platform_admin_nor_mint_clients(platform: Platform) -> None:
    """The reproduction: ministry.demo grants itself platform_admin, signs in again, and creates a machine client
    with every scope."""
    async with gateway_for(platform) as gw:
        officer = await sign_in(gw, *MINISTRY)
        me = await my_id(gw, officer)
        self_grant = await gw.post(f"/api/identity/v1/accounts/{me}/memberships", headers=officer,
                                   json={"at": "national", "role": "platform_admin"})
        again = await sign_in(gw, *MINISTRY)
        mint = await gw.post("/api/identity/v1/clients", headers=again,
                             json={"client_id": f"evil-{uuid.uuid4().hex[:8]}", "name": "x", "scopes": ["identity:admin", "records:admin"]})
        roles = (await gw.get("/api/identity/v1/accounts/me", headers=again)).json()["memberships"]
    assert self_grant.status_code == 403, self_grant.text
    assert self_grant.headers["content-type"] == "application/problem+json"
    assert mint.status_code == 403, mint.text
    assert [(m["at"], m["role"]) for m in roles] == [("national", "ministry_officer")]
    refused = [e for e in await audit(platform, action="membership.granted", target_id=me) if e["outcome"] == "failure"]
    assert refused and refused[0]["details"]["role"] == "platform_admin" and refused[0]["actor"] == f"account:{me}"


async def test_nobody_grants_a_role_above_their_own(platform: Platform) -> None:
    async with gateway_for(platform) as gw:
        officer = await sign_in(gw, *MINISTRY)
        school_admin = await sign_in(gw, *SCHOOL_ADMIN)
        target = (await new_account(gw, await platform.admin_headers(), ("CD0101", "teacher"))).json()["id"]
        by_officer = await gw.post(f"/api/identity/v1/accounts/{target}/memberships", headers=officer,
                                   json={"at": "national", "role": "platform_admin"})
        created_by_officer = await new_account(gw, officer, ("national", "platform_admin"))
        by_school = [await gw.post(f"/api/identity/v1/accounts/{target}/memberships", headers=school_admin, json={"at": at, "role": role})
                     for at, role in (("national", "ministry_officer"), ("province:001", "province_officer"), ("TC7901", "teacher"))]
        # what each may grant still works
        officer_ok = await gw.post(f"/api/identity/v1/accounts/{target}/memberships", headers=officer,
                                   json={"at": "province:079", "role": "province_officer"})
        school_ok = await gw.post(f"/api/identity/v1/accounts/{target}/memberships", headers=school_admin,
                                  json={"at": "CD0101", "role": "student"})
    assert by_officer.status_code == 403 and created_by_officer.status_code == 403
    assert [r.status_code for r in by_school] == [403, 403, 403]
    assert officer_ok.status_code == 201 and school_ok.status_code == 201
    entries = await audit(platform, action="membership.granted", target_id=target)
    assert sorted((e["details"]["role"], e["outcome"]) for e in entries) == sorted([
        ("platform_admin", "failure"), ("ministry_officer", "failure"), ("province_officer", "failure"), ("teacher", "failure"),
        ("province_officer", "success"), ("student", "success")])


async def test_nobody_grants_themselves_anything(platform: Platform) -> None:
    async with gateway_for(platform) as gw:
        school_admin = await sign_in(gw, *SCHOOL_ADMIN)
        me = await my_id(gw, school_admin)
        teacher_too = await gw.post(f"/api/identity/v1/accounts/{me}/memberships", headers=school_admin,
                                    json={"at": "CD0101", "role": "teacher"})
    assert teacher_too.status_code == 403, teacher_too.text
    assert "themselves" in teacher_too.json()["detail"]


async def test_platform_admin_only_from_a_platform_admin(platform: Platform) -> None:
    async with gateway_for(platform) as gw:
        made = await new_account(gw, await platform.admin_headers(), ("national", "platform_admin"))
        assert made.status_code == 201, made.text
        new_admin = await sign_in(gw, made.json()["username"], PASSWORD)
        target = (await new_account(gw, new_admin, ("CD0101", "teacher"))).json()["id"]
        granted = await gw.post(f"/api/identity/v1/accounts/{target}/memberships", headers=new_admin,
                                json={"at": "national", "role": "platform_admin"})
    assert granted.status_code == 201, granted.text
    assert any(e["outcome"] == "success" and e["details"]["memberships"] == [{"at": "national", "role": "platform_admin"}]
               for e in await audit(platform, action="account.created", target_id=made.json()["id"]))


async def test_a_client_manager_cannot_mint_clients_above_itself_nor_widen_itself(platform: Platform) -> None:
    """A machine client that may manage clients (identity:clients) but holds nothing else: the clients it creates
    get only what it holds itself, and it cannot change its own scopes."""
    admin = await platform.admin_headers("identity:clients")
    manager_id = f"mgr-{uuid.uuid4().hex[:8]}"
    async with gateway_for(platform) as gw:
        made = await gw.post("/api/identity/v1/clients", headers=admin,
                             json={"client_id": manager_id, "name": "client manager", "scopes": ["identity:clients"]})
        assert made.status_code == 201, made.text
        token = await gw.post("/api/identity/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(manager_id, made.json()["client_secret"]))
        manager = {"Authorization": f"Bearer {token.json()['access_token']}"}
        wide = await gw.post("/api/identity/v1/clients", headers=manager,
                             json={"client_id": f"x-{uuid.uuid4().hex[:8]}", "name": "x", "scopes": ["records:admin"]})
        admin_role = await gw.post("/api/identity/v1/clients", headers=manager,
                                   json={"client_id": f"x-{uuid.uuid4().hex[:8]}", "name": "x", "roles": ["platform_admin@national"]})
        widen_self = await gw.patch(f"/api/identity/v1/clients/{manager_id}", headers=manager,
                                    json={"scopes": ["identity:clients", "identity:admin"]})
        take_over = await gw.post("/api/identity/v1/clients/platform-admin/secret", headers=manager)
        disable_admin = await gw.patch("/api/identity/v1/clients/platform-admin", headers=manager, json={"active": False})
        same = await gw.post("/api/identity/v1/clients", headers=manager,
                             json={"client_id": f"x-{uuid.uuid4().hex[:8]}", "name": "x", "scopes": ["identity:clients"]})
        bad_role = await gw.post("/api/identity/v1/clients", headers=admin,
                                 json={"client_id": f"x-{uuid.uuid4().hex[:8]}", "name": "x", "roles": ["superuser@national"]})
    assert wide.status_code == 403 and admin_role.status_code == 403 and widen_self.status_code == 403
    assert take_over.status_code == 403 and "client_secret" not in take_over.text and disable_admin.status_code == 403
    assert same.status_code == 201
    assert bad_role.status_code == 422 and bad_role.json()["errors"][0]["field"] == "roles"
    refused = [e for e in await audit(platform, action="client.created") if e["actor"] == f"client:{manager_id}" and e["outcome"] == "failure"]
    assert len(refused) == 2
