"""Citizen sign-in through VNeID, against a real OpenID provider running beside the platform (the stand-in,
served as its own app): PKCE, state and nonce the standard way; forged tokens, wrong nonce, replays refused."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from services.identity.persons.numbers import mask
from tests.support import Platform, id_number


@pytest.fixture(autouse=True)
def well_behaved_provider(platform: Platform):
    platform.vneid.misbehave = None
    yield
    platform.vneid.misbehave = None


def citizen(platform: Platform) -> dict[str, str]:
    number = id_number(century_gender=2, yy=5)  # male, born 2005
    entry = {"alias": uuid.uuid4().hex, "personal_id": number, "name": "Nguyễn Hoàng Long", "birthdate": "2005-03-09", "gender": "male"}
    platform.vneid.citizens.append(entry)
    return entry


async def start(platform: Platform, hint: str) -> tuple[str, dict[str, list[str]]]:
    """The browser's part: our /login → provider /authorize → the callback URL the provider sends back."""
    async with platform.client("identity") as c:
        r = await c.get("/v1/auth/vneid/login", params={"login_hint": hint})
    assert r.status_code == 302, r.text
    authorize = r.headers["location"]
    query = parse_qs(urlparse(authorize).query)
    async with httpx.AsyncClient(transport=platform.transport) as browser:
        consent = await browser.get(authorize)
    assert consent.status_code == 302, consent.text
    return consent.headers["location"], query


async def finish(platform: Platform, callback: str) -> httpx.Response:
    parsed = urlparse(callback)
    async with platform.client("identity") as c:
        return await c.get(parsed.path, params=parse_qs(parsed.query))


async def test_full_flow_links_the_person_created_earlier_by_a_school(platform: Platform) -> None:
    who = citizen(platform)
    records = {"Authorization": f"Bearer {await platform.token('svc-records', 'dev-only-svc-records-secret')}"}
    async with platform.client("identity") as c:
        synced = await c.post("/v1/persons", json={"id_number": who["personal_id"], "full_name": who["name"]}, headers=records)
    callback, query = await start(platform, who["alias"])
    assert query["code_challenge_method"] == ["S256"] and query["state"][0] and query["nonce"][0]
    assert query["redirect_uri"] == ["http://127.0.0.1:8001/v1/auth/vneid/callback"]
    r = await finish(platform, callback)
    assert r.status_code == 200, r.text
    tokens = r.json()
    me_auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with platform.client("identity") as c:
        me = await c.get("/v1/persons/me", headers=me_auth)
        as_service = await c.get(f"/v1/persons/{me.json()['id']}", headers=records)
        again_refresh = await c.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert me.json()["id"] == synced.json()["id"]  # linked, not duplicated
    assert me.json()["id_number"] == who["personal_id"] and not me.json()["id_number_masked"]
    assert as_service.json()["id_number"] == mask(who["personal_id"])
    assert again_refresh.status_code == 200


async def test_first_sign_in_creates_the_person(platform: Platform) -> None:
    who = citizen(platform)
    callback, _ = await start(platform, who["alias"])
    r = await finish(platform, callback)
    assert r.status_code == 200, r.text
    async with platform.client("identity") as c:
        me = await c.get("/v1/persons/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.json()["full_name"] == "Nguyễn Hoàng Long" and me.json()["date_of_birth"] == "2005-03-09"


async def test_replayed_callback_is_refused(platform: Platform) -> None:
    who = citizen(platform)
    callback, _ = await start(platform, who["alias"])
    assert (await finish(platform, callback)).status_code == 200
    replay = await finish(platform, callback)
    assert replay.status_code == 401 and "already finished" in replay.json()["detail"]


@pytest.mark.parametrize(("misbehave", "words"), [("wrong_key", "Signature verification failed"), ("wrong_nonce", "nonce"), ("wrong_audience", "not valid"), ("expired", "not valid")])
async def test_bad_id_tokens_are_refused_and_audited(platform: Platform, misbehave: str, words: str) -> None:
    who = citizen(platform)
    callback, _ = await start(platform, who["alias"])
    platform.vneid.misbehave = misbehave
    r = await finish(platform, callback)
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json" and words in r.json()["detail"]
    async with platform.client("identity") as c:
        audit = await c.get("/v1/admin/audit", params={"action": "login.vneid"}, headers=await platform.admin_headers())
    assert any(e["outcome"] == "failure" and words in e["details"]["reason"] for e in audit.json()["items"])


async def test_unknown_state_and_provider_pkce_check(platform: Platform) -> None:
    who = citizen(platform)
    callback, _ = await start(platform, who["alias"])
    code = parse_qs(urlparse(callback).query)["code"][0]
    forged_state = await finish(platform, f"/v1/auth/vneid/callback?code={code}&state=made-up-state")
    assert forged_state.status_code == 401
    # the provider refuses a code exchanged without the right PKCE verifier (and the code is then spent)
    async with httpx.AsyncClient(transport=platform.transport) as c:
        r = await c.post("http://127.0.0.1:8009/token", auth=("vet-platform-test", "test-only-vneid-secret"),
                         data={"grant_type": "authorization_code", "code": code, "code_verifier": "wrong" * 10,
                               "redirect_uri": "http://127.0.0.1:8001/v1/auth/vneid/callback"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert (await finish(platform, callback)).status_code == 401  # spent code
