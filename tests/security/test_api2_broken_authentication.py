"""OWASP API Security Top 10 2023 — API2: Broken Authentication, as an attacker would try it: an
``Idempotency-Key`` replay must never hand one caller's response (a token, a secret) to another (through the
gateway); a VNeID callback URL made for one browser must sign no other in (login CSRF), and tokens never travel in
a URL that a page's script could read."""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import parse_qs, urlparse

from tests.e2e.gateway import gateway_for
from tests.identity.test_vneid import browser, citizen, start
from tests.support import Platform

SCHOOL = ("demo-school-sis", "dev-only-demo-school-secret")


def forged(token: str, **claims: object) -> str:
    """The victim's token with its payload swapped: the signature no longer matches."""
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) | claims
    return ".".join([header, base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("="), signature])


async def test_an_anonymous_replay_of_the_token_endpoint_gets_no_token(platform: Platform) -> None:
    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    async with gateway_for(platform) as gw:
        school = await gw.post("/api/identity/oauth/token", data={"grant_type": "client_credentials"}, auth=SCHOOL, headers=key)
        attacker = await gw.post("/api/identity/oauth/token", data={"grant_type": "client_credentials"}, headers=key)
    assert school.status_code == 200, school.text
    assert attacker.status_code == 401, attacker.text
    assert "access_token" not in attacker.text and "idempotent-replayed" not in attacker.headers


async def test_a_forged_token_naming_the_victim_replays_nothing(platform: Platform) -> None:
    """The key's namespace is the verified caller: a token the service never verified names nobody."""
    admin = await platform.admin_headers()
    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    body = {"username": f"gv.{uuid.uuid4().hex[:8]}", "full_name": "Giáo viên", "password": "Mật-khẩu-Tốt-2026",
            "memberships": [{"at": "CD0101", "role": "teacher"}]}
    async with gateway_for(platform) as gw:
        victim = await gw.post("/api/identity/v1/accounts", json=body, headers=admin | key)
        stranger = (await gw.post("/api/identity/oauth/token", data={"grant_type": "client_credentials"}, auth=SCHOOL)).json()
        fake = forged(stranger["access_token"], sub="client:platform-admin", client_id="platform-admin")
        attacker = await gw.post("/api/identity/v1/accounts", json=body, headers=key | {"Authorization": f"Bearer {fake}"})
    # services check again, without the gateway in front (another route in, or a gateway misconfigured)
    async with platform.client("identity") as c:
        inside = await c.post("/v1/accounts", json=body, headers=key | {"Authorization": f"Bearer {fake}"})
    assert victim.status_code == 201, victim.text
    for r in (attacker, inside):
        assert r.status_code == 401, r.text
        assert "idempotent-replayed" not in r.headers and victim.json()["id"] not in r.text


async def test_another_caller_with_the_same_key_runs_its_own_request(platform: Platform) -> None:
    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    body = {"username": f"gv.{uuid.uuid4().hex[:8]}", "full_name": "Giáo viên", "password": "Mật-khẩu-Tốt-2026",
            "memberships": [{"at": "CD0101", "role": "teacher"}]}
    async with gateway_for(platform) as gw:
        admin = await gw.post("/api/identity/v1/accounts", json=body, headers=await platform.admin_headers() | key)
        school = await gw.post("/api/identity/v1/accounts", json=body, headers=await platform.school_headers() | key)
    assert admin.status_code == 201
    assert school.status_code == 403 and "idempotent-replayed" not in school.headers  # its own answer, not the admin's


async def test_a_response_carrying_a_secret_is_never_replayed(platform: Platform) -> None:
    """A machine client's one-time secret is not kept in the idempotency store: the repeat is told what happened,
    and gets no secret."""
    key = {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    body = {"client_id": f"sis-{uuid.uuid4().hex[:8]}", "name": "SIS", "scopes": ["records:sync"]}
    async with gateway_for(platform) as gw:
        admin = await platform.admin_headers("identity:clients")
        first = await gw.post("/api/identity/v1/clients", json=body, headers=admin | key)
        again = await gw.post("/api/identity/v1/clients", json=body, headers=admin | key)
    assert first.status_code == 201 and first.json()["client_secret"]
    assert again.status_code == 409, again.text
    assert again.json()["type"].endswith("/idempotency-response-withheld")
    assert first.json()["client_secret"] not in again.text and "idempotent-replayed" not in again.headers
    async with platform.apps["identity"].state.db.session(write=False) as s:
        from sqlalchemy import select

        from services.common.models import IdempotencyRecord

        stored = (await s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == key["Idempotency-Key"]))).one()
    assert stored.response_body is None and first.json()["client_secret"] not in json.dumps(stored.response_headers or [])


async def test_login_csrf_a_callback_made_for_the_attacker_signs_no_victim_in(platform: Platform) -> None:
    """The attacker starts a sign-in as themselves and stops before the callback; the victim's browser is made to
    open the callback URL. Before: the victim was signed in as the attacker (and whatever they uploaded went to the
    attacker's account). Now the sign-in is bound to the browser that started it."""
    attacker_self = citizen(platform)
    platform.vneid.misbehave = None
    async with browser(platform) as attacker, browser(platform) as victim:
        callback, _ = await start(platform, attacker_self["alias"], attacker)
        parsed = urlparse(callback)
        r = await victim.get(parsed.path, params=parse_qs(parsed.query))
        spent = await attacker.get(parsed.path, params=parse_qs(parsed.query))  # and the attacker's own flow is over
    assert r.status_code == 401 and "another browser" in r.json()["detail"], r.text
    assert "location" not in r.headers and "token" not in r.text
    assert spent.status_code == 401


async def test_the_callback_never_puts_tokens_in_a_url(platform: Platform) -> None:
    """Before: ``return_to#access_token=…&refresh_token=…`` to any same-origin page — a package's launch URL
    handed a citizen's tokens to a teacher's script. Now: a registered route, with a one-time code."""
    who = citizen(platform)
    async with browser(platform) as b:
        player = await b.get("/v1/auth/vneid/login", params={"return_to": "http://127.0.0.1:8000/api/learning/v1/players/x/index.html"})
        callback, _ = await start(platform, who["alias"], b)
        parsed = urlparse(callback)
        r = await b.get(parsed.path, params=parse_qs(parsed.query))
    assert player.status_code == 400
    assert r.status_code == 302 and "#" not in r.headers["location"]
    assert set(parse_qs(urlparse(r.headers["location"]).query)) == {"code"}
