"""A real S3 API for tests: moto's server in a process of its own, on a free port of 127.0.0.1.

    server = start_s3_server()
    store = open_store("s3://bucket", s3_endpoint=server.endpoint, s3_access_key=server.access_key, …)
    …
    server.stop()

or ``with start_s3_server() as server: …``. Moto keeps its state (every object) in its process, so tests sharing a
server should use their own bucket or key prefix. A process rather than a thread of the test process: moto holds a
large PUT several times over while it parses it, and a process gives that memory back when it stops.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import TracebackType

__all__ = ["S3TestServer", "start_s3_server"]


@dataclass(frozen=True)
class S3TestServer:
    """A running moto server: pass ``endpoint`` (``host:port``, plain HTTP) and the keys to the S3 client."""

    endpoint: str
    access_key: str = "testing"
    secret_key: str = "testing-secret"
    region: str = "us-east-1"
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> S3TestServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def start_s3_server(host: str = "127.0.0.1", port: int = 0, *, timeout: float = 60.0) -> S3TestServer:
    """Start moto's S3-compatible server (``port=0``: a free port) and return how to reach it once it answers."""
    for _ in range(3):  # a free port taken by someone else before moto binds it: another one
        chosen = port or _free_port(host)
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", host, "-p", str(chosen)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            if _answers(host, chosen):
                return S3TestServer(endpoint=f"{host}:{chosen}", _process=process)
            time.sleep(0.05)
        S3TestServer(endpoint="", _process=process).stop()
        if port:
            break
    raise RuntimeError(f"moto's S3 server did not start on {host}:{port or chosen}")
