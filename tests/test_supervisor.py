"""The runner's supervision (``services/supervisor.py``) on a fake clock with stand-in processes: a process that
exits is restarted after 1 s, the wait doubling up to 30 s while it keeps exiting soon after starting, afresh once
it ran a minute; the others are left alone; a restarted process is reported once it serves."""

from __future__ import annotations

import itertools
from typing import Any

from services.supervisor import Supervisor, exit_reason

_pids = itertools.count(100)


class FakeProcess:
    def __init__(self) -> None:
        self.pid = next(_pids)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


class Harness:
    def __init__(self, *names: str, **kw: Any) -> None:
        self.now = 0.0
        self.lines: list[str] = []
        self.spawned: list[str] = []
        self.serving: set[str] = set()
        self.procs: dict[str, Any] = {name: FakeProcess() for name in names}
        self.supervisor = Supervisor(self.procs, self.spawn, lambda name: name in self.serving, self.lines.append,
                                     clock=lambda: self.now, **kw)

    def spawn(self, name: str) -> FakeProcess:
        self.spawned.append(name)
        return FakeProcess()

    def run(self, seconds: float, step: float = 0.25) -> None:
        end = self.now + seconds
        while self.now < end:
            self.supervisor.tick()
            self.now += step
        self.supervisor.tick()


def test_a_process_that_dies_is_restarted_after_a_second_the_others_untouched() -> None:
    h = Harness("records", "records-2", "gateway")
    first, other = h.procs["records"], h.procs["records-2"]
    h.run(5)
    assert h.spawned == [] and h.lines == []
    first.returncode = -9
    h.run(0.5)
    assert h.spawned == [] and h.lines == [f"records (pid {first.pid}) was killed by SIGKILL; restarting it in 1 s"]
    h.run(0.75)
    assert h.spawned == ["records"] and h.procs["records"] is not first and h.procs["records-2"] is other
    assert h.lines[-1] == f"records restarted (pid {h.procs['records'].pid}, restart 1)"
    h.run(2)
    assert len(h.lines) == 2  # not serving yet: nothing more said
    h.serving.add("records")
    h.run(0.25)
    assert h.lines[-1].startswith(f"records (pid {h.procs['records'].pid}) is serving again after ")
    h.run(5)
    assert len(h.lines) == 3 and h.spawned == ["records"]


def test_the_wait_doubles_while_it_keeps_dying_up_to_30_s_and_starts_afresh_after_a_minute_up() -> None:
    h = Harness("identity")
    waits = []
    for _ in range(7):
        h.procs["identity"].returncode = 1
        h.run(0.25)
        waits.append(h.lines[-1].rsplit(" in ", 1)[1])
        h.run(31)
    assert waits == ["1 s", "2 s", "4 s", "8 s", "16 s", "30 s", "30 s"]
    assert h.spawned == ["identity"] * 7
    h.run(60)  # up a minute since its last start
    h.procs["identity"].returncode = 3
    h.run(0.25)
    assert h.lines[-1].endswith("exited with code 3; restarting it in 1 s")


def test_a_longer_first_delay_and_exit_reasons() -> None:
    h = Harness("credentials", first_delay=15)
    h.procs["credentials"].returncode = -15
    h.run(14.5)
    assert h.spawned == [] and "killed by SIGTERM; restarting it in 15 s" in h.lines[0]
    h.run(1)
    assert h.spawned == ["credentials"]
    assert exit_reason(0) == "exited with code 0" and exit_reason(-9) == "was killed by SIGKILL"
    assert exit_reason(-200) == "was killed by signal 200"
