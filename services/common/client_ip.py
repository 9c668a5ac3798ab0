"""The caller's address behind proxies: the right-most untrusted hop of ``X-Forwarded-For``.

Every proxy appends the address it received the connection from, so only the entries added by proxies we trust
are facts; anything to their left may have been written by the client. Walking the chain from the right (the
connecting peer first), the first address that is not a trusted proxy is the client. A client that sends its own
``X-Forwarded-For`` therefore only adds entries to the left of its real address, which are never reached.

Trusted proxies are addresses (``127.0.0.1``) or networks (``10.0.0.0/8``, ``fd00::/8``). The gateway lists the
load balancers in front of it (none by default: it is the edge); a service lists the gateway and every proxy in
front of the gateway.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: the longest address text kept (an unparsable hop a trusted proxy vouched for is cut to this)
MAX_ADDRESS_LENGTH = 64


def parse_address(value: str) -> IPAddress | None:
    """``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1``, ``[2001:db8::1]:443`` → the address; else ``None``."""
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        value = value[1:end]
    elif value.count(":") == 1:  # IPv4 with a port
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """A set of addresses and networks; ``address in proxies`` for text or parsed addresses."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"not an IP address or network: {entry!r}") from None
        self._cache: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.networks)

    def contains(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str) or not self.networks:
            return False
        hit = self._cache.get(text)
        if hit is None:
            hit = self.contains(parse_address(text))
            if len(self._cache) < 4096:
                self._cache[text] = hit
        return hit


@lru_cache(maxsize=32)
def trusted_proxies(entries: tuple[str, ...]) -> TrustedProxies:
    """A cached :class:`TrustedProxies` for a settings value (pass ``tuple(settings.trusted_proxies)``)."""
    return TrustedProxies(entries)


def forwarded_hops(values: Iterable[str]) -> list[str]:
    """Every hop of one or more ``X-Forwarded-For`` header values, left to right."""
    hops: list[str] = []
    for value in values:
        hops.extend(hop.strip() for hop in value.split(","))
    return [hop for hop in hops if hop]


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: TrustedProxies) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy; then the right-most hop of
    ``forwarded_for`` (the header values in order) that is not a trusted proxy (or the left-most hop when every
    one is trusted)."""
    if not peer:
        peer = "unknown"
    if not trusted or peer not in trusted:
        return peer
    hops = forwarded_hops(forwarded_for)
    if not hops:
        return peer
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            # not an address: nothing trusted wrote it, so it is where the trusted chain ends
            return hop[:MAX_ADDRESS_LENGTH]
        if not trusted.contains(address):
            return str(address)
    first = parse_address(hops[0])
    return str(first) if first is not None else hops[0][:MAX_ADDRESS_LENGTH]
