"""Staff accounts and their memberships: creating an account (the password policy of ``passwords.py``), granting and
revoking roles, unlocking, disabling and enabling — each allowed by ``grants.py`` and audited, refusals too (in
their own transaction: ``grants.refuse``). Sign-in, refresh, logout and the password change are in ``flows.py``."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import Database, utcnow
from services.common.errors import Conflict, Forbidden, NotFound
from services.common.permissions import is_national_officer
from services.identity.accounts import grants, passwords, repository, throttle
from services.identity.accounts.schemas import AccountCreate, AccountRead, AccountUpdate, MembershipIn, MembershipRead
from services.identity.accounts.sessions import SessionService
from services.identity.audit import service as audit
from services.identity.models import Account, Membership


def account_id_of(principal: Principal) -> uuid.UUID:
    """The caller's own account (403 for a machine client, which has none)."""
    if not principal.sub.startswith("account:"):
        raise Forbidden("Only people have accounts; this token belongs to a machine client.")
    return uuid.UUID(principal.sub.split(":", 1)[1])


async def own_account(session: AsyncSession, principal: Principal) -> AccountRead:
    account = await repository.account(session, account_id_of(principal))
    if account is None:
        raise NotFound("Your account no longer exists.")
    return await read(session, account)


async def read(session: AsyncSession, account: Account) -> AccountRead:
    rows = await repository.memberships(session, account.id)
    return AccountRead(
        id=account.id, username=account.username, full_name=account.full_name, person_id=account.person_id,
        active=account.active, memberships=[MembershipRead.model_validate(m) for m in rows], created_at=account.created_at,
    )


async def create_account(session: AsyncSession, db: Database, principal: Principal, body: AccountCreate, ip: str) -> AccountRead:
    """A staff account with its first memberships, each one the caller may grant."""
    reason = None
    if not body.memberships and not (grants.is_platform_admin(principal) or is_national_officer(principal)):
        reason = "Only administrators create accounts without a membership."
    for m in body.memberships:
        reason = reason or grants.why_not(principal, m.role, m.at)
    if reason:
        await grants.refuse(db, principal, reason, action="account.created", target_type="account",
                            target_id=body.username, ip=ip,
                            details={"username": body.username, "memberships": [m.model_dump() for m in body.memberships]})
    passwords.require_policy(body.password, username=body.username, field="password",
                             title="The password does not meet the policy.")
    if await repository.username_taken(session, body.username):
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
    return await read(session, account)


async def grant_membership(session: AsyncSession, db: Database, principal: Principal, account_id: uuid.UUID,
                           body: MembershipIn, ip: str) -> Membership:
    """The membership, granted now or held already (granting twice changes nothing)."""
    reason = grants.why_not(principal, body.role, body.at, target_sub=f"account:{account_id}")
    if reason:
        await grants.refuse(db, principal, reason, action="membership.granted", target_type="account",
                            target_id=str(account_id), details=body.model_dump(), ip=ip)
    if await repository.account(session, account_id) is None:
        raise NotFound(f"No account {account_id}.")
    existing = await repository.membership_held(session, account_id, body.at, body.role)
    if existing is not None:
        return existing
    m = Membership(account_id=account_id, at=body.at, role=body.role, granted_by=principal.sub)
    session.add(m)
    await session.flush()
    audit.record(session, actor=principal, action="membership.granted", target_type="account", target_id=str(account_id),
                 details=body.model_dump())
    return m


async def revoke_membership(session: AsyncSession, db: Database, principal: Principal, account_id: uuid.UUID,
                            membership_id: uuid.UUID, ip: str) -> None:
    """Whoever may grant a role may revoke it (giving up one's own roles is allowed)."""
    m = await repository.membership(session, membership_id)
    if m is None or m.account_id != account_id:
        raise NotFound(f"No membership {membership_id}.")
    reason = grants.why_not(principal, m.role, m.at)
    if reason:
        await grants.refuse(db, principal, reason, action="membership.revoked", target_type="account",
                            target_id=str(account_id), details={"at": m.at, "role": m.role}, ip=ip,
                            request_session=session)
    await session.delete(m)
    audit.record(session, actor=principal, action="membership.revoked", target_type="account", target_id=str(account_id),
                 details={"at": m.at, "role": m.role})


async def _manageable_account(session: AsyncSession, db: Database, principal: Principal, account_id: uuid.UUID,
                              action: str, ip: str) -> Account:
    """The account, if the caller may grant every role it holds (and it is not the caller's own)."""
    account = await repository.account(session, account_id)
    if account is None:
        raise NotFound(f"No account {account_id}.")
    held = await repository.memberships(session, account_id)
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


async def unlock(session: AsyncSession, db: Database, principal: Principal, account_id: uuid.UUID, ip: str) -> None:
    """Ends every sign-in wait of the account (whoever may grant all its roles)."""
    account = await _manageable_account(session, db, principal, account_id, "account.unlocked", ip)
    cleared = await throttle.clear_account(session, account.username)
    audit.record(session, actor=principal, action="account.unlocked", target_type="account", target_id=str(account_id),
                 ip=ip, details={"keys_cleared": cleared})


async def update_account(session: AsyncSession, db: Database, sessions: SessionService, principal: Principal,
                         account_id: uuid.UUID, body: AccountUpdate, ip: str) -> AccountRead:
    """Disabling is the one permanent lock: it also ends every session of the account."""
    account = await _manageable_account(session, db, principal, account_id, "account.updated", ip)
    if body.active is not None and body.active != account.active:
        account.active = body.active
        revoked = 0 if body.active else await sessions.revoke_account(session, account.id, "account_disabled")
        audit.record(session, actor=principal, action="account.enabled" if body.active else "account.disabled",
                     target_type="account", target_id=str(account_id), ip=ip,
                     details={"sessions_revoked": revoked})
    await session.flush()
    return await read(session, account)
