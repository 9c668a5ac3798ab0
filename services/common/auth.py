"""Bearer-token verification against identity's JWKS, done locally in every service and at the gateway.

* :class:`JWKSCache` fetches ``/.well-known/jwks.json`` once, keeps it, and refetches when a token names an
  unknown ``kid`` (at most once per ``min_refresh_seconds``), which is how key rotation reaches every service.
* :class:`TokenVerifier` checks signature (explicit algorithm list, never ``none``), issuer, audience (the
  service's own name, :func:`token_audience`), expiry.
* FastAPI dependencies: :data:`CurrentPrincipal`, :func:`require_scopes`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from jose import jwt
from jose.exceptions import ExpiredSignatureError, JWTError

from services.common.errors import Forbidden, ServiceUnavailable, Unauthorized

ACCEPTED_ALGORITHMS = ["ES256", "RS256"]
#: the audience of each service is its name: a token is accepted by a service only if its ``aud`` lists it
SERVICE_AUDIENCES = ("identity", "learning", "records", "credentials")

JWKSProvider = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person (``kind="user"``) or a machine client (``kind="client"``)."""

    sub: str
    kind: str
    scopes: frozenset[str]
    client_id: str | None = None
    #: roles per institution code, e.g. ``{"CD0101": ["teacher"]}``
    roles: dict[str, list[str]] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def institutions_with(self, role: str) -> set[str]:
        return {code for code, roles in self.roles.items() if role in roles}

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        scope = claims.get("scope") or ""
        return cls(
            sub=str(claims["sub"]),
            kind=str(claims.get("kind", "user")),
            scopes=frozenset(scope.split()),
            client_id=claims.get("client_id"),
            roles={k: list(v) for k, v in (claims.get("roles") or {}).items()},
            claims=claims,
        )


def token_audience(scopes: Iterable[str], *, person: bool, roles: Mapping[str, Any] | None = None) -> list[str]:
    """The ``aud`` of an access token: the services it is for.

    A person's token is for every service (people use them all through the front end). A machine client's token
    is for the services its scopes name (``records:sync`` → records); a client with roles (a school's system, an
    officer's system: authorised by role in several services) or a scope not named after one service
    (``events:deliver``) gets every service."""
    if person or roles:
        return list(SERVICE_AUDIENCES)
    named: set[str] = set()
    for scope in scopes:
        service = scope.partition(":")[0]
        if service not in SERVICE_AUDIENCES:
            return list(SERVICE_AUDIENCES)
        named.add(service)
    return [service for service in SERVICE_AUDIENCES if service in named]


def audiences_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return tuple(aud)
    return ()


class JWKSCache:
    def __init__(
        self,
        jwks_url: str | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        provider: JWKSProvider | None = None,
        min_refresh_seconds: float = 1.0,
    ) -> None:
        if provider is None and jwks_url is None:
            raise ValueError("JWKSCache needs a jwks_url or a provider")
        self._url = jwks_url
        self._client = client
        self._provider = provider
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at = 0.0
        self._min_refresh = min_refresh_seconds
        self._lock = asyncio.Lock()

    async def _fetch(self) -> dict[str, Any]:
        if self._provider is not None:
            return await self._provider()
        assert self._url is not None  # __init__ takes a provider or a URL
        client = self._client or httpx.AsyncClient(timeout=5.0)
        try:
            resp = await client.get(self._url)
            resp.raise_for_status()
            jwks: dict[str, Any] = resp.json()
            return jwks
        finally:
            if self._client is None:
                await client.aclose()

    async def refresh(self, *, force: bool = False) -> None:
        async with self._lock:
            if not force and time.monotonic() - self._fetched_at < self._min_refresh and self._keys:
                return
            try:
                document = await self._fetch()
            except (httpx.HTTPError, ValueError) as exc:
                if self._keys:  # keep serving with the keys we have
                    return
                raise ServiceUnavailable("The token signing keys cannot be fetched from identity.") from exc
            self._keys = {k["kid"]: k for k in document.get("keys", []) if "kid" in k}
            self._fetched_at = time.monotonic()

    async def key_for(self, kid: str) -> dict[str, Any] | None:
        if kid not in self._keys:
            await self.refresh()
        return self._keys.get(kid)


class TokenVerifier:
    """Checks a bearer token. ``audience`` is the service's own name: the token's ``aud`` must list it. Without
    one (the gateway, which checks the audience per route) the token must still carry an ``aud``."""

    #: verified tokens kept (until their ``exp``): a client sends the same token for minutes, and checking its
    #: signature again each time was a third of an authenticated list's CPU
    CACHE_SIZE = 10_000

    def __init__(self, jwks: JWKSCache, *, issuer: str, audience: str | None = None) -> None:
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        """The token's principal; raises ``Unauthorized``. A token verified before is answered from memory until its
        ``exp`` (nothing else about it can change: its key stays published until the last token it signed expires)."""
        hit = self._verified.get(token)
        if hit is not None:
            if hit[1] > time.time():
                return hit[0]
            del self._verified[token]
        principal = await self._verify(token)
        if len(self._verified) >= self.CACHE_SIZE:
            now = time.time()
            self._verified = {t: v for t, v in self._verified.items() if v[1] > now}
            while len(self._verified) >= self.CACHE_SIZE:
                del self._verified[next(iter(self._verified))]
        self._verified[token] = (principal, float(principal.claims["exp"]))
        return principal

    async def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except JWTError:
            raise Unauthorized("The bearer token is malformed.") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ACCEPTED_ALGORITHMS or not kid:
            raise Unauthorized("The bearer token uses an algorithm or key that is not accepted.")
        key = await self.jwks.key_for(kid)
        if key is None:
            raise Unauthorized("The bearer token is signed with an unknown key.")
        if key.get("alg") and key["alg"] != alg:
            raise Unauthorized("The bearer token's algorithm does not match its key.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                # python-jose accepts a token without ``aud`` even when given an audience: required here, and
                # without an audience of our own (the gateway) the claim's presence is checked below
                options={"require_exp": True, "require_iat": True, "require_sub": True,
                         "require_aud": self.audience is not None, "verify_aud": self.audience is not None},
            )
        except ExpiredSignatureError:
            raise Unauthorized("The bearer token has expired.") from None
        except JWTError:
            raise Unauthorized("The bearer token is not valid.") from None
        if not audiences_of(claims):
            raise Unauthorized("The bearer token names no audience.")
        if claims.get("typ") != "access":
            raise Unauthorized("Only access tokens are accepted here.")
        return Principal.from_claims(claims)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def current_principal(request: Request) -> Principal:
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("A bearer token is required.")
    verifier: TokenVerifier = request.app.state.verifier
    return await verifier.verify(token)


async def optional_principal(request: Request) -> Principal | None:
    if bearer_token(request) is None:
        return None
    return await current_principal(request)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def require_scopes(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """Dependency: the caller's token must carry every scope named."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        missing = [s for s in scopes if s not in principal.scopes]
        if missing:
            raise Forbidden(f"This call needs the scope(s): {' '.join(missing)}.", missing_scopes=missing)
        return principal

    return dependency
