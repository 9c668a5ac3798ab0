"""Brute-force protection: failed sign-ins counted per account and per IP; past a threshold the key is locked for
a time that doubles with each lock (capped), and the count starts again when the lock ends."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.config import IdentitySettings
from services.identity.models import LoginThrottle


async def seconds_locked(session: AsyncSession, keys: list[str], now: datetime) -> int:
    remaining = 0.0
    for key in keys:
        row = await session.get(LoginThrottle, key)
        if row is not None and row.locked_until is not None and row.locked_until > now:
            remaining = max(remaining, (row.locked_until - now).total_seconds())
    return math.ceil(remaining)


async def record_failure(session: AsyncSession, key: str, threshold: int, settings: IdentitySettings, now: datetime) -> bool:
    """Counts a failure; returns True when this failure locked the key."""
    row = await session.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(key=key, failures=0, lockouts=0)
        session.add(row)
    if row.locked_until is not None and row.locked_until <= now:
        row.locked_until = None  # the last lock is over: count afresh, but remember how many locks there were
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= threshold:
        row.lockouts += 1
        seconds = min(settings.lockout_max_seconds, settings.lockout_base_seconds * 2 ** (row.lockouts - 1))
        row.locked_until = now + timedelta(seconds=seconds)
        row.failures = 0
        return True
    return False


async def record_success(session: AsyncSession, key: str) -> None:
    row = await session.get(LoginThrottle, key)
    if row is not None:
        row.failures = 0
        row.lockouts = 0
        row.locked_until = None
