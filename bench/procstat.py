"""CPU seconds and resident memory of processes, and the CPU the hypervisor stole, read from ``/proc`` (Linux).

The bench measures the platform's processes from the outside: it knows their pids
from the launcher, or, when it targets a running platform, from the TCP ports they
listen on (``/proc/net/tcp`` inode -> ``/proc/<pid>/fd``).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import NamedTuple

__all__ = ["cpu_seconds", "memory_mb", "listening_pids", "CpuMeter", "CpuSampler", "machine_busy_seconds",
           "MachineTicks", "machine_ticks", "read_machine_ticks", "steal_share", "STEAL_LIMIT"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")
#: a phase whose share of stolen CPU is above this is not comparable with another run's
STEAL_LIMIT = 0.05


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds the process has used so far; ``None`` once it is gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()  # the command name may hold spaces; fields start at "state"
    utime, stime = int(fields[11]), int(fields[12])  # stat fields 14 and 15
    return (utime + stime) / CLOCK_TICKS


def memory_mb(pid: int) -> dict[str, float | None]:
    """``peak_rss_mb`` (VmHWM: the most it was resident, over its life) and ``rss_mb`` now."""
    out: dict[str, float | None] = {"peak_rss_mb": None, "rss_mb": None}
    try:
        lines = (PROC / str(pid) / "status").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out["peak_rss_mb" if key == "VmHWM" else "rss_mb"] = round(int(value.split()[0]) / 1024, 1)
    return out


def _listening_inodes(ports: set[int]) -> dict[str, int]:
    """Socket inode -> port for sockets listening on one of ``ports``."""
    found: dict[str, int] = {}
    for table in ("tcp", "tcp6"):
        try:
            rows = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) < 10 or cols[3] != "0A":  # 0A: LISTEN
                continue
            port = int(cols[1].rsplit(":", 1)[1], 16)
            if port in ports:
                found[cols[9]] = port
    return found


def listening_pids(ports: dict[str, int]) -> dict[str, int]:
    """Name -> pid of the process listening on each named port (only processes this user can see)."""
    inodes = _listening_inodes(set(ports.values()))
    by_port: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                by_port.setdefault(inodes[target[8:-1]], int(entry.name))
    return {name: by_port[port] for name, port in ports.items() if port in by_port}


class MachineTicks(NamedTuple):
    """The whole machine's CPU ticks so far (all cores), from the ``cpu`` line of ``/proc/stat``."""

    total: int  # user .. steal; guest and guest_nice are left out: the kernel counts them in user already
    steal: int  # ticks a vCPU wanted to run but the hypervisor ran another guest


def _cpu_fields(stat: str) -> list[int]:
    """The numbers of the ``cpu`` (all cores) line of ``/proc/stat`` text."""
    for line in stat.splitlines():
        if line.startswith("cpu "):
            return [int(x) for x in line.split()[1:]]
    raise ValueError("no 'cpu' line in /proc/stat")


def machine_ticks(stat: str) -> MachineTicks:
    """Total and stolen ticks from ``/proc/stat`` text (steal is the 8th number; old kernels lack it)."""
    fields = _cpu_fields(stat)
    return MachineTicks(total=sum(fields[:8]), steal=fields[7] if len(fields) > 7 else 0)


def read_machine_ticks() -> MachineTicks | None:
    """:func:`machine_ticks` of this machine now; ``None`` where there is no ``/proc/stat``."""
    try:
        return machine_ticks((PROC / "stat").read_text())
    except (OSError, ValueError):
        return None


def steal_share(start: MachineTicks | None, end: MachineTicks | None) -> float | None:
    """Share of the machine's ticks between two snapshots that the hypervisor stole (0..1)."""
    if start is None or end is None or end.total <= start.total:
        return None
    return round((end.steal - start.steal) / (end.total - start.total), 4)


class CpuMeter:
    """CPU seconds of named processes at marks (phase boundaries), and the deltas between marks.

    Each mark also snapshots the machine's ticks: on a shared VM the hypervisor may give the
    cores to other guests, and a phase that lost much of its CPU so is not comparable."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)
        self.marks: dict[str, dict[str, float | None]] = {}
        self.times: dict[str, float] = {}
        self.machine: dict[str, MachineTicks | None] = {}

    def mark(self, label: str) -> None:
        self.times[label] = time.monotonic()
        self.marks[label] = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.machine[label] = read_machine_ticks()

    def has(self, *labels: str) -> bool:
        """Whether every one of these marks was made (a run may skip phases)."""
        return all(label in self.times for label in labels)

    def seconds(self, start: str, end: str) -> float:
        """Wall seconds between two marks."""
        return self.times[end] - self.times[start]

    def delta(self, start: str, end: str) -> dict[str, float | None]:
        a, b = self.marks[start], self.marks[end]
        return {name: None if a[name] is None or b[name] is None else round(b[name] - a[name], 2)  # type: ignore[operator]
                for name in self.pids}

    def steal(self, start: str, end: str) -> float | None:
        """Share of the machine's CPU stolen between two marks."""
        return steal_share(self.machine.get(start), self.machine.get(end))


def machine_busy_seconds(stat: str | None = None) -> float:
    """CPU seconds the whole machine has been busy (all cores; idle and iowait excluded)."""
    fields = _cpu_fields((PROC / "stat").read_text() if stat is None else stat)
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    steal_guest = sum(fields[7:]) if len(fields) > 7 else 0  # steal, guest, guest_nice: not this machine's work
    return (sum(fields) - idle - steal_guest) / CLOCK_TICKS


class CpuSampler:
    """Cores in use each second: the whole machine, the platform's processes, and the bench itself.

    What is left (machine - platform - bench) is other work on the same machine: on a shared
    machine it explains latency spikes that are not the platform's own. ``steal_cores`` is the
    CPU the hypervisor gave to other guests that second, which no process here can see."""

    def __init__(self, pids: dict[str, int], interval: float = 1.0) -> None:
        self.pids = dict(pids)
        self.interval = interval
        self.samples: list[dict[str, float]] = []
        self._task: asyncio.Task[None] | None = None

    def _read(self) -> tuple[float, float, float, float, float]:
        platform = sum(cpu_seconds(pid) or 0.0 for pid in self.pids.values())
        stat = (PROC / "stat").read_text()
        return (time.time(), machine_busy_seconds(stat), platform, cpu_seconds(os.getpid()) or 0.0,
                machine_ticks(stat).steal / CLOCK_TICKS)

    async def _run(self) -> None:
        last = self._read()
        while True:
            await asyncio.sleep(self.interval)
            now = self._read()
            span = now[0] - last[0]
            if span > 0:
                self.samples.append({"t": now[0], "machine_cores": round((now[1] - last[1]) / span, 3),
                                     "platform_cores": round((now[2] - last[2]) / span, 3),
                                     "bench_cores": round((now[3] - last[3]) / span, 3),
                                     "steal_cores": round((now[4] - last[4]) / span, 3)})
            last = now

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
