"""Sign-in with a password, refresh (see /oauth/token), logout, password change, accounts and memberships."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from services.common.auth import CurrentPrincipal
from services.common.db import SessionDep
from services.identity.accounts import flows, service
from services.identity.accounts.schemas import (
    AccountCreate,
    AccountRead,
    AccountUpdate,
    LoginRequest,
    LogoutRequest,
    MembershipIn,
    MembershipRead,
    PasswordChange,
    SessionTokens,
)
from services.identity.context import ClientIp, IdentityCtxDep

router = APIRouter(tags=["accounts"])


@router.post("/v1/auth/login", response_model=SessionTokens, summary="Staff sign-in with username and password")
async def login(body: LoginRequest, ctx: IdentityCtxDep, ip: ClientIp, response: Response) -> Any:
    tokens = await flows.password_login(ctx.db, ctx.sessions, body.username, body.password, ip)
    response.headers["Cache-Control"] = "no-store"
    return tokens


@router.post("/v1/auth/logout", status_code=204, summary="End the sign-in session (revokes its refresh tokens)")
async def logout(body: LogoutRequest, ctx: IdentityCtxDep, ip: ClientIp) -> Response:
    await flows.logout(ctx.db, ctx.sessions, body.refresh_token, ip)
    return Response(status_code=204)


@router.get("/v1/accounts/me", response_model=AccountRead, summary="Your account and memberships")
async def me(session: SessionDep, principal: CurrentPrincipal) -> AccountRead:
    return await service.own_account(session, principal)


@router.post("/v1/auth/password", status_code=204, summary="Change your password (ends every session of the account)")
async def change_password(body: PasswordChange, ctx: IdentityCtxDep, ip: ClientIp, principal: CurrentPrincipal) -> Response:
    await flows.change_password(ctx.db, ctx.sessions, service.account_id_of(principal), principal,
                                body.current_password, body.new_password, ip)
    return Response(status_code=204)


@router.post("/v1/accounts", response_model=AccountRead, status_code=201, summary="Create a staff account")
async def create_account(body: AccountCreate, ctx: IdentityCtxDep, ip: ClientIp, session: SessionDep,
                         principal: CurrentPrincipal) -> AccountRead:
    """Who may grant which role: see ``accounts/grants.py``; refusals are audited too."""
    return await service.create_account(session, ctx.db, principal, body, ip)


@router.post("/v1/accounts/{account_id}/memberships", response_model=MembershipRead, status_code=201, summary="Grant a role")
async def grant(account_id: uuid.UUID, body: MembershipIn, ctx: IdentityCtxDep, ip: ClientIp, session: SessionDep,
                principal: CurrentPrincipal) -> Any:
    return await service.grant_membership(session, ctx.db, principal, account_id, body, ip)


@router.delete("/v1/accounts/{account_id}/memberships/{membership_id}", status_code=204, summary="Revoke a role")
async def revoke(account_id: uuid.UUID, membership_id: uuid.UUID, ctx: IdentityCtxDep, ip: ClientIp, session: SessionDep,
                 principal: CurrentPrincipal) -> Response:
    """Who may revoke a role: whoever may grant it (giving up one's own roles is allowed)."""
    await service.revoke_membership(session, ctx.db, principal, account_id, membership_id, ip)
    return Response(status_code=204)


@router.post("/v1/accounts/{account_id}/unlock", status_code=204,
             summary="End every sign-in wait of an account (whoever may grant all its roles)")
async def unlock(account_id: uuid.UUID, ctx: IdentityCtxDep, ip: ClientIp, session: SessionDep, principal: CurrentPrincipal) -> Response:
    await service.unlock(session, ctx.db, principal, account_id, ip)
    return Response(status_code=204)


@router.patch("/v1/accounts/{account_id}", response_model=AccountRead,
              summary="Disable an account (the one permanent lock: it also ends every session) or enable it again")
async def update_account(account_id: uuid.UUID, body: AccountUpdate, ctx: IdentityCtxDep, ip: ClientIp, session: SessionDep,
                         principal: CurrentPrincipal) -> AccountRead:
    return await service.update_account(session, ctx.db, ctx.sessions, principal, account_id, body, ip)
