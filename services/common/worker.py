"""``LeasedWorker``: the background loop every service runs (claim, work, heartbeat, back off, stop), written once.

Started and stopped by the kit: ``create_service_app(background=[factory, …])``, where a factory builds the worker
for the app at start-up (or returns None when the service's settings switch it off). One class, three shapes:

* **leased items** (:meth:`LeasedWorker.__init__`): ``claim()`` takes a unit of work under a lease in the database
  (a job row, a batch of outbox rows: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL plus a ``locked_until``) and returns
  it, or None when nothing is due; ``work(item)`` does it. Any replica may run the worker: the claim decides who
  does what, and an item whose worker died is taken over once its lease has run out. With ``heartbeat`` set, the
  lease is extended every ``heartbeat_seconds`` while ``work`` runs; a heartbeat answering False means the lease
  was lost (another worker took the item over), and the work is cancelled. Work that renews its lease in its own
  transactions (a chunk that also writes ``locked_until``) needs no separate heartbeat.
* **one replica at a time** (:meth:`LeasedWorker.singleton`): the worker's own named lease (a row of
  ``worker_leases``) is claimed before each round and heartbeated while it runs; after a round that succeeded it is
  held until the next round is due, so across replicas the work runs once per ``poll_seconds``. A replica that dies
  holding it leaves it to the others once it runs out (``lease_seconds``).
* **per process** (:meth:`LeasedWorker.periodic`): no lease; every replica runs its own rounds (a buffer in the
  process's memory; a purge two replicas may run at once).

Rounds: a round that did something (a truthy result) is followed at once by the next; otherwise the worker waits
``poll_seconds`` on its clock, or until :meth:`nudge`. A round that raised is logged — as a warning with its reason
when the cause is transient (:func:`services.common.retry.transient_reason`: the database, another service down),
with its traceback otherwise — and followed by a back-off: ``policy.base`` doubling, with jitter, up to
``policy.max_delay``, never sooner than ``poll_seconds``; but a worker that polls less often than that ceiling
retries a transient failure after the back-off, not a whole period later (:meth:`LeasedWorker.failure_delay`). The worker never gives up and never marks anything
failed: what a failure means for a unit of work (a job ``waiting: <reason>``, an event dead, a give-up after an
hour) is the work's own decision, taken inside ``work``.

Stop (:meth:`stop`): a waiting worker ends at once; a working one after its round, or after ``stop_grace`` seconds
by cancelling the round (an item's lease then runs out and another worker takes it over, as after a crash);
``on_stop`` runs last (a buffer's final flush).

Time: ``clock`` (a :class:`~services.common.clock.Clock`, or a callable returning the current one, such as
``lambda: app.state.clock``) gives ``now()`` and the waits; tests pass :class:`services.common.testing.FakeClock`.
``sleep`` replaces the clock's waits alone (a nudge then wakes the worker at the end of the wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from services.common.clock import SYSTEM_CLOCK, Clock
from services.common.db import Database, claim_query
from services.common.models import WorkerLease
from services.common.retry import RetryPolicy, transient_reason

T = TypeVar("T")

#: ``working``: a round under way (claiming, or working on what it claimed)
WorkerState = Literal["starting", "waiting", "working", "backing_off", "stopped"]

log = logging.getLogger("services.worker")

#: ``locked_until`` of a lease given up: before any clock's now
RELEASED = datetime(1970, 1, 1, tzinfo=UTC)


def worker_id() -> str:
    """Who holds a lease: host, process and a random suffix (two workers of one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LeaseLost(Exception):
    """The heartbeat found the lease held by another worker: the work under it was cancelled."""


class LeasedWorker(Generic[T]):
    """A background loop: claim a unit of work, do it (heartbeating its lease), back off on failure, stop cleanly.

    Observable for tests and operators: :attr:`state`, :attr:`failures` (failed rounds in a row), :attr:`rounds`
    (rounds finished, failed or not) and :attr:`last_error`."""

    def __init__(
        self,
        name: str,
        *,
        claim: Callable[[], Awaitable[T | None]],
        work: Callable[[T], Awaitable[object]],
        heartbeat: Callable[[T], Awaitable[bool]] | None = None,
        heartbeat_seconds: float = 0.0,
        done: Callable[[T], Awaitable[None]] | None = None,
        poll_seconds: float = 1.0,
        initial_delay: float = 0.0,
        policy: RetryPolicy | None = None,
        clock: Clock | Callable[[], Clock] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        wake: asyncio.Event | None = None,
        on_stop: Callable[[], Awaitable[None]] | None = None,
        stop_grace: float = 5.0,
        logger: logging.Logger | None = None,
    ) -> None:
        """``done(item)`` runs after ``work(item)`` returned (not after it raised); ``wake`` is the event
        :meth:`nudge` sets (shared with code that wants to wake the worker without holding it)."""
        self.name = name
        self._claim = claim
        self._work = work
        self._heartbeat = heartbeat
        self.heartbeat_seconds = heartbeat_seconds
        self._done = done
        self.poll_seconds = poll_seconds
        self.initial_delay = initial_delay
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._wake = wake if wake is not None else asyncio.Event()
        self._on_stop = on_stop
        self.stop_grace = stop_grace
        self.log = logger or log
        self.state: WorkerState = "starting"
        self.failures = 0
        self.rounds = 0
        self.last_error: str | None = None
        self._stopping = False
        self._transient = False
        self._task: asyncio.Task[Any] | None = None

    # -- the other two shapes ---------------------------------------------------------------------------------
    @classmethod
    def periodic(cls, name: str, round: Callable[[], Awaitable[object]], **options: Any) -> LeasedWorker[bool]:
        """A per-process loop with no lease: ``round()`` every ``poll_seconds`` (at once again when truthy)."""

        async def claim() -> bool:
            return True

        async def work(_: bool) -> object:
            return await round()

        return LeasedWorker[bool](name, claim=claim, work=work, **options)

    @classmethod
    def singleton(cls, name: str, round: Callable[[], Awaitable[object]], *, db: Database, lease_seconds: float,
                  poll_seconds: float, clock: Clock | Callable[[], Clock] | None = None,
                  holder: str | None = None, **options: Any) -> LeasedWorker[NamedLease]:
        """``round()`` on one replica at a time, about once per ``poll_seconds`` across them all, under the named
        lease ``name`` (a ``worker_leases`` row in ``db``): heartbeated every third of ``lease_seconds`` while the
        round runs, then held until the next round is due."""
        lease = NamedLease(db, name, holder or worker_id(), lease_seconds, clock)

        async def claim() -> NamedLease | None:
            return lease if await lease.acquire() else None

        async def work(_: NamedLease) -> object:
            await round()
            return False  # the next round when it is due, not at once

        async def done(_: NamedLease) -> None:
            await lease.hold_for(poll_seconds)

        async def heartbeat(_: NamedLease) -> bool:
            return await lease.renew()

        on_stop = options.pop("on_stop", None)

        async def stopped() -> None:
            try:
                await lease.release()  # a replica started after this one need not wait for the next period
            finally:
                if on_stop is not None:
                    await on_stop()

        return LeasedWorker[NamedLease](name, claim=claim, work=work, heartbeat=heartbeat,
                                        heartbeat_seconds=lease_seconds / 3, done=done, poll_seconds=poll_seconds,
                                        clock=clock, on_stop=stopped, **options)

    # -- time -------------------------------------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        if self._clock is None:
            return SYSTEM_CLOCK
        return self._clock if isinstance(self._clock, Clock) else self._clock()

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` on the clock, or until nudged or stopped."""
        if self._stopping or seconds <= 0:
            return
        if self._sleep is not None:
            await self._sleep(seconds)
        else:
            await self.clock.wait(self._wake, seconds)
        if not self._stopping:
            self._wake.clear()

    def nudge(self) -> None:
        """Start the next round now instead of after the wait."""
        self._wake.set()

    def failure_delay(self) -> float:
        """The wait after ``failures`` failed rounds in a row: the policy's back-off (with jitter, at most its
        ceiling), never shorter than ``poll_seconds`` — except after a transient failure of a worker that polls
        less often than the ceiling (an hourly sweep whose database was down tries again within a minute). A
        failure that is not transient (a bug) waits at least ``poll_seconds``: retrying it sooner only repeats it."""
        delay = self.policy.delay_after_attempts(self.failures)
        if self._transient and self.poll_seconds > self.policy.max_delay:
            return delay
        return max(delay, self.poll_seconds)

    # -- the loop ---------------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Rounds until :meth:`stop` (or cancellation)."""
        self._task = asyncio.current_task()
        try:
            self.state = "waiting"
            await self._pause(self.initial_delay)
            while not self._stopping:
                worked = await self._round()
                if self._stopping:
                    break
                if self.failures:
                    self.state = "backing_off"
                    await self._pause(self.failure_delay())
                elif not worked:
                    self.state = "waiting"
                    await self._pause(self.poll_seconds)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            if self._task is not None:
                self._task.uncancel()
        finally:
            self.state = "stopped"
            if self._on_stop is not None:
                try:
                    await self._on_stop()
                except Exception:
                    self.log.exception("%s: could not finish cleanly at stop", self.name)

    async def _round(self) -> object:
        self.state = "working"
        try:
            item = await self._claim()
            if item is None:
                worked: object = False
            else:
                worked = await self._run_work(item)
                if self._done is not None:
                    await self._done(item)
            self.failures = 0
            self.last_error = None
            return worked
        except asyncio.CancelledError:
            raise
        except LeaseLost:
            self.log.warning("%s: lease lost to another worker; its work stopped there", self.name)
            return False
        except Exception as exc:
            self.failures += 1
            reason = transient_reason(exc)
            self._transient = reason is not None
            self.last_error = reason or f"{type(exc).__name__}: {exc}"[:500]
            if reason is None:
                self.log.exception("%s round failed", self.name)
            else:
                self.log.warning("%s round failed (%s); trying again", self.name, reason)
            return False
        finally:
            self.rounds += 1

    async def _run_work(self, item: T) -> object:
        """``work(item)`` in this task (so it waits on the clock as the loop does), with the heartbeat beside it."""
        if self._heartbeat is None or self.heartbeat_seconds <= 0:
            return await self._work(item)
        me = asyncio.current_task()
        assert me is not None
        lost: list[bool] = []
        beat = asyncio.ensure_future(self._beat(item, me, lost))
        try:
            return await self._work(item)
        except asyncio.CancelledError:
            if lost and me.uncancel() == 0:  # cancelled by the heartbeat alone, not by a stop
                raise LeaseLost(self.name) from None
            raise
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _beat(self, item: T, worker: asyncio.Task[Any], lost: list[bool]) -> None:
        assert self._heartbeat is not None
        while True:
            if self._sleep is not None:
                await self._sleep(self.heartbeat_seconds)
            else:
                await self.clock.sleep(self.heartbeat_seconds)
            try:
                held = await self._heartbeat(item)
            except Exception as exc:  # the database, most likely: tried again at the next beat
                self.log.warning("%s: heartbeat failed (%s); the lease may run out", self.name,
                                 transient_reason(exc) or repr(exc))
                continue
            if not held:
                lost.append(True)
                worker.cancel()
                return

    async def stop(self, grace: float | None = None) -> None:
        """End the loop: at once if it waits; otherwise after the round under way (its claim included), or after
        ``grace`` seconds (``stop_grace`` by default, real time) by cancelling it. Returns once the loop (and
        ``on_stop``) ended."""
        self._stopping = True
        self._wake.set()
        task = self._task
        if task is None or task.done():
            return
        grace = self.stop_grace if grace is None else grace
        if self.state != "working":
            task.cancel()  # it waits: nothing under way to finish
        else:
            await asyncio.wait({task}, timeout=max(0.0, grace))
        if not task.done() and self.state == "working":
            self.log.warning("%s: the round under way did not end within %.0f s of the stop; cancelled", self.name, grace)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class NamedLease:
    """One named lease in ``worker_leases``: whoever holds it (``holder``) until ``locked_until`` runs the work it
    names. Taken when free, run out, or already ours; extended only by its holder."""

    def __init__(self, db: Database, name: str, holder: str, seconds: float,
                 clock: Clock | Callable[[], Clock] | None = None) -> None:
        self.db = db
        self.name = name
        self.holder = holder
        self.seconds = seconds
        self._clock = clock

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            return SYSTEM_CLOCK
        return self._clock if isinstance(self._clock, Clock) else self._clock()

    async def acquire(self) -> bool:
        """Take the lease for ``seconds`` if it is free, run out, or ours; False if another worker holds it."""
        now = self.clock.now()
        try:
            async with self.db.session(write=True) as session:
                stmt = select(WorkerLease).where(WorkerLease.name == self.name)
                row = await session.scalar(claim_query(self.db, stmt))
                if row is None:
                    # no row yet, or (PostgreSQL) another worker is taking it right now: the insert then conflicts
                    session.add(WorkerLease(name=self.name, holder=self.holder, locked_until=now + self._length,
                                            acquired_at=now))
                    return True
                if row.holder != self.holder and row.locked_until > now:
                    return False
                if row.holder != self.holder:
                    row.acquired_at = now
                row.holder, row.locked_until = self.holder, now + self._length
                return True
        except IntegrityError:
            return False

    @property
    def _length(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    async def _extend_to(self, until: datetime) -> bool:
        async with self.db.session(write=True) as session:
            result = await session.execute(
                update(WorkerLease).where(WorkerLease.name == self.name, WorkerLease.holder == self.holder)
                .values(locked_until=until)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def held_by(self) -> tuple[str, datetime] | None:
        """Who holds the lease and until when (None: never taken)."""
        async with self.db.session(write=False) as session:
            row = await session.get(WorkerLease, self.name)
            return None if row is None else (row.holder, row.locked_until)

    async def renew(self) -> bool:
        """Extend the lease by ``seconds`` from now; False if it is no longer ours."""
        return await self._extend_to(self.clock.now() + self._length)

    async def hold_for(self, seconds: float) -> bool:
        """Keep the lease ``seconds`` from now (until the next round is due)."""
        return await self._extend_to(self.clock.now() + timedelta(seconds=seconds))

    async def release(self) -> None:
        """Give the lease up (it is free for anyone, whatever their clock says)."""
        await self._extend_to(RELEASED)
