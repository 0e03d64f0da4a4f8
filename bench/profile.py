"""Where the time goes: py-spy samples of every service worker during the latency phase (``--profile``).

py-spy is not a dependency of the project (``pip install py-spy`` into the venv to use
this). It samples from outside with ``--nonblocking`` (the workers are never paused) and
only threads that are running, so a function's share of samples is its share of the
worker's CPU time. The sampler itself takes CPU on the same machine: figures of a
profiled run are a little worse than those of a plain one.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["Profiler", "py_spy", "summarise"]

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    """The py-spy binary of this venv or of the PATH."""
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def _short(frame: str) -> str:
    """``func (a/path/to/module.py:12)`` -> ``func (path/to/module.py)``: one name per function."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    parts = m.group("file").replace("\\", "/").split("/")
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1:]
    return f"{m.group('func')} ({'/'.join(parts[-3:])})"


#: areas a sample is charged to: the frame nearest the leaf that is not generic plumbing decides
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pydantic (validate, serialise)", ("pydantic/", "pydantic_core/")),
    ("JSON", ("json/",)),
    ("RocksDB tables", ("rocksdict", "faust/stores/")),
    ("MySQL mirror", ("aiomysql/", "pymysql/", "tables/mirror.py")),
    ("Redis", ("redis/",)),
    ("metrics", ("prometheus_client/", "config/metrics.py")),
    ("logging", ("logging/", "config/logs.py")),
    ("aiokafka producer", ("aiokafka/producer/",)),
    ("aiokafka consumer", ("aiokafka/consumer/",)),
    ("aiokafka wire (connections, protocol, records)", ("aiokafka/", "kafka/")),
    ("Faust tables", ("faust/tables/",)),
    ("Faust streams, agents, topics", ("faust/streams", "faust/agents/", "faust/topics", "faust/channels",
                                       "faust/events", "faust/serializers", "faust/models")),
    ("Faust consumer and transport", ("faust/transport/", "config/transport.py")),
    ("Faust other", ("faust/", "mode/")),
    ("HTTP (aiohttp)", ("aiohttp/", "multidict/", "yarl/")),
    ("SMTP", ("aiosmtplib", "smtplib", "aiosmtpd")),
    ("service code", ("agents/", "domain/", "web/", "tables/", "streams/", "config/", "adapters/")),
)
IDLE = "idle (waiting in epoll)"
PLUMBING = "event loop and sockets"


#: frames that run everything (the worker's entry point, its loops): never an area
RUNNERS = ("(faust)", "faust/cli/", "mode/worker.py", "mode/threads.py", "click/", "threading.py")


def area(frames: list[str]) -> str:
    """The area of one sample (``frames`` root first)."""
    if frames and "select (" in frames[-1] and "selectors.py" in frames[-1]:
        return IDLE
    for frame in reversed(frames):
        if any(r in frame for r in RUNNERS):
            continue
        for name, needles in AREAS:
            if any(n in frame for n in needles):
                return name
    return PLUMBING


def summarise(raw: Path, top: int = 8) -> dict[str, Any]:
    """Areas, self and inclusive shares of a py-spy ``--format raw`` file (collapsed stacks).

    Shares are of the busy samples (waiting in epoll excluded); ``idle_share`` is of all samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = idle = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        full = [f.strip() for f in stack.split(";") if f and not f.startswith("process ")
                and not f.startswith("thread ")]
        if not full:
            continue
        where = area(full)
        frames = [_short(f) for f in full]
        if where == IDLE:
            idle += n
            continue
        total += n
        areas[where] += n
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    share = (lambda c: round(c / total, 4)) if total else (lambda c: 0.0)
    return {"samples": total + idle, "busy_samples": total,
            "idle_share": round(idle / (total + idle), 4) if total + idle else None,
            "areas": [{"area": a, "share": share(c)} for a, c in areas.most_common()],
            "self": [{"function": f, "share": share(c)} for f, c in own.most_common(top)],
            "inclusive": [{"function": f, "share": share(c)} for f, c in inclusive.most_common(top * 3)
                          if share(c) < 0.999][:top]}


class Profiler:
    """One ``py-spy record`` per worker for a fixed time."""

    def __init__(self, pids: dict[str, int], out_dir: Path, rate: int = 50) -> None:
        self.pids = pids
        self.out_dir = out_dir
        self.rate = rate
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.started = 0.0
        self.duration = 0.0

    def start(self, duration: float) -> None:
        binary = py_spy()
        assert binary is not None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.started, self.duration = time.monotonic(), duration
        for name, pid in self.pids.items():
            out = self.out_dir / f"{name}.txt"
            log = (self.out_dir / f"{name}.log").open("wb")
            self.procs[name] = subprocess.Popen(
                [binary, "record", "--pid", str(pid), "--duration", str(max(1, round(duration))),
                 "--rate", str(self.rate), "--nonblocking", "--format", "raw", "--output", str(out)],
                stdout=log, stderr=subprocess.STDOUT)

    async def finish(self) -> dict[str, Any]:
        """Wait (bounded) for every sampler to write its file; the summaries by worker."""
        deadline = self.started + self.duration + 20
        while any(p.poll() is None for p in self.procs.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        out: dict[str, Any] = {}
        for name, proc in self.procs.items():
            if proc.poll() is None:  # our own child; it overran its bound
                proc.terminate()
                proc.wait(5)
            raw = self.out_dir / f"{name}.txt"
            if raw.exists():
                out[name] = {**summarise(raw), "raw": str(raw)}
            else:
                log = (self.out_dir / f"{name}.log").read_text(errors="replace").strip().splitlines()
                out[name] = {"error": log[-1] if log else f"py-spy exited with {proc.returncode}"}
        return out
