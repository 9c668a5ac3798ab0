"""The verification log written in batches, off the request path.

A public verification is a read; its log row (no personal data: see :func:`service.log_entry`) need not cost the
request a write transaction of its own. Rows wait in memory for at most ``flush_seconds`` (or until ``batch_size``
are waiting) and are written by one multi-row insert in one transaction. A clean shutdown writes whatever waits
(the background loop flushes when it is cancelled, after the server has finished its requests); a failed write puts
the rows back to be tried again. Without the loop running (an app whose lifespan did not start) or with too many
rows waiting, a request writes them itself, so rows never pile up unbounded. Only a killed process loses the rows
of its last ``flush_seconds``."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from services.common.db import Database
from services.common.retry import RetryPolicy, transient_reason
from services.common.worker import LeasedWorker
from services.credentials.verification import repository

log = logging.getLogger(__name__)


class VerificationLogWriter:
    def __init__(self, db: Database, *, flush_seconds: float = 0.25, batch_size: int = 500, max_pending: int = 20_000) -> None:
        self.db = db
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self.max_pending = max_pending
        self._pending: list[dict[str, Any]] = []
        self._running = False
        self._wake: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def add(self, rows: list[dict[str, Any]]) -> None:
        """Queue rows for the next batch; writes them at once when no background loop runs or too many wait."""
        self._pending.extend(rows)
        if not self._running or len(self._pending) >= self.max_pending:
            await self.flush()
        elif len(self._pending) >= self.batch_size and self._wake is not None:
            self._wake.set()

    async def flush(self) -> None:
        """Write every waiting row (one transaction per ``batch_size`` rows). On failure the unwritten rows stay
        queued and the error propagates."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            while self._pending:
                rows, self._pending = self._pending[: self.batch_size], self._pending[self.batch_size:]
                try:
                    async with self.db.session(write=True) as session:
                        await repository.add_log(session, rows)
                except BaseException:
                    self._pending[:0] = rows
                    raise

    def worker(self) -> LeasedWorker[bool]:
        """The background loop (for the life of the process; per process, no lease: the rows wait in this
        process's memory — :meth:`LeasedWorker.periodic`): a flush every ``flush_seconds`` (real time) or as soon
        as a batch is full; a failed flush keeps the rows queued and is tried again after a back-off (1 s doubling,
        at most 5 s); at stop, what is left is flushed."""
        self._wake = asyncio.Event()
        self._running = True
        return LeasedWorker.periodic("verification log", self._flush_round, poll_seconds=self.flush_seconds,
                                     wake=self._wake, on_stop=self._stopped, logger=log,
                                     policy=RetryPolicy(base=min(1.0, 4 * self.flush_seconds), max_delay=5.0))

    async def run_forever(self) -> None:
        """:meth:`worker` run in the caller's task until it is cancelled (then what waits is flushed)."""
        await self.worker().run()

    async def _flush_round(self) -> bool:
        try:
            await self.flush()
        except Exception as exc:  # the rows stay queued; say how many wait, then the worker backs off
            if (reason := transient_reason(exc)) is not None:
                log.warning("verification log: %d rows not written yet (%s), retrying", len(self._pending), reason)
            else:
                log.error("verification log: %d rows not written yet, retrying", len(self._pending))
            raise
        return False

    async def _stopped(self) -> None:
        self._running = False
        try:
            await self.flush()
        except Exception:
            log.exception("verification log: %d rows could not be written at shutdown", len(self._pending))
