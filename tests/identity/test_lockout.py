"""Guessing protection without lockout as a weapon (accounts/throttle.py): waits per account+address pair that
grow and are capped; guesses from other addresses never lock the owner out where they sign in; an administrator
unlocks or disables; machine clients guessing secrets wait per client+address. Addresses come as the trusted
proxy's X-Forwarded-For (the tests' peer is 127.0.0.1)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.common.testing import FakeClock
from tests.identity.test_accounts import audit, login, new_staff
from tests.support import Platform


def address() -> str:
    """An address no other test uses."""
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


@pytest.fixture
def settings(platform: Platform):
    return platform.settings["identity"]


async def test_guesses_from_elsewhere_never_lock_the_owner_out_where_they_sign_in(platform: Platform, settings, monkeypatch) -> None:
    """The weapon: failures against a victim from many addresses. The victim's usual address still signs in at
    once; the guessers' addresses, and new ones while the account is under attack, wait (capped)."""
    monkeypatch.setattr(settings, "lockout_base_seconds", 60.0)
    monkeypatch.setattr(settings, "lockout_max_seconds", 120.0)
    username, password = await new_staff(platform)
    home = address()
    async with platform.client("identity") as c:
        assert (await login(c, username, password, ip=home)).status_code == 200
        guesses = [await login(c, username, f"Đoán-sai-{i}!", ip=address()) for i in range(8)]
        victim = await login(c, username, password, ip=home)
        guesser = await login(c, username, password, ip=address())
    assert [r.status_code for r in guesses] == [401] * 3 + [429] * 5, [r.status_code for r in guesses]
    assert victim.status_code == 200, victim.text
    assert guesser.status_code == 429 and 1 <= int(guesser.headers["retry-after"]) <= 120  # capped


async def test_waits_per_pair_grow_and_are_capped_and_a_success_resets_them(platform: Platform, settings, monkeypatch,
                                                                          clock: FakeClock) -> None:
    monkeypatch.setattr(settings, "lockout_max_seconds", 2.0)
    monkeypatch.setattr(settings, "lockout_account_failures", 100)  # this pair alone
    username, password = await new_staff(platform)
    ip = address()
    async with platform.client("identity") as c:
        assert (await login(c, username, password, ip=ip)).status_code == 200  # a known address: only its pair counts
        first = [await login(c, username, "Sai-mật-khẩu-1", ip=ip) for _ in range(settings.lockout_pair_failures)]
        held = await login(c, username, password, ip=ip)  # right password, but the pair waits: not even checked
        waits = [int(held.headers["retry-after"])]
        for _ in range(2):  # after each wait, one more failure: the wait doubles, then stays at the cap
            await clock.advance(waits[-1])
            assert (await login(c, username, "Sai-mật-khẩu-1", ip=ip)).status_code == 401
            r = await login(c, username, password, ip=ip)
            assert r.status_code == 429
            waits.append(int(r.headers["retry-after"]))
        elsewhere = await login(c, username, password, ip=address())
        early = await login(c, username, password, ip=ip)  # a moment before the wait ends: still held
        await clock.advance(waits[-1])
        ok = await login(c, username, password, ip=ip)
        again = await login(c, username, "Sai-mật-khẩu-1", ip=ip)
    assert [r.status_code for r in first] == [401] * settings.lockout_pair_failures
    assert held.status_code == 429 and held.json()["type"].endswith("/sign-in-locked")
    assert waits == [1, 2, 2]
    assert elsewhere.status_code == 200
    assert early.status_code == 429
    assert ok.status_code == 200 and again.status_code == 401  # the count started afresh


async def test_an_administrator_unlocks_and_only_an_administrator_disables(platform: Platform) -> None:
    username, password = await new_staff(platform)
    ip = address()
    async with platform.client("identity") as c:
        first = await login(c, username, password, ip=ip)
        account_id = (await c.get("/v1/accounts/me", headers={"Authorization": f"Bearer {first.json()['access_token']}"})).json()["id"]
        for _ in range(platform.settings["identity"].lockout_pair_failures):
            await login(c, username, "Sai-mật-khẩu-1", ip=ip)
        assert (await login(c, username, password, ip=ip)).status_code == 429
        teacher = {"Authorization": f"Bearer {(await login(c, 'teacher.demo', 'dev-only-Teacher#2026')).json()['access_token']}"}
        not_allowed = await c.post(f"/v1/accounts/{account_id}/unlock", headers=teacher)
        unlocked = await c.post(f"/v1/accounts/{account_id}/unlock", headers=await platform.admin_headers())
        after = await login(c, username, password, ip=ip)
        disabled = await c.patch(f"/v1/accounts/{account_id}", json={"active": False}, headers=await platform.admin_headers())
        refresh = await c.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": after.json()["refresh_token"]})
        refused = await login(c, username, password, ip=ip)
        enabled = await c.patch(f"/v1/accounts/{account_id}", json={"active": True}, headers=await platform.admin_headers())
        back = await login(c, username, password, ip=ip)
    assert not_allowed.status_code == 403
    assert unlocked.status_code == 204 and after.status_code == 200
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    assert refresh.status_code == 400 and "revoked" in refresh.json()["detail"]  # every session ended
    assert refused.status_code == 401
    assert enabled.status_code == 200 and back.status_code == 200
    actions = [e["action"] for e in await audit(platform, target_id=account_id)]
    assert {"account.unlocked", "account.disabled", "account.enabled"} <= set(actions)


async def test_client_secret_guesses_wait_per_client_and_address(platform: Platform, clock: FakeClock) -> None:
    client_id = f"sis-{uuid.uuid4().hex[:8]}"
    async with platform.client("identity") as c:
        made = await c.post("/v1/clients", json={"client_id": client_id, "name": "SIS", "scopes": ["records:read"]},
                            headers=await platform.admin_headers("identity:clients"))
        secret = made.json()["client_secret"]
        attacker, school = address(), address()

        async def grant(password: str, ip: str) -> httpx.Response:
            return await c.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, password),
                                headers={"X-Forwarded-For": ip})

        guesses = [await grant(f"guess-{i}", attacker) for i in range(platform.settings["identity"].lockout_pair_failures)]
        held = await grant(secret, attacker)
        from_school = await grant(secret, school)
        await clock.advance(int(held.headers["retry-after"]))
        later = await grant(secret, attacker)
    assert [r.status_code for r in guesses] == [401] * len(guesses)
    assert held.status_code == 429 and held.json()["error"] == "invalid_client" and held.headers["retry-after"] == "1"
    assert "access_token" not in held.text
    assert from_school.status_code == 200  # the client itself is not locked out
    assert later.status_code == 200
    entries = await audit(platform, target_id=client_id, action="token.client_credentials")
    assert {"failure", "locked", "success"} <= {e["outcome"] for e in entries}
