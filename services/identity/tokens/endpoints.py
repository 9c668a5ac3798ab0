"""OAuth2 token endpoint, JWKS, discovery and key rotation (machine clients are registered in ``clients/``)."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse

from services.common.auth import Principal, require_scopes
from services.common.db import SessionDep
from services.common.errors import BadRequest
from services.common.httpcache import invalidate_on_commit
from services.identity.accounts.flows import refresh_grant
from services.identity.context import ClientIp, IdentityCtxDep
from services.identity.tokens import repository, service
from services.identity.tokens.schemas import SigningKeyRead, TokenResponse
from services.identity.tokens.service import InvalidClient

router = APIRouter()


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise InvalidClient("Malformed HTTP Basic credentials.", error="invalid_client") from None
    return client_id, secret


@router.post("/oauth/token", response_model=TokenResponse, tags=["oauth"], summary="OAuth2 token endpoint (client_credentials, refresh_token)")
async def token(
    request: Request,
    ctx: IdentityCtxDep,
    ip: ClientIp,
    grant_type: Annotated[str, Form()],
    scope: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    refresh_token: Annotated[str | None, Form()] = None,
) -> JSONResponse:
    no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if grant_type == "refresh_token":
        if not refresh_token:
            raise BadRequest("refresh_token is required.", error="invalid_request", errors=[{"field": "refresh_token", "message": "required"}])
        body = await refresh_grant(ctx.db, ctx.sessions, refresh_token, ip)
        return JSONResponse(body, headers=no_store)
    if grant_type != "client_credentials":
        raise BadRequest(
            f"grant_type {grant_type!r} is not supported here.",
            error="unsupported_grant_type",
            errors=[{"field": "grant_type", "message": "client_credentials or refresh_token"}],
        )
    basic = _basic_credentials(request)
    if basic is not None:
        client_id, client_secret = basic
    if not client_id or not client_secret:
        raise InvalidClient("Client credentials are required (HTTP Basic or form fields).", error="invalid_client")
    body = await ctx.tokens.client_credentials_grant(ctx.db, client_id, client_secret, scope, ip)
    return JSONResponse(body, headers=no_store)


@router.get("/.well-known/jwks.json", tags=["oauth"], summary="Public keys that verify platform tokens")
async def jwks(session: SessionDep, ctx: IdentityCtxDep) -> JSONResponse:
    return JSONResponse(await ctx.tokens.jwks(session), headers={"Cache-Control": "public, max-age=60"})


@router.get("/.well-known/openid-configuration", tags=["oauth"], summary="Discovery document")
async def discovery(ctx: IdentityCtxDep) -> dict[str, Any]:
    issuer = ctx.settings.jwt_issuer.rstrip("/")
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "scopes_supported": [
            "records:sync", "records:read", "credentials:issue", "credentials:verify:bulk", "learning:publish",
            "events:deliver", "identity:keys", "identity:clients", "identity:persons",
        ],
    }


@router.post(
    "/v1/admin/signing-keys/rotate",
    response_model=SigningKeyRead,
    status_code=201,
    tags=["admin"],
    dependencies=[Depends(require_scopes("identity:keys"))],
    summary="Rotate the token signing key",
)
async def rotate_key(session: SessionDep, ctx: IdentityCtxDep, principal: Annotated[Principal, Depends(require_scopes("identity:keys"))]) -> Any:
    key = await service.rotate_key(session, ctx.tokens, principal)
    invalidate_on_commit(session, ctx.public_cache, "/.well-known/jwks.json")
    return key


@router.get(
    "/v1/admin/signing-keys",
    response_model=list[SigningKeyRead],
    tags=["admin"],
    dependencies=[Depends(require_scopes("identity:keys"))],
    summary="Signing keys, newest first",
)
async def list_keys(session: SessionDep) -> Any:
    return await repository.all_keys(session)
