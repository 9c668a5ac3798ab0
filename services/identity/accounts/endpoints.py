"""Sign-in with a password, refresh (see /oauth/token), logout, password change, accounts and memberships."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import select

from services.common.auth import CurrentPrincipal, Principal
from services.common.db import Database, SessionDep, utcnow
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.common.permissions import is_national_officer
from services.identity.accounts import flows, grants, passwords, throttle
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
from services.identity.audit import service as audit
from services.identity.context import ClientIp, IdentityCtxDep
from services.identity.models import Account, Membership

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


async def _account_of(session: Any, principal: Principal) -> Account:
    if not principal.sub.startswith("account:"):
        raise Forbidden("Only people have accounts; this token belongs to a machine client.")
    account = await session.get(Account, uuid.UUID(principal.sub.split(":", 1)[1]))
    if account is None:
        raise NotFound("Your account no longer exists.")
    return account


async def _read(session: Any, account: Account) -> AccountRead:
    rows = (await session.scalars(select(Membership).where(Membership.account_id == account.id))).all()
    return AccountRead(
        id=account.id, username=account.username, full_name=account.full_name, person_id=account.person_id,
        active=account.active, memberships=[MembershipRead.model_validate(m) for m in rows], created_at=account.created_at,
    )


@router.get("/v1/accounts/me", response_model=AccountRead, summary="Your account and memberships")
async def me(session: SessionDep, principal: CurrentPrincipal) -> AccountRead:
    return await _read(session, await _account_of(session, principal))


@router.post("/v1/auth/password", status_code=204, summary="Change your password (ends every session of the account)")
async def change_password(body: PasswordChange, ctx: IdentityCtxDep, ip: ClientIp, principal: CurrentPrincipal) -> Response:
    if not principal.sub.startswith("account:"):
        raise Forbidden("Only people have accounts; this token belongs to a machine client.")
    await flows.change_password(ctx.db, ctx.sessions, uuid.UUID(principal.sub.split(":", 1)[1]), principal,
                                body.current_password, body.new_password, ip)
    return Response(status_code=204)


@router.post("/v1/accounts", response_model=AccountRead, status_code=201, summary="Create a staff account")
async def create_account(body: AccountCreate, ctx: IdentityCtxDep, ip: ClientIp, session: SessionDep, principal: CurrentPrincipal) -> AccountRead:
    """Who may grant which role: see ``accounts/grants.py``; refusals are audited too."""
    reason = None
    if not body.memberships and not (grants.is_platform_admin(principal) or is_national_officer(principal)):
        reason = "Only administrators create accounts without a membership."
    for m in body.memberships:
        reason = reason or grants.why_not(principal, m.role, m.at)
    if reason:
        await grants.refuse(ctx.db, principal, reason, action="account.created", target_type="account",
                            target_id=body.username, ip=ip,
                            details={"username": body.username, "memberships": [m.model_dump() for m in body.memberships]})
    problems = passwords.policy_errors(body.password, username=body.username)
    if problems:
        raise ValidationFailed("The password does not meet the policy.", errors=[{"field": "password", "message": p} for p in problems])
    if await session.scalar(select(Account.id).where(Account.username == body.username)) is not None:
        raise Conflict(f"Username {body.username} is taken.", errors=[{"field": "username", "message": "taken"}])
    account = Account(username=body.username, full_name=body.full_name, password_hash=passwords.hash_password(body.password),
                      password_changed_at=utcnow(), active=True)
    session.add(account)
    await session.flush()
    for m in body.memberships:
        session.add(Membership(account_id=account.id, at=m.at, role=m.role, granted_by=principal.sub))
    audit.record(session, actor=principal, action="account.created", target_type="account", target_id=str(account.id),
                 details={"username": body.username, "memberships": [m.model_dump() for m in body.memberships]})
    await session.flush()
    return await _read(session, account)


@router.post("/v1/accounts/{account_id}/memberships", response_model=MembershipRead, status_code=201, summary="Grant a role")
async def grant(account_id: uuid.UUID, body: MembershipIn, ctx: IdentityCtxDep, ip: ClientIp, session: SessionDep, principal: CurrentPrincipal) -> Any:
    reason = grants.why_not(principal, body.role, body.at, target_sub=f"account:{account_id}")
    if reason:
        await grants.refuse(ctx.db, principal, reason, action="membership.granted", target_type="account",
                            target_id=str(account_id), details=body.model_dump(), ip=ip)
    if await session.get(Account, account_id) is None:
        raise NotFound(f"No account {account_id}.")
    existing = await session.scalar(select(Membership).where(Membership.account_id == account_id, Membership.at == body.at, Membership.role == body.role))
    if existing is not None:
        return existing
    m = Membership(account_id=account_id, at=body.at, role=body.role, granted_by=principal.sub)
    session.add(m)
    await session.flush()
    audit.record(session, actor=principal, action="membership.granted", target_type="account", target_id=str(account_id), details=body.model_dump())
    return m


@router.delete("/v1/accounts/{account_id}/memberships/{membership_id}", status_code=204, summary="Revoke a role")
async def revoke(account_id: uuid.UUID, membership_id: uuid.UUID, ctx: IdentityCtxDep, ip: ClientIp, session: SessionDep, principal: CurrentPrincipal) -> Response:
    """Who may revoke a role: whoever may grant it (giving up one's own roles is allowed)."""
    m = await session.get(Membership, membership_id)
    if m is None or m.account_id != account_id:
        raise NotFound(f"No membership {membership_id}.")
    reason = grants.why_not(principal, m.role, m.at)
    if reason:
        await grants.refuse(ctx.db, principal, reason, action="membership.revoked", target_type="account",
                            target_id=str(account_id), details={"at": m.at, "role": m.role}, ip=ip,
                            request_session=session)
    await session.delete(m)
    audit.record(session, actor=principal, action="membership.revoked", target_type="account", target_id=str(account_id),
                 details={"at": m.at, "role": m.role})
    return Response(status_code=204)


async def _manageable_account(db: Database, ip: str, session: Any, principal: Principal, account_id: uuid.UUID, action: str) -> Account:
    """The account, if the caller may grant every role it holds (and it is not the caller's own)."""
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound(f"No account {account_id}.")
    held = (await session.scalars(select(Membership).where(Membership.account_id == account_id))).all()
    if principal.sub == f"account:{account_id}":
        reason: str | None = "Nobody unlocks, disables or enables their own account; ask an administrator."
    elif not held:
        admin = grants.is_platform_admin(principal) or is_national_officer(principal)
        reason = None if admin else "Only administrators manage accounts without a membership."
    else:
        reason = next((r for m in held if (r := grants.why_not(principal, m.role, m.at))), None)
    if reason:
        await grants.refuse(db, principal, reason, action=action, target_type="account",
                            target_id=str(account_id), details={}, ip=ip, request_session=session)
    return account


@router.post("/v1/accounts/{account_id}/unlock", status_code=204,
             summary="End every sign-in wait of an account (whoever may grant all its roles)")
async def unlock(account_id: uuid.UUID, ctx: IdentityCtxDep, ip: ClientIp, session: SessionDep, principal: CurrentPrincipal) -> Response:
    account = await _manageable_account(ctx.db, ip, session, principal, account_id, "account.unlocked")
    cleared = await throttle.clear_account(session, account.username)
    audit.record(session, actor=principal, action="account.unlocked", target_type="account", target_id=str(account_id),
                 ip=ip, details={"keys_cleared": cleared})
    return Response(status_code=204)


@router.patch("/v1/accounts/{account_id}", response_model=AccountRead,
              summary="Disable an account (the one permanent lock: it also ends every session) or enable it again")
async def update_account(account_id: uuid.UUID, body: AccountUpdate, ctx: IdentityCtxDep, ip: ClientIp, session: SessionDep,
                         principal: CurrentPrincipal) -> AccountRead:
    account = await _manageable_account(ctx.db, ip, session, principal, account_id, "account.updated")
    if body.active is not None and body.active != account.active:
        account.active = body.active
        revoked = 0 if body.active else await ctx.sessions.revoke_account(session, account.id, "account_disabled")
        audit.record(session, actor=principal, action="account.enabled" if body.active else "account.disabled",
                     target_type="account", target_id=str(account_id), ip=ip,
                     details={"sessions_revoked": revoked})
    await session.flush()
    return await _read(session, account)
