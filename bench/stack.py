"""The platform under test: one the bench starts (isolated, as ``make run`` would) or one already running.

An isolated platform gets free ports, its own app id prefix (consumer groups), its own
MySQL databases and Redis keys and temporary data, log and mail folders, so it never
meets ``make run`` or a test session on the same machine. Everything else keeps the
defaults ``make run`` uses.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from contextlib import contextmanager
from typing import Callable, Iterator

from yarl import URL

from bench.procstat import listening_pids
from config.settings import SERVICES, Settings
from dev.clean import forget
from dev.platform import Platform, isolated_env

__all__ = ["Stack", "started_platform", "running_platform"]


@dataclass
class Stack:
    """What the bench needs to know about the platform it measures."""

    settings: Settings
    env: dict[str, str]  # environment for processes the bench starts against this platform
    pids: dict[str, int]  # broker, each service worker, simulators
    started_here: bool
    workdir: Path
    notes: list[str] = field(default_factory=list)
    platform: Platform | None = None  # the bench's own, whose workers it may kill and restart


def _settings_from(env: dict[str, str]) -> Settings:
    return Settings(**{k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields})


@contextmanager
def started_platform(log: Callable[[str], None] = print) -> Iterator[Stack]:
    """Start the whole platform (Kafka, bootstrap, simulators, one worker per service) and stop it after."""
    with tempfile.TemporaryDirectory(prefix="megatron-bench-") as tmp:
        env = isolated_env(Path(tmp), "bench")
        platform = Platform(env=env, start_broker=True)
        log(f"starting an isolated platform (broker {env['KAFKA_BROKER']}, logs in {env['LOG_DIR']}) ...")
        try:
            platform.start()
            pids = {name: proc.popen.pid for name, proc in platform.procs.items()}
            yield Stack(platform.settings, {**os.environ, **env}, pids, True, Path(tmp), platform=platform)
        finally:
            platform.stop()
            asyncio.run(forget(platform.settings))


def running_platform(gateway_url: str, workdir: Path) -> Stack:
    """A platform someone else runs: its settings come from this environment, the gateway from the flag."""
    env = {**os.environ, "GATEWAY_URL": gateway_url.rstrip("/")}
    settings = _settings_from({k: v for k, v in env.items() if k.lower() in Settings.model_fields})
    ports = {"broker": URL(settings.kafka_broker.split(",")[0].split(";")[0]).port or 9092}
    for service in SERVICES:
        ports[service] = URL(settings.service_url(service)).port or 80
    ports["upi-gateway"] = URL(settings.upi_gateway_url).port or 80
    ports["mail-sink"] = settings.smtp_port
    pids = listening_pids(ports)
    notes = []
    missing = sorted(set(ports) - set(pids))
    if missing:
        notes.append(f"no process of this user listens for {', '.join(missing)}: their cost is not measured")
    return Stack(settings, env, pids, False, workdir, notes)
