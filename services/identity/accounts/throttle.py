"""Guessing protection without lockout as a weapon (Keycloak's model: temporary, capped waits; a permanent lock
only by an administrator's choice — an inactive account).

Failures are counted per key in ``login_throttles``:

* ``pair:<username>|<ip>`` — one account from one address. Its ``lockout_pair_failures``-th failure makes that
  pair wait ``lockout_base_seconds``, every further failure doubles the wait, capped at ``lockout_max_seconds``.
  A success resets it and marks the address as one this account signs in from (``last_success_at``).
* ``ip:<ip>`` — one address, every account (password spraying); ``lockout_ip_failures`` before the first wait.
* ``account:<username>`` — one account, every address (guessing from many addresses);
  ``lockout_account_failures`` before the first wait.

The address and account waits hold only for *unknown* pairs — an address this account has never signed in from.
So guesses from elsewhere never lock the owner out where they usually sign in; they slow the guessers, and new
addresses while the account is under attack, for at most ``lockout_max_seconds``. A count starts afresh after
``lockout_reset_seconds`` without failures. While a key waits, attempts are refused (429 with ``Retry-After``)
without checking the password and without counting. Machine clients guessing secrets at the token endpoint are
counted the same way, per ``client:<client_id>|<ip>`` pair and per ``client-ip:<ip>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.identity.config import IdentitySettings
from services.identity.models import LoginThrottle

_T = LoginThrottle.__table__


def pair_key(username: str, ip: str) -> str:
    return f"pair:{username.casefold()[:100]}|{ip[:64]}"


def account_key(username: str) -> str:
    return f"account:{username.casefold()[:100]}"


def ip_key(ip: str) -> str:
    return f"ip:{ip[:64]}"


def client_pair_key(client_id: str, ip: str) -> str:
    return f"client:{client_id[:100]}|{ip[:64]}"


def client_ip_key(ip: str) -> str:
    return f"client-ip:{ip[:64]}"


@dataclass(frozen=True)
class Row:
    failures: int
    locked_until: datetime | None
    last_success_at: datetime | None


async def read(conn: Any, keys: list[str]) -> dict[str, Row]:
    """The keys' rows (missing keys: never failed). ``conn``: a session or a bare connection."""
    result = await conn.execute(select(_T.c.key, _T.c.failures, _T.c.locked_until, _T.c.last_success_at).where(_T.c.key.in_(keys)))
    return {r.key: Row(r.failures, r.locked_until, r.last_success_at) for r in result}


def seconds_left(rows: dict[str, Row], keys: list[str], now: datetime) -> int:
    """How long the longest wait among ``keys`` still lasts (0: none waits)."""
    left = 0.0
    for key in keys:
        row = rows.get(key)
        if row is not None and row.locked_until is not None and row.locked_until > now:
            left = max(left, (row.locked_until - now).total_seconds())
    return math.ceil(left)


def sign_in_keys(rows: dict[str, Row], username: str, ip: str) -> list[str]:
    """The keys that hold for this sign-in: the pair always; the address and the account only for an address the
    account has never signed in from."""
    pair = pair_key(username, ip)
    known = rows.get(pair) is not None and rows[pair].last_success_at is not None
    return [pair] if known else [pair, ip_key(ip), account_key(username)]


def _insert_missing(conn: Any, key: str) -> Any:
    dialect = conn.dialect if hasattr(conn, "dialect") else conn.bind.dialect
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    return insert(_T).values(key=key, failures=0, lockouts=0).on_conflict_do_nothing(index_elements=["key"])


async def fail(conn: Any, key: str, threshold: int, settings: IdentitySettings, now: datetime) -> float:
    """Counts a failure (atomically, so concurrent guesses all count); returns the wait it imposed (0: none)."""
    await conn.execute(_insert_missing(conn, key))
    stale = now - timedelta(seconds=settings.lockout_reset_seconds)
    failures = (await conn.execute(
        update(_T).where(_T.c.key == key)
        .values(failures=case((or_(_T.c.last_failure_at.is_(None), _T.c.last_failure_at < stale), 1), else_=_T.c.failures + 1),
                last_failure_at=now)
        .returning(_T.c.failures)
    )).scalar_one()
    step = failures - max(threshold, 1) + 1
    if step < 1:
        return 0.0
    wait = min(settings.lockout_max_seconds, settings.lockout_base_seconds * 2 ** min(step - 1, 32))
    await conn.execute(update(_T).where(_T.c.key == key).values(locked_until=now + timedelta(seconds=wait), lockouts=step))
    return wait


async def succeed(conn: Any, key: str, now: datetime, *, remember: bool) -> None:
    """Clears a key's count and wait; ``remember``: the pair is now a known one."""
    if remember:
        await conn.execute(_insert_missing(conn, key))
    values: dict[str, Any] = {"failures": 0, "lockouts": 0, "locked_until": None}
    if remember:
        values["last_success_at"] = now
    await conn.execute(update(_T).where(_T.c.key == key).values(**values))


async def clear_account(conn: Any, username: str) -> int:
    """An administrator's unlock: every count and wait of the account (its pairs and the account key); the
    addresses it signs in from stay known."""
    name = username.casefold()
    escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    result = await conn.execute(
        update(_T).where(or_(_T.c.key == account_key(name), _T.c.key.like(f"pair:{escaped}|%", escape="\\")))
        .values(failures=0, lockouts=0, locked_until=None)
    )
    return result.rowcount or 0
