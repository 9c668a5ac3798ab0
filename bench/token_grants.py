"""Client-credentials grants per second through identity, straight and through the gateway, against a bare
FastAPI endpoint that returns a constant token-sized JSON (the floor of what the framework itself costs), all
measured in the same run on this machine.

Identity runs on PostgreSQL when one answers at 127.0.0.1:5432 (a throwaway database, dropped after), else on
SQLite. Each grant authenticates the client (keyed SHA-256, constant-time compare), signs an ES256 JWT and writes
an audit row. Keycloak's published sizing is about 200 client-credentials grants per second per vCPU; the aim is
at least twice that per core. "Per core" is measured as grants per CPU-second the identity process used during the
run (from /proc), since on a small machine the load generator and PostgreSQL take much of the other core.

    python bench/token_grants.py [--seconds 10] [--connections 32] [--tool auto|wrk|python]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import Processes, cpu_seconds, free_port  # noqa: E402
from bench.loadavg import LoadWatch  # noqa: E402

CLIENT_ID = "bench-grants"
BODY = "grant_type=client_credentials"


async def prepare(identity_db: str, identity_url: str, objects: str, secret: str) -> None:
    from services.common.db import Database
    from services.common.migrations import upgrade
    from services.identity.config import IdentitySettings
    from services.identity.tokens.service import TokenService

    await upgrade("identity", identity_db)
    settings = IdentitySettings(database_url=identity_db, object_store_url=objects, jwt_issuer=identity_url)
    db = Database(identity_db)
    try:
        async with db.session() as session:
            tokens = TokenService(settings)
            await tokens.ensure_signing_key(session)
            await tokens.create_client(session, client_id=CLIENT_ID, name="grant benchmark", scopes=["records:read"], secret=secret)
    finally:
        await db.dispose()


def wrk_post(url: str, seconds: int, connections: int, auth: str, tmp: Path) -> tuple[int, float]:
    script = tmp / "post.lua"
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = "{BODY}"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        f'wrk.headers["Authorization"] = "Basic {auth}"\n'
    )
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"load against {url} had errors:\n{out}")
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if not m:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    return int(m.group(1)), float(m.group(2)) / (1000.0 if m.group(3) == "ms" else 1.0)


async def python_load(url: str, seconds: float, connections: int, auth: str) -> dict[str, Any]:
    import aiohttp

    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"}
    done = errors = 0
    stop_at = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal done, errors
        while time.perf_counter() < stop_at:
            async with session.post(url, data=BODY, headers=headers) as resp:
                await resp.read()
                done, errors = (done + 1, errors) if resp.status == 200 else (done, errors + 1)

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        await asyncio.gather(*(client(session) for _ in range(connections)))
    return {"requests": done, "errors": errors, "seconds": time.perf_counter() - started}


def run_load(tool: str, url: str, seconds: int, connections: int, auth: str, tmp: Path) -> tuple[int, float]:
    if tool == "wrk":
        return wrk_post(url, seconds, connections, auth, tmp)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--load-worker", url, str(seconds), str(connections)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ | {"BENCH_AUTH": auth}).stdout
    result = json.loads(out.strip().splitlines()[-1])
    if result["errors"]:
        raise SystemExit(f"load against {url} had {result['errors']} failed requests")
    return result["requests"], result["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--sqlite", action="store_true", help="use SQLite even when PostgreSQL answers")
    parser.add_argument("--load-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_worker:
        url, seconds, connections = args.load_worker
        print(json.dumps(asyncio.run(python_load(url, float(seconds), int(connections), os.environ["BENCH_AUTH"]))))
        return
    tool = "wrk" if args.tool == "auto" and shutil.which("wrk") else ("python" if args.tool == "auto" else args.tool)

    from services.common.testing import create_pg_database, drop_pg_database, postgres_available

    load = LoadWatch()

    tmp = Path(tempfile.mkdtemp(prefix="vet-bench-grants-"))
    ports = {"identity": free_port(), "gateway": free_port(), "baseline": free_port()}
    identity_url = f"http://127.0.0.1:{ports['identity']}"
    pg_name = None
    if not args.sqlite and asyncio.run(postgres_available()) is None:
        pg_name, identity_db = asyncio.run(create_pg_database("vet_bench_identity"))
        backend = "PostgreSQL"
    else:
        identity_db, backend = f"sqlite+aiosqlite:///{tmp / 'identity.db'}", "SQLite"
    objects = f"file://{tmp / 'objects'}"
    secret = secrets.token_urlsafe(32)
    auth = base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode()
    asyncio.run(prepare(identity_db, identity_url, objects, secret))
    procs = Processes(tmp)
    try:
        procs.start("identity", "services.identity.app:create_app", ports["identity"], {
            "IDENTITY_DATABASE_URL": identity_db, "IDENTITY_OBJECT_STORE_URL": objects,
            "IDENTITY_JWT_ISSUER": identity_url, "IDENTITY_LOG_LEVEL": "WARNING",
        })
        procs.start("baseline", "bench.constant_app:create_app", ports["baseline"], {})
        procs.start("gateway", "gateway.app:create_app", ports["gateway"], {
            "GATEWAY_IDENTITY_URL": identity_url, "GATEWAY_JWT_ISSUER": identity_url,
            "GATEWAY_RATE_LIMIT_PER_IP_PER_MINUTE": "100000000", "GATEWAY_RATE_LIMIT_IP_BURST": "1000000",
            "GATEWAY_RATE_LIMIT_PER_CLIENT_PER_MINUTE": "100000000", "GATEWAY_RATE_LIMIT_CLIENT_BURST": "1000000",
        })
        for name, port in ports.items():
            procs.wait_healthy(name, f"http://127.0.0.1:{port}/healthz")
        targets = {
            "baseline": f"http://127.0.0.1:{ports['baseline']}/oauth/token",
            "identity": f"{identity_url}/oauth/token",
            "gateway": f"http://127.0.0.1:{ports['gateway']}/api/identity/oauth/token",
        }
        import httpx

        for name, url in targets.items():
            r = httpx.post(url, content=BODY, headers={"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"})
            if r.status_code != 200 or "access_token" not in r.json():
                raise SystemExit(f"{name}: {r.status_code} {r.text[:300]}")
        print(f"tool: {tool}, {args.connections} connections, {args.seconds} s each; identity on {backend}")
        rates, per_cpu = {}, {}
        # the processes each target's requests pass through (the load generator and PostgreSQL share the machine)
        serving = {"baseline": ["baseline"], "identity": ["identity"], "gateway": ["gateway", "identity"]}
        for name, url in targets.items():
            if args.warmup:
                run_load(tool, url, args.warmup, args.connections, auth, tmp)
            pids = [procs.procs[p].pid for p in serving[name]]
            before = sum(cpu_seconds(pid) for pid in pids)
            with load.side(name):
                count, elapsed = run_load(tool, url, args.seconds, args.connections, auth, tmp)
            used = sum(cpu_seconds(pid) for pid in pids) - before
            rates[name] = count / elapsed
            per_cpu[name] = count / used if used > 0 else float("nan")
        cores = os.cpu_count() or 1
        print(f"baseline (constant JSON): {rates['baseline']:8.1f} req/s     {per_cpu['baseline']:8.1f} per CPU-second of the app")
        print(f"identity grants         : {rates['identity']:8.1f} grants/s  {per_cpu['identity']:8.1f} per CPU-second of identity "
              f"(target ≥ 400 per core; {rates['identity'] / cores:.0f}/s per machine core on {cores} cores)")
        print(f"through the gateway     : {rates['gateway']:8.1f} grants/s  {per_cpu['gateway']:8.1f} per CPU-second of gateway + identity")
        print(load.ratio("identity/baseline", rates["identity"] / rates["baseline"], "identity", "baseline",
                         extra=f" (per CPU-second: {per_cpu['identity'] / per_cpu['baseline']:.2f})"))
        print(load.ratio("gateway/baseline", rates["gateway"] / rates["baseline"], "gateway", "baseline",
                         extra=f" (per CPU-second: {per_cpu['gateway'] / per_cpu['baseline']:.2f})"))
    finally:
        load.end()
        procs.stop()
        if pg_name:
            asyncio.run(drop_pg_database(pg_name))
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
