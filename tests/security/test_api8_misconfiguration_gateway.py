"""OWASP API8:2023 Security Misconfiguration, at the gateway and on the HTML the platform serves (issue 13 item 11):

* a holder's share link is public through the gateway, as it is on the service;
* the gateway's logs carry no share tokens, signed-link signatures or player links, no OIDC ``code``/``state``;
* ``/docs`` and ``/openapi.json`` (the gateway's and the services' through it) are not served in production;
* the verification page and package players send a Content-Security-Policy, framing rules and ``nosniff``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from services.common.logging import JsonFormatter
from tests.credentials.factories import diploma, issue
from tests.e2e.gateway import gateway_for
from tests.gateway.conftest import SigningKeys, closed_port_url, gateway_settings, in_process
from tests.learning.helpers import OFFICER, TEACHER, create, login, marker, publish, scorm12, upload
from tests.support import Platform, gateway_to_service

# -- the gateway alone (stand-in services) ------------------------------------------------------------------------


async def test_docs_and_openapi_are_not_served_in_production(upstream, keys: SigningKeys) -> None:
    token = {"Authorization": f"Bearer {keys.token()}"}
    paths = ["/docs", "/docs/oauth2-redirect", "/openapi.json", "/api/records/openapi.json", "/api/records/docs",
             "/api/identity/redoc"]
    async with in_process(gateway_settings(upstream, environment="production")) as (_, c):
        for path in paths:
            r = await c.get(path, headers=token)
            assert r.status_code == 404, (path, r.text)
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/api/records/v1/items", headers=token)).status_code == 200
    # a setting turns them on (a staging platform), and development has them by default
    async with in_process(gateway_settings(upstream, environment="production", docs_enabled=True)) as (_, c):
        assert (await c.get("/openapi.json")).status_code == 200
    async with in_process(gateway_settings(upstream, environment="development")) as (_, c):
        assert (await c.get("/docs")).status_code == 200
        assert (await c.get("/api/records/openapi.json", headers=token)).status_code == 200


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.formatter_ = JsonFormatter("gateway")

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self.lines.append(self.formatter_.format(record))


@pytest.fixture
def gateway_logs() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("gateway")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_the_gateways_logs_carry_no_secrets(upstream, gateway_logs: Records) -> None:
    share = "sh" + uuid.uuid4().hex + "Zq"
    player = f"{uuid.uuid4().hex * 2}.1999999999.{uuid.uuid4().hex}"
    code, state, sig = "code" + uuid.uuid4().hex, "state" + uuid.uuid4().hex, "sig" + uuid.uuid4().hex
    requests = [
        f"/api/credentials/v1/shared/{share}",
        f"/api/credentials/v1/shared/{share}?format=json",
        f"/api/learning/v1/players/{player}/index.html",
        f"/api/identity/v1/auth/vneid/callback?code={code}&state={state}",
        f"/api/learning/v1/objects/learning/x.mp4?exp=1999999999&sig={sig}",
    ]
    secrets = [share, player, code, state, sig]
    stream = io.StringIO()
    for upstream_alive in (True, False):  # answered, and failing upstream (logged as warnings, with the path)
        dead = {} if upstream_alive else {name: closed_port_url() for name in ("identity_url", "learning_url", "credentials_url")}
        settings = gateway_settings(upstream, access_log=True, log_level="INFO", **dead)
        async with in_process(settings) as (app, c):
            app.access_log.stream = stream
            for path in requests:
                r = await c.get(path)
                assert r.status_code == (200 if upstream_alive else 503), (path, r.text)
    written = stream.getvalue()
    assert written.count("\n") == 2 * len(requests)
    assert "/api/credentials/v1/shared/…" in written and "/api/learning/v1/players/…/index.html" in written
    assert any("upstream 503" in line for line in gateway_logs.lines)
    for secret in secrets:
        assert secret not in written, secret
        assert not [line for line in gateway_logs.lines if secret in line], secret


# -- the real services (SQLite and PostgreSQL) ---------------------------------------------------------------------

async def _student(platform: Platform) -> tuple[dict[str, str], str]:
    headers = await login(platform, "student.demo", "dev-only-Student#2026")
    async with platform.client("identity") as c:
        me = await c.get("/v1/accounts/me", headers=headers)
    return headers, me.json()["person_id"]


def style_hash(html: str) -> str:
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style is not None
    return "'sha256-" + base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode() + "'"


def assert_locked_down_page(response) -> None:  # type: ignore[no-untyped-def]
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert directives["style-src"] == style_hash(response.text)  # the page's own style sheet, and nothing else
    assert "script-src" not in directives and "unsafe-inline" not in csp
    assert 'style="' not in response.text  # inline style attributes would be refused
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_share_links_are_public_through_the_gateway_and_their_page_locked_down(platform: Platform) -> None:
    """Before: 401 through the gateway (the route was missing from the public list), 200 on the service."""
    student, person = await _student(platform)
    cred = await issue(platform, diploma(person_id=person, achievement={"code": "P" + uuid.uuid4().hex[:10]}))
    async with platform.client("credentials") as c:
        created = await c.post(f"/v1/credentials/{cred['id']}/share-links", json={"expires_in_days": 1}, headers=student)
        assert created.status_code == 201, created.text
    path = urlsplit(created.json()["url"]).path
    assert path.startswith("/api/credentials/v1/shared/")
    async with gateway_for(platform, "credentials") as gw:
        shared = await gw.get(path)  # an employer's browser: no account
        assert shared.status_code == 200, shared.text
        assert shared.json()["credential"]["holder_name"] and shared.json()["outcome"] == "valid"
        page = await gw.get(path, headers={"Accept": "text/html"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert_locked_down_page(page)
        # other credentials routes still need a token
        assert (await gw.get(f"/api/credentials/v1/credentials/{cred['id']}")).status_code == 401


async def test_the_verification_page_is_locked_down(platform: Platform) -> None:
    cred = await issue(platform)
    async with platform.client("credentials") as c:
        page = await c.get(f"/v1/verify/{cred['id']}", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "Hợp lệ" in page.text
        assert_locked_down_page(page)
        missing = await c.get(f"/v1/verify/{uuid.uuid4()}", headers={"Accept": "text/html"})
        assert missing.status_code == 404
        assert_locked_down_page(missing)


async def test_package_players_send_framing_and_sniffing_rules(platform: Platform) -> None:
    teacher, officer = await login(platform, *TEACHER), await login(platform, *OFFICER)
    async with platform.client("learning") as c:
        obj = await create(c, teacher, f"Gói SCORM {marker()}", "scorm", visibility="platform")
        await upload(c, teacher, obj["id"], scorm12(extra={"readme.txt": marker()}), content_type="application/zip",
                     filename="goi.zip")
        await publish(c, teacher, officer, obj["id"])
        launch = (await c.get(f"/v1/learning-objects/{obj['id']}/launch", headers=teacher)).json()
        public = platform.settings["learning"].public_base_url
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(public))
        for headers in ({}, {"Range": "bytes=0-8"}):
            r = await c.get(gateway_to_service(launch["launch_url"]), headers=headers)
            assert r.status_code in (200, 206), r.text
            directives = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
            # framed only by the platform's own pages, never by another site
            assert directives["frame-ancestors"].split() == ["'self'", origin]
            assert directives["object-src"] == "'none'"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"  # the signed player link stays on the platform
