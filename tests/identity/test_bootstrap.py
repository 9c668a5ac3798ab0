"""First start in production: ``python -m services bootstrap`` as an operator runs it (a separate process, the
password on standard input), then identity in production answering over HTTP: the administrator signs in, the
services' clients get tokens with the environment's secrets; running it again changes nothing; a changed secret
in the environment rotates the client's. Development secrets stored in the database (the demo seed run against
a production database) are refused at sign-in, reported by ``/readyz`` and the log, and make bootstrap refuse
until it is told to disable them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from services.identity.app import create_app
from services.identity.config import IdentitySettings
from services.identity.seed import seed
from tests.support import UrlFactory

ROOT = Path(__file__).resolve().parents[2]
ADMIN, ADMIN_PASSWORD = "ops.admin", "Str0ng-Admin#Passphrase"
PROD = {
    "IDENTITY_ENVIRONMENT": "production",
    "IDENTITY_SECRET_KEY": "test-identity-secret-key-0123456789",
    "IDENTITY_KEY_ENCRYPTION_SECRET": "test-identity-key-encryption-0123456789",
    "IDENTITY_CLIENT_SECRET_PEPPER": "test-identity-pepper-0123456789",
    "LEARNING_CLIENT_SECRET": "test-svc-learning-secret-0123456789",
    "RECORDS_CLIENT_SECRET": "test-svc-records-secret-0123456789",
    "CREDENTIALS_CLIENT_SECRET": "test-svc-credentials-secret-0123456789",
}
SERVICE_SCOPE = "events:deliver identity:oversight identity:persons learning:oversight records:read"
#: learning's client also enters grades in records (gradebooks)
SERVICE_SCOPES = {"learning": "events:deliver identity:oversight identity:persons learning:oversight records:grades:write records:read",
                  "records": SERVICE_SCOPE, "credentials": SERVICE_SCOPE}


async def bootstrap(database_url: str, *args: str, stdin: str | None = None, **env: str) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "LEARNING_", "RECORDS_", "CREDENTIALS_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services", "bootstrap", *args, cwd=ROOT,
        env=base | PROD | {"IDENTITY_DATABASE_URL": database_url} | env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else b""), 120)
    return proc.returncode or 0, out.decode(), err.decode()


def production_settings(database_url: str) -> IdentitySettings:
    return IdentitySettings(
        environment="production", database_url=database_url, object_store_url="file:///nonexistent-unused",
        secret_key=PROD["IDENTITY_SECRET_KEY"], key_encryption_secret=PROD["IDENTITY_KEY_ENCRYPTION_SECRET"],
        client_secret_pepper=PROD["IDENTITY_CLIENT_SECRET_PEPPER"],
    )


@contextlib.asynccontextmanager
async def identity(database_url: str, tmp: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = production_settings(database_url).model_copy(update={"object_store_url": f"file://{tmp / 'objects'}"})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://identity") as client:
            yield client


async def grant(c: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await c.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))


async def login(c: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await c.post("/v1/auth/login", json={"username": username, "password": password})


async def audit_count(c: httpx.AsyncClient, token: str) -> int:
    r = await c.get("/v1/admin/audit", params={"actor": "bootstrap", "limit": 200}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return len(r.json()["items"])


async def test_first_start_creates_the_administrator_and_the_service_clients_once(database_factory: UrlFactory, tmp_path: Path) -> None:
    url = await database_factory("identity", migrated=False)  # bootstrap migrates identity itself
    rc, out, err = await bootstrap(url, "--admin-username", ADMIN, "--admin-password-file", "-", stdin=ADMIN_PASSWORD + "\n")
    assert rc == 0, err
    assert f"platform administrator: {ADMIN} created" in out
    for client_id in ("svc-learning", "svc-records", "svc-credentials"):
        assert f"client {client_id}: registered" in out
    assert ADMIN_PASSWORD not in out + err

    async with identity(url, tmp_path) as c:
        signed_in = await login(c, ADMIN, ADMIN_PASSWORD)
        assert signed_in.status_code == 200, signed_in.text
        assert {"identity:clients", "identity:admin"} <= set(signed_in.json()["scope"].split())
        admin_token = signed_in.json()["access_token"]
        for service in ("learning", "records", "credentials"):
            r = await grant(c, f"svc-{service}", PROD[f"{service.upper()}_CLIENT_SECRET"])
            assert r.status_code == 200, r.text
            assert r.json()["scope"] == SERVICE_SCOPES[service]
        entries = await audit_count(c, admin_token)
        assert entries == 4  # three clients, one account

    # again, as every deployment runs it: no password needed (none is read), nothing changes
    rc, out, err = await bootstrap(url, "--admin-username", ADMIN)
    assert rc == 0, err
    assert out.rstrip().endswith("bootstrap: done (nothing changed)"), out
    assert f"platform administrator: {ADMIN} (exists; nothing changed)" in out

    # the environment's secret changed: the client's secret is rotated to it
    rc, out, err = await bootstrap(url, RECORDS_CLIENT_SECRET="test-svc-records-rotated-0123456789")
    assert rc == 0, err
    assert "client svc-records: secret rotated" in out
    async with identity(url, tmp_path) as c:
        assert (await grant(c, "svc-records", PROD["RECORDS_CLIENT_SECRET"])).status_code == 401
        assert (await grant(c, "svc-records", "test-svc-records-rotated-0123456789")).status_code == 200
        assert (await grant(c, "svc-learning", PROD["LEARNING_CLIENT_SECRET"])).status_code == 200
        assert await audit_count(c, (await login(c, ADMIN, ADMIN_PASSWORD)).json()["access_token"]) == 5


async def test_bootstrap_refuses_development_secrets_in_the_environment_and_weak_passwords(database_factory: UrlFactory) -> None:
    url = await database_factory("identity")
    rc, _, err = await bootstrap(url, RECORDS_CLIENT_SECRET="dev-only-svc-records-secret")
    assert rc == 2 and "RECORDS_CLIENT_SECRET is a development value" in err
    rc, _, err = await bootstrap(url, "--admin-username", ADMIN, "--admin-password-file", "-", stdin="short")
    assert rc == 2 and "password is not acceptable" in err
    rc, _, err = await bootstrap(url, "--admin-username", ADMIN, "--admin-password-file", "-", stdin="dev-only-Admin#2026x")
    assert rc == 2 and "development value" in err


async def test_development_secrets_stored_in_production_are_refused_reported_and_disabled(
    database_factory: UrlFactory, tmp_path: Path
) -> None:
    url = await database_factory("identity")
    # the demo seed run (in development mode) against the production database, with its real pepper
    dev = production_settings(url).model_copy(update={"environment": "development"})
    await seed(dev, {"svc-learning": "dev-only-svc-learning-secret"})

    logged: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: logged.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("services.identity.devsecrets")
    logger.addHandler(handler)
    try:
        async with identity(url, tmp_path) as c:
            assert (await grant(c, "demo-school-sis", "dev-only-demo-school-secret")).status_code == 401
            assert (await grant(c, "platform-admin", "dev-only-platform-admin-secret")).status_code == 401
            assert (await login(c, "ministry.demo", "dev-only-Ministry#2026")).status_code == 401
            ready = await c.get("/readyz")
            assert ready.status_code == 200, ready.text
            note = ready.json()["notes"]["development_secrets"]
            assert note.startswith("10 client(s) and 7 account(s) hold development secrets"), note  # the demo seed's clients and accounts
    finally:
        logger.removeHandler(handler)
    assert len(logged) == 1
    assert "client demo-school-sis" in logged[0] and "account ministry.demo" in logged[0] and "client svc-learning" in logged[0]

    rc, out, err = await bootstrap(url, "--admin-username", ADMIN, "--admin-password-file", "-", stdin=ADMIN_PASSWORD)
    assert rc == 2, out
    assert "client demo-school-sis" in err and "client platform-admin" in err and "account teacher.demo" in err
    assert "nothing was changed" in err
    async with identity(url, tmp_path) as c:  # nothing was changed: no administrator, svc-learning's secret as seeded
        assert (await login(c, ADMIN, ADMIN_PASSWORD)).status_code == 401
        assert (await grant(c, "svc-learning", PROD["LEARNING_CLIENT_SECRET"])).status_code == 401

    rc, out, err = await bootstrap(url, "--admin-username", ADMIN, "--admin-password-file", "-", "--disable-development-secrets",
                                   stdin=ADMIN_PASSWORD)
    assert rc == 0, err
    assert "client demo-school-sis: disabled" in out and "account ministry.demo: disabled" in out
    assert "client svc-learning: secret rotated" in out  # the environment's secret replaced the seeded one
    async with identity(url, tmp_path) as c:
        assert "notes" not in (await c.get("/readyz")).json()
        assert (await login(c, ADMIN, ADMIN_PASSWORD)).status_code == 200
        assert (await grant(c, "svc-learning", PROD["LEARNING_CLIENT_SECRET"])).status_code == 200
        # outside production the same rows would still be refused: they are disabled
        assert (await grant(c, "demo-school-sis", "dev-only-demo-school-secret")).status_code == 401


async def test_a_lost_key_encryption_secret_is_recovered_with_a_new_signing_key(database_factory: UrlFactory, tmp_path: Path) -> None:
    url = await database_factory("identity")
    assert (await bootstrap(url))[0] == 0
    other = {"IDENTITY_KEY_ENCRYPTION_SECRET": "test-identity-another-kek-0123456789"}
    settings = production_settings(url).model_copy(update={"key_encryption_secret": other["IDENTITY_KEY_ENCRYPTION_SECRET"],
                                                           "object_store_url": f"file://{tmp_path / 'objects'}"})

    async def grant_with_other_secret() -> httpx.Response:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://identity") as c:
                return await grant(c, "svc-records", PROD["RECORDS_CLIENT_SECRET"])

    refused = await grant_with_other_secret()
    assert refused.status_code == 503 and "IDENTITY_KEY_ENCRYPTION_SECRET" in refused.json()["detail"]
    rc, out, err = await bootstrap(url, "--new-signing-key", **other)
    assert rc == 0, err
    assert "signing key: new key" in out
    assert (await grant_with_other_secret()).status_code == 200
