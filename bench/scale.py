"""Capacity per core, with 1 and with 2 replicas of a service on this machine (issue 15, item 5).

Two measurements, each run once with one replica and once with two replicas of the service behind the gateway
(``GATEWAY_<SVC>_URL`` as a comma-separated list, round robin), every process under uvicorn on its own port:

* **Grade sync** (records): identity's demo school ``demo-school-sis`` syncs a programme, terms and ``--learners``
  learners (one JSON batch, set up once), then uploads its grades through the gateway as one CSV sync job per term
  (``--terms`` terms of ``learners × --modules`` rows, ``mode=accept_valid``) and waits for every job. The jobs go
  to whichever replica the gateway picks; any replica's worker claims any queued job. Each configuration syncs
  terms of its own, so both write new rows into the same tables. Measured: rows per second (wall, from the first
  upload to the last job's end) and rows per CPU-second of the records processes (all replicas summed).
* **Verification** (credentials): ``--distinct`` diplomas of different learners are issued in-process (as
  ``bench/verify.py`` does), then a load generator in its own process (``bench/verify.py``'s) posts them in turn to
  ``/api/credentials/v1/verify`` through the gateway over ``--connections`` keep-alive connections for
  ``--seconds`` (after 2 s of warm-up). Measured: verifications per second (wall) and per CPU-second of the
  credentials processes (all replicas summed).

CPU time is read from ``/proc/<pid>/stat`` (``bench/harness.py: cpu_seconds``). On PostgreSQL the database side is
measured too: the CPU time of the server backends connected to the run's databases (``pg_stat_activity``; the
shared background processes — WAL writer, checkpointer — are not counted). The gateway's CPU is printed beside.

PostgreSQL is used when it answers at 127.0.0.1:5432 (``VET_TEST_PG_DSN``; throwaway databases, dropped at the
end), else SQLite files (one writer at a time: two replicas then take turns) — the output says which.

    python bench/scale.py [--learners 2000] [--modules 10] [--terms 5] [--seconds 15] [--connections 8]
                          [--distinct 50] [--only grades|verify] [--keep]

Prints, per service, the per-core rates with 1 and 2 replicas and last ``2-replica/1-replica throughput = x.xx``
(wall; on a 2-core machine shared with the gateway, the load generator and the database, well below 2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import grade_sync, verify  # noqa: E402
from bench.harness import Processes, cpu_seconds, free_port  # noqa: E402
from bench.loadavg import LoadWatch  # noqa: E402

REPLICAS = (1, 2)
#: the load around each configuration's measurement (printed at start and end; made in main)
LOAD = LoadWatch(quiet=True)


@dataclass
class Rate:
    replicas: int
    done: int
    seconds: float
    service_cpu: float
    gateway_cpu: float
    db_cpu: float | None

    def line(self, what: str, unit: str, service: str) -> str:
        db = "" if self.db_cpu is None else f"; PostgreSQL backends {self.db_cpu:5.2f} s CPU" + (
            f" → {self.done / self.db_cpu:8,.0f} {unit} per DB CPU-second" if self.db_cpu > 0 else "")
        return (f"{what}, {self.replicas} replica{'s' if self.replicas > 1 else ' '}: {self.done:7,} in {self.seconds:5.1f} s = "
                f"{self.done / self.seconds:8,.0f} {unit}/s wall; {service} {self.service_cpu:5.1f} s CPU → "
                f"{self.done / self.service_cpu:8,.0f} {unit} per {service} CPU-second; gateway {self.gateway_cpu:4.1f} s CPU{db}")


# -- the database ----------------------------------------------------------------------------------------------------

class Databases:
    """Throwaway PostgreSQL databases when the server answers, else SQLite files in the run's folder."""

    def __init__(self, tmp: Path, postgres: bool) -> None:
        self.tmp, self.postgres, self.names = tmp, postgres, []

    async def url(self, service: str) -> str:
        from services.common.migrations import upgrade
        from services.common.testing import create_pg_database

        if self.postgres:
            name, url = await create_pg_database(f"vet_bench_scale_{service}")
            self.names.append(name)
        else:
            url = f"sqlite+aiosqlite:///{self.tmp / f'{service}-{len(self.names)}.db'}"
            self.names.append(url)
        await upgrade(service, url)
        return url

    def backend_cpu(self) -> dict[int, float]:
        """CPU seconds so far of every PostgreSQL backend connected to this run's databases (empty on SQLite)."""
        if not self.postgres:
            return {}

        async def pids() -> list[int]:
            import asyncpg

            from services.common.testing import PG_ADMIN_DSN

            conn = await asyncpg.connect(PG_ADMIN_DSN)
            try:
                return [r["pid"] for r in await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = any($1::text[])", self.names)]
            finally:
                await conn.close()

        out = {}
        for pid in asyncio.run(pids()):
            try:
                out[pid] = cpu_seconds(pid)
            except OSError:  # the backend ended meanwhile
                pass
        return out

    def db_cpu_since(self, before: dict[int, float]) -> float | None:
        """CPU the run's backends used since ``before`` (a backend that ended in between is not counted)."""
        if not self.postgres:
            return None
        now = self.backend_cpu()
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())

    def drop(self) -> None:
        from services.common.testing import drop_pg_database

        if self.postgres:
            for name in self.names:
                asyncio.run(drop_pg_database(name))


def gateway_env(identity_url: str, urls: dict[str, list[str]]) -> dict[str, str]:
    return {"GATEWAY_IDENTITY_URL": identity_url, "GATEWAY_JWT_ISSUER": identity_url, "GATEWAY_RATE_LIMIT_ENABLED": "false",
            "GATEWAY_LOG_LEVEL": "WARNING"} | {f"GATEWAY_{svc.upper()}_URL": ",".join(u) for svc, u in urls.items()}


def start_replicas(procs: Processes, service: str, n: int, env: dict[str, str]) -> list[tuple[str, str]]:
    """``n`` processes of ``service``; returns (name, URL) of each, healthy."""
    started = []
    for k in range(n):
        port = free_port()
        name = f"{service}-{n}x{k}"
        procs.start(name, f"services.{service}.app:create_app", port, env)
        started.append((name, f"http://127.0.0.1:{port}"))
    for name, url in started:
        procs.wait_healthy(name, url + "/healthz")
    return started


# -- grade sync ------------------------------------------------------------------------------------------------------

def grade_rates(args: argparse.Namespace, tmp: Path, dbs: Databases) -> list[Rate]:
    import httpx

    identity_db, records_db = asyncio.run(dbs.url("identity")), asyncio.run(dbs.url("records"))
    identity_url = f"http://127.0.0.1:{free_port()}"
    objects = f"file://{tmp / 'objects'}"
    asyncio.run(grade_sync.prepare(identity_db, records_db, identity_url, objects))
    modules = [f"M{i:02d}" for i in range(args.modules)]
    terms = [f"HK{i:02d}" for i in range(args.terms * len(REPLICAS))]
    numbers = grade_sync.id_numbers(args.learners)

    base = Processes(tmp)
    rates = []
    try:
        base.start("identity", "services.identity.app:create_app", int(identity_url.rsplit(":", 1)[1]), {
            "IDENTITY_DATABASE_URL": identity_db, "IDENTITY_OBJECT_STORE_URL": objects, "IDENTITY_JWT_ISSUER": identity_url,
            "IDENTITY_OUTBOX_ENABLED": "false", "IDENTITY_LOG_LEVEL": "WARNING",
        })
        base.wait_healthy("identity", identity_url + "/healthz")
        token = httpx.post(identity_url + "/oauth/token", data={"grant_type": "client_credentials"}, auth=grade_sync.SCHOOL_CLIENT, timeout=30)
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        records_env = {
            "RECORDS_DATABASE_URL": records_db, "RECORDS_OBJECT_STORE_URL": objects, "RECORDS_IDENTITY_URL": identity_url,
            "RECORDS_JWT_ISSUER": identity_url, "RECORDS_OUTBOX_ENABLED": "false", "RECORDS_LOG_LEVEL": "WARNING",
            "RECORDS_SYNC_POLL_SECONDS": "0.2",
        }
        for i, n in enumerate(REPLICAS):
            procs = Processes(tmp)
            try:
                replicas = start_replicas(procs, "records", n, records_env)
                gw_port = free_port()
                gateway = procs.start(f"gateway-{n}", "gateway.app:create_app", gw_port,
                                      gateway_env(identity_url, {"records": [u for _, u in replicas]}))
                procs.wait_healthy(f"gateway-{n}", f"http://127.0.0.1:{gw_port}/healthz")
                with httpx.Client(base_url=f"http://127.0.0.1:{gw_port}/api/records", headers=headers, timeout=600) as c:
                    if i == 0:  # the catalogue and learners, once
                        r = c.post(f"/v1/institutions/{grade_sync.INSTITUTION}/sync/json", params={"mode": "accept_valid"},
                                   json=grade_sync.setup_batch(numbers, modules, terms))
                        r.raise_for_status()
                        job, _ = grade_sync.wait_job(c, r.json()["id"])
                        if job["status"] != "succeeded":
                            raise SystemExit(f"setup batch failed: {job}")
                    mine = terms[i * args.terms:(i + 1) * args.terms]
                    bodies = [grade_sync.grades_csv(numbers, modules, [t]) for t in mine]
                    pids = [procs.procs[name].pid for name, _ in replicas]
                    cpu0, gw0, db0 = sum(map(cpu_seconds, pids)), cpu_seconds(gateway.pid), dbs.backend_cpu()
                    with LOAD.side(f"grade sync:{n}"):
                        started = time.perf_counter()
                        jobs = []
                        for body in bodies:
                            r = c.post(f"/v1/institutions/{grade_sync.INSTITUTION}/sync/csv", params={"entity": "grades", "mode": "accept_valid"},
                                       content=body, headers={"content-type": "text/csv"})
                            r.raise_for_status()
                            jobs.append(r.json()["id"])
                        created = 0
                        for job_id in jobs:
                            job, _ = grade_sync.wait_job(c, job_id)
                            if job["status"] != "succeeded":
                                raise SystemExit(f"grade sync job failed: {job}\n{procs.tail(replicas[0][0])}")
                            created += job["created"]
                        elapsed = time.perf_counter() - started
                    cpu = sum(map(cpu_seconds, pids)) - cpu0
                    rates.append(Rate(n, created, elapsed, cpu, cpu_seconds(gateway.pid) - gw0, dbs.db_cpu_since(db0)))
                    if created != args.learners * args.modules * args.terms:
                        raise SystemExit(f"{created} grade rows created, expected {args.learners * args.modules * args.terms}")
            finally:
                procs.stop()
    finally:
        base.stop()
    return rates


# -- verification ----------------------------------------------------------------------------------------------------

async def issue_diplomas(tmp: Path, dbs: Databases, distinct: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Issues ``distinct`` diplomas in-process; returns (settings of identity and credentials, the documents)."""
    from tests.support import running_platform

    async with running_platform(dbs.url, tmp, {"credentials": {"signing_processes": 1}}) as platform:
        school = await platform.school_headers()
        docs = []
        async with platform.client("credentials") as c:
            for i in range(distinct):
                r = await c.post("/v1/credentials", json=verify.learner(i), headers=school)
                if r.status_code != 201:
                    raise SystemExit(f"issuing a diploma failed: {r.status_code} {r.text[:500]}")
                docs.append(r.json()["document"])
        return {name: platform.settings[name] for name in ("identity", "credentials")}, docs


def verify_rates(args: argparse.Namespace, tmp: Path, dbs: Databases) -> list[Rate]:
    settings, docs = asyncio.run(issue_diplomas(tmp, dbs, args.distinct))
    bodies = tmp / "bodies.json"
    bodies.write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
    identity_url = f"http://127.0.0.1:{free_port()}"
    common = {"ENVIRONMENT": "test", "OUTBOX_ENABLED": "false", "IDENTITY_URL": identity_url, "JWT_ISSUER": identity_url,
              "PUBLIC_BASE_URL": "http://127.0.0.1:8000"}

    def env(name: str) -> dict[str, str]:
        s = settings[name]
        return {f"{name.upper()}_{k}": v for k, v in common.items()} | {
            f"{name.upper()}_DATABASE_URL": s.database_url, f"{name.upper()}_OBJECT_STORE_URL": s.object_store_url,
            f"{name.upper()}_LOG_LEVEL": "WARNING"}

    base = Processes(tmp)
    rates = []
    try:
        base.start("identity-v", "services.identity.app:create_app", int(identity_url.rsplit(":", 1)[1]), env("identity"))
        base.wait_healthy("identity-v", identity_url + "/healthz")
        for n in REPLICAS:
            procs = Processes(tmp)
            try:
                replicas = start_replicas(procs, "credentials", n, env("credentials") | {"CREDENTIALS_JOBS_ENABLED": "false"})
                gw_port = free_port()
                gateway = procs.start(f"gateway-v{n}", "gateway.app:create_app", gw_port,
                                      gateway_env(identity_url, {"credentials": [u for _, u in replicas]}))
                procs.wait_healthy(f"gateway-v{n}", f"http://127.0.0.1:{gw_port}/healthz")
                url = f"http://127.0.0.1:{gw_port}/api/credentials/v1/verify"
                asyncio.run(verify._load(url, bodies, 2.0, args.connections))  # warm-up: every replica's caches
                pids = [procs.procs[name].pid for name, _ in replicas]
                cpu0, gw0, db0 = sum(map(cpu_seconds, pids)), cpu_seconds(gateway.pid), dbs.backend_cpu()
                with LOAD.side(f"verification:{n}"):
                    done, elapsed = asyncio.run(verify._load(url, bodies, args.seconds, args.connections))
                cpu = sum(map(cpu_seconds, pids)) - cpu0
                rates.append(Rate(n, done, elapsed, cpu, cpu_seconds(gateway.pid) - gw0, dbs.db_cpu_since(db0)))
            finally:
                procs.stop()
    finally:
        base.stop()
    return rates


# -- main ------------------------------------------------------------------------------------------------------------

def report(what: str, unit: str, service: str, rates: list[Rate]) -> None:
    for r in rates:
        print(r.line(what, unit, service))
    one, two = rates
    print(LOAD.ratio(f"{what}: 2-replica/1-replica throughput", (two.done / two.seconds) / (one.done / one.seconds),
                     f"{what}:{two.replicas}", f"{what}:{one.replicas}",
                     extra=f" wall, per {service} CPU-second {(two.done / two.service_cpu) / (one.done / one.service_cpu):.2f}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--modules", type=int, default=10)
    parser.add_argument("--terms", type=int, default=5, help="grade sync jobs (one CSV per term) per configuration")
    parser.add_argument("--seconds", type=float, default=15.0, help="verification load per configuration")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--distinct", type=int, default=50, help="distinct diplomas verified in turn")
    parser.add_argument("--only", choices=["grades", "verify"])
    parser.add_argument("--keep", action="store_true", help="keep the databases and the temporary folder (logs)")
    args = parser.parse_args()

    from services.common.testing import postgres_available

    global LOAD
    LOAD = LoadWatch()
    reason = asyncio.run(postgres_available())
    tmp = Path(tempfile.mkdtemp(prefix="vet-bench-scale-"))
    dbs = Databases(tmp, postgres=reason is None)
    print(f"database: {'PostgreSQL at 127.0.0.1:5432 (throwaway databases)' if dbs.postgres else f'SQLite files (PostgreSQL: {reason})'}; "
          f"{os.cpu_count()} CPUs")
    try:
        if args.only != "verify":
            report("grade sync", "rows", "records", grade_rates(args, tmp, dbs))
        if args.only != "grades":
            report("verification", "verifications", "credentials", verify_rates(args, tmp, dbs))
    finally:
        LOAD.end()
        if args.keep:
            print(f"kept {tmp} and databases {', '.join(dbs.names)}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
            dbs.drop()


if __name__ == "__main__":
    main()
