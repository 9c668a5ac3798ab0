"""OAuth2 token endpoint, JWKS, discovery, key rotation and machine-client registration."""

from __future__ import annotations

import base64
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from services.common.auth import Principal, require_scopes
from services.common.db import Database, SessionDep
from services.common.errors import BadRequest, NotFound, ValidationFailed
from services.common.pagination import Page, PageDep, paginate
from services.identity.accounts import grants
from services.identity.accounts.flows import refresh_grant
from services.identity.audit import service as audit
from services.identity.context import ClientIp, IdentityCtxDep
from services.identity.models import ApiClient
from services.identity.tokens import repository
from services.identity.tokens.schemas import (
    ClientCreate,
    ClientCreated,
    ClientRead,
    ClientUpdate,
    SigningKeyRead,
    TokenResponse,
)
from services.identity.tokens.service import (
    InvalidClient,
    validate_scopes,
)

router = APIRouter()
#: on every response that carries a secret or a token (RFC 6749 §5.1); the Idempotency-Key store never keeps those
NO_STORE = "no-store"
ClientsAdmin = Annotated[Principal, Depends(require_scopes("identity:clients"))]


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
    key = await ctx.tokens.rotate(session)
    audit.record(session, actor=principal, action="signing_key.rotated", target_type="signing_key", target_id=key.kid)
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


@router.post(
    "/v1/clients",
    response_model=ClientCreated,
    status_code=201,
    tags=["clients"],
    summary="Register a machine client (the secret is returned once)",
)
async def create_client(body: ClientCreate, ctx: IdentityCtxDep, session: SessionDep, principal: ClientsAdmin,
                        response: Response) -> Any:
    """The new client gets only roles its creator may grant and scopes its creator holds (``accounts/grants.py``)."""
    scopes = validate_scopes(body.scopes)
    roles = grants.client_roles(body.roles, body.institution_code)
    reason = next((r for role, at in roles if (r := grants.why_not(principal, role, at))), None)
    missing = grants.scopes_not_held(principal, scopes)
    if missing and not reason:
        reason = f"You may not give a client scopes you do not hold: {' '.join(missing)}."
    if reason:
        await grants.refuse(ctx.db, principal, reason, action="client.created", target_type="client",
                            target_id=body.client_id, details={"scopes": scopes, "roles": body.roles,
                                                               "institution_code": body.institution_code})
    client, secret = await ctx.tokens.create_client(
        session,
        client_id=body.client_id,
        name=body.name,
        scopes=scopes,
        institution_code=body.institution_code,
        roles=body.roles,
    )
    audit.record(session, actor=principal, action="client.created", target_type="client", target_id=client.client_id,
                 details={"scopes": client.scopes, "institution_code": client.institution_code, "roles": client.roles})
    response.headers["Cache-Control"] = NO_STORE  # carries a secret: never cached, never kept for an Idempotency-Key replay
    return ClientCreated(**ClientRead.model_validate(client).model_dump(), client_secret=secret)


async def _client_or_404(session: Any, client_id: str) -> Any:
    client = await repository.client_by_id(session, client_id)
    if client is None:
        raise NotFound(f"No client {client_id}.")
    return client


async def _manageable(db: Database, session: Any, principal: Principal, client_id: str, action: str,
                      details: dict[str, Any]) -> Any:
    """The client, if the caller could have created it as it stands (its roles grantable by the caller, its scopes
    held by the caller): rotating the secret of a more powerful client, or changing it, would be an escalation."""
    client = await _client_or_404(session, client_id)
    try:
        roles = grants.client_roles(client.roles or [], client.institution_code)
    except ValidationFailed:  # a role stored before roles were checked: only a platform admin manages that client
        roles = [("platform_admin", "national")]
    reason = next((r for role, at in roles if (r := grants.why_not(principal, role, at))), None)
    missing = grants.scopes_not_held(principal, client.scopes.split())
    if missing and not reason:
        reason = f"This client holds scopes you do not hold: {' '.join(missing)}."
    if reason:
        await grants.refuse(db, principal, reason, action=action, target_type="client", target_id=client_id,
                            details=details, request_session=session)
    return client


@router.get("/v1/clients", response_model=Page[ClientRead], tags=["clients"], summary="Machine clients")
async def list_clients(session: SessionDep, page: PageDep, _: ClientsAdmin) -> Page[Any]:
    return await paginate(session, select(ApiClient), (ApiClient.client_id,), page, transform=ClientRead.model_validate)


@router.post("/v1/clients/{client_id}/secret", response_model=ClientCreated, tags=["clients"], summary="Rotate a client's secret (the old one stops working)")
async def rotate_client_secret(client_id: str, ctx: IdentityCtxDep, session: SessionDep, principal: ClientsAdmin,
                               response: Response) -> Any:
    client = await _manageable(ctx.db, session, principal, client_id, "client.secret_rotated", {})
    secret = secrets.token_urlsafe(32)
    client.secret_hash = ctx.tokens.hash_secret(secret)
    audit.record(session, actor=principal, action="client.secret_rotated", target_type="client", target_id=client_id)
    await session.flush()
    response.headers["Cache-Control"] = NO_STORE
    return ClientCreated(**ClientRead.model_validate(client).model_dump(), client_secret=secret)


@router.patch("/v1/clients/{client_id}", response_model=ClientRead, tags=["clients"], summary="Enable/disable a client or change its scopes")
async def update_client(client_id: str, body: ClientUpdate, ctx: IdentityCtxDep, session: SessionDep, principal: ClientsAdmin) -> Any:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("scopes") is not None:
        scopes = validate_scopes(changes["scopes"])
        missing = grants.scopes_not_held(principal, scopes)
        reason = ("Nobody changes their own client's scopes; ask an administrator." if principal.sub == f"client:{client_id}"
                  else f"You may not give a client scopes you do not hold: {' '.join(missing)}." if missing else None)
        if reason:
            await grants.refuse(ctx.db, principal, reason, action="client.updated", target_type="client",
                                target_id=client_id, details={"scopes": scopes})
        changes["scopes"] = " ".join(sorted(set(scopes)))
    client = await _manageable(ctx.db, session, principal, client_id, "client.updated", {k: v for k, v in changes.items()})
    before = {k: getattr(client, k) for k in changes}
    for k, v in changes.items():
        if v is None:
            raise ValidationFailed(f"{k} cannot be null.", errors=[{"field": k, "message": "cannot be null"}])
        setattr(client, k, v)
    audit.record(session, actor=principal, action="client.updated", target_type="client", target_id=client_id,
                 details={k: {"old": before[k], "new": getattr(client, k)} for k in changes})
    await session.flush()
    return client
