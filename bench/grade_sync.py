"""Grade sync throughput: 200,000 grade rows synced through the records API against raw ``COPY`` of the same rows.

Starts identity and records as uvicorn subprocesses on free ports, each on its own throwaway PostgreSQL database
(``VET_TEST_PG_DSN``, default ``postgresql://postgres@127.0.0.1:5432/postgres``; the run is skipped with a message
when PostgreSQL does not answer). Seeds identity's demo clients (the school system ``demo-school-sis`` of CD0101),
then, as that school would, syncs its catalogue and learners (one JSON batch: a programme with ``--modules``
modules, ``--terms`` terms, ``--learners`` learners with their enrolment) and finally uploads one CSV of
``learners × modules × terms`` grade rows (200,000 by default; ``--format json``: the same rows as one JSON batch) as a sync job (``--mode accept_valid``: committed
chunks, resumable), waiting for it to finish. Measured: from the start of the upload to the job's completion.
During the sync the records process's ``VmRSS`` is polled and ``VmHWM`` read at the end.

Then, in the same run, the grade rows the API wrote are read back, the ``grades`` table is truncated, and the same
rows are written with asyncpg's ``copy_records_to_table`` into the same table (same indexes and constraints). A
second baseline then copies everything the API wrote for those grades — the grades, their audit rows and their
change-feed entries — into the same three tables: the ratio against it is what the service costs beyond the
writes it must make (printed for that reason; the goal is against the grades alone).

    python bench/grade_sync.py [--learners 2000] [--modules 10] [--terms 10] [--mode accept_valid] [--format csv|json]
                               [--chunk-rows N] [--row-by-row] [--profile FILE] [--keep]

``--profile FILE``: records runs under ``py-spy record --idle`` (installed with the dev extra) and its samples, idle
ones included (where the worker waits for PostgreSQL), are written to FILE as collapsed stacks and summarised.

Prints both rates, the CPU per row of the records process and of its PostgreSQL backends (when the server runs on
this machine), the records process's memory and, last, ``api/copy = 0.xx`` (target ≥ 0.50, issue 20).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

INSTITUTION = "CD0101"
SCHOOL_CLIENT = ("demo-school-sis", "dev-only-demo-school-secret")
PROGRAMME = "BENCH-CNTT"

from bench.harness import Processes, free_port  # noqa: E402
from bench.loadavg import LoadWatch  # noqa: E402


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


# -- memory --------------------------------------------------------------------------------------------------------

def proc_status_kib(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends_cpu(dsn: str) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend connected to the database of ``dsn`` (``pg_stat_activity``
    pids read in ``/proc``: the server must run on this machine; empty when it does not). A backend that ends
    between two readings is not counted: the records process keeps its pool's connections open while a job runs."""
    import asyncpg

    async def pids() -> list[int]:
        conn = await asyncpg.connect(asyncpg_dsn(dsn))
        try:
            return [r[0] for r in await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
        finally:
            await conn.close()

    out: dict[int, float] = {}
    for pid in asyncio.run(pids()):
        try:
            out[pid] = cpu_seconds(pid)
        except OSError:
            pass
    return out


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.0f} MiB"


# -- data ----------------------------------------------------------------------------------------------------------

def id_numbers(n: int) -> list[str]:
    serials = random.Random(2222).sample(range(10**6), n)
    return [f"001204{s:06d}" for s in serials]  # Hà Nội, male, born 2004


def setup_batch(numbers: list[str], modules: list[str], terms: list[str]) -> dict[str, Any]:
    return {
        "programmes": [{
            "code": PROGRAMME, "name": "Công nghệ thông tin (ứng dụng phần mềm)", "level": "college", "occupation_code": "6480201",
            "year": 2024, "modules": [{"code": m, "name": f"Mô-đun {m}", "credits": 2 + i % 3} for i, m in enumerate(modules)],
        }],
        "terms": [{"code": t, "name": f"Học kỳ {t}"} for t in terms],
        "learners": [{"id_number": n, "full_name": f"Nguyễn Văn Học {i}", "programme_code": PROGRAMME, "enrolled_on": "2024-09-05"}
                     for i, n in enumerate(numbers)],
    }


def grades_json(numbers: list[str], modules: list[str], terms: list[str]) -> bytes:
    """The same rows as :func:`grades_csv`, as a JSON batch ``{"grades": [...]}``."""
    import json

    rng = random.Random(123)
    rows = [{"id_number": n, "programme_code": PROGRAMME, "module_code": m, "term_code": t,
             "components": {"continuous": f"{rng.randint(30, 100) / 10}", "final": f"{rng.randint(0, 100) / 10}"}}
            for t in terms for n in numbers for m in modules]
    return json.dumps({"grades": rows}).encode()


def grades_csv(numbers: list[str], modules: list[str], terms: list[str]) -> bytes:
    rng = random.Random(123)
    lines = ["id_number,programme_code,module_code,term_code,continuous,final"]
    for t in terms:
        for n in numbers:
            for m in modules:
                lines.append(f"{n},{PROGRAMME},{m},{t},{rng.randint(30, 100) / 10},{rng.randint(0, 100) / 10}")
    return ("\n".join(lines) + "\n").encode()


# -- processes -----------------------------------------------------------------------------------------------------

def wait_job(client: Any, job_id: str, pid: int | None = None, timeout: float = 3600.0) -> tuple[dict[str, Any], int | None]:
    """Polls the job until it ends; with ``pid``, also the process's VmRSS. Returns (job, peak VmRSS in KiB)."""
    peak: int | None = None
    deadline = time.monotonic() + timeout
    while True:
        if pid is not None:
            rss = proc_status_kib(pid, "VmRSS")
            if rss is not None:
                peak = max(peak or 0, rss)
        r = client.get(f"/v1/sync-jobs/{job_id}")
        r.raise_for_status()
        job = r.json()
        if job["status"] in ("succeeded", "completed_with_errors", "failed"):
            return job, peak
        if time.monotonic() > deadline:
            raise SystemExit(f"sync job did not finish in {timeout:.0f} s: {job}")
        time.sleep(0.5)  # as a school's system would poll, not harder


# -- the COPY baseline ---------------------------------------------------------------------------------------------

#: what the API writes for a grade, by table: the rows of it that are the grades' (the change feed holds the
#: catalogue's and the learners' entries too)
WRITES = {"grades": "true", "grade_audit": "true", "changes": "entity = 'grade'"}


async def copy_baseline(records_db: str, expected: int, tables: tuple[str, ...] = ("grades",)) -> tuple[int, float, float | None]:
    """Reads back the rows the API wrote for the grades into ``tables`` (by default the grades alone; all of
    WRITES: the grades, their audit rows, their change-feed entries), truncates those tables and COPYs the same rows
    into them. Returns the grades copied, the seconds and the CPU seconds its PostgreSQL backend used (None if not
    on this machine)."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(records_db))
    try:
        # in the order the API wrote them (a table's physical order: nothing was updated or deleted), which is the
        # order COPY writes them in: sorting them first changes what the indexes cost
        rows = {t: await conn.fetch(f"SELECT * FROM {t} WHERE {WRITES[t]}") for t in tables}
        if {len(r) for r in rows.values()} != {expected}:
            raise SystemExit(f"the API wrote {', '.join(f'{len(r)} rows to {t}' for t, r in rows.items())}; expected {expected} each")
        others = {t: await conn.fetch(f"SELECT * FROM {t} WHERE NOT ({WRITES[t]})") for t in tables}
        await conn.execute(f"TRUNCATE {', '.join(tables)}")
        for t, kept in others.items():  # rows of those tables that are not the grades' go back untimed
            if kept:
                await conn.copy_records_to_table(t, records=[tuple(r) for r in kept], columns=list(kept[0].keys()))
        await conn.execute("CHECKPOINT")
        batches = [(t, list(r[0].keys()), [tuple(row) for row in r]) for t, r in rows.items()]
        del rows
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        try:
            cpu_before: float | None = cpu_seconds(backend)
        except OSError:
            cpu_before = None
        started = time.perf_counter()
        for t, columns, records in batches:
            await conn.copy_records_to_table(t, records=records, columns=columns)
        elapsed = time.perf_counter() - started
        cpu = None if cpu_before is None else cpu_seconds(backend) - cpu_before
        return await conn.fetchval("SELECT count(*) FROM grades"), elapsed, cpu
    finally:
        await conn.close()


# -- profile ------------------------------------------------------------------------------------------------------

class _Pid:
    """The server process py-spy started (what is measured: its CPU, its memory)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid


def _child_pid(pid: int) -> int:
    """The process ``pid`` started (py-spy's one child), once it has."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise SystemExit("py-spy started no process")


# -- main ----------------------------------------------------------------------------------------------------------

async def prepare(identity_db: str, records_db: str, identity_url: str, objects: str) -> None:
    from services.common.migrations import upgrade
    from services.identity.config import IdentitySettings
    from services.identity.seed import seed
    from services.records.config import RecordsSettings

    await upgrade("identity", identity_db)
    await upgrade("records", records_db)
    records = RecordsSettings(database_url=records_db)
    settings = IdentitySettings(database_url=identity_db, object_store_url=objects, jwt_issuer=identity_url)
    await seed(settings, {records.client_id: records.client_secret})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--modules", type=int, default=10)
    parser.add_argument("--terms", type=int, default=10)
    parser.add_argument("--mode", choices=["accept_valid", "all_or_nothing"], default="accept_valid")
    parser.add_argument("--format", choices=["csv", "json"], default="csv", help="upload the grades as CSV or as a JSON batch")
    parser.add_argument("--chunk-rows", type=int, default=None, help="RECORDS_SYNC_CHUNK_ROWS for the records process")
    parser.add_argument("--row-by-row", action="store_true", help="RECORDS_SYNC_BULK_WRITES=false: the ORM write path, for comparison")
    parser.add_argument("--profile", default="", help="run records under py-spy (idle samples too); its stacks to this file")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the temporary folder (logs)")
    args = parser.parse_args()

    from services.common.testing import create_pg_database, drop_pg_database, postgres_available

    reason = asyncio.run(postgres_available())
    if reason:
        print(f"SKIPPED: the grade sync benchmark needs PostgreSQL. {reason}")
        return
    load = LoadWatch()

    modules = [f"M{i:02d}" for i in range(args.modules)]
    terms = [f"HK{i:02d}" for i in range(args.terms)]
    numbers = id_numbers(args.learners)
    total = len(numbers) * len(modules) * len(terms)

    tmp = Path(tempfile.mkdtemp(prefix="vet-bench-grades-"))
    databases: list[str] = []
    procs = Processes(tmp)
    try:
        id_name, identity_db = asyncio.run(create_pg_database("vet_bench_identity"))
        databases.append(id_name)
        rec_name, records_db = asyncio.run(create_pg_database("vet_bench_records"))
        databases.append(rec_name)
        ports = {"identity": free_port(), "records": free_port()}
        identity_url = f"http://127.0.0.1:{ports['identity']}"
        records_url = f"http://127.0.0.1:{ports['records']}"
        objects = f"file://{tmp / 'objects'}"
        asyncio.run(prepare(identity_db, records_db, identity_url, objects))

        procs.start("identity", "services.identity.app:create_app", ports["identity"], {
            "IDENTITY_DATABASE_URL": identity_db, "IDENTITY_OBJECT_STORE_URL": objects, "IDENTITY_JWT_ISSUER": identity_url,
            "IDENTITY_OUTBOX_ENABLED": "false", "IDENTITY_LOG_LEVEL": "WARNING",
        })
        records_env = {
            "RECORDS_DATABASE_URL": records_db, "RECORDS_OBJECT_STORE_URL": objects, "RECORDS_IDENTITY_URL": identity_url,
            "RECORDS_JWT_ISSUER": identity_url, "RECORDS_OUTBOX_ENABLED": "false", "RECORDS_LOG_LEVEL": "WARNING",
            "RECORDS_SYNC_POLL_SECONDS": "0.2",
        }
        if args.row_by_row:
            records_env["RECORDS_SYNC_BULK_WRITES"] = "false"
        if args.chunk_rows:
            records_env["RECORDS_SYNC_CHUNK_ROWS"] = str(args.chunk_rows)
        wrapper = None
        if args.profile:
            spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            wrapper = [spy, "record", "--idle", "--format", "raw", "--rate", "200", "-o", str(Path(args.profile).resolve()), "--"]
        spied = procs.start("records", "services.records.app:create_app", ports["records"], records_env, wrapper=wrapper)
        procs.wait_healthy("identity", identity_url + "/healthz")
        procs.wait_healthy("records", records_url + "/healthz")
        records_proc = _Pid(_child_pid(spied.pid)) if args.profile else spied

        import httpx

        token = httpx.post(identity_url + "/oauth/token", data={"grant_type": "client_credentials"}, auth=SCHOOL_CLIENT, timeout=30)
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        with httpx.Client(base_url=records_url, headers=headers, timeout=600) as c:
            started = time.perf_counter()
            r = c.post(f"/v1/institutions/{INSTITUTION}/sync/json", params={"mode": "accept_valid"},
                       json=setup_batch(numbers, modules, terms))
            r.raise_for_status()
            job, _ = wait_job(c, r.json()["id"])
            if job["status"] != "succeeded":
                raise SystemExit(f"setup batch failed: {job}\n{c.get(job['errors_url']).text[:2000]}\n{procs.tail('records')}")
            print(f"setup: 1 programme, {len(modules)} modules, {len(terms)} terms, {len(numbers)} learners + enrolments "
                  f"(identity resolves the persons) in {time.perf_counter() - started:.1f} s")

            if args.format == "json":
                body, url, params = grades_json(numbers, modules, terms), f"/v1/institutions/{INSTITUTION}/sync/json", {"mode": args.mode}
            else:
                body, url = grades_csv(numbers, modules, terms), f"/v1/institutions/{INSTITUTION}/sync/csv"
                params = {"entity": "grades", "mode": args.mode}
            rss_before = proc_status_kib(records_proc.pid, "VmRSS")
            pg_before = backends_cpu(records_db)
            cpu_before = cpu_seconds(records_proc.pid)
            started = time.perf_counter()
            with load.side("api"):
                r = c.post(url, params=params, content=body, headers={"content-type": f"{'application/json' if args.format == 'json' else 'text/csv'}"})
                r.raise_for_status()
                uploaded = time.perf_counter() - started
                job, peak_rss = wait_job(c, r.json()["id"], records_proc.pid)
            api_seconds = time.perf_counter() - started
            api_cpu = cpu_seconds(records_proc.pid) - cpu_before
            pg_cpu = cpu_used(pg_before, backends_cpu(records_db))
            hwm = proc_status_kib(records_proc.pid, "VmHWM")
            if job["status"] != "succeeded" or job["created"] != total:
                raise SystemExit(f"grade sync did not apply every row: {job}\n{procs.tail('records')}")
            feed_version = c.get("/v1/changes", params={"limit": 1}).json()["latest_version"]
        if args.profile:
            spied.send_signal(signal.SIGINT)  # py-spy writes its samples
            spied.wait(60)
        procs.stop()

        with load.side("copy"):
            copied, copy_seconds, copy_cpu = asyncio.run(copy_baseline(records_db, total))
        with load.side("copy-writes"):
            copied3, writes_seconds, writes_cpu = asyncio.run(copy_baseline(records_db, total, tuple(WRITES)))
        api_rate, copy_rate, writes_rate = total / api_seconds, copied / copy_seconds, copied3 / writes_seconds
        print(f"rows: {total:,} grades ({len(numbers)} learners × {len(modules)} modules × {len(terms)} terms), "
              f"{args.format.upper()} {len(body) / 1e6:.1f} MB, mode {args.mode}")
        print(f"api : {api_rate:10,.0f} rows/s  ({api_seconds:.1f} s: upload {uploaded:.1f} s, then the sync job; "
              f"every row validated, graded, audited, in the change feed; feed now at version {feed_version:,})")
        print(f"      the records process used {api_cpu:.1f} s of CPU for it ({api_cpu / total * 1e6:.0f} µs per row); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        if pg_cpu:
            print(f"      its PostgreSQL backends used {pg_cpu:.1f} s of CPU ({pg_cpu / total * 1e6:.0f} µs per row)")
        print(f"copy: {copy_rate:10,.0f} rows/s  ({copy_seconds:.1f} s: asyncpg copy_records_to_table into the same grades table)")
        if copy_cpu is not None:
            print(f"      its PostgreSQL backend used {copy_cpu:.1f} s of CPU ({copy_cpu / copied * 1e6:.0f} µs per row)")
        print(f"copy of what the API writes: {writes_rate:10,.0f} grades/s  ({writes_seconds:.1f} s: the grades, their audit "
              f"rows and their change-feed entries into the same three tables)")
        if writes_cpu is not None:
            print(f"      its PostgreSQL backend used {writes_cpu:.1f} s of CPU ({writes_cpu / copied3 * 1e6:.0f} µs per grade)")
        print(f"records process memory: RSS {mib(rss_before)} before the sync, peak {mib(peak_rss)} during it (polled VmRSS); "
              f"VmHWM {mib(hwm)}")
        # the same API against a COPY of all it writes: what the service costs beyond the writes themselves (not the
        # issue's goal, which is against the grades alone, printed last)
        print(load.ratio("api/copy of what it writes", api_rate / writes_rate, "api", "copy-writes"))
        print(load.ratio("api/copy", api_rate / copy_rate, "api", "copy"))
        if args.profile:
            from bench.read_paths import summarise

            summarise(Path(args.profile))
    finally:
        procs.stop()
        if reason is None:
            load.end()
        if args.keep:
            print(f"kept {tmp} and databases {', '.join(databases)}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
            for name in databases:
                asyncio.run(drop_pg_database(name))


if __name__ == "__main__":
    main()
