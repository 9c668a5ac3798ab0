"""Backup and restore, as an operator does them (``python -m services backup DEST`` / ``restore SRC`` as separate
processes configured by the environment), and the restore drill: a platform issues diplomas and syncs grades, is
backed up, loses everything (databases dropped, buckets deleted), is restored, and then answers every
verification and transcript exactly as before, and issuing continues the register numbering. On SQLite + a folder
store, and on PostgreSQL (``pg_dump -Fc``) + the S3 API (moto).

Also: a corrupted backup and one made by newer code are refused before anything changes, and without the
key-encryption secrets issuing answers a 503 problem naming the missing secret while verification still works."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.common.testing import PG_ADMIN_DSN, drop_pg_database
from services.common.testing_s3 import S3TestServer
from services.registry import SERVICES
from tests.credentials.factories import diploma
from tests.records.helpers import code, grade, learner, run_ok, world
from tests.support import Platform, UrlFactory, gateway_to_service, id_number, running_platform

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


async def cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(tuple(spec.env_prefix for spec in SERVICES.values()))}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "services", *args, cwd=ROOT, env=base | env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


class Deployment:
    """Where each service keeps its data on this backend, as settings overrides and as the environment."""

    def __init__(self, backend: str, database_factory: UrlFactory, tmp: Path, s3: S3TestServer | None) -> None:
        self.backend, self.factory, self.tmp, self.s3 = backend, database_factory, tmp, s3
        self.urls: dict[str, str] = {}
        self.run = uuid.uuid4().hex[:8]

    async def url_for(self, name: str) -> str:
        if name not in self.urls:
            self.urls[name] = await self.factory(name)
        return self.urls[name]

    def store(self, name: str) -> dict[str, Any]:
        if self.s3 is None:
            return {"object_store_url": f"file://{self.tmp / 'objects'}"}
        return {"object_store_url": f"s3://drill-{self.run}-{name}", "s3_endpoint": self.s3.endpoint,
                "s3_access_key": self.s3.access_key, "s3_secret_key": self.s3.secret_key, "s3_region": self.s3.region}

    def overrides(self) -> dict[str, dict[str, Any]]:
        return {name: self.store(name) for name in SERVICES}

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for name, spec in SERVICES.items():
            env[spec.env_prefix + "DATABASE_URL"] = self.urls[name]
            for key, value in self.store(name).items():
                env[spec.env_prefix + key.upper()] = str(value)
        return env

    async def drop_everything(self) -> None:
        if self.backend == "sqlite":
            for url in self.urls.values():
                path = Path(url.removeprefix("sqlite+aiosqlite:///"))
                for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                    leftover.unlink(missing_ok=True)
            shutil.rmtree(self.tmp / "objects")
            return
        for url in self.urls.values():  # dropped, then created again empty (as deploy/postgres-init.sql does)
            name = url.rsplit("/", 1)[1]
            await drop_pg_database(name)
            await create_database(name)
        import boto3

        s3 = boto3.resource("s3", endpoint_url=self.s3.url, aws_access_key_id=self.s3.access_key,
                            aws_secret_access_key=self.s3.secret_key, region_name=self.s3.region)
        for name in SERVICES:
            bucket = s3.Bucket(f"drill-{self.run}-{name}")
            bucket.objects.all().delete()
            bucket.delete()


async def create_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
    finally:
        await conn.close()


@pytest.fixture
def deployment(backend: str, database_factory: UrlFactory, tmp_path: Path, request: pytest.FixtureRequest) -> Deployment:
    s3 = request.getfixturevalue("s3_server") if backend == "postgres" else None
    return Deployment(backend, database_factory, tmp_path, s3)


async def what_anyone_sees(platform: Platform, credential_ids: list[str], programme: str) -> dict[str, Any]:
    """Every verification result (by document and by id, as a verifier and the QR page see them) and every
    transcript of the programme's learners, as the school reads them."""
    school = await platform.school_headers()
    seen: dict[str, Any] = {"verify": {}, "verify_by_id": {}, "transcripts": {}}
    async with platform.client("credentials") as c:
        for cid in credential_ids:
            full = await c.get(f"/v1/credentials/{cid}", headers=school)
            assert full.status_code == 200, full.text
            seen["verify"][cid] = (await c.post("/v1/verify", json=full.json()["document"])).json()
            seen["verify_by_id"][cid] = (await c.get(f"/v1/verify/{cid}")).json()
    async with platform.client("records") as c:
        learners = (await c.get("/v1/institutions/CD0101/learners", params={"limit": 200}, headers=school)).json()["items"]
        for x in learners:
            for enrolment in x["enrolments"]:
                if enrolment["programme_code"] == programme:
                    r = await c.get(enrolment["transcript_url"].removeprefix("/api/records"), headers=school)
                    assert r.status_code == 200, r.text
                    seen["transcripts"][enrolment["id"]] = r.json()
    assert len(seen["transcripts"]) == 3
    return seen


async def issue(platform: Platform, **over: Any) -> dict[str, Any]:
    async with platform.client("credentials") as c:
        r = await c.post("/v1/credentials", json=diploma(**over), headers=await platform.school_headers())
    assert r.status_code == 201, r.text
    return r.json()


async def test_restore_drill(deployment: Deployment, tmp_path: Path) -> None:
    p, t, k = code("CNTT"), code("HK"), code("K")
    numbers = [id_number() for _ in range(3)]
    async with running_platform(deployment.url_for, tmp_path, deployment.overrides()) as platform:
        school = await platform.school_headers()
        async with platform.client("records") as c:
            await run_ok(c, school, world(p, t, k, [learner(n, f"Học viên {i}", p, k) for i, n in enumerate(numbers)],
                                          [grade(n, p, m, t, str(6 + i), str(7 + i)) for i, n in enumerate(numbers) for m in ("M1", "M2")]))
        issued = [await issue(platform) for _ in range(3)]
        async with platform.client("credentials") as c:
            revoked = await c.post(f"/v1/credentials/{issued[0]['id']}/revoke", json={"reason": "Cấp sai thông tin"}, headers=school)
            assert revoked.status_code == 200, revoked.text
            pdf = await stored_pdf(platform, c, issued[1]["id"], school)
        before = await what_anyone_sees(platform, [x["id"] for x in issued], p)
    assert [r["outcome"] for r in before["verify"].values()] == ["revoked", "valid", "valid"]

    backup = tmp_path / "backup"
    rc, out, err = await cli("backup", str(backup), env=deployment.env())
    assert rc == 0, err
    manifest = json.loads((backup / "manifest.json").read_text())
    assert set(manifest["services"]) == set(SERVICES)
    assert all(s["database"]["revision"] == s["database"]["code_head"] for s in manifest["services"].values())
    assert {s["database"]["backend"] for s in manifest["services"].values()} == {"sqlite" if deployment.backend == "sqlite" else "postgresql"}
    assert sum(s["objects"] for s in manifest["object_stores"].values()) >= 2  # the sync file and the PDF at least

    await deployment.drop_everything()
    rc, out, err = await cli("restore", str(backup), env=deployment.env())
    assert rc == 0, err

    async with running_platform(deployment.url_for, tmp_path, deployment.overrides()) as platform:
        after = await what_anyone_sees(platform, [x["id"] for x in issued], p)
        assert after == before
        school = await platform.school_headers()
        async with platform.client("credentials") as c:  # the stored PDF came back
            assert await stored_pdf(platform, c, issued[1]["id"], school) == pdf
        following = await issue(platform)
        assert following["register_number"] == next_register_number(issued[-1]["register_number"])

    # a restore refuses to write over data (the databases are no longer empty) unless told to replace it
    rc, _, err = await cli("restore", str(backup), env=deployment.env())
    assert rc == 2 and "is not empty" in err and "nothing was changed" in err
    rc, _, err = await cli("restore", "--replace", str(backup), env=deployment.env())
    assert rc == 0, err
    async with running_platform(deployment.url_for, tmp_path, deployment.overrides()) as platform:
        assert await what_anyone_sees(platform, [x["id"] for x in issued], p) == before
        async with platform.client("credentials") as c:  # what came after the backup is gone with --replace
            gone = await c.get(f"/v1/credentials/{following['id']}", headers=await platform.school_headers())
        assert gone.status_code == 404


async def stored_pdf(platform: Platform, c: Any, credential_id: str, headers: dict[str, str]) -> bytes:
    """The diploma's PDF from the object store, by the download link the API hands out (the folder store's signed
    route on the service, or a presigned S3 URL)."""
    import httpx

    link = await c.get(f"/v1/credentials/{credential_id}/pdf", headers=headers)
    assert link.status_code == 200, link.text
    url = link.json()["download_url"]
    if "/api/credentials/" in url:
        r = await c.get(gateway_to_service(url))
    else:
        async with httpx.AsyncClient() as direct:
            r = await direct.get(url)
    assert r.status_code == 200 and r.content.startswith(b"%PDF"), r.text[:200]
    return r.content


def next_register_number(number: str) -> str:
    """``000003/2026`` → ``000004/2026``: the institution's register of the year goes on."""
    sequence, _, year = number.partition("/")
    return f"{int(sequence) + 1:0{len(sequence)}d}/{year}"


async def test_a_corrupted_backup_and_one_from_newer_code_are_refused(backend: str, database_factory: UrlFactory, tmp_path: Path) -> None:
    if backend != "sqlite":
        pytest.skip("the checks run before any database is touched: one backend shows them")
    deployment = Deployment(backend, database_factory, tmp_path, None)
    for name in SERVICES:
        await deployment.url_for(name)
    (tmp_path / "objects").mkdir()
    (tmp_path / "objects" / "a" ).mkdir()
    (tmp_path / "objects" / "a" / "file.txt").write_bytes(b"hello")
    backup = tmp_path / "backup"
    assert (await cli("backup", str(backup), env=deployment.env()))[0] == 0
    await deployment.drop_everything()

    corrupted = tmp_path / "corrupted"
    shutil.copytree(backup, corrupted)
    with open(corrupted / "databases" / "records.sqlite3", "r+b") as f:  # noqa: ASYNC230 - nothing else runs on this loop between the CLI runs
        f.seek(200)
        f.write(b"\xff")
    rc, _, err = await cli("restore", str(corrupted), env=deployment.env())
    assert rc == 2 and "corrupted backup: databases/records.sqlite3 does not match its checksum" in err

    tampered = tmp_path / "tampered-object"
    shutil.copytree(backup, tampered)
    (tampered / "objects" / "store-1" / "a" / "file.txt").write_bytes(b"HELLO")
    rc, _, err = await cli("restore", str(tampered), env=deployment.env())
    assert rc == 2 and "object 'a/file.txt' of store-1 is missing or does not match its checksum" in err

    newer = tmp_path / "newer"
    shutil.copytree(backup, newer)
    copy = newer / "databases" / "credentials.sqlite3"
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'credentials_9999'")
    conn.close()
    manifest = json.loads((newer / "manifest.json").read_text())
    manifest["services"]["credentials"]["database"]["revision"] = "credentials_9999"
    digest = __import__("hashlib").sha256(copy.read_bytes()).hexdigest()
    manifest["files"]["databases/credentials.sqlite3"] = {"sha256": digest, "size": copy.stat().st_size}
    (newer / "manifest.json").write_text(json.dumps(manifest))
    rc, _, err = await cli("restore", str(newer), env=deployment.env())
    assert rc == 2 and "credentials: the backup's schema revision credentials_9999 is unknown to this code" in err

    # nothing was restored by the refused attempts; the sound backup restores
    assert not any(Path(u.removeprefix("sqlite+aiosqlite:///")).exists() for u in deployment.urls.values())  # noqa: ASYNC240 - nothing else runs on this loop between the CLI runs
    rc, out, err = await cli("restore", str(backup), env=deployment.env())
    assert rc == 0, err
    assert (tmp_path / "objects" / "a" / "file.txt").read_bytes() == b"hello"


async def test_without_the_key_encryption_secrets_issuing_says_why_and_verification_works(platform: Platform) -> None:
    """What a restore without the secrets kept apart gives: the same databases, other secrets."""
    import httpx

    from services.credentials.app import create_app as credentials_app
    from services.identity.app import create_app as identity_app

    issued = await issue(platform)
    wrong_kek = platform.settings["credentials"].model_copy(update={"key_encryption_key": "another-key-encryption-key",
                                                                    "jobs_enabled": False, "restatus_poll_seconds": 0})
    app = credentials_app(wrong_kek, http_transport=platform.transport)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://credentials") as c:
            refused = await c.post("/v1/credentials", json=diploma(), headers=await platform.school_headers())
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            problem = refused.json()
            assert problem["title"] == "Issuer key unavailable" and "CREDENTIALS_KEY_ENCRYPTION_KEY" in problem["detail"]
            revoke = await c.post(f"/v1/credentials/{issued['id']}/revoke", json={"reason": "thử"}, headers=await platform.school_headers())
            assert revoke.status_code == 503 and "CREDENTIALS_KEY_ENCRYPTION_KEY" in revoke.json()["detail"]
            verified = await c.post("/v1/verify", json=issued["document"])
            assert verified.status_code == 200 and verified.json()["outcome"] == "valid", verified.text

    wrong_secret = platform.settings["identity"].model_copy(update={"key_encryption_secret": "another-identity-secret"})
    app = identity_app(wrong_secret, http_transport=platform.transport)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://identity") as c:
            refused = await c.post("/oauth/token", data={"grant_type": "client_credentials"},
                                   auth=("demo-school-sis", "dev-only-demo-school-secret"))
            assert refused.status_code == 503, refused.text
            problem = refused.json()
            assert problem["title"] == "Token signing key unavailable" and "IDENTITY_KEY_ENCRYPTION_SECRET" in problem["detail"]
            assert (await c.get("/.well-known/jwks.json")).status_code == 200  # tokens already issued still verify
