"""Sign-in flows that must record failures even though they answer with an error: each runs its own
transactions (the failure, the lock, the audit entry commit; then the error is raised)."""

from __future__ import annotations

import uuid
from typing import Any

from services.common.db import Database, utcnow
from services.common.errors import AppError, NotFound, Unauthorized
from services.identity.accounts import passwords, repository, throttle
from services.identity.accounts.sessions import SessionService
from services.identity.audit import service as audit
from services.identity.devsecrets import refused_secret


class Locked(AppError):
    status, title, slug = 429, "Too many failed sign-ins", "sign-in-locked"


class InvalidGrant(AppError):
    """RFC 6749 ``invalid_grant``."""

    status, title, slug = 400, "Invalid grant", "invalid-grant"


async def _refuse_if_waiting(db: Database, username: str, ip: str, action: str, now: Any) -> None:
    """429 with Retry-After when a wait holds for this account from this address (audited); else nothing."""
    async with db.session(write=False) as session:
        rows = await throttle.read(session, [throttle.pair_key(username, ip), throttle.ip_key(ip), throttle.account_key(username)])
    wait = throttle.seconds_left(rows, throttle.sign_in_keys(rows, username, ip), now)
    if wait:
        async with db.session() as session:
            audit.record(session, actor=f"username:{username[:100]}", action=action, target_type="account",
                         target_id=username[:200], outcome="locked", ip=ip)
        raise Locked(f"Too many failed sign-ins; try again in {wait} s.", headers={"Retry-After": str(wait)})


async def _count_failure(db: Database, sessions: SessionService, username: str, ip: str, action: str, actor: str,
                         target_id: str) -> None:
    """A wrong password: counted for the pair, the address and the account, and audited, in a transaction that
    commits although the request then fails. Waits start now (after the slow password check), not when the
    request came in."""
    settings, now = sessions.settings, sessions.tokens.clock().now()
    async with db.session() as session:
        waits = [await throttle.fail(session, throttle.pair_key(username, ip), settings.lockout_pair_failures, settings, now),
                 await throttle.fail(session, throttle.ip_key(ip), settings.lockout_ip_failures, settings, now),
                 await throttle.fail(session, throttle.account_key(username), settings.lockout_account_failures, settings, now)]
        audit.record(session, actor=actor, action=action, target_type="account", target_id=target_id, outcome="failure", ip=ip,
                     details={"waits": {"pair": waits[0], "address": waits[1], "account": waits[2]}})


async def _count_success(session: Any, username: str, ip: str, now: Any) -> None:
    """The pair starts afresh and is known from now on. The account's count is left alone: the owner signing in
    where they always do says nothing about the guesses from elsewhere (they run out, or an administrator unlocks)."""
    await throttle.succeed(session, throttle.pair_key(username, ip), now, remember=True)


async def password_login(db: Database, sessions: SessionService, username: str, password: str, ip: str) -> dict[str, Any]:
    now = sessions.tokens.clock().now()
    await _refuse_if_waiting(db, username, ip, "login.password", now)
    async with db.session() as session:
        account = await repository.account_by_username(session, username)
        ok = passwords.verify_password(account.password_hash if account else None, password) and not refused_secret(sessions.settings, password)
        if ok and account is not None and account.active:
            await _count_success(session, username, ip, now)
            if passwords.needs_rehash(account.password_hash or ""):
                account.password_hash = passwords.hash_password(password)
            tokens = await sessions.issue(session, account)
            audit.record(session, actor=f"account:{account.id}", action="login.password", target_type="account",
                         target_id=str(account.id), ip=ip)
            return tokens
    # a failure: count it, audit it, then refuse
    await _count_failure(db, sessions, username, ip, "login.password", f"username:{username[:100]}", username[:200])
    raise Unauthorized("Wrong username or password.")


async def change_password(db: Database, sessions: SessionService, account_id: uuid.UUID, actor: Any, current: str,
                          new: str, ip: str) -> None:
    """The current password is checked like a sign-in (the same waits and counts: a stolen access token does not
    buy unlimited guesses); on success every refresh-token family of the account is revoked — every session ends,
    this one too — so whoever held a session with the old password holds nothing now."""
    async with db.session(write=False) as session:
        account = await repository.account(session, account_id)
        if account is None:
            raise NotFound("Your account no longer exists.")
        username = account.username
    now = sessions.tokens.clock().now()
    await _refuse_if_waiting(db, username, ip, "account.password_change", now)
    if not passwords.verify_password(account.password_hash, current):
        await _count_failure(db, sessions, username, ip, "account.password_change", f"account:{account_id}", str(account_id))
        raise Unauthorized("The current password is wrong.", errors=[{"field": "current_password", "message": "wrong password"}])
    passwords.require_policy(new, username=username, field="new_password", title="The new password does not meet the policy.")
    async with db.session() as session:
        account = await repository.account(session, account_id)
        if account is None:
            raise NotFound("Your account no longer exists.")
        account.password_hash = passwords.hash_password(new)
        account.password_changed_at = now
        await _count_success(session, username, ip, now)
        families = await sessions.revoke_account(session, account_id, "password_changed", now)
        audit.record(session, actor=actor, action="account.password_changed", target_type="account", target_id=str(account_id),
                     ip=ip, details={"sessions_revoked": families})


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
            account = await repository.account(session, row.account_id)
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
