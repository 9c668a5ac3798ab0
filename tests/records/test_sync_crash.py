"""A sync job survives kill -9 of the records process mid-job: restarted, it resumes after the last committed
chunk; every row is applied exactly once or reported, none twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.common.testing import create_pg_database, drop_pg_database, in_ci, postgres_available
from tests.e2e.test_processes import free_port
from tests.records.helpers import id_number
from tests.support import RUN_PREFIX, TEST_POOL

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
TERMS = [f"T{i:02d}" for i in range(10)]
MODULES = ["M1", "M2", "GDQP"]
LEARNERS = 200
BAD_ROWS = 3


def start(name: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", "--factory", f"services.{name}.app:create_app", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} not healthy:\n{log.read_text()}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Databases of identity and records: SQLite files, or throwaway PostgreSQL databases (where the sync writes
    grades set-based: COPY into a staging table, one INSERT … ON CONFLICT)."""
    if request.param == "sqlite":
        yield {svc: f"sqlite+aiosqlite:///{tmp_path / (svc.lower() + '.db')}" for svc in ("IDENTITY", "RECORDS")}
        return
    reason = asyncio.run(postgres_available())
    if reason:
        if in_ci():
            pytest.fail(f"CI=true and PostgreSQL is required: {reason}")
        pytest.skip(reason)
    created = [asyncio.run(create_pg_database(f"{RUN_PREFIX}_crash_{svc.lower()}")) for svc in ("IDENTITY", "RECORDS")]
    try:
        yield {"IDENTITY": created[0][1], "RECORDS": created[1][1]}
    finally:
        for name, _ in created:
            asyncio.run(drop_pg_database(name))


def test_kill_9_mid_job_then_resume_applies_every_row_once(tmp_path: Path, database_urls: dict[str, str]) -> None:
    id_port, rec_port = free_port(), free_port()
    identity = f"http://127.0.0.1:{id_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "LEARNING_", "RECORDS_", "CREDENTIALS_", "GATEWAY_"))}
    for svc in ("IDENTITY", "LEARNING", "RECORDS", "CREDENTIALS"):
        env[f"{svc}_DATABASE_URL"] = database_urls.get(svc) or f"sqlite+aiosqlite:///{tmp_path / (svc.lower() + '.db')}"
        env[f"{svc}_OBJECT_STORE_URL"] = f"file://{tmp_path / 'objects'}"
        env[f"{svc}_IDENTITY_URL"] = identity
        env[f"{svc}_JWT_ISSUER"] = identity
        env[f"{svc}_OUTBOX_ENABLED"] = "false"
        env[f"{svc}_DB_POOL_SIZE"], env[f"{svc}_DB_MAX_OVERFLOW"] = (str(TEST_POOL[k]) for k in ("db_pool_size", "db_max_overflow"))
    env |= {"RECORDS_SYNC_CHUNK_ROWS": "25", "RECORDS_SYNC_LEASE_SECONDS": "2", "RECORDS_SYNC_POLL_SECONDS": "0.2"}
    for args in (["migrate", "identity", "records", "learning"], ["seed"]):  # seed loads the learning demo catalogue too
        subprocess.run([sys.executable, "-m", "services", *args], cwd=ROOT, env=env, check=True, capture_output=True)
    log = tmp_path / "processes.log"
    procs = [start("identity", id_port, env, log)]
    records_url = f"http://127.0.0.1:{rec_port}"
    try:
        wait_healthy(identity, procs[0], log)
        procs.append(start("records", rec_port, env, log))
        wait_healthy(records_url, procs[1], log)
        token = httpx.post(f"{identity}/oauth/token", data={"grant_type": "client_credentials"},
                           auth=("demo-school-sis", "dev-only-demo-school-secret")).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        numbers = [id_number() for _ in range(LEARNERS)]
        batch = {
            "programmes": [{"code": "P1", "name": "Điện công nghiệp", "level": "college", "occupation_code": "6520227", "year": 2024,
                            "modules": [{"code": m, "name": m, "credits": 2, "is_condition": m == "GDQP"} for m in MODULES]}],
            "terms": [{"code": t, "name": t} for t in TERMS],
            "learners": [{"id_number": n, "full_name": f"Học viên {i}", "programme_code": "P1"} for i, n in enumerate(numbers)],
        }
        with httpx.Client(base_url=records_url, headers=auth, timeout=30) as c:
            setup = c.post("/v1/institutions/CD0101/sync/json", json=batch)
            assert setup.status_code == 202, setup.text
            deadline = time.monotonic() + 60
            while c.get(f"/v1/sync-jobs/{setup.json()['id']}").json()["status"] != "succeeded":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            start_version = c.get("/v1/changes").json()["latest_version"]
            lines = ["id_number,programme_code,module_code,term_code,continuous,final"]
            lines += [f"{n},P1,{m},{t},{(i % 10) + 0.5},7" for t in TERMS for i, n in enumerate(numbers) for m in MODULES]
            lines[1500:1500] = [f"{numbers[0]},P1,NOPE,T00,5,5", f"{numbers[1]},P1,M1,NOPE,5,5", f"{numbers[2]},P1,M1,T00,5,11"]
            total = len(lines) - 1
            r = c.post("/v1/institutions/CD0101/sync/csv", params={"entity": "grades", "mode": "accept_valid"},
                       content="\n".join(lines).encode(), headers={"content-type": "text/csv"})
            assert r.status_code == 202, r.text
            job_id = r.json()["id"]
            deadline = time.monotonic() + 60
            while True:
                job = c.get(f"/v1/sync-jobs/{job_id}").json()
                if job["applied_through"] >= 200:
                    break
                assert job["status"] in ("queued", "running"), job
                assert time.monotonic() < deadline
                time.sleep(0.01)
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait(10)
        procs[1] = start("records", rec_port, env, log)
        wait_healthy(records_url, procs[1], log)
        with httpx.Client(base_url=records_url, headers=auth, timeout=30) as c:
            interrupted = c.get(f"/v1/sync-jobs/{job_id}").json()
            deadline = time.monotonic() + 120
            while (job := c.get(f"/v1/sync-jobs/{job_id}").json())["status"] in ("queued", "running"):
                assert time.monotonic() < deadline, job
                time.sleep(0.1)
            errors = c.get(f"/v1/sync-jobs/{job_id}/errors", params={"limit": 500}).json()["items"]
            changes, since = [], start_version
            while page := c.get("/v1/changes", params={"since": since, "limit": 5000}).json()["items"]:
                changes += page
                since = page[-1]["version"]
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(15)
    assert interrupted["applied_through"] < total, "the job finished before the kill; make it longer"
    assert job["attempts"] == 2 and job["status"] == "completed_with_errors", job
    assert job["rows_total"] == job["rows_read"] == total
    assert (job["created"], job["updated"], job["unchanged"], job["rejected"]) == (total - BAD_ROWS, 0, 0, BAD_ROWS)
    assert sorted((e["row"], e["field"]) for e in errors) == [(1501, "module_code"), (1502, "term_code"), (1503, "components.final")]
    grade_keys = [tuple(sorted(ch["key"].items())) for ch in changes if ch["entity"] == "grade"]
    assert len(grade_keys) == len(set(grade_keys)) == total - BAD_ROWS
