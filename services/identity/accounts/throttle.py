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

from services.identity.accounts import repository
from services.identity.config import IdentitySettings


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
    return {r.key: Row(r.failures, r.locked_until, r.last_success_at) for r in await repository.throttle_rows(conn, keys)}


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


async def fail(conn: Any, key: str, threshold: int, settings: IdentitySettings, now: datetime) -> float:
    """Counts a failure (atomically, so concurrent guesses all count); returns the wait it imposed (0: none)."""
    await repository.ensure_throttle(conn, key)
    failures = await repository.count_failure(conn, key, now, stale=now - timedelta(seconds=settings.lockout_reset_seconds))
    step = failures - max(threshold, 1) + 1
    if step < 1:
        return 0.0
    wait = min(settings.lockout_max_seconds, settings.lockout_base_seconds * 2 ** min(step - 1, 32))
    await repository.lock(conn, key, now + timedelta(seconds=wait), lockouts=step)
    return wait


async def succeed(conn: Any, key: str, now: datetime, *, remember: bool) -> None:
    """Clears a key's count and wait; ``remember``: the pair is now a known one."""
    if remember:
        await repository.ensure_throttle(conn, key)
    await repository.reset_throttle(conn, key, success_at=now if remember else None)


async def clear_account(conn: Any, username: str) -> int:
    """An administrator's unlock: every count and wait of the account (its pairs and the account key); the
    addresses it signs in from stay known."""
    name = username.casefold()
    return await repository.reset_throttles(conn, account_key(name), f"pair:{name}|")
