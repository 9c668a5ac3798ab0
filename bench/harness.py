"""What every benchmark needs to run the platform's processes: free ports, uvicorn subprocesses with their logs,
waiting for health, stopping them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UVICORN_FLAGS = ["--host", "127.0.0.1", "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
_PREFIXES = ("IDENTITY_", "LEARNING_", "RECORDS_", "CREDENTIALS_", "GATEWAY_")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux ``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """uvicorn processes started from a clean environment (no platform variables leak in from the caller's)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        #: each process's own environment (over ``base_env``), as started
        self.env_of: dict[str, dict[str, str]] = {}
        clean = {k: v for k, v in os.environ.items() if not k.startswith(_PREFIXES)}
        pythonpath = os.pathsep.join(p for p in (str(ROOT), clean.get("PYTHONPATH", "")) if p)
        self.base_env = clean | {"PYTHONPATH": pythonpath}

    def start(self, name: str, factory: str, port: int, env: dict[str, str], *,
              wrapper: list[str] | None = None) -> subprocess.Popen[bytes]:
        """``wrapper``: a command the server is started under (a profiler's ``py-spy record … --``)."""
        log = open(self.logs / f"{name}.log", "wb")
        self.env_of[name] = env
        cmd = [*(wrapper or []), sys.executable, "-m", "uvicorn", "--factory", factory, "--port", str(port), *UVICORN_FLAGS]
        self.procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=self.base_env | env, stdout=log, stderr=subprocess.STDOUT)
        return self.procs[name]

    def tail(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def wait_healthy(self, name: str, url: str, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                raise SystemExit(f"{name} exited early:\n{self.tail(name)}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{name} not healthy after {timeout:.0f} s:\n{self.tail(name)}")

    def stop(self, timeout: float = 15.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
