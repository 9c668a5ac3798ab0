"""All five processes started the way `make run` starts them (python -m services run), on free ports with
temporary SQLite files: a token through the gateway, every service's /readyz through the gateway, clean stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.registry import SERVICES

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Bindable the way uvicorn binds (SO_REUSEADDR), so TIME-WAIT leftovers of closed connections don't count."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory):
    var = tmp_path_factory.mktemp("var")
    ports = {name: free_port() for name in SERVICES}
    gateway = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "LEARNING_", "RECORDS_", "CREDENTIALS_", "GATEWAY_"))}
    cmd = [sys.executable, "-m", "services", "run", "--var", str(var), "--gateway-port", str(gateway), "--log-level", "warning"]
    cmd += [arg for name, port in ports.items() for arg in ("--port", f"{name}={port}")]
    log = open(var / "run.log", "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{gateway}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"runner exited early:\n{(var / 'run.log').read_text()}")
        if b"VET platform is up" in (var / "run.log").read_bytes():
            break
        time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"platform not up in time:\n{(var / 'run.log').read_text()}")
    yield base, proc, ports, gateway, var
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    log.close()


def test_token_and_readiness_of_every_service_through_the_gateway(running) -> None:
    base, *_ = running
    with httpx.Client(base_url=base, timeout=10) as c:
        r = c.post("/api/identity/oauth/token", data={"grant_type": "client_credentials"},
                   auth=("demo-school-sis", "dev-only-demo-school-secret"))
        assert r.status_code == 200, r.text
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        for name in SERVICES:
            ready = c.get(f"/api/{name}/readyz", headers=auth)
            assert ready.status_code == 200, (name, ready.text)
            assert ready.json()["checks"] == {"database": "ok", "object_store": "ok"}
            assert ready.headers["x-request-id"]
        assert c.get("/api/records/v1/admin/inbox").status_code == 401
        docs = c.get("/openapi.json").json()
        prefixes = {p.split("/")[2] for p in docs["paths"] if p.startswith("/api/")}
        assert set(SERVICES) <= prefixes


@pytest.mark.parametrize("demo", ["library", "diplomas", "courses", "records", "assessment", "pathways"])
def test_the_readme_demos_pass_against_the_running_platform(running, demo: str) -> None:
    """The demos the README tells a new user to run (``demo/<name>.py``), as they run them: a separate process
    talking to the gateway of the platform ``python -m services run`` started, with the data it seeded."""
    base, *_ = running
    done = subprocess.run([sys.executable, str(ROOT / "demo" / f"{demo}.py"), base], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{demo} demo failed:\n{done.stdout}\n{done.stderr}"
    assert done.stdout.rstrip().endswith(f"{demo} demo: OK"), done.stdout


def wait_for_line(log: Path, pattern: str, timeout: float = 60.0) -> re.Match[str]:
    """The first line of the runner's output matching ``pattern``, waited for."""
    deadline = time.monotonic() + timeout
    while not (found := re.search(pattern, log.read_text(errors="replace"), re.MULTILINE)):
        assert time.monotonic() < deadline, f"no line matching {pattern!r} in time:\n{log.read_text()}"
        time.sleep(0.1)
    return found


def test_a_killed_service_process_is_restarted_and_serves_again(running) -> None:
    """One process per service: ``kill -9`` of learning's process; the runner logs it, starts it again after its
    back-off, says when it serves, and every other process goes on (same pids)."""
    base, proc, ports, gateway, var = running
    log = var / "run.log"
    pids = {m[1]: int(m[2]) for m in re.finditer(r"^started (\S+) on port \d+ \(pid (\d+)\)$", log.read_text(), re.MULTILINE)}
    assert set(pids) == {*SERVICES, "gateway"}
    os.kill(pids["learning"], signal.SIGKILL)
    wait_for_line(log, rf"^learning \(pid {pids['learning']}\) was killed by SIGKILL; restarting it in 1 s$")
    restarted = int(wait_for_line(log, r"^learning restarted \(pid (\d+), restart 1\)$")[1])
    wait_for_line(log, rf"^learning \(pid {restarted}\) is serving again after ")
    with httpx.Client(base_url=base, timeout=10) as c:
        assert c.get("/api/learning/readyz").status_code == 200
    assert proc.poll() is None
    for name, pid in pids.items():
        if name != "learning":
            os.kill(pid, 0)  # still the same process
    assert "restarted" not in log.read_text().replace("learning restarted", "")


def test_ctrl_c_stops_every_process_and_frees_the_ports(running) -> None:
    base, proc, ports, gateway, var = running
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    assert b"all processes stopped" in (var / "run.log").read_bytes()
    deadline = time.monotonic() + 30  # the kernel may take a moment to release a socket of a process just gone
    while taken := [port for port in [*ports.values(), gateway] if not port_is_free(port)]:
        assert time.monotonic() < deadline, taken
        time.sleep(0.1)
