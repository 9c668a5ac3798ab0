"""Keeps ``python -m services run``'s processes running: a process that exits is started again after a back-off.

A process that exits on its own (a crash, ``kill -9``, the OOM killer) is logged with its exit code and started
again after ``first_delay`` seconds (1 s by default); if the new one exits too within ``stable_after`` seconds (60)
of starting, the next wait doubles, up to ``max_delay`` (30 s); a process that ran ``stable_after`` seconds starts
the count afresh. A restarted process is logged again once its ``/healthz`` answers. Meanwhile the other replicas
of its service carry its traffic: the gateway and the services' own calls skip a replica that refuses connections
(``services/common/replicas.py``), and jobs and events it held are taken over when their leases run out.

This holds for one process per service too: the service is unavailable until its restart, nothing else stops. A
process that cannot start at all keeps being retried every ``max_delay`` seconds, each failure logged. Stopping
(Ctrl-C, SIGTERM) is the runner's: :meth:`Supervisor.tick` is simply no longer called.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass


def exit_reason(code: int) -> str:
    """``exited with code 3`` / ``was killed by SIGKILL``."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class _State:
    started_at: float
    #: consecutive exits within ``stable_after`` of starting
    failures: int = 0
    restarts: int = 0
    restart_at: float | None = None
    #: restarted, its health not yet seen
    awaiting_health: bool = False


class Supervisor:
    """Watches ``procs`` (name → process; restarted processes replace their entry, so whoever stops them later
    sees the live ones). ``spawn(name)`` starts a process again; ``healthy(name)`` says whether it serves (a quick
    check; only asked of restarted processes until they answer); ``log`` prints a line."""

    def __init__(self, procs: dict[str, subprocess.Popen[bytes]], spawn: Callable[[str], subprocess.Popen[bytes]],
                 healthy: Callable[[str], bool], log: Callable[[str], None], *, first_delay: float = 1.0,
                 max_delay: float = 30.0, stable_after: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.procs = procs
        self.spawn = spawn
        self.healthy = healthy
        self.log = log
        self.first_delay = first_delay
        self.max_delay = max(max_delay, first_delay)
        self.stable_after = stable_after
        self.clock = clock
        now = clock()
        self.states = {name: _State(started_at=now) for name in procs}

    def delay(self, failures: int) -> float:
        """The wait before restart number ``failures + 1`` in a row."""
        return min(self.max_delay, self.first_delay * 2 ** failures)

    def tick(self) -> None:
        """One look at every process: note exits, start the ones whose wait is over, report the healthy ones."""
        now = self.clock()
        for name, state in self.states.items():
            proc = self.procs[name]
            if state.restart_at is not None:
                if now >= state.restart_at:
                    self.procs[name] = proc = self.spawn(name)
                    state.restart_at, state.started_at, state.awaiting_health = None, now, True
                    state.restarts += 1
                    self.log(f"{name} restarted (pid {proc.pid}, restart {state.restarts})")
                continue
            code = proc.poll()
            if code is not None:
                if now - state.started_at >= self.stable_after:
                    state.failures = 0
                wait = self.delay(state.failures)
                state.failures += 1
                state.restart_at, state.awaiting_health = now + wait, False
                self.log(f"{name} (pid {proc.pid}) {exit_reason(code)}; restarting it in {wait:g} s")
            elif state.awaiting_health and self.healthy(name):
                state.awaiting_health = False
                self.log(f"{name} (pid {proc.pid}) is serving again after {now - state.started_at:.1f} s")
