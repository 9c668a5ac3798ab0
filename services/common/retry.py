"""Which failures are transient, and how long to wait before trying again.

A transient failure is one that goes away without anyone changing anything: the database connection was lost or
refused, a lock or a pool timed out, another service did not answer or answered 5xx / 408 / 429. Background work
(sync jobs, issue jobs, outbox delivery, the sweeper, the verification log) waits such a failure out with a capped
back-off and never records it as a permanent failure; a request that meets one answers 503 with ``Retry-After``.
Everything else (a refused row, a 4xx, a bug) is not retried blindly.

:func:`transient_reason` classifies an exception (following its causes: SQLAlchemy wraps the driver's errors);
:class:`RetryPolicy` gives the delays; :class:`TransientError` lets code say "transient" with its own reason. The
background loops themselves are :class:`services.common.worker.LeasedWorker`.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from dataclasses import dataclass

import httpx
from sqlalchemy import exc as sa_exc

from services.common.errors import AppError

#: HTTP statuses that mean "try again later" (the receiver or callee is not refusing the request itself)
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

#: SQLSTATE classes and codes that mean the database, not the statement, failed: connection exceptions (08),
#: insufficient resources (53, too many connections among them), operator intervention (57P01 admin shutdown,
#: 57P02 crash shutdown, 57P03 cannot connect now), system errors (58), serialisation failure and deadlock
_SQLSTATE_PREFIXES = ("08", "53", "57P", "58", "40001", "40P01")

#: SQLite result codes (``sqlite3.Error.sqlite_errorname``) of a busy, locked or unreachable database file
_SQLITE_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PROTOCOL")
_SQLITE_MESSAGES = ("database is locked", "connection closed", "no active connection", "disk i/o error",
                    "unable to open database file")

#: file-system errors that are not outages
_NOT_TRANSIENT_OS = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


class TransientError(Exception):
    """Raised by code that knows a failure is transient (``identity unavailable: HTTP 503``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, the driver error SQLAlchemy wrapped, and their causes, without repeats."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 12:
        e = todo.pop(0)
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]
    return seen


def _database_reason(e: BaseException) -> str | None:
    if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
        return f"database connection lost ({type(e.orig).__name__ if e.orig is not None else type(e).__name__})"
    if isinstance(e, sa_exc.TimeoutError):
        return "database busy: no pooled connection free in time"
    if isinstance(e, sa_exc.DisconnectionError):
        return f"database connection lost ({type(e).__name__})"
    sqlstate = getattr(e, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_SQLSTATE_PREFIXES):
        return f"database unavailable ({type(e).__name__}, SQLSTATE {sqlstate})"
    if type(e).__module__.startswith("asyncpg") and type(e).__name__ in (
        "ConnectionDoesNotExistError", "InterfaceError", "InternalClientError", "ConnectionFailureError",
    ):
        return f"database connection lost ({type(e).__name__})"
    if isinstance(e, sqlite3.Error):
        name = getattr(e, "sqlite_errorname", "") or ""
        message = str(e).lower()
        if name.startswith(_SQLITE_TRANSIENT) or any(m in message for m in _SQLITE_MESSAGES):
            return f"database unavailable ({name or type(e).__name__}: {str(e)[:80]})"
    return None


def _http_reason(e: BaseException) -> str | None:
    if isinstance(e, httpx.HTTPStatusError):
        if e.response.status_code in TRANSIENT_STATUSES or e.response.status_code >= 500:
            return f"{e.request.url.host}:{e.request.url.port} answered HTTP {e.response.status_code}"
        return None
    if isinstance(e, httpx.TransportError):
        try:
            where = f"{e.request.url.host}:{e.request.url.port}"
        except RuntimeError:  # no request attached
            where = "another service"
        return f"{where} unreachable ({type(e).__name__})"
    return None


def transient_reason(exc: BaseException) -> str | None:
    """Why ``exc`` is transient (a short text for logs and a job's ``waiting``), or None if it is not."""
    if isinstance(exc, asyncio.CancelledError):
        return None
    for e in _chain(exc):
        if isinstance(e, TransientError):
            return e.reason
        if (reason := _database_reason(e)) is not None:
            return reason
        if (reason := _http_reason(e)) is not None:
            return reason
        if isinstance(e, AppError) and e.status == 503:  # ServiceUnavailable: raised on purpose as "try again"
            return e.detail[:300]
        if isinstance(e, TimeoutError):
            return f"timed out ({type(e).__name__})"
        if isinstance(e, OSError) and not isinstance(e, _NOT_TRANSIENT_OS):
            return f"{type(e).__name__}: {e}"[:300]
    return None


_DATABASE_MODULES = ("sqlalchemy.", "asyncpg.", "aiosqlite.")


def _raised_in_database_code(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith(_DATABASE_MODULES):
            return True
        tb = tb.tb_next
    return False


def is_database_error(exc: BaseException) -> bool:
    """Does the failure come from the database (driver or pool), rather than another service? A refused connection
    reaches the caller as a bare ``ConnectionRefusedError``: told apart by where it was raised."""
    return any(isinstance(e, (sa_exc.DBAPIError, sa_exc.TimeoutError, sa_exc.DisconnectionError, sqlite3.Error))
               or type(e).__module__.startswith("asyncpg") or _raised_in_database_code(e) for e in _chain(exc))


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential back-off with jitter, and how long an outage is waited out before giving up.

    * ``base``: the first delay (seconds);
    * ``max_delay``: no delay is longer (seconds);
    * ``give_up_after``: a unit of work that has been failing transiently this long fails for good (seconds;
      0: never — the outbox, whose events are kept until delivered).
    """

    base: float = 1.0
    max_delay: float = 60.0
    give_up_after: float = 3600.0

    def _jitter(self, delay: float) -> float:
        return delay * random.uniform(0.75, 1.0)

    def delay_after_attempts(self, attempts: int) -> float:
        """The delay after ``attempts`` failed attempts in a row: base, 2·base, 4·base … up to ``max_delay``."""
        return self._jitter(min(self.max_delay, self.base * (2 ** min(max(0, attempts - 1), 30))))

    def delay_after_waiting(self, waited: float) -> float:
        """The delay when the outage began ``waited`` seconds ago: as long as it has lasted (so it doubles each
        time), at least ``base``, at most ``max_delay``."""
        return self._jitter(min(self.max_delay, max(self.base, waited)))

    def gives_up(self, waited: float) -> bool:
        return self.give_up_after > 0 and waited >= self.give_up_after
