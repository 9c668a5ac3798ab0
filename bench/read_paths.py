"""The platform's hot read paths against a bare FastAPI app, direct and through the gateway, on SQLite and PostgreSQL.

The reads employers, wallets and every sign-in make: an issuer's did:web document, a status list, identity's JWKS,
the public verification page a diploma's QR code opens (``/verify/{id}``, HTML), the institution registry's list,
library search, and — the authenticated one — an institution's credential list (a school's bearer token, checked
by the service). Each is loaded by ``wrk`` (one thread, ``--connections`` keep-alive connections) straight at its
service and through the gateway (rate limiter on, limits far above the load; JSON access log on, as in
production), and each cacheable one also as a revalidation (``If-None-Match`` with the ETag it was served:
``304 Not Modified``). The floor, measured in the same run beside every path: ``bench/constant_app.py`` (a bare
FastAPI app returning a constant JSON), direct and through the gateway (in the records slot).

Set-up per backend (``--backends sqlite,postgresql``; PostgreSQL at ``VET_TEST_PG_DSN``, throwaway databases):
every service migrated, identity's demo data, ``--credentials`` diplomas issued in-process (as
``bench/verify.py`` does), ``--objects`` library objects seeded (``bench/search.py``'s rows); then identity,
credentials, learning, the gateway and the bare app run as uvicorn processes on free ports.

Reported per path and side: requests per second (wall), p99 latency, the service process's CPU milliseconds per
request and its requests per CPU-second ("per core"), and the ratio of that per-core rate to the bare app's
measured beside it (the issue's goal, on PostgreSQL: ≥ 0.25 for the cached public reads, ≥ 0.10 for the
authenticated list; the verify page ≥ 1,000 per core). A ratio is withheld when the two sides ran more than 20 %
apart in load (``bench/loadavg.py``). The bare app and the path alternate (bare, path, path, bare per slice).

    python bench/read_paths.py [--backends sqlite,postgresql] [--seconds 4] [--connections 16]
                               [--paths jwks,registry,...] [--profile PATH] [--keep]

``--profile PATH`` (e.g. ``registry``) runs, after the table, that path's service under ``py-spy`` (installed
from PyPI; attaching to a running process is refused in some containers, so the service is started by it) for
``--seconds`` of direct load on the first backend, and prints where its samples were: per thread, and the
functions with the most samples of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("VET_LOG_LEVEL", "WARNING")
warnings.filterwarnings("ignore", message="Skipped unsupported reflection")

from bench.harness import UVICORN_FLAGS, Processes, cpu_seconds, free_port  # noqa: E402
from bench.loadavg import LoadWatch  # noqa: E402

PUBLIC_BASE_URL = "http://127.0.0.1:8000"  # what the in-process issuing wrote into the documents
SCHOOL = ("demo-school-sis", "dev-only-demo-school-secret")
SEARCH = "ky nang"
#: the goal per path kind: its per-core rate over the bare app's (or requests per core for the verify page)
GOALS = {"cached": ("ratio", 0.25), "list": ("ratio", 0.10), "verify": ("per_core", 1000.0)}


@dataclass
class ReadPath:
    name: str
    service: str  # identity | credentials | learning | bare
    direct: str
    gateway: str
    kind: str  # cached | list | verify | search | floor
    headers: dict[str, str] = field(default_factory=dict)
    #: the ETag the path was served with (revalidation rows are measured when it has one)
    etag: str | None = None


@dataclass
class Result:
    requests: int
    seconds: float
    p99_ms: float
    cpu: float  # the service process's CPU seconds in the measured window
    gateway_cpu: float = 0.0
    #: of ``cpu``, the seconds of threads other than the event loop's (database driver threads, thread pools)
    thread_cpu: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def per_core(self) -> float:
        return self.requests / self.cpu if self.cpu > 0 else float("inf")

    @property
    def cpu_ms(self) -> float:
        return self.cpu * 1000 / self.requests if self.requests else float("nan")

    def __add__(self, other: Result) -> Result:
        return Result(self.requests + other.requests, self.seconds + other.seconds, max(self.p99_ms, other.p99_ms),
                      self.cpu + other.cpu, self.gateway_cpu + other.gateway_cpu, self.thread_cpu + other.thread_cpu)

    @property
    def thread_share(self) -> float:
        return self.thread_cpu / self.cpu if self.cpu > 0 else 0.0


# -- set-up ----------------------------------------------------------------------------------------------------------

async def prepare(backend: str, tmp: Path, credentials: int, objects: int) -> tuple[dict[str, str], dict[str, Any], list[str]]:
    """Databases migrated and seeded: (service → database URL, facts for the paths, PostgreSQL databases made)."""
    from bench.search import seed as seed_library
    from bench.verify import learner
    from services.common.migrations import upgrade
    from services.common.testing import create_pg_database
    from tests.support import running_platform

    urls: dict[str, str] = {}
    made: list[str] = []

    async def url_for(service: str) -> str:
        if backend == "postgresql":
            name, url = await create_pg_database(f"vet_bench_reads_{service}")
            made.append(name)
        else:
            url = f"sqlite+aiosqlite:///{tmp / f'{backend}-{service}.db'}"
        await upgrade(service, url)
        urls[service] = url
        return url

    facts: dict[str, Any] = {}
    quiet = {name: {"log_level": "WARNING"} for name in ("identity", "learning", "records", "credentials")}
    async with running_platform(url_for, tmp, quiet) as platform:
        school = await platform.school_headers()
        async with platform.client("credentials") as c:
            ids = []
            for i in range(credentials):
                r = await c.post("/v1/credentials", json=learner(i), headers=school)
                assert r.status_code == 201, r.text
                doc = r.json()["document"]
                ids.append(doc["id"].removeprefix("urn:uuid:"))
                entries = doc["credentialStatus"]
                entry = entries[0] if isinstance(entries, list) else entries
                facts["status_list"] = entry["statusListCredential"].rsplit("/", 1)[1]
        facts["credentials"] = ids
        await platform.apps["credentials"].state.credentials.verification_log.flush()
    await seed_library(urls["learning"], objects)
    return urls, facts, made


def read_paths(facts: dict[str, Any]) -> list[ReadPath]:
    credential = facts["credentials"][0]
    status_list = facts["status_list"]
    return [
        ReadPath("bare", "bare", "/v1/constant", "/api/records/v1/constant", "floor"),
        ReadPath("jwks", "identity", "/.well-known/jwks.json", "/.well-known/jwks.json", "cached"),
        ReadPath("registry", "identity", "/v1/institutions", "/api/identity/v1/institutions", "cached"),
        ReadPath("did", "credentials", "/issuers/CD0101/did.json", "/issuers/CD0101/did.json", "cached"),
        ReadPath("status-list", "credentials", f"/v1/status-lists/{status_list}",
                 f"/api/credentials/v1/status-lists/{status_list}", "cached"),
        ReadPath("verify-page", "credentials", f"/v1/verify/{credential}", f"/verify/{credential}", "verify",
                 {"Accept": "text/html"}),
        ReadPath("search", "learning", "/v1/search?q=" + SEARCH.replace(" ", "+"),
                 "/api/learning/v1/search?q=" + SEARCH.replace(" ", "+"), "search"),
        ReadPath("credential-list", "credentials", "/v1/credentials?institution=CD0101&limit=20",
                 "/api/credentials/v1/credentials?institution=CD0101&limit=20", "list"),
    ]


def start_processes(procs: Processes, urls: dict[str, str], tmp: Path, backend: str) -> dict[str, str]:
    """identity, credentials, learning, the bare app and the gateway under uvicorn: name → base URL."""
    ports = {name: free_port() for name in ("identity", "credentials", "learning", "bare", "gateway")}
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    objects = f"file://{tmp / 'objects'}"
    for name in ("identity", "credentials", "learning"):
        p = name.upper() + "_"
        env = {
            p + "DATABASE_URL": urls[name], p + "OBJECT_STORE_URL": objects, p + "IDENTITY_URL": base["identity"],
            p + "JWT_ISSUER": base["identity"], p + "PUBLIC_BASE_URL": PUBLIC_BASE_URL, p + "OUTBOX_ENABLED": "false",
            p + "LOG_LEVEL": "WARNING", p + "ENVIRONMENT": "test",
            # the shared PostgreSQL has 100 connections for every helper on the machine
            p + "DB_POOL_SIZE": "4", p + "DB_MAX_OVERFLOW": "2",
        }
        if name == "credentials":
            env |= {"CREDENTIALS_JOBS_ENABLED": "false", "CREDENTIALS_RESTATUS_POLL_SECONDS": "0"}
        procs.start(name, f"services.{name}.app:create_app", ports[name], env)
    procs.start("bare", "bench.constant_app:create_app", ports["bare"], {})
    from gateway.config import DEFAULT_PUBLIC_ROUTES

    procs.start("gateway", "gateway.app:create_app", ports["gateway"], {
        "GATEWAY_IDENTITY_URL": base["identity"], "GATEWAY_CREDENTIALS_URL": base["credentials"],
        "GATEWAY_LEARNING_URL": base["learning"],
        "GATEWAY_RECORDS_URL": base["bare"],  # the bare app in the records slot: the gateway's own floor
        "GATEWAY_JWT_ISSUER": base["identity"],
        "GATEWAY_PUBLIC_ROUTES": json.dumps([*DEFAULT_PUBLIC_ROUTES, "GET /api/records/v1/constant"]),
        "GATEWAY_RATE_LIMIT_ENABLED": "true",
        "GATEWAY_RATE_LIMIT_PER_IP_PER_MINUTE": "100000000", "GATEWAY_RATE_LIMIT_IP_BURST": "1000000",
        "GATEWAY_RATE_LIMIT_PER_CLIENT_PER_MINUTE": "100000000", "GATEWAY_RATE_LIMIT_CLIENT_BURST": "1000000",
        "GATEWAY_ACCESS_LOG": "true", "GATEWAY_LOG_LEVEL": "INFO", "GATEWAY_METRICS_PORT": "0",
    })
    for name in ports:
        procs.wait_healthy(name, base[name] + "/healthz")
    return base


# -- load ------------------------------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk(url: str, seconds: float, connections: int, headers: dict[str, str]) -> tuple[int, float, float]:
    """(requests, seconds, p99 ms) of ``wrk`` against ``url``; any non-2xx/3xx answer or socket error stops the run."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"load against {url} had errors:\n{out}")
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s|m)", out)
    if not m or not p99:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    elapsed = float(m.group(2)) / (1000.0 if m.group(3) == "ms" else 1.0)
    return int(m.group(1)), elapsed, float(p99.group(1)) * _UNITS[p99.group(2)]


class Bench:
    def __init__(self, procs: Processes, base: dict[str, str], seconds: float, warmup: float, connections: int,
                 load: LoadWatch, backend: str) -> None:
        self.procs, self.base, self.seconds, self.warmup, self.connections = procs, base, seconds, warmup, connections
        self.load, self.backend = load, backend

    def url(self, path: ReadPath, via: str) -> str:
        if via == "gateway":
            return self.base["gateway"] + path.gateway
        return self.base[path.service] + path.direct

    def once(self, path: ReadPath, via: str, seconds: float, headers: dict[str, str]) -> Result:
        service = self.procs.procs[path.service].pid
        gateway = self.procs.procs["gateway"].pid
        # the process's total counts threads that ended in the window too (a pool's overflow connections)
        cpu0, loop0, g0 = cpu_seconds(service), loop_cpu(service), cpu_seconds(gateway)
        n, elapsed, p99 = wrk(self.url(path, via), seconds, self.connections, headers)
        cpu, loop = cpu_seconds(service) - cpu0, loop_cpu(service) - loop0
        return Result(n, elapsed, p99, cpu, cpu_seconds(gateway) - g0, cpu - loop)

    def measure(self, path: ReadPath, bare: ReadPath, via: str, revalidate: bool = False) -> tuple[Result, Result]:
        """The path and the bare app beside it: bare, path, path, bare in halves of ``seconds``."""
        headers = dict(path.headers)
        if revalidate:
            assert path.etag is not None
            headers["If-None-Match"] = path.etag
        label = f"{self.backend}:{path.name}:{via}:{'304' if revalidate else '200'}"
        if self.warmup:
            wrk(self.url(path, via), self.warmup, self.connections, headers)
        half = max(1.0, self.seconds / 2)
        mine = theirs = None
        for order in (("bare", "path"), ("path", "bare")):
            for who in order:
                if who == "bare":
                    with self.load.side(label + ":bare"):
                        r = self.once(bare, via, half, {})
                    theirs = r if theirs is None else theirs + r
                else:
                    with self.load.side(label):
                        r = self.once(path, via, half, headers)
                    mine = r if mine is None else mine + r
        assert mine is not None and theirs is not None
        return mine, theirs


async def fetch_tokens_and_etags(base: dict[str, str], paths: list[ReadPath]) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.post(base["identity"] + "/oauth/token", data={"grant_type": "client_credentials"}, auth=SCHOOL)
        r.raise_for_status()
        token = r.json()["access_token"]
        for path in paths:
            if path.kind == "list":
                path.headers["Authorization"] = f"Bearer {token}"
            for url in (base[path.service] + path.direct, base["gateway"] + path.gateway):
                r = await c.get(url, headers=path.headers)
                if r.status_code != 200:
                    raise SystemExit(f"{url}: {r.status_code} {r.text[:300]}")
                if path.kind == "list":
                    anonymous = await c.get(url)
                    if anonymous.status_code != 401:
                        raise SystemExit(f"{url} without a token: {anonymous.status_code}, not 401")
            etag = r.headers.get("etag")
            if etag and path.kind != "floor":
                again = await c.get(base[path.service] + path.direct, headers=path.headers | {"If-None-Match": etag})
                path.etag = etag if again.status_code == 304 else None


# -- report ----------------------------------------------------------------------------------------------------------

def goal_note(path: ReadPath, backend: str, mine: Result, ratio: float) -> str:
    goal = GOALS.get(path.kind)
    if goal is None or backend != "postgresql":
        return ""
    what, target = goal
    value = ratio if what == "ratio" else mine.per_core
    return f"  goal {'≥' if what == 'ratio' else '≥'} {target:g}{'×' if what == 'ratio' else '/s per core'}: " + (
        "met" if value >= target else "NOT met")


def report(bench: Bench, path: ReadPath, via: str, revalidate: bool, mine: Result, theirs: Result) -> None:
    label = f"{bench.backend}:{path.name}:{via}:{'304' if revalidate else '200'}"
    ratio = mine.per_core / theirs.per_core
    shown = bench.load.ratio("per-core ratio to bare", ratio, label, label + ":bare")
    name = path.name + (" (304)" if revalidate else "")
    gateway = f" + gateway {mine.gateway_cpu * 1000 / mine.requests:4.2f}" if via == "gateway" and mine.requests else ""
    print(f"  {name:22s} {via:8s} {mine.rps:8.0f} req/s  p99 {mine.p99_ms:7.1f} ms  {mine.cpu_ms:6.2f}{gateway} CPU-ms/req "
          f"{mine.per_core:8.0f}/s per core ({mine.thread_share:4.0%} off the loop) | bare {theirs.rps:6.0f} req/s {theirs.per_core:6.0f}/s per core | "
          f"{shown}{goal_note(path, bench.backend, mine, ratio) if bench.load.comparable(label, label + ':bare')[0] else ''}",
          flush=True)


# -- profile ---------------------------------------------------------------------------------------------------------

def profile(procs: Processes, path: ReadPath, base: dict[str, str], urls: dict[str, str], tmp: Path, seconds: float,
            connections: int) -> None:
    """The path's service restarted under py-spy for ``seconds`` of direct load; where its samples were."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("profile: py-spy is not installed (pip install py-spy)")
        return
    service = path.service
    old = procs.procs.pop(service)
    old.send_signal(signal.SIGTERM)
    old.wait(15)
    port = int(base[service].rsplit(":", 1)[1])
    out = tmp / f"profile-{path.name}.txt"
    env = procs.base_env | procs.env_of.get(service, {})
    log = open(tmp / f"{service}-profiled.log", "wb")
    cmd = [spy, "record", "--format", "raw", "--rate", "250", "-o", str(out), "--",
           sys.executable, "-m", "uvicorn", "--factory", "services." + service + ".app:create_app" if service != "bare"
           else "bench.constant_app:create_app", "--port", str(port), *UVICORN_FLAGS]
    spy_proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    procs.procs[service] = spy_proc
    procs.wait_healthy(service, base[service] + "/healthz")
    wrk(base[service] + path.direct, 1, connections, path.headers)  # warm-up
    server = _child_pid(spy_proc.pid)
    before = thread_cpu(server)
    n, _, _ = wrk(base[service] + path.direct, seconds, connections, path.headers)
    after = thread_cpu(server)
    main_ms = (after.get(server, 0.0) - before.get(server, 0.0)) * 1000 / n
    others_ms = sum(v - before.get(tid, 0.0) for tid, v in after.items() if tid != server) * 1000 / n
    print(f"profile: CPU per request by thread (from /proc, not sampled): event loop thread {main_ms:.2f} ms, "
          f"the {len(after) - 1} other threads {others_ms:.2f} ms")
    spy_proc.send_signal(signal.SIGINT)  # py-spy writes its samples; the service keeps running
    spy_proc.wait(30)
    subprocess.run(["pkill", "-TERM", "-P", str(spy_proc.pid)], check=False)
    summarise(out)


def _child_pid(pid: int) -> int:
    """The process py-spy started (its only child)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(children[0]) if children else pid


def loop_cpu(pid: int) -> float:
    """CPU seconds of the process's main thread (uvicorn's event loop)."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of ``pid`` (``/proc/<pid>/task/<tid>/stat``)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def summarise(raw: Path, top: int = 15) -> None:
    """py-spy's raw (collapsed) stacks: samples per thread kind and the functions with the most samples of their own."""
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        root = frames[0]
        kind = ("aiosqlite worker" if "_connection_worker_thread" in stack else
                "event loop" if "run (uvicorn" in stack or "uvicorn/main.py" in stack or "asyncio" in stack
                else root.split(" ")[0])
        threads[kind] += n
        own[frames[-1]] += n
    if not total:
        print("profile: no samples")
        return
    print(f"profile: {total} samples (250/s, idle threads excluded), written to {raw}")
    for kind, n in threads.most_common():
        print(f"  {n / total:6.1%}  {kind}")
    print("  functions with the most samples of their own:")
    for frame, n in own.most_common(top):
        print(f"  {n / total:6.1%}  {frame}")


# -- main ------------------------------------------------------------------------------------------------------------

async def _drop(names: list[str]) -> None:
    from services.common.testing import drop_pg_database

    for name in names:
        await drop_pg_database(name)


def run_backend(backend: str, args: argparse.Namespace, load: LoadWatch) -> None:
    from services.common.testing import postgres_available

    if backend == "postgresql":
        reason = asyncio.run(postgres_available())
        if reason:
            print(f"== postgresql: skipped ({reason})")
            return
    tmp = Path(tempfile.mkdtemp(prefix=f"vet-bench-reads-{backend}-"))
    made: list[str] = []
    procs = Processes(tmp)
    try:
        t0 = time.perf_counter()
        urls, facts, made = asyncio.run(prepare(backend, tmp, args.credentials, args.objects))
        print(f"== {backend}: {args.credentials} credentials issued, {args.objects:,} library objects seeded "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        base = start_processes(procs, urls, tmp, backend)
        paths = read_paths(facts)
        asyncio.run(fetch_tokens_and_etags(base, paths))
        bare = paths[0]
        wanted = [p for p in paths[1:] if not args.paths or p.name in args.paths]
        bench = Bench(procs, base, args.seconds, args.warmup, args.connections, load, backend)
        print(f"  {'path':22s} {'via':8s} (wrk, 1 thread, {args.connections} connections, {args.seconds:g} s per side "
              "after warm-up; CPU of the service process)")
        for path in wanted:
            for via in ("direct", "gateway"):
                for revalidate in ((False, True) if path.etag else (False,)):
                    mine, theirs = bench.measure(path, bare, via, revalidate)
                    report(bench, path, via, revalidate, mine, theirs)
        if args.profile and backend == args.backends[0]:
            chosen = next((p for p in paths if p.name == args.profile), None)
            if chosen is None:
                print(f"profile: no path {args.profile}")
            else:
                profile(procs, chosen, base, urls, tmp, args.seconds, args.connections)
    finally:
        procs.stop()
        if made and not args.keep:
            asyncio.run(_drop(made))
        if args.keep:
            print(f"kept {tmp}" + (f" and databases {', '.join(made)}" if made else ""), file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per side and path (default 4)")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--paths", default="", help="comma-separated names (default: all)")
    parser.add_argument("--credentials", type=int, default=20, help="diplomas issued (default 20)")
    parser.add_argument("--objects", type=int, default=10_000, help="library objects seeded (default 10,000)")
    parser.add_argument("--profile", default="", help="profile this path's service with py-spy (first backend)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.paths = {p.strip() for p in args.paths.split(",") if p.strip()}
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (apt-get install -y wrk)")
    load = LoadWatch()
    try:
        for backend in args.backends:
            run_backend(backend, args, load)
    finally:
        load.end()


if __name__ == "__main__":
    main()
