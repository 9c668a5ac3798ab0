"""The machine's load around a benchmark, and ratios only between sides that ran under comparable load.

Every benchmark prints the load average (``/proc/loadavg``) when it starts and when it ends, and each of its
ratios compares two *sides* (the service and the bare app, the gateway and the direct call, the API and COPY …).
While a side runs, the 1-minute load average is sampled every ``interval`` seconds (and at the side's start and
end); a side's load is the mean of its samples. A ratio whose two sides ran more than ``MAX_APART`` (20 %) apart in
load is not reported — the machine is shared, and a ratio of a side run on a quiet machine to one run while
another job took the cores says nothing about the code::

    load = LoadWatch()                     # prints "load average at start: 0.41 0.52 0.60"
    with load.side("bare"):
        ...
    with load.side("service"):
        ...
    print(load.ratio("service/bare", service_rps / bare_rps, "service", "bare"))
    load.end()                             # prints "load average at end: …"

Sides measured in several slices (direct, gateway, gateway, direct) use the same name each time: their samples add
up. Without ``/proc/loadavg`` (not Linux) loads are unknown and ratios are reported with a note saying so.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TextIO

#: two sides whose loads differ by more than this share of the larger one give no ratio
MAX_APART = 0.20


def loadavg() -> tuple[float, float, float] | None:
    """The 1-, 5- and 15-minute load averages, or None where ``/proc/loadavg`` does not exist."""
    try:
        with open("/proc/loadavg") as f:
            one, five, fifteen = f.read().split()[:3]
    except (OSError, ValueError):
        return None
    return float(one), float(five), float(fifteen)


def describe() -> str:
    value = loadavg()
    return "unknown (no /proc/loadavg)" if value is None else " ".join(f"{v:.2f}" for v in value)


def apart(a: float, b: float) -> float:
    """How far apart two loads are, as a share of the larger (0 when both are 0)."""
    high = max(a, b)
    return 0.0 if high <= 0 else abs(a - b) / high


class LoadWatch:
    """Samples the load during named sides; prints at start (on creation) and at :meth:`end`."""

    def __init__(self, *, interval: float = 0.5, max_apart: float = MAX_APART, out: TextIO | None = None,
                 quiet: bool = False) -> None:
        self.interval = interval
        self.max_apart = max_apart
        self._out = out
        self.samples: dict[str, list[float]] = {}
        if not quiet:
            self._print(f"load average at start: {describe()}")

    def _print(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    @contextlib.contextmanager
    def side(self, name: str) -> Iterator[None]:
        """Samples the 1-minute load average while the block runs, under ``name``."""
        samples = self.samples.setdefault(name, [])
        stop = threading.Event()

        def sample() -> None:
            while True:
                value = loadavg()
                if value is not None:
                    samples.append(value[0])
                if stop.wait(self.interval):
                    return

        thread = threading.Thread(target=sample, name=f"loadavg-{name}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            value = loadavg()  # the side's end
            if value is not None:
                samples.append(value[0])

    def load_of(self, name: str) -> float | None:
        samples = self.samples.get(name)
        return sum(samples) / len(samples) if samples else None

    def comparable(self, a: str, b: str) -> tuple[bool, str]:
        """Whether sides ``a`` and ``b`` ran under loads at most ``max_apart`` apart, and the loads as text."""
        la, lb = self.load_of(a), self.load_of(b)
        if la is None or lb is None:
            return True, "load unknown"
        share = apart(la, lb)
        return share <= self.max_apart, f"load {la:.2f} vs {lb:.2f}, {share:.0%} apart"

    def ratio(self, label: str, value: float, a: str, b: str, fmt: str = ".2f", extra: str = "") -> str:
        """``label = value`` (and ``extra``, e.g. the same ratio per CPU-second) when sides ``a`` and ``b`` are
        comparable, else a line saying why it is withheld."""
        ok, loads = self.comparable(a, b)
        if ok:
            return f"{label} = {value:{fmt}}{extra}  ({loads})"
        return (f"{label}: not reported — the sides ran under different load ({loads}; more than "
                f"{self.max_apart:.0%} apart); run again on a quieter machine")

    def gate(self, text: str, a: str, b: str) -> str:
        """``text`` (a ratio written out already) when sides ``a`` and ``b`` are comparable, else why it is withheld."""
        ok, loads = self.comparable(a, b)
        if ok:
            return text
        return f"ratio not reported: {a} and {b} ran under different load ({loads})"

    def end(self) -> None:
        self._print(f"load average at end: {describe()}")
