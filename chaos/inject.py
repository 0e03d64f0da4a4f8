"""Carries a chaos schedule out on a running platform, and heals after each fault.

Every fault is one task started at its time; faults on the same lock (:attr:`Fault.lock`) wait
for each other, so one Kafka node is down (or catching up) at a time and a worker is not killed while it is
stopped. Each fault ends healed (restarted, continued, restored); what happened is kept as an
:class:`Injected`: when it really started, how long it took, and for a restart, how long the
worker took from its start to serving again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import time
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from chaos.schedule import Fault
from config.kafka import bootstrap_servers, producer, read_topic_records
from dev.broker import free_port, wait_for_in_sync
from dev.faults import TcpProxy
from dev.platform import Platform
from streams.topics import PAYMENT_COMMANDS

__all__ = ["Injected", "Injector"]

log = logging.getLogger("megatron.chaos")


@dataclass
class Injected:
    """A fault as it happened (times in seconds from the run's start)."""

    fault: Fault
    started: float = 0.0
    ended: float = 0.0
    ready_s: float | None = None  # a restarted or joining worker: its start to its /health answering
    in_sync_s: float | None = None  # a restarted Kafka node: its start to every replica in sync again
    startup_s: dict[str, float] | None = None  # a restarted worker's own phases (``config.startup``)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "fault": self.fault.as_json()}


class Injector:
    def __init__(self, platform: Platform, proxies: dict[str, TcpProxy], http: aiohttp.ClientSession) -> None:
        self.platform = platform
        self.proxies = proxies
        self.http = http
        self.locks: dict[str, asyncio.Lock] = {}
        self.done: list[Injected] = []
        self.t0 = time.monotonic()

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 2)

    async def run(self, faults: list[Fault]) -> list[Injected]:
        """Every fault at its time; returns once each has ended healed."""
        self.t0 = time.monotonic()
        await asyncio.gather(*(self._at(f) for f in faults))
        return sorted(self.done, key=lambda i: i.started)

    async def _at(self, fault: Fault) -> None:
        await asyncio.sleep(max(0.0, fault.at - self.now()))
        async with self.locks.setdefault(fault.lock, asyncio.Lock()):
            record = Injected(fault, started=self.now())
            try:
                await getattr(self, "_" + fault.kind.replace("-", "_"))(fault, record)
            except Exception as exc:  # a fault that could not be carried out is reported, never hidden
                record.error = f"{type(exc).__name__}: {exc}"
                log.exception("fault %s on %s", fault.kind, fault.target)
            record.ended = self.now()
            self.done.append(record)
            log.info("fault %s on %s: %.1fs%s", fault.kind, fault.target, record.ended - record.started,
                     f", ready in {record.ready_s:.1f}s" if record.ready_s is not None else "")

    async def _start_worker(self, service: str, record: Injected, name: str | None = None,
                            extra_env: dict[str, str] | None = None) -> None:
        started = time.monotonic()
        self.platform.start_service(service, name, extra_env)
        await asyncio.to_thread(self.platform.wait_ready, name or service, 180.0)
        record.ready_s = round(time.monotonic() - started, 2)
        health = self.platform.procs[name or service].health
        assert health is not None
        try:
            async with self.http.get(health) as r:
                record.startup_s = (await r.json()).get("startup_s")
        except (aiohttp.ClientError, ValueError) as exc:  # a figure of the report, never a fault
            log.warning("start-up phases of %s not read: %s", name or service, exc)

    async def _kill(self, fault: Fault, record: Injected) -> None:
        p = self.platform
        p.signal(fault.target, signal.SIGKILL)
        await asyncio.to_thread(p.procs.pop(fault.target).popen.wait, 10)
        if fault.wipe:
            shutil.rmtree(p.data_dir_of(fault.target), ignore_errors=True)  # a stateless worker may have none
        await asyncio.sleep(fault.hold_s)
        await self._start_worker(fault.target, record)

    async def _stop(self, fault: Fault, record: Injected) -> None:
        self.platform.signal(fault.target, signal.SIGSTOP)
        try:
            await asyncio.sleep(fault.hold_s)
        finally:
            self.platform.signal(fault.target, signal.SIGCONT)

    async def _join(self, fault: Fault, record: Injected) -> None:
        name, url = f"{fault.target}-2", f"http://127.0.0.1:{free_port()}"
        await self._start_worker(fault.target, record, name, {f"{fault.target.upper()}_URL": url})
        await asyncio.sleep(fault.hold_s)
        await asyncio.to_thread(self.platform.stop_proc, name)
        shutil.rmtree(self.platform.data_dir_of(fault.target, url), ignore_errors=True)

    async def _broker(self, fault: Fault, record: Injected) -> None:
        p = self.platform
        p.signal(fault.target, signal.SIGKILL)
        await asyncio.to_thread(p.procs.pop(fault.target).popen.wait, 10)
        await asyncio.sleep(fault.hold_s)
        started = time.monotonic()
        await asyncio.to_thread(p.restart_broker, int(fault.target.rsplit("-", 1)[1]))
        record.ready_s = round(time.monotonic() - started, 2)
        # the fault holds the broker lock until the node is a replica again: killing the next one
        # sooner would be two nodes down, which replication 3 with min.insync.replicas 2 does not survive
        await wait_for_in_sync(bootstrap_servers(p.settings))
        record.in_sync_s = round(time.monotonic() - started, 2)

    async def _cut(self, fault: Fault) -> None:
        proxy = self.proxies[fault.target]
        await asyncio.to_thread(proxy.cut)
        try:
            await asyncio.sleep(fault.hold_s)
        finally:
            await asyncio.to_thread(proxy.restore)

    async def _mysql(self, fault: Fault, record: Injected) -> None:
        await self._cut(fault)

    async def _redis(self, fault: Fault, record: Injected) -> None:
        await self._cut(fault)

    async def _upi(self, fault: Fault, record: Injected) -> None:
        url = f"{self.platform.settings.upi_gateway_url}/faults"
        async with self.http.post(url, json={"mode": fault.mode, "seconds": fault.hold_s}) as r:
            r.raise_for_status()
        await asyncio.sleep(fault.hold_s)

    async def _upi_restart(self, fault: Fault, record: Injected) -> None:
        p = self.platform
        p.signal("upi-gateway", signal.SIGKILL)
        await asyncio.to_thread(p.procs.pop("upi-gateway").popen.wait, 10)
        await asyncio.sleep(fault.hold_s)
        started = time.monotonic()
        p.start_gateway_simulator()
        await asyncio.to_thread(p.wait_ready, "upi-gateway")
        record.ready_s = round(time.monotonic() - started, 2)

    async def _redeliver(self, fault: Fault, record: Injected, last: int = 20) -> None:
        """The latest gateway answers once more, as a broker's redelivery or a retrying producer would."""
        s = self.platform.settings
        answers = [(k, v) for k, v in await read_topic_records(s, PAYMENT_COMMANDS.name)
                   if json.loads(v).get("type") == "GatewayAnswered"][-last:]
        p = producer(s)
        await p.start()
        try:
            for key, value in answers:
                await p.send_and_wait(PAYMENT_COMMANDS.name, key=key.encode(), value=value)
        finally:
            await p.stop()
