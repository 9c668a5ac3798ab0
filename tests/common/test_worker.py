"""The kit's background worker (services/common/worker.py), on a clock the test moves: a named lease claimed by one
of two workers and taken over once it runs out, the heartbeat keeping it, the back-off growing to its ceiling, a
transient failure retried, a lost lease stopping the work, and a clean stop. No fixed sleeps: the test waits for
states it can observe (the worker's ``state``, what the rounds recorded, the lease row), each with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from services.common.db import Database
from services.common.retry import RetryPolicy, TransientError
from services.common.testing import FakeClock
from services.common.worker import RELEASED, LeasedWorker, NamedLease
from tests.support import Platform, UrlFactory, eventually


@pytest.fixture(scope="module")
async def db(database_factory: UrlFactory) -> AsyncIterator[Database]:
    database = Database(await database_factory("records"))
    yield database
    await database.dispose()


def started(worker: LeasedWorker[Any]) -> asyncio.Task[None]:
    """The worker's loop in a task of its own (as the app's lifespan starts it)."""
    return asyncio.create_task(worker.run())


async def stopped(*workers: LeasedWorker[Any]) -> None:
    for worker in workers:
        await worker.stop(grace=0)


async def at_rest(clock: FakeClock, *workers: LeasedWorker[Any], rounds: int = 1) -> None:
    """Every worker waiting on the clock, ``rounds`` rounds done."""
    async def resting() -> bool:
        return all(w.state in ("waiting", "backing_off") and w.rounds >= rounds for w in workers)

    await eventually(resting, what="the workers waiting on the clock")
    await clock.settle()


# -- a named lease: one worker of two -------------------------------------------------------------------------------
async def test_a_named_lease_runs_the_work_on_one_of_two_workers_once_per_period(db: Database) -> None:
    clock = FakeClock()
    name = "test lease one of two"
    ran: list[tuple[str, datetime]] = []

    def worker(holder: str) -> LeasedWorker[Any]:
        async def round() -> None:
            ran.append((holder, clock.now()))

        return LeasedWorker.singleton(name, round, db=db, lease_seconds=30, poll_seconds=60, clock=clock, holder=holder)

    a, b = worker("replica-a"), worker("replica-b")
    tasks = [started(a), started(b)]
    try:
        await at_rest(clock, a, b)
        assert len(ran) == 1, ran  # both tried; one holds the lease until the next round is due
        first = ran[0][0]
        held = await NamedLease(db, name, "someone", 30, clock).held_by()
        assert held is not None and held[0] == first
        assert (held[1] - clock.now()).total_seconds() == pytest.approx(60, abs=1)

        await clock.advance(60, step=60)
        await at_rest(clock, a, b, rounds=2)
        assert len(ran) == 2, ran  # the second period: again once, on whichever replica took it
        await clock.advance(59, step=59)
        await at_rest(clock, a, b, rounds=2)
        assert len(ran) == 2, ran  # not before the period is over
    finally:
        await stopped(a, b)
        await asyncio.gather(*tasks)
    held = await NamedLease(db, name, "someone", 30, clock).held_by()
    assert held is not None and held[1] == RELEASED  # given up at stop: a replica started now need not wait


async def test_an_expired_lease_is_taken_over(db: Database) -> None:
    clock = FakeClock()
    name = "test lease takeover"
    dead = NamedLease(db, name, "replica-that-died", 30, clock)
    assert await dead.acquire()  # and never renewed: its process was killed
    ran: list[datetime] = []

    async def round() -> None:
        ran.append(clock.now())

    start = clock.now()
    survivor = LeasedWorker.singleton(name, round, db=db, lease_seconds=30, poll_seconds=10, clock=clock,
                                      holder="survivor")
    task = started(survivor)
    try:
        await at_rest(clock, survivor)
        assert ran == []  # held by the dead replica

        async def taken_over() -> bool:
            return bool(ran)

        await clock.advance_until(taken_over, limit=120, step=5)
        waited = (ran[0] - start).total_seconds()
        assert 30 <= waited <= 40  # once the dead replica's lease ran out, at the survivor's next poll
        held = await dead.held_by()
        assert held is not None and held[0] == "survivor"
        assert not await dead.renew()  # the dead replica, were it to wake, no longer holds it
    finally:
        await stopped(survivor)
        await task


async def test_the_heartbeat_extends_the_lease_while_the_work_runs(db: Database) -> None:
    clock = FakeClock()
    name = "test lease heartbeat"
    working = asyncio.Event()
    finished: list[bool] = []

    async def long_round() -> None:
        working.set()
        await clock.sleep(10_000)  # a round far longer than the lease
        finished.append(True)

    worker = LeasedWorker.singleton(name, long_round, db=db, lease_seconds=30, poll_seconds=60, clock=clock,
                                    holder="busy")
    task = started(worker)
    competitor = NamedLease(db, name, "competitor", 30, clock)
    try:
        await eventually(lambda: _true(working.is_set()), what="the round under way")
        await clock.advance(120, step=5)  # four leases' length: without the heartbeat it would have run out
        assert worker.state == "working"
        held = await competitor.held_by()
        assert held is not None and held[0] == "busy"
        assert (held[1] - clock.now()).total_seconds() > 15  # renewed every 10 s, for 30 s
        assert not await competitor.acquire()
    finally:
        await worker.stop(grace=0)  # the round overruns the grace: cancelled, the lease given up
        await task
    assert finished == [] and worker.state == "stopped"
    assert await competitor.acquire()


async def _true(value: bool) -> bool:
    return value


# -- back-off and transient failures (no database needed) -----------------------------------------------------------
async def test_the_back_off_grows_and_stops_at_its_ceiling() -> None:
    clock = FakeClock()
    attempts: list[datetime] = []

    async def claim() -> None:
        attempts.append(clock.now())
        raise TransientError("database down")

    async def work(_: object) -> bool:
        raise AssertionError("nothing was claimed")

    worker = LeasedWorker("test back-off", claim=claim, work=work, poll_seconds=0.5, clock=clock,
                          policy=RetryPolicy(base=1.0, max_delay=8.0))
    task = started(worker)
    try:
        await at_rest(clock, worker)
        await clock.advance(60, step=0.25)
        assert worker.state == "backing_off" and worker.last_error == "database down"
        assert worker.failures == len(attempts)
        gaps = [(b - a).total_seconds() for a, b in zip(attempts, attempts[1:], strict=False)]
        # 1, 2, 4, 8, 8 … each with jitter (75–100 %), measured in steps of 0.25 s
        for n, gap in enumerate(gaps, start=1):
            ceiling = min(8.0, 2 ** (n - 1))
            assert 0.75 * ceiling - 0.01 <= gap <= ceiling + 0.25, (n, gaps)
        assert max(gaps) <= 8.25 and len(gaps) >= 7  # capped: it kept trying, never waiting longer than 8 s
        assert gaps[3] > gaps[0] * 2  # and it grew
    finally:
        await stopped(worker)
        await task


async def test_a_transient_error_is_retried_and_the_work_then_done() -> None:
    clock = FakeClock()
    failures = [TransientError("identity unavailable: HTTP 503"), ConnectionRefusedError("database refused")]
    items = ["job-1"]
    done: list[str] = []

    async def claim() -> str | None:
        if failures:
            raise failures.pop(0)
        return items.pop(0) if items else None

    async def work(item: str) -> bool:
        done.append(item)
        return True

    worker = LeasedWorker("test transient", claim=claim, work=work, poll_seconds=1.0, clock=clock)
    task = started(worker)
    try:
        async def worked() -> bool:
            return done == ["job-1"]

        took = await clock.advance_until(worked, limit=30, step=0.5)
        assert took <= 4  # two back-offs: about 1 s, then about 2 s
        await at_rest(clock, worker)
        assert worker.failures == 0 and worker.last_error is None and worker.state == "waiting"
    finally:
        await stopped(worker)
        await task


async def test_a_lost_lease_cancels_the_work_and_the_worker_goes_on() -> None:
    clock = FakeClock()
    items = ["job-1", "job-2"]
    cancelled: list[str] = []
    done: list[str] = []
    held = {"job-1": False, "job-2": True}

    async def claim() -> str | None:
        return items.pop(0) if items else None

    async def work(item: str) -> bool:
        try:
            await clock.sleep(25)
        except asyncio.CancelledError:
            cancelled.append(item)
            raise
        done.append(item)
        return True

    async def heartbeat(item: str) -> bool:
        return held[item]

    worker = LeasedWorker("test lost lease", claim=claim, work=work, heartbeat=heartbeat, heartbeat_seconds=10,
                          poll_seconds=5, clock=clock)
    task = started(worker)
    try:
        async def both() -> bool:
            return bool(cancelled and done)

        await clock.advance_until(both, limit=120, step=1)
        assert cancelled == ["job-1"] and done == ["job-2"]  # job-1 stopped at its first heartbeat; job-2 ran on
        assert worker.failures == 0
    finally:
        await stopped(worker)
        await task


# -- stopping ------------------------------------------------------------------------------------------------------
async def test_stop_is_clean() -> None:
    clock = FakeClock()
    go_on = asyncio.Event()
    events: list[str] = []
    items = ["job-1"]

    async def claim() -> str | None:
        return items.pop(0) if items else None

    async def work(item: str) -> bool:
        events.append(f"start {item}")
        await go_on.wait()
        events.append(f"end {item}")
        return True

    async def on_stop() -> None:
        events.append("on_stop")

    # a waiting worker stops at once, and says so
    idle = LeasedWorker("test idle stop", claim=_nothing, work=work, poll_seconds=3600, clock=clock, on_stop=on_stop)
    idle_task = started(idle)
    await eventually(lambda: _true(idle.state == "waiting"), what="the idle worker waiting")
    await asyncio.wait_for(idle.stop(grace=3600), timeout=30)  # not the grace: it was waiting
    assert idle_task.done() and not idle_task.cancelled() and idle.state == "stopped" and events == ["on_stop"]

    # a working one finishes its round within the grace, and takes no other
    events.clear()
    busy = LeasedWorker("test busy stop", claim=claim, work=work, poll_seconds=1, clock=clock, on_stop=on_stop)
    busy_task = started(busy)
    await eventually(lambda: _true(busy.state == "working"), what="the round under way")
    stopping = asyncio.create_task(busy.stop(grace=60))
    await eventually(lambda: _true(busy._stopping), what="the stop asked")
    assert not stopping.done()
    go_on.set()
    await asyncio.wait_for(stopping, timeout=30)
    assert events == ["start job-1", "end job-1", "on_stop"]
    assert busy_task.done() and not busy_task.cancelled()

    # cancelling the task (not a stop) still cancels it, as before
    plain = LeasedWorker("test cancel", claim=_nothing, work=work, poll_seconds=3600, clock=clock)
    plain_task = started(plain)
    await eventually(lambda: _true(plain.state == "waiting"), what="waiting")
    plain_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await plain_task
    assert plain_task.cancelled()


async def _nothing() -> None:
    return None


# -- in a service ---------------------------------------------------------------------------------------------------
async def test_a_service_starts_its_workers_with_its_lifespan_and_stops_them_with_it(platform: Platform) -> None:
    """Records' sync worker is one of the kit's background workers (no lifespan of its own any more), beside the
    oversight pull and the upload retention under their leases, the outbox and the idempotency purge."""
    from services.records.app import create_app

    app = create_app(platform.settings["records"], http_transport=platform.transport)
    async with app.router.lifespan_context(app):
        workers: dict[str, LeasedWorker[Any]] = app.state.workers
        assert {"records sync", "records oversight pull", "records sync upload retention",
                "idempotency purge"} <= set(workers)

        async def all_waiting() -> bool:
            return all(w.state in ("waiting", "working") for w in workers.values())

        await eventually(all_waiting, what="every worker started")
    assert {w.name: w.state for w in workers.values()} == {name: "stopped" for name in workers}
