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


def browser(platform: Platform) -> httpx.AsyncClient:
    """A browser: one cookie jar for the platform and the provider (the identity service at 127.0.0.1:8001)."""
    return httpx.AsyncClient(transport=platform.transport, base_url="http://127.0.0.1:8001")


async def start(platform: Platform, hint: str, b: httpx.AsyncClient | None = None, **params: str) -> tuple[str, dict[str, list[str]]]:
    """The browser's part: our /login → provider /authorize → the callback URL the provider sends back."""
    own = b is None
    b = b or browser(platform)
    try:
        r = await b.get("/v1/auth/vneid/login", params={"login_hint": hint} | params)
        assert r.status_code == 302, r.text
        authorize = r.headers["location"]
        query = parse_qs(urlparse(authorize).query)
        consent = await b.get(authorize)
        assert consent.status_code == 302, consent.text
        return consent.headers["location"], query
    finally:
        if own:
            await b.aclose()


async def finish(platform: Platform, callback: str, b: httpx.AsyncClient | None = None) -> httpx.Response:
    """The callback in the browser that started the sign-in (by default: a fresh one, i.e. another browser), then
    the front end's exchange of the one-time code: the tokens, or the first refusal."""
    own = b is None
    b = b or browser(platform)
    try:
        parsed = urlparse(callback)
        r = await b.get(parsed.path, params=parse_qs(parsed.query))
        if r.status_code != 302:
            return r
        location = r.headers["location"]
        assert "access_token" not in location and "refresh_token" not in location and "#" not in location
        code = parse_qs(urlparse(location).query)["code"][0]
        return await b.post("/v1/auth/vneid/token", json={"code": code})
    finally:
        if own:
            await b.aclose()


async def sign_in(platform: Platform, hint: str) -> httpx.Response:
    async with browser(platform) as b:
        callback, _ = await start(platform, hint, b)
        return await finish(platform, callback, b)


async def test_full_flow_links_the_person_created_earlier_by_a_school(platform: Platform) -> None:
    who = citizen(platform)
    records = {"Authorization": f"Bearer {await platform.token('svc-records', 'dev-only-svc-records-secret')}"}
    async with platform.client("identity") as c:
        synced = await c.post("/v1/persons", json={"id_number": who["personal_id"], "full_name": who["name"]}, headers=records)
    async with browser(platform) as b:
        callback, query = await start(platform, who["alias"], b)
        assert query["code_challenge_method"] == ["S256"] and query["state"][0] and query["nonce"][0]
        assert query["redirect_uri"] == ["http://127.0.0.1:8001/v1/auth/vneid/callback"]
        r = await finish(platform, callback, b)
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
    r = await sign_in(platform, who["alias"])
    assert r.status_code == 200, r.text
    async with platform.client("identity") as c:
        me = await c.get("/v1/persons/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.json()["full_name"] == "Nguyễn Hoàng Long" and me.json()["date_of_birth"] == "2005-03-09"


async def test_replayed_callback_is_refused(platform: Platform) -> None:
    who = citizen(platform)
    async with browser(platform) as b:
        callback, _ = await start(platform, who["alias"], b)
        assert (await finish(platform, callback, b)).status_code == 200
        replay = await finish(platform, callback, b)
    assert replay.status_code == 401 and "already finished" in replay.json()["detail"]


@pytest.mark.parametrize(("misbehave", "words"), [("wrong_key", "Signature verification failed"), ("wrong_nonce", "nonce"), ("wrong_audience", "not valid"), ("expired", "not valid")])
async def test_bad_id_tokens_are_refused_and_audited(platform: Platform, misbehave: str, words: str) -> None:
    who = citizen(platform)
    async with browser(platform) as b:
        callback, _ = await start(platform, who["alias"], b)
        platform.vneid.misbehave = misbehave
        r = await finish(platform, callback, b)
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json" and words in r.json()["detail"]
    async with platform.client("identity") as c:
        audit = await c.get("/v1/admin/audit", params={"action": "login.vneid"}, headers=await platform.admin_headers())
    assert any(e["outcome"] == "failure" and words in e["details"]["reason"] for e in audit.json()["items"])


async def test_unknown_state_and_provider_pkce_check(platform: Platform) -> None:
    who = citizen(platform)
    b = browser(platform)
    callback, _ = await start(platform, who["alias"], b)
    code = parse_qs(urlparse(callback).query)["code"][0]
    forged_state = await finish(platform, f"/v1/auth/vneid/callback?code={code}&state=made-up-state", b)
    assert forged_state.status_code == 401
    # the provider refuses a code exchanged without the right PKCE verifier (and the code is then spent)
    async with httpx.AsyncClient(transport=platform.transport) as c:
        r = await c.post("http://127.0.0.1:8009/token", auth=("vet-platform-test", "test-only-vneid-secret"),
                         data={"grant_type": "authorization_code", "code": code, "code_verifier": "wrong" * 10,
                               "redirect_uri": "http://127.0.0.1:8001/v1/auth/vneid/callback"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert (await finish(platform, callback, b)).status_code == 401  # spent code
    await b.aclose()


@pytest.mark.parametrize(("misbehave", "words"), [("wrong_iss", "another provider"), ("no_iss", "carries no iss")])
async def test_rfc9207_iss_is_checked(platform: Platform, misbehave: str, words: str) -> None:
    """A mix-up: the answer names another provider, or none although this provider always names itself."""
    who = citizen(platform)
    platform.vneid.misbehave = misbehave
    async with browser(platform) as b:
        callback, _ = await start(platform, who["alias"], b)
        r = await finish(platform, callback, b)
    assert r.status_code == 401 and words in r.json()["detail"], r.text


async def test_return_to_only_a_registered_route_and_the_code_once_in_the_same_browser(platform: Platform, monkeypatch) -> None:
    settings = platform.settings["identity"]
    monkeypatch.setattr(settings, "sign_in_return_urls", ["http://127.0.0.1:8000/app/dang-nhap", "http://127.0.0.1:8000/"])
    who = citizen(platform)
    async with browser(platform) as b:
        refused = [await b.get("/v1/auth/vneid/login", params={"return_to": target}) for target in (
            "/api/learning/v1/players/abc/index.html",       # a package player on the platform's own origin
            "http://127.0.0.1:8000/app/dang-nhap?next=/x",   # a registered route with something added
            "https://attacker.example/app/dang-nhap", "//attacker.example/", "/app/dang-nhap/../../api")]
        callback, _ = await start(platform, who["alias"], b, return_to="/app/dang-nhap")
        r = await b.get(urlparse(callback).path, params=parse_qs(urlparse(callback).query))
        location = r.headers["location"]
        code = parse_qs(urlparse(location).query)["code"][0]
        elsewhere = browser(platform)
        stolen = await elsewhere.post("/v1/auth/vneid/token", json={"code": code})  # another browser: refused, and spent
        await elsewhere.aclose()
        late = await b.post("/v1/auth/vneid/token", json={"code": code})
        # a fresh sign-in: the code works once, in this browser
        callback, _ = await start(platform, who["alias"], b, return_to="/app/dang-nhap")
        r2 = await b.get(urlparse(callback).path, params=parse_qs(urlparse(callback).query))
        code2 = parse_qs(urlparse(r2.headers["location"]).query)["code"][0]
        ok = await b.post("/v1/auth/vneid/token", json={"code": code2})
        again = await b.post("/v1/auth/vneid/token", json={"code": code2})
    assert [x.status_code for x in refused] == [400] * 5
    assert refused[0].json()["errors"][0]["field"] == "return_to"
    assert r.status_code == 302 and location.startswith("http://127.0.0.1:8000/app/dang-nhap?code=")
    assert "token" not in location.replace("code=", "") and r.headers["cache-control"] == "no-store"
    assert stolen.status_code == 400 and stolen.json()["errors"][0]["field"] == "code" and "access_token" not in stolen.text
    assert late.status_code == 400 and "already used" in late.json()["detail"]
    assert ok.status_code == 200 and ok.json()["access_token"] and ok.headers["cache-control"] == "no-store"
    assert again.status_code == 400


async def test_an_expired_code_is_refused(platform: Platform, monkeypatch) -> None:
    monkeypatch.setattr(platform.settings["identity"], "sign_in_code_seconds", 0)
    who = citizen(platform)
    async with browser(platform) as b:
        callback, _ = await start(platform, who["alias"], b)
        r = await finish(platform, callback, b)
    assert r.status_code == 400 and "expired" in r.json()["detail"]


def test_production_refuses_a_plain_http_issuer_and_no_return_routes() -> None:
    from services.identity.config import IdentitySettings

    real = {"environment": "production", "secret_key": "s" * 32, "key_encryption_secret": "k" * 32,
            "client_secret_pepper": "p" * 32, "vneid_client_id": "vet", "vneid_client_secret": "c" * 32}
    with pytest.raises(ValueError, match="https"):
        IdentitySettings(**real, vneid_issuer="http://vneid.gov.vn", sign_in_return_urls=["https://vet.gov.vn/dang-nhap"])
    with pytest.raises(ValueError, match="SIGN_IN_RETURN_URLS"):
        IdentitySettings(**real, vneid_issuer="https://vneid.gov.vn")
    ok = IdentitySettings(**real, vneid_issuer="https://vneid.gov.vn", sign_in_return_urls=["https://vet.gov.vn/dang-nhap"])
    assert ok.sign_in_return_urls == ["https://vet.gov.vn/dang-nhap"]
