"""A real S3 API for tests: moto's server in a thread of the test process, on a free port of 127.0.0.1.

    server = start_s3_server()
    store = open_store("s3://bucket", s3_endpoint=server.endpoint, s3_access_key=server.access_key, …)
    …
    server.stop()

or ``with start_s3_server() as server: …``. Moto keeps its state in the process, so tests sharing a server
should use their own bucket or key prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType

from moto.server import ThreadedMotoServer

__all__ = ["S3TestServer", "start_s3_server"]


@dataclass(frozen=True)
class S3TestServer:
    """A running moto server: pass ``endpoint`` (``host:port``, plain HTTP) and the keys to the S3 client."""

    endpoint: str
    access_key: str = "testing"
    secret_key: str = "testing-secret"
    region: str = "us-east-1"
    _server: ThreadedMotoServer | None = field(default=None, repr=False, compare=False)

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> S3TestServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_s3_server(host: str = "127.0.0.1", port: int = 0) -> S3TestServer:
    """Start moto's S3-compatible server (``port=0``: a free port) and return how to reach it."""
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return S3TestServer(endpoint=f"{bound_host}:{bound_port}", _server=server)
