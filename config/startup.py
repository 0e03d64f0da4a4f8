"""Where a worker's start went, phase by phase, from its process start to serving.

A restarted worker is judged by how soon it serves again (``make chaos`` reports it), and the
levers differ by phase: imports and start-up are CPU, joining the group is the coordinator,
restoring is the changelog a wiped data dir reads again, resuming is the recovery callbacks and
the seek to the committed offsets. The worker logs the phases once, when it first serves, and
``/health`` shows them, so a slow start says where its time went.
"""

from __future__ import annotations

import os
import time
from typing import Callable

__all__ = ["PHASES", "StartupClock", "process_age_s"]

#: Each phase ends at its mark: ``start`` when the app starts (the process start to there is
#: imports and the worker's set-up), ``join`` when partitions are assigned, ``restore`` when the
#: tables are read back from their changelogs, ``resume`` when the worker is ready.
PHASES = ("start", "join", "restore", "resume")


def process_age_s() -> float | None:
    """Seconds since this process started, from Linux's ``/proc``; None where there is none."""
    try:
        with open("/proc/self/stat") as f:
            after_name = f.read().rsplit(")", 1)[1].split()  # the name may hold spaces; it ends at ")"
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        started_ticks = int(after_name[19])  # field 22 of proc(5), the 20th after the name
        return max(0.0, uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


class StartupClock:
    """The first time each phase ends, on the monotonic clock, from the process's start."""

    def __init__(self, now: Callable[[], float] = time.monotonic,
                 age: Callable[[], float | None] = process_age_s) -> None:
        self._now = now
        self._age = age
        self._origin: float | None = None
        self._ends: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        """``phase`` ended now, unless it ended before (a later rebalance is no start)."""
        if phase not in PHASES:
            raise ValueError(f"unknown start-up phase {phase!r}: one of {', '.join(PHASES)}")
        if self.done or phase in self._ends:
            return
        now = self._now()
        if self._origin is None:
            age = self._age()
            self._origin = now - (age if age is not None else 0.0)
        self._ends[phase] = now

    @property
    def done(self) -> bool:
        return PHASES[-1] in self._ends

    def phases(self) -> dict[str, float]:
        """Seconds of each phase that ended, in order, and ``total``. A phase never marked (a worker
        without tables has nothing to restore) counts in the next one that was."""
        out: dict[str, float] = {}
        if self._origin is None:
            return out
        since = self._origin
        for phase in PHASES:
            if phase in self._ends:
                out[phase] = round(self._ends[phase] - since, 3)
                since = self._ends[phase]
        out["total"] = round(since - self._origin, 3)
        return out

    def describe(self) -> str:
        p = self.phases()
        parts = ", ".join(f"{name} {p[name]:.2f}s" for name in PHASES if name in p)
        return f"serving {p.get('total', 0.0):.2f}s after the process started ({parts})"
