"""Citizen sign-in through VNeID.

1. ``GET /login`` (the browser, with an optional ``return_to`` — one of the front end's registered routes,
   ``IDENTITY_SIGN_IN_RETURN_URLS``) sets an HttpOnly, SameSite=Lax cookie that binds the sign-in to this browser
   and sends the browser to the provider (authorisation code + PKCE, ``state``, ``nonce``).
2. ``GET /callback`` accepts the provider's answer only from the browser holding that cookie (login CSRF: a
   callback URL made for one browser signs no other in), checks RFC 9207 ``iss`` when the provider sends it (and
   requires it when the provider says it sends it), exchanges the code, links the citizen to the person with that
   number (created earlier by a school's sync, or now), and redirects to ``return_to?code=…``: a one-time code,
   valid ``IDENTITY_SIGN_IN_CODE_SECONDS``, never the tokens.
3. ``POST /token`` — the front end, from the same browser (the cookie again) — exchanges the code once for the
   tokens, in a response body marked ``no-store``.

Tokens thus never travel in a URL (history, logs, Referer, or a page's script reading ``location``), and a
``return_to`` can never be a package player or anything else outside the registered routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse

from services.identity.accounts.schemas import SessionTokens
from services.identity.config import IdentitySettings
from services.identity.context import ClientIp, IdentityCtxDep
from services.identity.vneid import service
from services.identity.vneid.schemas import CodeExchange

router = APIRouter(prefix="/v1/auth/vneid", tags=["vneid"])
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def cookie_name(settings: IdentitySettings) -> str:
    """``__Host-`` on https (host-only, path /, Secure: no sibling host can plant it)."""
    return "__Host-vet_signin" if settings.public_base_url.startswith("https://") else "vet_signin"


@router.get("/login", summary="Start citizen sign-in: redirects to VNeID (authorisation code + PKCE)", status_code=302)
async def vneid_login(
    ctx: IdentityCtxDep,
    return_to: Annotated[str | None, Query(max_length=2000, description="a registered front-end route")] = None,
    login_hint: Annotated[str | None, Query(max_length=64, description="passed to the provider as is; never an ID number")] = None,
) -> RedirectResponse:
    settings = ctx.settings
    url, binding = await service.start(ctx.db, ctx.oidc, settings, return_to, login_hint)
    response = RedirectResponse(url, status_code=302, headers=NO_STORE)
    response.set_cookie(cookie_name(settings), binding, max_age=int(service.REQUEST_TTL.total_seconds()), path="/",
                        httponly=True, samesite="lax", secure=settings.public_base_url.startswith("https://"))
    return response


@router.get("/callback", summary="Finish citizen sign-in (the provider redirects here): to return_to with a one-time code",
            status_code=302)
async def vneid_callback(
    request: Request,
    ctx: IdentityCtxDep,
    ip: ClientIp,
    state: Annotated[str, Query(max_length=100)],
    code: Annotated[str | None, Query(max_length=2000)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    iss: Annotated[str | None, Query(max_length=500, description="RFC 9207: the provider that answered")] = None,
) -> Any:
    target = await service.finish(ctx.db, ctx.oidc, ctx.settings, state=state, code=code, error=error, iss=iss,
                                  cookie=request.cookies.get(cookie_name(ctx.settings)), ip=ip)
    return RedirectResponse(target, status_code=302, headers=NO_STORE)


@router.post("/token", response_model=SessionTokens, summary="Exchange the one-time sign-in code for the tokens (same browser)")
async def vneid_token(body: CodeExchange, request: Request, ctx: IdentityCtxDep, ip: ClientIp) -> JSONResponse:
    settings = ctx.settings
    tokens = await service.exchange(ctx.db, ctx.sessions, body.code, request.cookies.get(cookie_name(settings)), ip)
    response = JSONResponse(tokens, headers=NO_STORE)
    response.delete_cookie(cookie_name(settings), path="/", httponly=True, samesite="lax",
                           secure=settings.public_base_url.startswith("https://"))
    return response
