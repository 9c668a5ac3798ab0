"""Upload memory and throughput: a 1 GiB file through the gateway into the library, against the store directly.

Starts, as subprocesses on free ports with temporary SQLite files and one folder object store: identity (migrated,
demo data loaded), learning (migrated, outbox off) and the gateway (rate limits off). The demo teacher signs in
through the gateway, creates a video learning object and uploads ``--size`` bytes (an MP4 header, then a pattern
unique to each round) as the raw body of ``PUT /api/learning/v1/learning-objects/{id}/file``: gateway → learning →
type sniffed, SHA-256 counted, object written to the folder store → dedupe lookup → new version.

The baseline, measured in the same run: the same number of bytes, made by the same generator, written with
``LocalObjectStore.put`` (temp file, SHA-256, fsync, rename) into a folder on the same disk, in this process.
Rounds run direct, gateway, gateway, direct (``--rounds`` repeats it), so a drift in the machine's speed favours
neither side.

RSS of the learning service and the gateway is sampled from ``/proc/<pid>/status`` every 20 ms during each
upload (``VmRSS``); ``VmHWM`` (the kernel's high-water mark since the process started) is read at the end.

    python bench/upload.py [--size-mib 1024] [--rounds 1] [--store folder|s3] [--mode raw|form|resumable] [--keep]

Prints per-upload rates, the RSS before and at peak, and, last, ``gateway/direct = 0.xx`` plus whether both
peaks stayed under ``--rss-target-mib`` (150).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import Processes, free_port  # noqa: E402
from bench.loadavg import LoadWatch  # noqa: E402

MIB = 1024 * 1024
CHUNK = MIB
TEACHER = ("teacher.demo", "dev-only-Teacher#2026")
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


# -- bytes -------------------------------------------------------------------------------------------------------

def make_chunks(round_no: int) -> list[bytes]:
    """16 distinct 1 MiB chunks for a round (the first one opens with an MP4 header and a round-unique nonce, so
    no two rounds upload the same bytes and dedupe never short-cuts a round)."""
    seed = secrets.token_bytes(32) + round_no.to_bytes(4, "big")
    chunks = []
    for i in range(16):
        block = (seed + i.to_bytes(4, "big")) * (CHUNK // (len(seed) + 4) + 1)
        chunks.append(block[:CHUNK])
    chunks[0] = (MP4_HEAD + seed + chunks[0])[:CHUNK]
    return chunks


async def generate(chunks: list[bytes], size: int) -> AsyncIterator[bytes]:
    sent, i = 0, 0
    while sent < size:
        chunk = chunks[i % len(chunks)]
        if sent + len(chunk) > size:
            chunk = chunk[: size - sent]
        sent += len(chunk)
        i += 1
        yield chunk


# -- memory ------------------------------------------------------------------------------------------------------

def proc_status(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of ``pid`` in bytes."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
    return values


class RssSampler:
    """Samples ``VmRSS`` of some processes in a thread until stopped; keeps the peak of each."""

    def __init__(self, pids: dict[str, int], interval: float = 0.02) -> None:
        self.pids = pids
        self.interval = interval
        self.peak = {name: 0 for name in pids}
        self.start_rss = {name: proc_status(pid)["VmRSS"] for name, pid in pids.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                rss = proc_status(pid)["VmRSS"]
                if rss > self.peak[name]:
                    self.peak[name] = rss
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- the two sides -----------------------------------------------------------------------------------------------

async def direct_round(store_url: str, s3: dict[str, str], size: int, round_no: int) -> float:
    """Seconds to write ``size`` bytes into the store directly (the same kind of store the service writes to)."""
    from services.common.storage import open_store

    store = open_store(store_url, secret_key="bench-only", public_base_url="http://127.0.0.1", **s3)
    await store.ensure_ready()
    chunks = make_chunks(round_no)
    key = f"bench/direct-{round_no}"
    started = time.perf_counter()
    stored = await store.put(key, generate(chunks, size), content_type="video/mp4")
    elapsed = time.perf_counter() - started
    assert stored.size == size, stored
    await store.delete(key)
    await store.aclose()
    return elapsed


async def gateway_round(gateway: str, headers: dict[str, str], size: int, round_no: int, mode: str = "raw") -> tuple[float, dict]:
    """Seconds to upload ``size`` bytes as a new learning object's file through the gateway: as the raw body
    (``raw``), as a multipart form (``form``), or as a resumable upload, part by part (``resumable``)."""
    import aiohttp

    chunks = make_chunks(round_no)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        meta = {"title": f"Video đo tải lên {round_no}", "type": "video", "description": "benchmark", "levels": ["trung_cap"]}
        async with session.post(f"{gateway}/api/learning/v1/learning-objects", json=meta, headers=headers) as r:
            if r.status != 201:
                raise SystemExit(f"create: {r.status} {await r.text()}")
            object_id = (await r.json())["id"]
        base = f"{gateway}/api/learning/v1/learning-objects/{object_id}"
        started = time.perf_counter()
        if mode == "raw":
            r = await session.put(f"{base}/file?filename=bench-{round_no}.mp4", data=generate(chunks, size),
                                  headers=headers | {"Content-Type": "video/mp4", "Content-Length": str(size)})
        elif mode == "form":
            boundary = secrets.token_hex(16)
            head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench-{round_no}.mp4\"\r\n"
                    "Content-Type: video/mp4\r\n\r\n").encode()
            tail = f"\r\n--{boundary}--\r\n".encode()

            async def form() -> AsyncIterator[bytes]:
                yield head
                async for chunk in generate(chunks, size):
                    yield chunk
                yield tail

            r = await session.post(f"{base}/file", data=form(), headers=headers | {
                "Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(len(head) + size + len(tail))})
        else:
            async with session.post(f"{base}/uploads", json={"filename": f"bench-{round_no}.mp4", "size": size,
                                                             "content_type": "video/mp4"}, headers=headers) as started_upload:
                upload = await started_upload.json()
                if started_upload.status != 201:
                    raise SystemExit(f"start upload: {started_upload.status} {upload}")
            part_size, stream = upload["part_size"], generate(chunks, size).__aiter__()
            pending = b""
            for number in range(1, upload["part_count"] + 1):
                want = min(part_size, size - (number - 1) * part_size)

                async def part(want: int = want) -> AsyncIterator[bytes]:
                    nonlocal pending
                    sent = 0
                    while sent < want:
                        chunk = pending or await stream.__anext__()
                        pending = chunk[want - sent:]
                        chunk = chunk[: want - sent]
                        sent += len(chunk)
                        yield chunk

                async with session.put(f"{gateway}/api/learning/v1/uploads/{upload['id']}/parts/{number}", data=part(),
                                       headers=headers | {"Content-Length": str(want)}) as sent_part:
                    if sent_part.status != 200:
                        raise SystemExit(f"part {number}: {sent_part.status} {await sent_part.text()}")
            r = await session.post(f"{gateway}/api/learning/v1/uploads/{upload['id']}/complete", headers=headers)
        async with r:
            body = await r.json()
            elapsed = time.perf_counter() - started
            if r.status != 201:
                raise SystemExit(f"upload ({mode}): {r.status} {body}")
    return elapsed, body


# -- setup -------------------------------------------------------------------------------------------------------

async def prepare(identity_db: str, learning_db: str, identity_url: str, objects: str, learning_secret: str) -> None:
    from services.common.migrations import upgrade
    from services.identity.config import IdentitySettings
    from services.identity.seed import seed

    await upgrade("identity", identity_db)
    await upgrade("learning", learning_db)
    settings = IdentitySettings(database_url=identity_db, object_store_url=objects, jwt_issuer=identity_url)
    await seed(settings, {"svc-learning": learning_secret})


async def sign_in(gateway: str) -> dict[str, str]:
    import httpx

    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.post(f"{gateway}/api/identity/v1/auth/login", json={"username": TEACHER[0], "password": TEACHER[1]})
    if r.status_code != 200:
        raise SystemExit(f"sign-in: {r.status_code} {r.text}")
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def mib(n: int) -> str:
    return f"{n / MIB:6.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="upload size (default 1024 = 1 GiB)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat direct, gateway, gateway, direct (default 1)")
    parser.add_argument("--rss-target-mib", type=float, default=150.0)
    parser.add_argument("--store", choices=["folder", "s3"], default="folder",
                        help="folder (default) or s3: a moto S3 server in its own process")
    parser.add_argument("--mode", choices=["raw", "form", "resumable"], default="raw",
                        help="raw body PUT (default), multipart form POST, or a resumable upload part by part")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, logs)")
    args = parser.parse_args()
    if not Path("/proc/self/status").exists():
        raise SystemExit("this benchmark reads /proc/<pid>/status (Linux)")

    size = args.size_mib * MIB
    tmp = Path(tempfile.mkdtemp(prefix="vet-bench-upload-", dir=os.environ.get("BENCH_TMP")))
    ports = {"identity": free_port(), "learning": free_port(), "gateway": free_port()}
    identity_url = f"http://127.0.0.1:{ports['identity']}"
    learning_url = f"http://127.0.0.1:{ports['learning']}"
    gateway_url = f"http://127.0.0.1:{ports['gateway']}"
    identity_db = f"sqlite+aiosqlite:///{tmp / 'identity.db'}"
    learning_db = f"sqlite+aiosqlite:///{tmp / 'learning.db'}"
    objects = f"file://{tmp / 'objects'}"
    store_url, direct_url, s3, s3_env = objects, f"file://{tmp / 'direct'}", {}, {}
    learning_secret = "dev-only-" + secrets.token_urlsafe(16)

    asyncio.run(prepare(identity_db, learning_db, identity_url, objects, learning_secret))
    load = LoadWatch()
    procs = Processes(tmp)
    try:
        if args.store == "s3":
            port = free_port()
            moto = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
            procs.procs["s3"] = subprocess.Popen(moto, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.wait_healthy("s3", f"http://127.0.0.1:{port}/moto-api/")
            s3 = {"s3_endpoint": f"127.0.0.1:{port}", "s3_access_key": "bench", "s3_secret_key": "bench-secret"}
            store_url, direct_url = "s3://bench-learning", "s3://bench-direct"
            s3_env = {"LEARNING_S3_ENDPOINT": s3["s3_endpoint"], "LEARNING_S3_ACCESS_KEY": "bench",
                      "LEARNING_S3_SECRET_KEY": "bench-secret"}
        procs.start("identity", "services.identity.app:create_app", ports["identity"], {
            "IDENTITY_DATABASE_URL": identity_db, "IDENTITY_OBJECT_STORE_URL": objects,
            "IDENTITY_JWT_ISSUER": identity_url, "IDENTITY_LOG_LEVEL": "WARNING",
        })
        learning = procs.start("learning", "services.learning.app:create_app", ports["learning"], {
            "LEARNING_DATABASE_URL": learning_db, "LEARNING_OBJECT_STORE_URL": store_url, **s3_env,
            "LEARNING_IDENTITY_URL": identity_url, "LEARNING_JWT_ISSUER": identity_url,
            "LEARNING_CLIENT_SECRET": learning_secret, "LEARNING_OUTBOX_ENABLED": "false",
            "LEARNING_PUBLIC_BASE_URL": gateway_url, "LEARNING_LOG_LEVEL": "WARNING",
        })
        gateway = procs.start("gateway", "gateway.app:create_app", ports["gateway"], {
            "GATEWAY_IDENTITY_URL": identity_url, "GATEWAY_LEARNING_URL": learning_url,
            "GATEWAY_JWT_ISSUER": identity_url, "GATEWAY_RATE_LIMIT_ENABLED": "false",
            "GATEWAY_ACCESS_LOG": "false", "GATEWAY_LOG_LEVEL": "WARNING",
        })
        for name, url in (("identity", identity_url), ("learning", learning_url), ("gateway", gateway_url)):
            procs.wait_healthy(name, url + "/healthz")

        async def run() -> None:
            headers = await sign_in(gateway_url)
            pids = {"learning": learning.pid, "gateway": gateway.pid}
            # a small upload first, so both processes have imported and warmed everything they use
            await gateway_round(gateway_url, headers, 2 * MIB, 0)
            print(f"upload of {args.size_mib} MiB, {args.mode}, {args.store} store; rounds: direct, gateway, gateway, direct × {args.rounds}")
            times: dict[str, list[float]] = {"direct": [], "gateway": []}
            peaks = {name: 0 for name in pids}
            round_no = 1
            for _ in range(max(1, args.rounds)):
                for side in ("direct", "gateway", "gateway", "direct"):
                    if side == "direct":
                        with load.side("direct"):
                            elapsed = await direct_round(direct_url, s3, size, round_no)
                        print(f"  direct  {size / elapsed / MIB:7.1f} MiB/s  ({elapsed:5.1f} s)")
                    else:
                        with RssSampler(pids) as sampler, load.side("gateway"):
                            elapsed, body = await gateway_round(gateway_url, headers, size, round_no, args.mode)
                        if body["version"]["file"]["size"] != size:
                            raise SystemExit(f"stored {body['version']['file']} for {size} bytes sent")
                        for name in pids:
                            peaks[name] = max(peaks[name], sampler.peak[name])
                        print(f"  gateway {size / elapsed / MIB:7.1f} MiB/s  ({elapsed:5.1f} s)  peak RSS learning "
                              f"{mib(sampler.peak['learning'])} (from {mib(sampler.start_rss['learning'])}), gateway "
                              f"{mib(sampler.peak['gateway'])} (from {mib(sampler.start_rss['gateway'])})")
                    times[side].append(elapsed)
                    round_no += 1
            direct_rate = len(times["direct"]) * size / sum(times["direct"])
            gateway_rate = len(times["gateway"]) * size / sum(times["gateway"])
            hwm = {name: proc_status(pid)["VmHWM"] for name, pid in pids.items()}
            print(f"direct : {direct_rate / MIB:7.1f} MiB/s  ObjectStore.put ({args.store}) in this process")
            print(f"gateway: {gateway_rate / MIB:7.1f} MiB/s  PUT through the gateway into the learning service")
            for name in pids:
                ok = "ok" if max(peaks[name], hwm[name]) < args.rss_target_mib * MIB else "OVER TARGET"
                print(f"peak RSS {name:8}: {mib(peaks[name])} sampled, {mib(hwm[name])} VmHWM "
                      f"(target < {args.rss_target_mib:.0f} MiB: {ok})")
            print(load.ratio("gateway/direct", gateway_rate / direct_rate, "gateway", "direct"))

        asyncio.run(run())
    finally:
        procs.stop()
        load.end()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
