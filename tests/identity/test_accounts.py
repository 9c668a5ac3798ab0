"""Staff sign-in, rotating refresh tokens with reuse detection, logout, lockout and its expiry, password policy,
memberships — and the audit entries each of them leaves."""

from __future__ import annotations

import base64
import json
import uuid

from services.common.testing import FakeClock
from tests.support import Platform

TEACHER = ("teacher.demo", "dev-only-Teacher#2026")


def claims(token: str) -> dict:
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


async def login(c, username: str, password: str, ip: str | None = None):
    headers = {"X-Forwarded-For": ip} if ip else {}
    return await c.post("/v1/auth/login", json={"username": username, "password": password}, headers=headers)


async def refresh(c, token: str):
    return await c.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token})


async def audit(platform: Platform, **params) -> list[dict]:
    async with platform.client("identity") as c:
        r = await c.get("/v1/admin/audit", params=params | {"limit": 200}, headers=await platform.admin_headers())
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def new_staff(platform: Platform, at: str = "CD0101", role: str = "teacher") -> tuple[str, str]:
    username, password = f"gv.{uuid.uuid4().hex[:8]}", "Mật-khẩu-Tốt-2026"
    async with platform.client("identity") as c:
        r = await c.post("/v1/accounts", json={"username": username, "full_name": "Giáo viên thử", "password": password,
                                               "memberships": [{"at": at, "role": role}]}, headers=await platform.admin_headers())
    assert r.status_code == 201, r.text
    return username, password


async def test_login_gives_tokens_with_roles_and_scopes(platform: Platform) -> None:
    async with platform.client("identity") as c:
        r = await login(c, *TEACHER)
        me = await c.get("/v1/accounts/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["refresh_token"] and body["expires_in"] > 0
    cl = claims(body["access_token"])
    assert cl["kind"] == "user" and cl["roles"] == {"CD0101": ["teacher"]}
    assert "learning:publish" in cl["scope"].split()
    assert me.json()["username"] == "teacher.demo" and me.json()["memberships"][0]["role"] == "teacher"


async def test_refresh_rotates_and_reuse_revokes_the_family(platform: Platform) -> None:
    username, password = await new_staff(platform)
    async with platform.client("identity") as c:
        first = (await login(c, username, password)).json()
        second = await refresh(c, first["refresh_token"])
        assert second.status_code == 200, second.text
        third = await refresh(c, second.json()["refresh_token"])
        assert third.status_code == 200
        reuse = await refresh(c, first["refresh_token"])  # a stolen, already rotated token comes back
        after = await refresh(c, third.json()["refresh_token"])  # the legitimate holder is signed out too
        garbage = await refresh(c, "not-a-token")
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant" and "reused" in reuse.json()["detail"]
    assert after.status_code == 400 and "revoked" in after.json()["detail"]
    assert garbage.status_code == 400
    actions = [e["action"] for e in await audit(platform, target_type="token_family")]
    assert "token.refresh_reuse" in actions and actions.count("token.refresh") >= 2


async def test_logout_revokes(platform: Platform) -> None:
    username, password = await new_staff(platform)
    async with platform.client("identity") as c:
        tokens = (await login(c, username, password)).json()
        out = await c.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
        again = await refresh(c, tokens["refresh_token"])
    assert out.status_code == 204
    assert again.status_code == 400 and "revoked" in again.json()["detail"]


async def test_lockout_per_account_grows_and_expires(platform: Platform, clock: FakeClock) -> None:
    username, password = await new_staff(platform)
    async with platform.client("identity") as c:
        fails = [await login(c, username, "wrong-Password-1", ip=f"10.9.{i}.1") for i in range(3)]
        locked = await login(c, username, password, ip="10.9.9.9")  # right password, but locked
        assert [r.status_code for r in fails] == [401, 401, 401]
        # the base lock in tests is 1 s of identity's clock, which stands still until the test moves it
        assert locked.status_code == 429 and locked.headers["retry-after"] == "1"
        assert locked.json()["type"].endswith("/sign-in-locked")
        await clock.advance(0.5)
        still = await login(c, username, password, ip="10.9.9.9")  # refused again, never counted as a failure
        await clock.advance(0.5)
        ok = await login(c, username, password, ip="10.9.9.9")  # the lock has run out: accepted
    assert still.status_code == 429 and still.headers["retry-after"] == "1", still.text
    assert ok.status_code == 200, ok.text
    entries = await audit(platform, target_type="account", target_id=username)
    outcomes = [e["outcome"] for e in entries]
    assert outcomes.count("failure") == 3 and "locked" in outcomes
    assert all(password not in json.dumps(e) for e in entries)


async def test_lockout_per_ip(platform: Platform) -> None:
    async with platform.client("identity") as c:
        results = [await login(c, f"nobody{i}", "x", ip="203.0.113.7") for i in range(6)]
        blocked = await login(c, *TEACHER, ip="203.0.113.7")
        elsewhere = await login(c, *TEACHER, ip="203.0.113.8")
    assert all(r.status_code == 401 for r in results)
    assert blocked.status_code == 429
    assert elsewhere.status_code == 200


async def test_password_policy_and_change(platform: Platform) -> None:
    username, password = await new_staff(platform)
    async with platform.client("identity") as c:
        weak = await c.post("/v1/accounts", json={"username": f"x{uuid.uuid4().hex[:6]}", "full_name": "X", "password": "short"},
                            headers=await platform.admin_headers())
        token = (await login(c, username, password)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        wrong = await c.post("/v1/auth/password", json={"current_password": "nope", "new_password": "Khác-Hẳn-2027!"}, headers=auth)
        contains = await c.post("/v1/auth/password", json={"current_password": password, "new_password": f"{username}-A1!"}, headers=auth)
        ok = await c.post("/v1/auth/password", json={"current_password": password, "new_password": "Khác-Hẳn-2027!"}, headers=auth)
        old = await login(c, username, password)
        new = await login(c, username, "Khác-Hẳn-2027!")
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "password"
    assert wrong.status_code == 401
    assert contains.status_code == 422 and any("username" in e["message"] for e in contains.json()["errors"])
    assert ok.status_code == 204 and old.status_code == 401 and new.status_code == 200


async def test_memberships_granted_by_school_admin_only_at_own_school(platform: Platform) -> None:
    async with platform.client("identity") as c:
        admin_token = (await login(c, "schooladmin.demo", "dev-only-SchoolAdmin#2026")).json()["access_token"]
        auth = {"Authorization": f"Bearer {admin_token}"}
        mine = await c.post("/v1/accounts", json={"username": f"gv{uuid.uuid4().hex[:6]}", "full_name": "Giáo viên mới",
                                                  "password": "Mật-khẩu-Tốt-2026", "memberships": [{"at": "CD0101", "role": "teacher"}]}, headers=auth)
        other = await c.post("/v1/accounts", json={"username": f"gv{uuid.uuid4().hex[:6]}", "full_name": "X",
                                                   "password": "Mật-khẩu-Tốt-2026", "memberships": [{"at": "TC7901", "role": "teacher"}]}, headers=auth)
        officer = await c.post(f"/v1/accounts/{mine.json()['id']}/memberships", json={"at": "national", "role": "ministry_officer"}, headers=auth)
    assert mine.status_code == 201, mine.text
    assert other.status_code == 403 and officer.status_code == 403
    assert "account.created" in [e["action"] for e in await audit(platform, target_id=mine.json()["id"])]


async def test_password_change_ends_every_session_of_the_account(platform: Platform) -> None:
    """A thief holding a session (a refresh token) from before the change holds nothing after it."""
    username, password = await new_staff(platform)
    async with platform.client("identity") as c:
        thief = (await login(c, username, password, ip="198.51.100.23")).json()
        owner = (await login(c, username, password)).json()
        other_device = (await login(c, username, password)).json()
        rotated = (await refresh(c, other_device["refresh_token"])).json()
        changed = await c.post("/v1/auth/password", json={"current_password": password, "new_password": "Khác-Hẳn-2027!"},
                               headers={"Authorization": f"Bearer {owner['access_token']}"})
        after = [await refresh(c, t) for t in (thief["refresh_token"], owner["refresh_token"], rotated["refresh_token"])]
        fresh = await login(c, username, "Khác-Hẳn-2027!")
    assert changed.status_code == 204, changed.text
    assert [r.status_code for r in after] == [400, 400, 400]
    assert all("revoked" in r.json()["detail"] for r in after)
    assert fresh.status_code == 200
    entry = next(e for e in await audit(platform, action="account.password_changed") if e["actor"] == claims(owner["access_token"])["sub"])
    assert entry["details"]["sessions_revoked"] == 3


async def test_current_password_guesses_are_throttled_like_sign_in(platform: Platform) -> None:
    """A stolen access token does not buy unlimited guesses of the current password (and a takeover with it)."""
    username, password = await new_staff(platform)
    async with platform.client("identity") as c:
        token = (await login(c, username, password, ip="198.51.100.77")).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "198.51.100.77"}
        guesses = [await c.post("/v1/auth/password", json={"current_password": f"Đoán-{i}-sai!", "new_password": "Khác-Hẳn-2027!"},
                                headers=auth) for i in range(5)]
        held = await c.post("/v1/auth/password", json={"current_password": password, "new_password": "Khác-Hẳn-2027!"}, headers=auth)
        still = await login(c, username, password, ip="198.51.100.77")  # the same pair waits for sign-in too
    assert [r.status_code for r in guesses] == [401] * 5
    assert guesses[0].json()["errors"][0]["field"] == "current_password"
    assert held.status_code == 429 and int(held.headers["retry-after"]) >= 1
    assert still.status_code == 429
    outcomes = [e["outcome"] for e in await audit(platform, action="account.password_change")
                if e["target_id"] == claims(token)["sub"].split(":", 1)[1] or e["target_id"] == username]
    assert outcomes.count("failure") == 5 and "locked" in outcomes
