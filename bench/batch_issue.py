"""Batch issuing: 10,000 diplomas of one graduating cohort through the API as one job, against signing alone.

* Baseline: the same credentials built and signed in this process, one after another (document building,
  RDFC-1.0 canonicalisation, SHA-256, Ed25519) — no database, no status lists, one core.
* Through the API: ``POST /v1/issue-jobs`` with all of them in one request, then ``GET /v1/issue-jobs/{id}`` until
  the job completes: validation, idempotency check on the natural key, register numbers, random status-list
  indexes (revocation and suspension), signing in ``--signing-processes`` worker processes, storing the
  credentials, their issued events in the outbox. The credentials app runs in this process over ASGI (no sockets)
  on a temporary SQLite file, or on a throwaway PostgreSQL database with ``--postgres`` when one answers at
  127.0.0.1:5432.

Prints both times and ``api/sign-only`` — the share of the bare signing rate the whole issuing path keeps. Issue 5's
target: 10,000 diplomas in under 60 s on 2 cores. The machine is shared: run it twice.

    python bench/batch_issue.py [--count 10000] [--signing-processes 2] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("VET_LOG_LEVEL", "WARNING")

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from bench.loadavg import LoadWatch  # noqa: E402
from bench.verify import learner  # noqa: E402
from services.common.migrations import upgrade  # noqa: E402
from services.credentials.issuing.builder import Numbers, build  # noqa: E402
from services.credentials.issuing.schemas import CredentialIssue  # noqa: E402
from services.credentials.proofs import dataintegrity  # noqa: E402
from tests.support import running_platform  # noqa: E402

ISSUER = "did:web:127.0.0.1%3A8000:issuers:CD0101"
LISTS = "http://127.0.0.1:8000/api/credentials/v1/status-lists/"


def sign_only(items: list[dict[str, object]]) -> float:
    """Seconds to build and sign every credential in this process, with status entries shaped like the service's."""
    key = Ed25519PrivateKey.generate()
    now = datetime.now(UTC)
    revocation = uuid.uuid4()
    start = time.perf_counter()
    for n, body in enumerate(items):
        item = CredentialIssue.model_validate(body)
        # the document names its revocation entry only (the suspension entry stays in the service's record)
        status = {"id": f"{LISTS}{revocation}#{n}", "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
                  "statusListIndex": str(n), "statusListCredential": f"{LISTS}{revocation}"}
        doc = build(item, credential_id=uuid.uuid4(), issuer_did=ISSUER, issuer_name="Trường Cao đẳng (bench)", issued_at=now,
                    numbers=Numbers(f"CD0101/{n:06d}", f"{n:06d}/2026"), status=status)
        dataintegrity.sign(doc, key, f"{ISSUER}#key-1", created=now)
    return time.perf_counter() - start


async def postgres_url(name: str) -> str | None:
    try:
        import asyncpg
    except ImportError:
        return None
    try:
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=3)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def drop_postgres(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=3)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def through_api(items: list[dict[str, object]], signing_processes: int, use_postgres: bool,
                      load: LoadWatch) -> tuple[float, dict[str, object], str]:
    pg_name = f"bench_batch_issue_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        backend = "SQLite"

        async def url_for(service: str) -> str:
            nonlocal backend
            url = None
            if service == "credentials" and use_postgres:
                url = await postgres_url(pg_name)
                backend = "PostgreSQL" if url else "SQLite (no PostgreSQL answered)"
            url = url or f"sqlite+aiosqlite:///{root / f'{service}.db'}"
            await upgrade(service, url)
            return url

        overrides = {"credentials": {"signing_processes": signing_processes, "jobs_poll_seconds": 0.1}}
        try:
            async with running_platform(url_for, root, overrides) as platform:
                school = await platform.school_headers()
                async with platform.client("credentials", timeout=600) as c:
                    # the issuer exists before the clock starts (its keys and status lists are made once per school)
                    warm = await c.post("/v1/credentials", json=learner(999_999), headers=school)
                    assert warm.status_code == 201, warm.text
                    start = time.perf_counter()
                    with load.side("api"):
                        r = await c.post("/v1/issue-jobs", json={"institution_code": "CD0101", "credentials": items}, headers=school)
                        assert r.status_code == 202, r.text
                        job_id = r.json()["id"]
                        while True:
                            job = (await c.get(f"/v1/issue-jobs/{job_id}", headers=school)).json()
                            if job["state"] in ("completed", "failed"):
                                break
                            await asyncio.sleep(0.2)
                    elapsed = time.perf_counter() - start
                    # spot check: what the job issued verifies
                    listed = (await c.get("/v1/credentials", params={"institution": "CD0101", "limit": 5}, headers=school)).json()
                    for summary in listed["items"]:
                        doc = (await c.get(f"/v1/credentials/{summary['id']}", headers=school)).json()["document"]
                        result = (await c.post("/v1/verify", json=doc)).json()
                        assert result["outcome"] == "valid", result
        finally:
            if backend == "PostgreSQL":
                await drop_postgres(pg_name)
    return elapsed, job, backend


async def main(count: int, signing_processes: int, use_postgres: bool) -> None:
    load = LoadWatch()
    items = [learner(i) for i in range(count)]
    with load.side("sign-only"):
        baseline = sign_only(items)
    elapsed, job, backend = await through_api(items, signing_processes, use_postgres, load)
    assert job["state"] == "completed" and job["issued"] == count, job
    print(f"sign only, in-process, 1 core (baseline): {count} in {baseline:6.1f} s  {count / baseline:7.0f} /s")
    print(f"POST /v1/issue-jobs ({backend}, {signing_processes} signing processes): {count} in {elapsed:6.1f} s  "
          f"{count / elapsed:7.0f} /s  (issue 5 target: 10,000 in < 60 s on 2 cores)")
    print(load.ratio("api/sign-only", baseline / elapsed, "api", "sign-only"))
    load.end()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--signing-processes", type=int, default=2)
    parser.add_argument("--postgres", action="store_true", help="credentials on a throwaway PostgreSQL database")
    args = parser.parse_args()
    asyncio.run(main(args.count, args.signing_processes, args.postgres))
