"""Edge authentication: the public allow-list, and bearer tokens verified against identity's JWKS with a cache.

The services verify every token again themselves; the edge check keeps anonymous traffic off them and names the
client for rate limiting. A verified token is cached (bounded) until its ``exp``, so the ES256 check runs once per
token, not once per request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from services.common.auth import Principal, TokenVerifier

_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _pattern_regex(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def parse_route(rule: str) -> tuple[list[str], str]:
    """``"GET,POST /a/*/b/**"`` → (the methods it covers, the regex of its pattern). See ``DEFAULT_PUBLIC_ROUTES``."""
    methods, _, pattern = rule.strip().partition(" ")
    pattern = pattern.strip()
    if not pattern:  # a bare pattern means every method
        methods, pattern = "*", methods
    if not pattern.startswith("/"):
        raise ValueError(f"route pattern must start with '/': {rule!r}")
    names = list(_HTTP_METHODS) if methods == "*" else [m.strip().upper() for m in methods.split(",")]
    if "GET" in names and "HEAD" not in names:
        names = [*names, "HEAD"]
    return names, _pattern_regex(pattern)


class PublicRoutes:
    """Which ``(method, path)`` pairs pass without a token. See ``DEFAULT_PUBLIC_ROUTES`` for the syntax."""

    def __init__(self, rules: Iterable[str]) -> None:
        per_method: dict[str, list[str]] = {m: [] for m in _HTTP_METHODS}
        for rule in rules:
            names, regex = parse_route(rule)
            for name in names:
                per_method.setdefault(name, []).append(regex)
        self._regex = {
            method: re.compile("(?:" + "|".join(parts) + r")\Z") for method, parts in per_method.items() if parts
        }

    def is_public(self, method: str, path: str) -> bool:
        regex = self._regex.get(method)
        return regex is not None and regex.match(path) is not None


class TokenCache:
    """Verified tokens → principal, until the token's ``exp``; at most ``size`` entries."""

    def __init__(self, verifier: TokenVerifier, size: int = 10_000) -> None:
        self.verifier = verifier
        self._size = max(1, size)
        self._cache: dict[str, tuple[Principal, float]] = {}

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified before and not yet expired, else ``None``."""
        hit = self._cache.get(token)
        if hit is not None and hit[1] > time.time():
            return hit[0]
        return None

    async def principal(self, token: str) -> Principal:
        """The token's principal; raises ``Unauthorized`` (or ``ServiceUnavailable`` without keys)."""
        hit = self._cache.get(token)
        now = time.time()
        if hit is not None:
            if hit[1] > now:
                return hit[0]
            del self._cache[token]
        principal = await self.verifier.verify(token)
        exp = float(principal.claims.get("exp", 0))
        if exp > now:
            if len(self._cache) >= self._size:
                self._evict(now)
            self._cache[token] = (principal, exp)
        return principal

    def _evict(self, now: float) -> None:
        expired = [t for t, (_, exp) in self._cache.items() if exp <= now]
        for t in expired:
            del self._cache[t]
        # still full: drop the oldest tenth (dicts keep insertion order)
        if len(self._cache) >= self._size:
            for t in list(self._cache)[: max(1, self._size // 10)]:
                del self._cache[t]

    def __len__(self) -> int:
        return len(self._cache)


def bearer_from_header(value: bytes | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None
