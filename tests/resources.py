"""What the suite holds while it runs: PostgreSQL connections to the run's databases and the memory of pytest and
the processes it starts. Sampled in a thread, reported at the end of the terminal summary; with CI=true a peak
over a cap fails the run (the suite shares its PostgreSQL server and its machine with other work).

* connections: ``pg_stat_activity`` rows of the databases named ``<RUN_PREFIX>_…`` (tests/support.py), every
  ``SAMPLE_SECONDS``;
* memory: the resident sets of pytest and every process below it, summed (``/proc``; shared pages count once per
  process, so this errs high), every ``SAMPLE_SECONDS``, and the kernel's exact high-water mark of pytest itself
  (``getrusage``), with the tests during which that mark rose most.

Each peak names the test that was running when it was seen."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.common.testing import PG_ADMIN_DSN, in_ci

#: the issue's bound: the suite runs beside other databases on a server that allows 100 connections
MAX_PG_CONNECTIONS = 20
#: peak resident memory of pytest and its children, in bytes
MAX_RSS_BYTES = 2 * 1024**3
SAMPLE_SECONDS = 0.2
MiB = 1024**2


@dataclass
class Peak:
    value: int = 0
    during: str = "(between tests)"

    def see(self, value: int, during: str) -> None:
        if value > self.value:
            self.value, self.during = value, during


def _rss_of(pid: int, page: int) -> int:
    """The process's proportional set size (PSS: each page shared with N processes counted 1/N) where the kernel
    gives it, else its RSS. Summed over a tree, RSS counts every shared page once per process: a browser's dozen
    processes sharing one binary and its libraries showed as 1.4 GiB that is not there; PSS sums to the memory the
    tree really holds."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * page
    except (OSError, ValueError, IndexError):
        return 0  # gone meanwhile


def tree_rss(root: int) -> int | None:
    """Resident bytes (PSS, see :func:`_rss_of`) of ``root`` and every process below it; None where there is no ``/proc``."""
    proc = Path("/proc")
    if not (proc / str(root) / "statm").exists():
        return None
    children: dict[int, list[int]] = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    page = os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_of(pid, page)
        stack.extend(children.get(pid, ()))
    return total


def maxrss_bytes(who: int) -> int:
    """``getrusage``'s high-water mark (KiB on Linux, bytes on macOS)."""
    value = resource.getrusage(who).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024


class ResourceMonitor:
    def __init__(self, database_prefix: str) -> None:
        # LIKE's own wildcards in the prefix taken literally
        self.pattern = database_prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "\\_%"
        self.connections = Peak()
        self.rss = Peak()
        self.samples = 0
        self.pg_problem: str | None = None
        self.current = "(collection)"
        #: (bytes, test) the high-water mark of pytest itself rose by while a test ran
        self.growth: list[tuple[int, str]] = []
        self._high_water = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resource-monitor", daemon=True)

    # -- pytest hooks ---------------------------------------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self._thread.start()

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        self.current = nodeid
        self._high_water = maxrss_bytes(resource.RUSAGE_SELF)

    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        self.current = f"(after {nodeid})"
        rose = maxrss_bytes(resource.RUSAGE_SELF) - self._high_water
        if rose >= 16 * MiB:
            self.growth.append((rose, nodeid))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._stop.set()
        self._thread.join(10)
        if in_ci() and self.over_caps() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        tr = terminalreporter
        tr.section("resources")
        if self.pg_problem:
            tr.write_line(f"PostgreSQL connections: not counted ({self.pg_problem})")
        else:
            tr.write_line(f"PostgreSQL connections to this run's databases: peak {self.connections.value} "
                          f"(cap {MAX_PG_CONNECTIONS}) during {self.connections.during}")
        own = maxrss_bytes(resource.RUSAGE_SELF)
        tr.write_line(f"peak RSS of pytest and its child processes: {self.peak_rss() / MiB:.0f} MiB "
                      f"(cap {MAX_RSS_BYTES / MiB:.0f} MiB): pytest alone at most {own / MiB:.0f} MiB; the sum over "
                      f"the process tree at most {self.rss.value / MiB:.0f} MiB, during {self.rss.during} "
                      f"({self.samples} samples)")
        if self.growth:
            top = sorted(self.growth, reverse=True)[:8]
            tr.write_line("pytest's own high-water mark rose most during (setup, call and teardown): "
                          + "; ".join(f"{nodeid} +{rose / MiB:.0f} MiB" for rose, nodeid in top))
        for problem in self.over_caps():
            tr.write_line(f"OVER THE CAP: {problem}" + (" (CI=true: the run fails)" if in_ci() else ""), red=True, bold=True)

    # -- measuring ------------------------------------------------------------------------------------------------

    def peak_rss(self) -> int:
        return max(self.rss.value, maxrss_bytes(resource.RUSAGE_SELF))

    def over_caps(self) -> list[str]:
        problems = []
        if self.connections.value > MAX_PG_CONNECTIONS:
            problems.append(f"{self.connections.value} PostgreSQL connections > {MAX_PG_CONNECTIONS} "
                            f"(during {self.connections.during})")
        if self.peak_rss() >= MAX_RSS_BYTES:
            problems.append(f"peak RSS {self.peak_rss() / MiB:.0f} MiB >= {MAX_RSS_BYTES / MiB:.0f} MiB "
                            f"(sampled during {self.rss.during})")
        return problems

    def _run(self) -> None:
        asyncio.run(self._sample())

    async def _sample(self) -> None:
        import asyncpg

        conn = None
        try:
            while not self._stop.is_set():
                during = self.current
                rss = tree_rss(os.getpid())
                if rss is not None:
                    self.rss.see(rss, during)
                if conn is None or conn.is_closed():
                    try:
                        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
                        self.pg_problem = None
                    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                        conn = None
                        self.pg_problem = f"{type(exc).__name__}: {exc}"
                if conn is not None:
                    with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
                        n = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname LIKE $1",
                                                self.pattern, timeout=5)
                        self.connections.see(n, during)
                self.samples += 1
                self._stop.wait(SAMPLE_SECONDS)
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
