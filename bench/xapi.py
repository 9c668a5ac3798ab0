"""xAPI statements stored per second through the learning service's statements resource (POST, batches of 50,
bearer token, every statement validated, ids checked, one bulk insert per batch), against the same statements
inserted straight into the ``xapi_statements`` table (batches of 50 rows per transaction, same concurrency), both
measured in the same run on this machine.

The learning service runs on PostgreSQL when one answers at 127.0.0.1:5432 (a throwaway database, dropped after),
else on SQLite; identity runs beside it to issue the token. The Veracity LRS publishes about 3,000 statements/s on
16 cores; the aim here is 1,000/s on 2 cores.

    python bench/xapi.py [--statements 20000] [--concurrency 8] [--sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import secrets
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import Processes, cpu_seconds, free_port  # noqa: E402
from bench.loadavg import LoadWatch  # noqa: E402
from bench.token_grants import CLIENT_ID, prepare  # noqa: E402

BATCH = 50
VERBS = ["http://adlnet.gov/expapi/verbs/experienced", "http://adlnet.gov/expapi/verbs/completed",
         "http://adlnet.gov/expapi/verbs/answered", "http://adlnet.gov/expapi/verbs/progressed"]


def statements(n: int) -> list[dict[str, Any]]:
    """Realistic statements: 500 learners, 200 activities, a registration each, results with scores and durations."""
    regs = [str(uuid.uuid4()) for _ in range(500)]
    out = []
    for i in range(n):
        learner = i % 500
        out.append({
            "id": str(uuid.uuid4()),
            "actor": {"objectType": "Agent", "name": f"Học viên {learner}",
                      "account": {"homePage": "https://vet.gov.vn", "name": f"account:{uuid.UUID(int=learner)}"}},
            "verb": {"id": VERBS[i % len(VERBS)], "display": {"vi-VN": "đã học"}},
            "object": {"objectType": "Activity", "id": f"https://vet.gov.vn/xapi/activities/bench/{i % 200}",
                       "definition": {"name": {"vi-VN": f"Bài học {i % 200}: Kỹ năng giao tiếp"}}},
            "result": {"completion": i % 4 == 1, "duration": "PT4M12S", "score": {"scaled": 0.8, "raw": 8, "min": 0, "max": 10}},
            "context": {"registration": regs[learner], "platform": "VET", "language": "vi-VN"},
            "timestamp": datetime.now(UTC).isoformat(),
        })
    return out


async def through_api(url: str, token: str, batches: list[list[dict[str, Any]]], concurrency: int) -> float:
    import httpx

    headers = {"Authorization": f"Bearer {token}", "X-Experience-API-Version": "1.0.3"}
    queue = list(reversed(batches))

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            batch = queue.pop()
            r = await client.post(url, json=batch, headers=headers)
            if r.status_code != 200:
                raise SystemExit(f"POST statements: {r.status_code} {r.text[:500]}")

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return time.perf_counter() - started


def rows_of(batch: list[dict[str, Any]], authority: str) -> list[dict[str, Any]]:
    """What the service stores for each statement (computed before timing: the baseline is the insert alone)."""
    from services.learning.xapi.validation import fingerprint, validate

    now = datetime.now(UTC)
    rows = []
    for raw in batch:
        k = validate(raw)
        stored = raw | {"stored": now.isoformat(), "version": "1.0.0",
                        "authority": {"objectType": "Agent", "account": {"homePage": "https://vet.gov.vn", "name": authority}}}
        rows.append({"id": k["id"], "stored": now, "timestamp": k["timestamp"], "actor_key": k["actor_key"], "verb_id": k["verb_id"],
                     "activity_id": k["activity_id"], "registration": k["registration"], "voided": False, "voids": None,
                     "authority_sub": authority, "statement": stored, "fingerprint": fingerprint(raw)})
    return rows


async def direct(db_url: str, batches: list[list[dict[str, Any]]], concurrency: int) -> float:
    from sqlalchemy import insert

    from services.common.db import Database
    from services.learning.models import XapiStatement

    db = Database(db_url, pool_size=concurrency)
    queue = list(reversed(batches))

    async def worker() -> None:
        while queue:
            rows = queue.pop()
            async with db.session() as session:
                await session.execute(insert(XapiStatement), rows)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statements", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sqlite", action="store_true", help="use SQLite even when PostgreSQL answers")
    args = parser.parse_args()
    n = max(BATCH, args.statements // BATCH * BATCH)

    from services.common.migrations import upgrade
    from services.common.testing import create_pg_database, drop_pg_database, postgres_available

    load = LoadWatch()
    tmp = Path(tempfile.mkdtemp(prefix="vet-bench-xapi-"))
    ports = {"identity": free_port(), "learning": free_port()}
    identity_url = f"http://127.0.0.1:{ports['identity']}"
    created: list[str] = []
    if not args.sqlite and asyncio.run(postgres_available()) is None:
        name, learning_db = asyncio.run(create_pg_database("vet_bench_learning"))
        created.append(name)
        backend = "PostgreSQL"
    else:
        learning_db, backend = f"sqlite+aiosqlite:///{tmp / 'learning.db'}", "SQLite"
    identity_db = f"sqlite+aiosqlite:///{tmp / 'identity.db'}"
    objects = f"file://{tmp / 'objects'}"
    secret = secrets.token_urlsafe(32)
    asyncio.run(prepare(identity_db, identity_url, objects, secret))
    asyncio.run(upgrade("learning", learning_db))
    procs = Processes(tmp)
    try:
        procs.start("identity", "services.identity.app:create_app", ports["identity"], {
            "IDENTITY_DATABASE_URL": identity_db, "IDENTITY_OBJECT_STORE_URL": objects, "IDENTITY_JWT_ISSUER": identity_url,
            "IDENTITY_LOG_LEVEL": "WARNING"})
        learning = procs.start("learning", "services.learning.app:create_app", ports["learning"], {
            "LEARNING_DATABASE_URL": learning_db, "LEARNING_OBJECT_STORE_URL": objects, "LEARNING_IDENTITY_URL": identity_url,
            "LEARNING_JWT_ISSUER": identity_url, "LEARNING_LOG_LEVEL": "WARNING", "LEARNING_OUTBOX_ENABLED": "false"})
        for name, port in ports.items():
            procs.wait_healthy(name, f"http://127.0.0.1:{port}/healthz")
        import httpx

        auth = base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode()
        token = httpx.post(f"{identity_url}/oauth/token", content="grant_type=client_credentials",
                           headers={"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"}).json()["access_token"]
        url = f"http://127.0.0.1:{ports['learning']}/v1/xapi/statements"
        warm = statements(BATCH * args.concurrency)
        asyncio.run(through_api(url, token, [warm[i:i + BATCH] for i in range(0, len(warm), BATCH)], args.concurrency))

        api_set = statements(n)
        before = cpu_seconds(learning.pid)
        with load.side("api"):
            api_seconds = asyncio.run(through_api(url, token, [api_set[i:i + BATCH] for i in range(0, n, BATCH)], args.concurrency))
        api_cpu = cpu_seconds(learning.pid) - before
        check = httpx.get(url, params={"statementId": api_set[-1]["id"]},
                          headers={"Authorization": f"Bearer {token}", "X-Experience-API-Version": "1.0.3"})
        if check.status_code != 200 or check.json()["id"] != api_set[-1]["id"]:
            raise SystemExit(f"the last statement is not readable back: {check.status_code} {check.text[:300]}")

        direct_set = statements(n)
        batches = [rows_of(direct_set[i:i + BATCH], f"client:{CLIENT_ID}") for i in range(0, n, BATCH)]
        with load.side("direct"):
            direct_seconds = asyncio.run(direct(learning_db, batches, args.concurrency))

        api_rate, direct_rate = n / api_seconds, n / direct_seconds
        print(f"{n} statements in batches of {BATCH}, {args.concurrency} at a time; learning on {backend}")
        print(f"through the API (POST /v1/xapi/statements): {api_rate:8.1f} statements/s "
              f"({n / api_cpu if api_cpu > 0 else float('nan'):.1f} per CPU-second of the learning process; aim ≥ 1,000/s)")
        print(f"inserted into the table directly         : {direct_rate:8.1f} statements/s")
        print(load.ratio("api/direct", api_rate / direct_rate, "api", "direct"))
    finally:
        procs.stop()
        load.end()
        for name in created:
            asyncio.run(drop_pg_database(name))


if __name__ == "__main__":
    main()
