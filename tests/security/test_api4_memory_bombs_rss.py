"""OWASP API4:2023 — the memory bombs of issue 13 (item 6) sent over HTTP to the services running as their own
processes (``python -m services run``), each service's peak RSS (``VmHWM``) read afterwards: under 300 MiB
whatever was sent. The processes run under an address-space limit, so a regression fails here instead of taking
the machine down."""

from __future__ import annotations

import io
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.registry import SERVICES
from tests.e2e.test_processes import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
PEAK_LIMIT = 300 * MiB


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (4096 * MiB, 4096 * MiB))


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, int], dict[str, int]]]:
    """(ports, pids) of every service, started the way ``make run`` starts them."""
    var = tmp_path_factory.mktemp("var")
    ports = {name: free_port() for name in SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "LEARNING_", "RECORDS_", "CREDENTIALS_", "GATEWAY_"))}
    cmd = [sys.executable, "-m", "services", "run", "--var", str(var), "--gateway-port", str(free_port()), "--log-level", "warning"]
    cmd += [arg for name, port in ports.items() for arg in ("--port", f"{name}={port}")]
    log = open(var / "run.log", "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_limit_memory)
    deadline = time.monotonic() + 120
    while b"VET platform is up" not in (var / "run.log").read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"platform not up:\n{(var / 'run.log').read_text()[-3000:]}")
        time.sleep(0.3)
    pids = {}
    for child in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        for name in SERVICES:
            if f"services.{name}.app" in cmdline:
                pids[name] = int(child)
    assert set(pids) == set(SERVICES), pids
    yield ports, pids
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    log.close()


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def raw_post(port: int, path: str, headers: dict[str, str], body: Iterator[bytes]) -> int:
    """POSTs over a plain socket, sending ``body`` until the server answers; returns the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        s.sendall(head.encode())
        for chunk in body:
            if select.select([s], [], [], 0)[0]:
                break  # the server has answered
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        select.select([s], [], [], 60)
        answer = s.recv(65536)
    return int(answer.split(b" ", 2)[1])


def chunked(total: int, block: int = 256 * 1024) -> Iterator[bytes]:
    data = b"%x\r\n" % block + b" " * block + b"\r\n"
    for _ in range(total // block):
        yield data
    yield b"0\r\n\r\n"


def bomb_zip(line_bytes: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.csv", "propertyName,value\nmanifest.version,1.0\noneroster.version,1.2\nfile.users,bulk\n")
        with z.open("users.csv", "w", force_zip64=True) as member:
            member.write(b"sourcedId,roles\n")
            block = b"a" * MiB
            for _ in range(line_bytes // MiB):
                member.write(block)
    return buf.getvalue()


def test_peak_rss_stays_flat_while_the_bombs_are_sent(services: tuple[dict[str, int], dict[str, int]]) -> None:
    ports, pids = services
    deep = b"[" * 100_000 + b"]" * 100_000
    for name, path in (("credentials", "/v1/verify"), ("identity", "/v1/auth/login"), ("learning", "/v1/xapi/statements"),
                       ("records", "/v1/events")):
        port = ports[name]
        # 300 MB declared: refused before a byte is read
        assert raw_post(port, path, {"Content-Type": "application/json", "Content-Length": str(300 * MiB)}, iter([b" " * MiB] * 300)) == 413, name
        if path != "/v1/events":  # an anonymous event is refused before its body is read (401)
            # 300 MB offered chunked: refused once the limit is passed
            assert raw_post(port, path, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}, chunked(300 * MiB)) == 413, name
            r = httpx.post(f"http://127.0.0.1:{port}{path}", content=deep, headers={"Content-Type": "application/json", "X-Experience-API-Version": "1.0.3"}, timeout=60)
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body", (name, r.text[:300])

    with httpx.Client(base_url=f"http://127.0.0.1:{ports['records']}", timeout=120) as c:
        token = httpx.post(f"http://127.0.0.1:{ports['identity']}/oauth/token", data={"grant_type": "client_credentials"},
                           auth=("demo-school-sis", "dev-only-demo-school-secret")).json()["access_token"]
        school = {"Authorization": f"Bearer {token}"}
        jobs = [
            c.post("/v1/institutions/CD0101/sync/json", content=b'{"grades": [' + deep + b"]}", headers=school | {"Content-Type": "application/json"}),
            c.post("/v1/institutions/CD0101/sync/oneroster", content=bomb_zip(400 * MiB), headers=school | {"Content-Type": "application/zip"}),
        ]
        for r in jobs:
            assert r.status_code == 202, r.text
            deadline = time.monotonic() + 120
            while (job := c.get(f"/v1/sync-jobs/{r.json()['id']}", headers=school).json())["status"] in ("queued", "running"):
                assert time.monotonic() < deadline, job
                time.sleep(0.2)
            assert job["status"] == "failed", job
            assert "manifest" not in job["error"] and ("nests deeper" in job["error"] or "users.csv" in job["error"]), job
    peaks = {name: peak_rss(pid) for name, pid in pids.items()}
    print("peak RSS (MiB):", json.dumps({k: round(v / MiB) for k, v in peaks.items()}))
    assert all(v < PEAK_LIMIT for v in peaks.values()), peaks
