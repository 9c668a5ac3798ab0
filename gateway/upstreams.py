"""Replicas of a service behind the gateway: round robin with passive ejection.

``GATEWAY_<SVC>_URL`` names one replica or several (comma-separated, or a JSON list). Each request starts at the
next replica in turn. A replica that refuses the connection, resets it, or does not accept it within
``upstream_connect_timeout`` is *ejected*: skipped for ``upstream_eject_seconds``, then tried again by the next
request that comes its way (no active health checks: real traffic is the probe). When every replica of a service
is ejected they are tried anyway, the one ejected first leading, rather than answering 503 at once.

Retries (in :mod:`gateway.proxy`) go to the next replica, only for idempotent methods (RFC 9110 §9.2.2), only when
the body is replayable (read whole, not a streamed upload) and only when no response byte arrived: the connection
could not be made, or it closed before the answer began. A POST is never sent twice. A read timeout is a 504 and
ejects nobody: a slow request says more about the request than about the replica.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

# the pool and the list format are the kit's: services calling each other use the same (services.common.replicas)
from services.common.replicas import IDEMPOTENT_METHODS, Replica, ReplicaPool, parse_urls

__all__ = ["IDEMPOTENT_METHODS", "Replica", "ReplicaPool", "Upstreams", "parse_urls"]


class Upstreams(Mapping[str, str]):
    """Every service's pool. As a mapping, ``upstreams[name]`` is one replica's URL, taken in turn."""

    def __init__(self, urls: dict[str, list[str]], eject_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pools = {name: ReplicaPool(name, u, eject_seconds, clock) for name, u in urls.items()}

    def set_clock(self, clock: Callable[[], float]) -> None:
        for pool in self.pools.values():
            pool.clock = clock

    def __getitem__(self, name: str) -> str:
        return self.pools[name].pick()

    def __iter__(self) -> Iterator[str]:
        return iter(self.pools)

    def __len__(self) -> int:
        return len(self.pools)
