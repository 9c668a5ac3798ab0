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

import json
import time
from collections.abc import Callable, Iterator, Mapping

#: methods a client may expect to be resent on a failure (RFC 9110 §9.2.2)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def parse_urls(value: str | list[str]) -> list[str]:
    """One URL, a comma-separated list, or a JSON list of URLs; trailing slashes dropped, duplicates kept once."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            items = json.loads(text)
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ValueError("a JSON list of URLs is expected")
        else:
            items = text.split(",")
    else:
        items = list(value)
    urls: list[str] = []
    for item in items:
        url = item.strip().rstrip("/")
        if not url:
            continue
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {url!r}")
        if url not in urls:
            urls.append(url)
    if not urls:
        raise ValueError("at least one URL is needed")
    return urls


class Replica:
    __slots__ = ("url", "ejected_until", "ejections")

    def __init__(self, url: str) -> None:
        self.url = url
        self.ejected_until = 0.0
        self.ejections = 0


class ReplicaPool:
    """The replicas of one service. Not thread-safe; one event loop uses it (no awaits inside)."""

    def __init__(self, service: str, urls: list[str], eject_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.replicas = [Replica(u) for u in urls]
        self.eject_seconds = eject_seconds
        self.clock = clock
        self._next = 0

    def candidates(self) -> list[Replica]:
        """The replicas in the order to try them for one request: from the next in turn, live ones first, then
        the ejected ones (soonest back first), so a request is never refused only because all were ejected."""
        replicas = self.replicas
        n = len(replicas)
        if n == 1:
            return replicas
        start = self._next
        self._next = (start + 1) % n
        now = self.clock()
        ordered = replicas[start:] + replicas[:start]
        live = [r for r in ordered if r.ejected_until <= now]
        if len(live) == n:
            return ordered
        return live + sorted((r for r in ordered if r.ejected_until > now), key=lambda r: r.ejected_until)

    def pick(self) -> str:
        """One replica's URL (for the gateway's own fetches: JWKS, OpenAPI documents)."""
        return self.candidates()[0].url

    def eject(self, replica: Replica) -> None:
        if len(self.replicas) > 1:
            replica.ejected_until = self.clock() + self.eject_seconds
            replica.ejections += 1

    def restore(self, replica: Replica) -> None:
        """It answered: in rotation again at once."""
        if replica.ejected_until:
            replica.ejected_until = 0.0

    def ejected_for(self, replica: Replica) -> float:
        """Seconds until an ejected replica is tried again (0: in rotation)."""
        return max(0.0, replica.ejected_until - self.clock())


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
