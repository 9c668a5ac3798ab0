"""Credential verification and batch issuing, measured in one run on this machine.

* In-process: full cryptographic verifications per second of ``--distinct`` diplomas of different learners (names,
  birth dates, places, grades, ids all differ), each issued on its own and verified in turn: RDF canonicalisation
  of proof options and document (RDFC-1.0), SHA-256, Ed25519 — the baseline. Proof-option hashes are forgotten
  before every verification; what is kept is per *shape* or per context (processed JSON-LD contexts, the
  canonicalisation template of the diploma's shape), never a result for a document's values.
* Through the API: ``POST /v1/verify`` of the same diplomas (every check: structure, issuer, signature, validity,
  revocation and suspension through the status lists, plus the verification log row), by the credentials app
  in-process over ASGI (no sockets), one request at a time: the ratio to the baseline is the API's overhead. The
  httpx client runs in the same process, so its work is counted against the API too.
* Through a server (``--server-seconds``, on by default): the same requests to the credentials service running
  under uvicorn in its own process (identity beside it, both on the run's SQLite files), sent by a load generator
  in another process over ``--connections`` keep-alive connections. Its per-core rate counts only the server
  process's CPU time — what one core of a deployment serves; the server keeps its caches between requests (the
  proof options of a credential it has seen, ~50 us of the ~350 us of a verification here). Every verification's
  log row is written in batches by the server itself (counted in its CPU time); after the server's clean shutdown
  the run checks that the log holds one row per request — none lost.
* Batch issuing (``--batch``): wall time of a cohort job (sign + store + status allocation) through
  ``POST /v1/issue-jobs``.

* The reference verifier, measured in the same run: Digital Bazaar's vc.js (eddsa-rdfc-2022, Bitstring Status List;
  ``tests/credentials/interop/bench.mjs``, ``npm ci`` there from the committed lock file when needed) verifying the
  same distinct diplomas in turn, in-process in node, for ``--seconds`` each way: signature only (the proof through
  the suite, the issuer's key from its DID document) and all checks (``vc.verifyCredential`` with every status
  entry, each status list credential's own proof included). It is given the DID document and the status lists the
  platform serves; nothing is fetched. Its per-core rate counts node's CPU time (every thread).

Each rate is given by wall clock and per core: operations per CPU-second of this process (its threads included —
SQLite's connection threads do the API's database work). The machine is shared, so the per-core figure is the
steadier one; run the benchmark twice. The ratios that matter (issue 12): verifications through the API per server
CPU-second ÷ vc.js verifications per CPU-second, against vc.js signature-only and against vc.js all-checks.

    python bench/verify.py [--seconds 5] [--batch 1000] [--signing-processes 2] [--distinct 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

SELF = Path(__file__).resolve()
ROOT = SELF.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("VET_LOG_LEVEL", "WARNING")
import logging  # noqa: E402

logging.getLogger("httpx").setLevel(logging.WARNING)

import httpx  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: E402

from bench.loadavg import LoadWatch  # noqa: E402
from services.common.migrations import upgrade  # noqa: E402
from services.credentials.proofs import dataintegrity  # noqa: E402
from services.credentials.proofs.multibase import ed25519_from_multikey  # noqa: E402
from tests.credentials.factories import diploma  # noqa: E402
from tests.support import running_platform  # noqa: E402

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
GIVEN = ["Văn An", "Thị Bình", "Hữu Cường", "Thị Dung", "Minh Đức", "Thu Hà", "Quốc Huy", "Ngọc Lan", "Thanh Tùng"]
PLACES = ["Hà Nội", "Hải Phòng", "Đà Nẵng", "Huế", "Cần Thơ", "TP Hồ Chí Minh", "Nghệ An", "Quảng Ninh"]
GRADES = [("3.62", "excellent"), ("3.15", "very_good"), ("2.74", "good"), ("2.21", "average")]


def learner(i: int) -> dict[str, object]:
    """The diploma of the ``i``-th learner: every personal value differs from one learner to the next."""
    from services.common.id_numbers import provinces

    gpa, classification = GRADES[i % len(GRADES)]
    gender = ("male", "female")[i % 2]
    codes = sorted(provinces())
    # a valid personal ID number: a province code of birth registration, century + gender (2 male, 3 female, born
    # 2000–2099) and the birth year's last two digits, as the issue API checks
    number = f"{codes[i % len(codes)]}{2 + i % 2}{i % 6:02d}{i:06d}"
    return diploma(
        person_id=str(uuid.uuid4()),
        holder={"full_name": f"{SURNAMES[i % len(SURNAMES)]} {GIVEN[i % len(GIVEN)]}",
                "date_of_birth": f"{2000 + i % 6}-{1 + i % 12:02d}-{1 + i % 28:02d}", "gender": gender,
                "birth_place": PLACES[i % len(PLACES)], "id_number": number},
        graduation={"gpa": gpa, "classification": classification},
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def through_server(root: Path, settings: dict[str, object], docs: list[dict[str, object]], seconds: float,
                         connections: int) -> tuple[float, float]:
    """Verifications per second (wall, and per CPU-second of the server process) of the credentials service
    under uvicorn, loaded from another process."""
    import json

    from bench.harness import Processes, free_port

    procs = Processes(root)
    ports = {"identity": free_port(), "credentials": free_port()}
    identity_url = f"http://127.0.0.1:{ports['identity']}"
    common = {"ENVIRONMENT": "test", "OUTBOX_ENABLED": "false", "IDENTITY_URL": identity_url, "JWT_ISSUER": identity_url,
              "PUBLIC_BASE_URL": "http://127.0.0.1:8000"}
    for name in ("identity", "credentials"):
        s = settings[name]
        env = {f"{name.upper()}_{k}": v for k, v in common.items()} | {
            f"{name.upper()}_DATABASE_URL": s.database_url, f"{name.upper()}_OBJECT_STORE_URL": s.object_store_url,  # type: ignore[attr-defined]
        }
        if name == "credentials":
            env["CREDENTIALS_JOBS_ENABLED"] = "false"
        procs.start(name, f"services.{name}.app:create_app", ports[name], env)
    try:
        for name, port in ports.items():
            procs.wait_healthy(name, f"http://127.0.0.1:{port}/healthz")
        url = f"http://127.0.0.1:{ports['credentials']}/v1/verify"
        bodies = root / "bodies.json"
        bodies.write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
        pid = procs.procs["credentials"].pid
        logged_before = await _public_log_rows(settings["credentials"].database_url)  # type: ignore[attr-defined]
        warm, _ = await _load(url, bodies, 2.0, connections)  # warm-up
        cpu = _cpu_seconds(pid)
        done, elapsed = await _load(url, bodies, seconds, connections)
        cpu = _cpu_seconds(pid) - cpu
    finally:
        procs.stop()
    logged = await _public_log_rows(settings["credentials"].database_url) - logged_before  # type: ignore[attr-defined]
    if logged != warm + done:
        raise SystemExit(f"verification log: {logged} rows for {warm + done} verifications after a clean shutdown")
    return done / elapsed, done / cpu


INTEROP = ROOT / "tests" / "credentials" / "interop"


def _node_ready() -> None:
    """node, and the reference stack installed from the committed lock file."""
    import shutil
    import subprocess

    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("node and npm are needed to measure vc.js, the reference this benchmark compares with")
    if not (INTEROP / "node_modules" / "@digitalbazaar" / "vc").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=INTEROP, check=True, capture_output=True, timeout=600)


async def vcjs_rates(documents: dict[str, object], docs: list[dict[str, object]], seconds: float) -> dict[str, dict[str, float]]:
    """vc.js in-process verifications per second, signature only and all checks: {"signature"|"all": {"wall",
    "per_core"}}."""
    import json

    await asyncio.to_thread(_node_ready)
    proc = await asyncio.create_subprocess_exec(
        "node", str(INTEROP / "bench.mjs"), cwd=INTEROP,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    payload = json.dumps({"credentials": docs, "documents": documents, "seconds": seconds}).encode()
    out, err = await proc.communicate(payload)
    if proc.returncode != 0:
        raise SystemExit(f"vc.js benchmark failed: {err.decode()[-2000:]}")
    measured = json.loads(out)
    return {way: {"wall": m["n"] / m["wall"], "per_core": m["n"] / m["cpu"]} for way, m in measured.items()}


async def served_documents(client: httpx.AsyncClient, did: dict[str, object], docs: list[dict[str, object]]) -> dict[str, object]:
    """The DID document and the status list credentials the diplomas name, as the platform serves them."""
    from tests.support import gateway_to_service

    documents: dict[str, object] = {str(did["id"]): did}
    for doc in docs:
        entries = doc["credentialStatus"]
        for entry in entries if isinstance(entries, list) else [entries]:
            url = entry["statusListCredential"]  # type: ignore[index]
            if url not in documents:
                r = await client.get(gateway_to_service(url))
                assert r.status_code == 200, r.text
                documents[url] = r.json()
    return documents


async def _public_log_rows(database_url: str) -> int:
    from sqlalchemy import func, select

    from services.common.db import Database
    from services.credentials.models import VerificationLog

    db = Database(database_url)
    try:
        async with db.session(write=False) as s:
            return int(await s.scalar(select(func.count()).select_from(VerificationLog).where(VerificationLog.channel == "public")) or 0)
    finally:
        await db.dispose()


async def _load(url: str, bodies: Path, seconds: float, connections: int) -> tuple[int, float]:
    import json

    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SELF), "--load-worker", url, str(bodies), str(seconds), str(connections),
        stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    result = json.loads(out.decode().strip().splitlines()[-1])
    if result["errors"]:
        raise SystemExit(f"{result['errors']} verifications failed, e.g. {result['sample']}")
    return result["requests"], result["seconds"]


async def load_worker(url: str, bodies_file: str, seconds: float, connections: int) -> dict[str, object]:
    """The load generator (its own process): ``connections`` clients posting the diplomas in turn, each on one
    keep-alive connection, checking every answer."""
    import json

    import aiohttp

    text = await asyncio.to_thread(Path(bodies_file).read_text, encoding="utf-8")
    bodies = [json.dumps(d, ensure_ascii=False).encode() for d in json.loads(text)]
    done = errors = 0
    sample: str | None = None
    stop_at = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession, offset: int) -> None:
        nonlocal done, errors, sample
        n = offset
        while time.perf_counter() < stop_at:
            async with session.post(url, data=bodies[n % len(bodies)], headers={"Content-Type": "application/json"}) as resp:
                answer = await resp.read()
            if resp.status == 200 and json.loads(answer)["verified"]:
                done += 1
            else:
                errors += 1
                sample = sample or answer[:300].decode(errors="replace")
            n += 1

    start = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        await asyncio.gather(*(client(session, i * 7) for i in range(connections)))
    return {"requests": done, "seconds": time.perf_counter() - start, "errors": errors, "sample": sample}


async def main(seconds: float, batch: int, signing_processes: int, distinct: int, server_seconds: float = 0.0,
               connections: int = 4) -> None:
    load = LoadWatch()
    try:
        await _main(load, seconds, batch, signing_processes, distinct, server_seconds, connections)
    finally:
        load.end()


async def _main(load: LoadWatch, seconds: float, batch: int, signing_processes: int, distinct: int, server_seconds: float,
                connections: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        async def url_for(service: str) -> str:
            url = f"sqlite+aiosqlite:///{root / f'{service}.db'}"
            await upgrade(service, url)
            return url

        overrides = {"credentials": {"signing_processes": signing_processes, "job_chunk_size": 500}}
        async with running_platform(url_for, root, overrides) as platform:
            school = await platform.school_headers()
            # distinct diplomas of different learners, each issued on its own (own proof options)
            async with platform.client("credentials") as c:
                docs = []
                for i in range(distinct):
                    r = await c.post("/v1/credentials", json=learner(i), headers=school)
                    assert r.status_code == 201, r.text
                    docs.append(r.json()["document"])
                did = (await c.get("/issuers/CD0101/did.json")).json()
                served = await served_documents(c, did, docs)
            with load.side("vc.js"):
                vcjs = await vcjs_rates(served, docs, seconds)
            key = Ed25519PublicKey.from_public_bytes(ed25519_from_multikey(did["verificationMethod"][-1]["publicKeyMultibase"]))

            assert all(dataintegrity.verify(doc, key) for doc in docs)
            with load.side("in-process"):
                n, start, cpu = 0, time.perf_counter(), time.process_time()
                while time.perf_counter() - start < seconds:
                    dataintegrity.clear_caches()  # no proof-option hash of a previous verification is reused
                    assert dataintegrity.verify(docs[n % distinct], key)
                    n += 1
                in_process, in_process_cpu = n / (time.perf_counter() - start), n / (time.process_time() - cpu)

            async with platform.client("credentials") as c:
                for doc in docs:  # warm: the first request of each kind builds FastAPI's and SQLAlchemy's caches
                    await c.post("/v1/verify", json=doc)
                with load.side("api"):
                    n, start, cpu = 0, time.perf_counter(), time.process_time()
                    while time.perf_counter() - start < seconds:
                        dataintegrity.clear_caches()
                        r = await c.post("/v1/verify", json=docs[n % distinct])
                        assert r.status_code == 200 and r.json()["verified"]
                        n += 1
                    api, api_cpu = n / (time.perf_counter() - start), n / (time.process_time() - cpu)

            sig, every = vcjs["signature"], vcjs["all"]
            print(f"vc.js in node, signature only:       {sig['wall']:8.1f} /s wall, {sig['per_core']:8.1f} /s per core"
                  f"  ({distinct} distinct diplomas, measured in this run)")
            print(f"vc.js in node, all checks:           {every['wall']:8.1f} /s wall, {every['per_core']:8.1f} /s per core"
                  "  (incl. every status list the document names, and its proof)")
            print(f"verification, in-process (baseline): {in_process:8.1f} /s wall, {in_process_cpu:8.1f} /s per core  "
                  + load.gate(f"ratio to vc.js signature only {in_process_cpu / sig['per_core']:.2f} per core", "in-process", "vc.js"))
            print(f"verification, POST /v1/verify:       {api:8.1f} /s wall, {api_cpu:8.1f} /s per core  "
                  + load.gate(f"ratio to baseline {api / in_process:.2f} wall, {api_cpu / in_process_cpu:.2f} per core", "api", "in-process")
                  + "; " + load.gate(f"to vc.js all checks {api_cpu / every['per_core']:.2f} per core", "api", "vc.js")
                  + " (in-process ASGI, client included)")

            if server_seconds > 0:
                await platform.apps["credentials"].state.credentials.verification_log.flush()  # the in-process rows
                settings = {name: platform.settings[name] for name in ("identity", "credentials")}
                with load.side("server"):
                    wall, per_core = await through_server(root, settings, docs, server_seconds, connections)
                print(f"verification, server process:        {wall:8.1f} /s wall, {per_core:8.1f} /s per core"
                      f"  ({connections} connections; per core = requests / server CPU seconds; "
                      + load.gate(f"ratio to baseline {per_core / in_process_cpu:.2f} per core", "server", "in-process")
                      + "; every request's log row written by the clean shutdown)")
                print(load.gate(f"ratio, API per server CPU-second / vc.js per CPU-second: signature only {per_core / sig['per_core']:.2f}, "
                                f"all checks {per_core / every['per_core']:.2f}  (issue 12: ≥ 1.0)", "server", "vc.js"))

            if batch:
                items = [diploma(person_id=str(uuid.uuid4())) for _ in range(batch)]
                async with platform.client("credentials") as c:
                    start = time.perf_counter()
                    r = await c.post("/v1/issue-jobs", json={"institution_code": "CD0101", "credentials": items}, headers=school)
                    job_id = r.json()["id"]
                    while True:
                        job = (await c.get(f"/v1/issue-jobs/{job_id}", headers=school)).json()
                        if job["state"] in ("completed", "failed"):
                            break
                        await asyncio.sleep(0.2)
                    elapsed = time.perf_counter() - start
                print(f"batch issue of {batch} ({job['state']}, issued {job['issued']}, signing processes {signing_processes}): "
                      f"{elapsed:.1f} s, {batch / elapsed:.0f} /s  (issue 5 target: 10,000 in < 60 s on 2 cores = 167 /s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--signing-processes", type=int, default=2)
    parser.add_argument("--distinct", type=int, default=50, help="distinct diplomas verified in turn")
    parser.add_argument("--server-seconds", type=float, default=10.0, help="0 skips the server-process measurement")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--load-worker", nargs=4, metavar=("URL", "BODIES", "SECONDS", "CONNECTIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_worker:
        url, bodies, secs, conns = args.load_worker
        import json

        print(json.dumps(asyncio.run(load_worker(url, bodies, float(secs), int(conns)))))
    else:
        asyncio.run(main(args.seconds, args.batch, args.signing_processes, args.distinct, args.server_seconds, args.connections))
