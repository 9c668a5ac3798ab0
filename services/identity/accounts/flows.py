"""Sign-in flows that must record failures even though they answer with an error: each runs its own
transactions (the failure, the lock, the audit entry commit; then the error is raised)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.common.db import Database, utcnow
from services.common.errors import AppError, Unauthorized
from services.identity.accounts import passwords, throttle
from services.identity.accounts.service import SessionService
from services.identity.audit import service as audit
from services.identity.models import Account


class Locked(AppError):
    status, title, slug = 429, "Too many failed sign-ins", "sign-in-locked"


class InvalidGrant(AppError):
    """RFC 6749 ``invalid_grant``."""

    status, title, slug = 400, "Invalid grant", "invalid-grant"


async def password_login(db: Database, sessions: SessionService, username: str, password: str, ip: str) -> dict[str, Any]:
    settings = sessions.settings
    keys = [f"account:{username.casefold()}", f"ip:{ip}"]
    now = utcnow()
    async with db.session() as session:
        wait = await throttle.seconds_locked(session, keys, now)
        if wait:
            audit.record(session, actor=f"username:{username}", action="login.password", target_type="account",
                         target_id=username, outcome="locked", ip=ip)
    if wait:
        raise Locked(f"Too many failed sign-ins; try again in {wait} s.", headers={"Retry-After": str(wait)})

    async with db.session() as session:
        account = await session.scalar(select(Account).where(Account.username == username))
        ok = passwords.verify_password(account.password_hash if account else None, password)
        if ok and account is not None and account.active:
            await throttle.record_success(session, keys[0])
            if passwords.needs_rehash(account.password_hash or ""):
                account.password_hash = passwords.hash_password(password)
            tokens = await sessions.issue(session, account)
            audit.record(session, actor=f"account:{account.id}", action="login.password", target_type="account",
                         target_id=str(account.id), ip=ip)
            return tokens
    # a failure: count it (account and IP), audit it, then refuse — each in a transaction that commits
    async with db.session() as session:
        locked = await throttle.record_failure(session, keys[0], settings.lockout_account_failures, settings, now)
        locked |= await throttle.record_failure(session, keys[1], settings.lockout_ip_failures, settings, now)
        audit.record(session, actor=f"username:{username}", action="login.password", target_type="account",
                     target_id=username, outcome="failure", ip=ip, details={"locked": locked})
    raise Unauthorized("Wrong username or password.")


async def refresh_grant(db: Database, sessions: SessionService, refresh: str, ip: str | None) -> dict[str, Any]:
    now = utcnow()
    async with db.session() as session:
        row = await sessions.find(session, refresh)
        if row is None or row.expires_at <= now:
            problem = "unknown or expired"
        elif row.revoked_at is not None:
            problem = "revoked"
        elif row.rotated_at is not None:
            # a rotated token came back: someone holds a copy. End the whole sign-in session.
            await sessions.revoke_family(session, row.family_id, "reuse_detected", now)
            audit.record(session, actor=f"account:{row.account_id}", action="token.refresh_reuse", target_type="token_family",
                         target_id=str(row.family_id), outcome="failure", ip=ip)
            problem = "reused; the session is revoked"
        else:
            account = await session.get(Account, row.account_id)
            if account is None or not account.active:
                problem = "account disabled"
            else:
                row.rotated_at = now
                tokens = await sessions.issue(session, account, family_id=row.family_id)
                audit.record(session, actor=f"account:{account.id}", action="token.refresh", target_type="token_family",
                             target_id=str(row.family_id), ip=ip)
                return tokens
    raise InvalidGrant(f"The refresh token is {problem}.", error="invalid_grant")


async def logout(db: Database, sessions: SessionService, refresh: str, ip: str | None) -> bool:
    async with db.session() as session:
        row = await sessions.find(session, refresh)
        if row is None:
            return False
        await sessions.revoke_family(session, row.family_id, "logout")
        audit.record(session, actor=f"account:{row.account_id}", action="logout", target_type="token_family",
                     target_id=str(row.family_id), ip=ip)
        return True
