"""Gateway overhead: requests/second of one authenticated GET straight to a service and through the gateway.

Starts, as subprocesses on free ports with temporary SQLite files: identity (migrated, with a bench client holding
``records:admin``), records (migrated, outbox off) and the gateway (rate limiter on, with limits far above the
load). Gets a client-credentials token, then loads ``GET /v1/admin/inbox?limit=1`` on records (the token is
verified by the service, the scope checked, the database read) directly and as
``GET /api/records/v1/admin/inbox?limit=1`` through the gateway: 32 connections, a warm-up, ``--seconds`` each.
Each side's time is split in two halves run in the order direct, gateway, gateway, direct (``--rounds`` repeats
that pattern in shorter slices), so a drift in the machine's speed during the run favours neither side. Load comes from ``wrk`` when it is installed, else
from an aiohttp load generator in its own process.

    python bench/gateway_overhead.py [--seconds 10] [--connections 32] [--tool auto|wrk|python]

Prints both rates and, last, ``gateway/direct = 0.xx``.
"""

from __future__ import annotations

import argparse
import asyncio
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

CLIENT_ID = "bench-gateway"
SCOPE = "records:admin"
SERVICE_PATH = "/v1/admin/inbox?limit=1"
GATEWAY_PATH = "/api/records" + SERVICE_PATH

from bench.harness import Processes, free_port  # noqa: E402
from bench.loadavg import LoadWatch  # noqa: E402

# -- setup ---------------------------------------------------------------------------------------------------------

async def prepare_databases(identity_db: str, records_db: str, identity_url: str, objects: str, secret: str) -> None:
    from services.common.db import Database
    from services.common.migrations import upgrade
    from services.identity.config import IdentitySettings
    from services.identity.tokens.service import TokenService

    await upgrade("identity", identity_db)
    await upgrade("records", records_db)
    settings = IdentitySettings(database_url=identity_db, object_store_url=objects, jwt_issuer=identity_url)
    db = Database(identity_db)
    try:
        async with db.session() as session:
            await TokenService(settings).create_client(
                session, client_id=CLIENT_ID, name="gateway benchmark", scopes=[SCOPE], secret=secret
            )
    finally:
        await db.dispose()


# -- load ----------------------------------------------------------------------------------------------------------

class Load:
    """Runs a load of ``connections`` keep-alive connections for ``seconds``; returns (requests, seconds)."""

    def __init__(self, tool: str, connections: int, token: str, wrk_threads: int) -> None:
        self.tool = tool
        self.connections = connections
        self.token = token
        self.wrk_threads = wrk_threads

    def run(self, url: str, seconds: int) -> tuple[int, float]:
        if self.tool == "wrk":
            return self._wrk(url, seconds)
        return self._python(url, seconds)

    def _wrk(self, url: str, seconds: int) -> tuple[int, float]:
        cmd = [
            "wrk", f"-t{self.wrk_threads}", f"-c{self.connections}", f"-d{seconds}s", "--timeout", "10s",
            "-H", f"Authorization: Bearer {self.token}", url,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        if "Non-2xx" in out or "Socket errors" in out:
            raise SystemExit(f"load against {url} had errors:\n{out}")
        m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
        if not m:
            raise SystemExit(f"cannot read wrk's output:\n{out}")
        elapsed = float(m.group(2)) / (1000.0 if m.group(3) == "ms" else 1.0)
        return int(m.group(1)), elapsed

    def _python(self, url: str, seconds: int) -> tuple[int, float]:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--load-worker", url, str(seconds), str(self.connections)]
        env = os.environ | {"BENCH_TOKEN": self.token}
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
        result = json.loads(out.strip().splitlines()[-1])
        if result["errors"]:
            raise SystemExit(f"load against {url} had {result['errors']} failed requests: {result.get('sample')}")
        return result["requests"], result["seconds"]


async def load_worker(url: str, seconds: float, connections: int, token: str) -> dict[str, Any]:
    """The fallback load generator (its own process): ``connections`` clients looping on one keep-alive
    connection each, counting answers in the measured window."""
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"}
    done = errors = 0
    sample: str | None = None
    stop_at = 0.0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal done, errors, sample
        while time.perf_counter() < stop_at:
            try:
                async with session.get(url, headers=headers) as resp:
                    await resp.read()
                    if resp.status == 200:
                        done += 1
                    else:
                        errors += 1
                        sample = sample or f"HTTP {resp.status}"
            except aiohttp.ClientError as exc:
                errors += 1
                sample = sample or repr(exc)

    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(client(session) for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return {"requests": done, "errors": errors, "seconds": elapsed, "sample": sample}


# -- main ----------------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per side (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds per side (default 3)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the direct/gateway/gateway/direct pattern (default 1)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, logs)")
    parser.add_argument("--load-worker", nargs=3, metavar=("URL", "SECONDS", "CONNECTIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.load_worker:
        url, seconds, connections = args.load_worker
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        result = asyncio.run(load_worker(url, float(seconds), int(connections), os.environ["BENCH_TOKEN"]))
        print(json.dumps(result))
        return

    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "python"
    elif tool == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk), or use --tool python")

    load = LoadWatch()
    tmp = Path(tempfile.mkdtemp(prefix="vet-bench-gateway-"))
    ports = {"identity": free_port(), "records": free_port(), "gateway": free_port()}
    identity_url = f"http://127.0.0.1:{ports['identity']}"
    records_url = f"http://127.0.0.1:{ports['records']}"
    gateway_url = f"http://127.0.0.1:{ports['gateway']}"
    identity_db = f"sqlite+aiosqlite:///{tmp / 'identity.db'}"
    records_db = f"sqlite+aiosqlite:///{tmp / 'records.db'}"
    objects = f"file://{tmp / 'objects'}"
    secret = secrets.token_urlsafe(32)

    asyncio.run(prepare_databases(identity_db, records_db, identity_url, objects, secret))
    procs = Processes(tmp)
    try:
        procs.start("identity", "services.identity.app:create_app", ports["identity"], {
            "IDENTITY_DATABASE_URL": identity_db,
            "IDENTITY_OBJECT_STORE_URL": objects,
            "IDENTITY_JWT_ISSUER": identity_url,
            "IDENTITY_LOG_LEVEL": "WARNING",
        })
        procs.start("records", "services.records.app:create_app", ports["records"], {
            "RECORDS_DATABASE_URL": records_db,
            "RECORDS_OBJECT_STORE_URL": objects,
            "RECORDS_IDENTITY_URL": identity_url,
            "RECORDS_JWT_ISSUER": identity_url,
            "RECORDS_OUTBOX_ENABLED": "false",
            "RECORDS_LOG_LEVEL": "WARNING",
        })
        procs.start("gateway", "gateway.app:create_app", ports["gateway"], {
            "GATEWAY_IDENTITY_URL": identity_url,
            "GATEWAY_RECORDS_URL": records_url,
            "GATEWAY_JWT_ISSUER": identity_url,
            # the limiter runs on every request, with limits the load never reaches
            "GATEWAY_RATE_LIMIT_ENABLED": "true",
            "GATEWAY_RATE_LIMIT_PER_IP_PER_MINUTE": "100000000",
            "GATEWAY_RATE_LIMIT_IP_BURST": "1000000",
            "GATEWAY_RATE_LIMIT_PER_CLIENT_PER_MINUTE": "100000000",
            "GATEWAY_RATE_LIMIT_CLIENT_BURST": "1000000",
            "GATEWAY_ACCESS_LOG": "true",
            "GATEWAY_LOG_LEVEL": "INFO",
        })
        procs.wait_healthy("identity", identity_url + "/healthz")
        procs.wait_healthy("records", records_url + "/healthz")
        procs.wait_healthy("gateway", gateway_url + "/healthz")

        import httpx

        resp = httpx.post(
            identity_url + "/oauth/token",
            data={"grant_type": "client_credentials", "scope": SCOPE},
            auth=(CLIENT_ID, secret),
            timeout=10,
        )
        resp.raise_for_status()
        token = resp.json()["access_token"]
        direct, through = records_url + SERVICE_PATH, gateway_url + GATEWAY_PATH
        for url in (direct, through):
            ok = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            anonymous = httpx.get(url, timeout=10)
            if ok.status_code != 200 or anonymous.status_code != 401:
                raise SystemExit(f"{url}: with token {ok.status_code} {ok.text[:300]}, without {anonymous.status_code}")

        generator = Load(tool, args.connections, token, args.wrk_threads)
        print(f"tool: {tool}, {args.connections} connections, {args.seconds} s per side after {args.warmup} s warm-up")
        print(f"endpoint: GET {SERVICE_PATH} on records (token verified, scope {SCOPE} checked, database read)")
        if args.warmup:
            generator.run(direct, args.warmup)
            generator.run(through, args.warmup)
        # each side's seconds in 2 × rounds slices, run direct, gateway, gateway, direct (per round)
        slices = 2 * max(1, args.rounds)
        lengths = [args.seconds // slices + (1 if i < args.seconds % slices else 0) for i in range(slices)]
        totals = {"direct": [0, 0.0], "gateway": [0, 0.0]}
        for i in range(0, slices, 2):
            a, b = max(1, lengths[i]), max(1, lengths[i + 1])
            for side, url, seconds in (("direct", direct, a), ("gateway", through, a), ("gateway", through, b), ("direct", direct, b)):
                with load.side(side):
                    count, elapsed = generator.run(url, seconds)
                totals[side][0] += count
                totals[side][1] += elapsed
        direct_rps = totals["direct"][0] / totals["direct"][1]
        gateway_rps = totals["gateway"][0] / totals["gateway"][1]
        print(f"direct : {direct_rps:9.1f} req/s  GET {SERVICE_PATH} on records")
        print(f"gateway: {gateway_rps:9.1f} req/s  GET {GATEWAY_PATH} through the gateway")
        print(load.ratio("gateway/direct", gateway_rps / direct_rps, "gateway", "direct"))
    finally:
        procs.stop()
        load.end()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
