"""LTI fixtures: a platform harness (a school's Moodle, from the IMS specs) on the tests' routing transport, a
browser (a client with a cookie jar) on the learning service, the harness registered by the school's admin, and a
published course of that school."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from jose import jwt

from tests.learning.conftest import People
from tests.learning.courses.helpers import build_course, ok
from tests.learning.helpers import login
from tests.learning.lti.harness import Launch, PlatformHarness, form_fields
from tests.support import Platform, gateway_to_service, service_url

SCHOOL_ADMIN = ("schooladmin.demo", "dev-only-SchoolAdmin#2026")  # school_admin at CD0101


def learning_client(platform: Platform) -> httpx.AsyncClient:
    """A browser on the learning service: keeps its cookies, follows no redirect."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=platform.apps["learning"]), base_url=service_url("learning"), timeout=60)


@pytest.fixture
async def harness(platform: Platform) -> AsyncIterator[PlatformHarness]:
    authority = f"moodle-{uuid.uuid4().hex[:8]}.cd0101.test:8443"
    h = PlatformHarness(authority, client_id=f"vet-{uuid.uuid4().hex[:6]}")
    platform.transport.add(authority, h.app)
    h.tool = learning_client(platform)
    h.redirect_uri = platform.settings["learning"].public_service_url + "/v1/lti/launch"
    yield h
    platform.transport.remove(authority)
    await h.tool.aclose()


@pytest.fixture(scope="module")
async def school_admin(platform: Platform) -> dict[str, str]:
    return await login(platform, *SCHOOL_ADMIN)


@pytest.fixture
async def registered(platform: Platform, harness: PlatformHarness, school_admin: dict[str, str]) -> dict[str, Any]:
    async with learning_client(platform) as c:
        return await ok(await c.post("/v1/lti/platforms", json=harness.registration(institution_code="CD0101"), headers=school_admin), 201)


@pytest.fixture(scope="module")
async def course(platform: Platform, people: People) -> dict[str, Any]:
    """A published CD0101 course: two required lessons, a quiz of five questions (pass mark 80)."""
    async with learning_client(platform) as c:
        return await build_course(c, people.teacher, release_rule="in_order", max_attempts=3, pass_mark=80.0)


@dataclass
class Browser:
    """A learner's browser: starts the login at the tool, lets the platform answer, posts the launch."""

    harness: PlatformHarness
    client: httpx.AsyncClient
    login_hint: str

    async def login(self, launch: Launch) -> dict[str, str]:
        """Login initiation (LTI 1.3 §4.1) and the platform's authentication response: the fields it would post."""
        hint = self.harness.expect(launch)
        target = self.harness.redirect_uri + (f"?target={launch.target}" if launch.target else "")
        r = await self.client.get("/v1/lti/login", params={
            "iss": self.harness.issuer, "login_hint": self.login_hint, "target_link_uri": target, "lti_message_hint": hint,
            "client_id": self.harness.client_id, "lti_deployment_id": self.harness.deployment_id})
        assert r.status_code == 302, r.text
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.harness.app), base_url=self.harness.issuer) as moodle:
            page = await moodle.get(r.headers["location"])
        assert page.status_code == 200, page.text
        return form_fields(page.text)

    async def post(self, fields: dict[str, str]) -> httpx.Response:
        return await self.client.post(gateway_to_service(self.harness.redirect_uri), data=fields)

    async def launch(self, launch: Launch, tamper: Callable[[str], str] | None = None) -> httpx.Response:
        fields = await self.login(launch)
        if tamper is not None:
            fields["id_token"] = tamper(fields["id_token"])
        return await self.post(fields)


@pytest.fixture
async def browser(platform: Platform, harness: PlatformHarness) -> AsyncIterator[Browser]:
    async with learning_client(platform) as client:
        yield Browser(harness, client, login_hint=f"moodle-user-{uuid.uuid4().hex[:6]}")


def session_token(response: httpx.Response) -> str:
    """The player URL a launch redirects to carries the session in its fragment."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("http://127.0.0.1:8000/lti/player#lti_session="), location
    return location.split("#lti_session=", 1)[1]


def resign(harness: PlatformHarness, change: Callable[[dict[str, Any]], dict[str, Any]], **kw: Any) -> Callable[[str], str]:
    """A tamper that changes the platform's claims and signs them again with the platform's key (a valid signature
    over claims the tool must still refuse)."""
    return lambda token: harness.sign(change(jwt.get_unverified_claims(token)), **kw)


def now() -> int:
    return int(time.time())
