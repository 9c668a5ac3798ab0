"""Identity service: persons, accounts, institutions, machine clients, tokens and their signing keys."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from services.common.app import create_service_app
from services.common.httpcache import cache_public
from services.common.limits import BodyLimit, MiB, set_body_limits
from services.identity.accounts.endpoints import router as accounts_router
from services.identity.audit.endpoints import router as audit_router
from services.identity.clients.endpoints import router as clients_router
from services.identity.config import IdentitySettings
from services.identity.context import IdentityContext
from services.identity.devoidc import ProviderState, dev_oidc_router
from services.identity.devsecrets import report_at_start
from services.identity.institutions.endpoints import MAX_CSV_BYTES
from services.identity.institutions.endpoints import router as institutions_router
from services.identity.oversight.endpoints import router as oversight_router
from services.identity.persons.endpoints import router as persons_router
from services.identity.tokens.endpoints import router as tokens_router
from services.identity.vneid.endpoints import router as vneid_router


def create_app(settings: IdentitySettings | None = None, *, http_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    settings = settings or IdentitySettings()
    ctx: IdentityContext

    async def local_jwks() -> dict[str, Any]:
        async with ctx.db.session(write=False) as session:
            return await ctx.tokens.jwks(session)

    async def ensure_key(app: FastAPI) -> None:
        async with ctx.db.session(write=True) as session:
            await ctx.tokens.ensure_signing_key(session)

    async def report_development_secrets(app: FastAPI) -> None:
        await report_at_start(ctx.settings, ctx.db, ctx.tokens, app.state.readiness_notes)

    app = create_service_app(
        settings,
        title="VET platform — identity",
        description="Persons by national ID, accounts, the institution registry, machine clients and tokens (JWKS).",
        routers=[tokens_router, clients_router, accounts_router, vneid_router, persons_router, institutions_router, oversight_router,
                 audit_router],
        jwks_provider=local_jwks,
        http_transport=http_transport,
        on_startup=[ensure_key, report_development_secrets],
        # where callers authenticate or receive tokens: an Idempotency-Key there is ignored, nothing is stored
        idempotency_exempt=["/oauth/token", "/v1/auth/login", "/v1/auth/logout", "/v1/auth/vneid/token"],
    )
    set_body_limits(app, {
        "POST /v1/institutions/import": BodyLimit(MAX_CSV_BYTES, json=False),  # CSV, read row by row
        "POST /v1/persons/resolve": BodyLimit(4 * MiB, max_json_elements=200_000),  # up to 10,000 persons
    })
    ctx = IdentityContext.create(settings, app.state.db, app.state.http, clock=lambda: app.state.clock,
                                 public_cache=app.state.public_cache)
    app.state.identity = ctx
    # public documents answered from memory (services.common.httpcache); the writes below invalidate them. JWKS
    # for at most a second: a key another replica has just rotated in must reach the verifiers at once
    seconds = settings.public_cache_seconds
    cache_public(app, "/.well-known/jwks.json", min(seconds, 1.0))
    for path in ("/v1/institutions", "/v1/institutions.geojson", "/v1/institutions/{code}"):
        cache_public(app, path, seconds)
    if settings.dev_oidc_enabled and settings.environment != "production":
        provider = ProviderState(
            issuer=settings.jwt_issuer.rstrip("/") + "/dev-oidc",
            client_id=settings.vneid_client_id,
            client_secret=settings.vneid_client_secret,
            redirect_uris=[settings.vneid_redirect_uri],
            public_url=settings.dev_oidc_public_url,
        )
        app.include_router(dev_oidc_router(provider))
    return app
