"""What identity's code needs beyond the request: settings, the database, the token and session services, the
VNeID client, the copies of public documents. One instance per app, at ``app.state.identity``; endpoints take it as :data:`IdentityCtxDep` and pass
what a service function needs explicitly (services never see the request)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import httpx
from fastapi import Depends, Request

from services.common.client_ip import TrustedProxies, client_address, trusted_proxies
from services.common.clock import SYSTEM_CLOCK, Clock
from services.common.db import Database
from services.common.httpcache import PublicCache
from services.identity.accounts.sessions import SessionService
from services.identity.config import IdentitySettings
from services.identity.tokens.service import TokenService
from services.identity.vneid.client import OidcClient


@dataclass
class IdentityContext:
    settings: IdentitySettings
    db: Database
    tokens: TokenService
    sessions: SessionService
    oidc: OidcClient
    #: the app's copies of public documents (the registry, JWKS): a write invalidates its own when it commits
    public_cache: PublicCache = field(default_factory=PublicCache)
    #: whose X-Forwarded-For is believed (the gateway), parsed once
    proxies: TrustedProxies = field(init=False)

    def __post_init__(self) -> None:
        self.proxies = trusted_proxies(tuple(self.settings.trusted_proxies))

    @classmethod
    def create(cls, settings: IdentitySettings, db: Database, http: httpx.AsyncClient,
               clock: Callable[[], Clock] = lambda: SYSTEM_CLOCK, public_cache: PublicCache | None = None) -> IdentityContext:
        """``clock``: the time sign-in waits are counted in (the app's ``app.state.clock``)."""
        tokens = TokenService(settings, clock=clock)
        return cls(settings=settings, db=db, tokens=tokens, sessions=SessionService(tokens), oidc=OidcClient(settings, http),
                   public_cache=PublicCache() if public_cache is None else public_cache)


# ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop per request
async def get_context(request: Request) -> IdentityContext:
    return request.app.state.identity  # type: ignore[no-any-return]


IdentityCtxDep = Annotated[IdentityContext, Depends(get_context)]


async def get_client_ip(request: Request, ctx: IdentityCtxDep) -> str:
    """The caller's address: the right-most hop of X-Forwarded-For that is not one of the configured proxies
    (a client's own X-Forwarded-For entries are never reached)."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.getlist("x-forwarded-for"), ctx.proxies)


ClientIp = Annotated[str, Depends(get_client_ip)]
