"""One chaos run: an isolated platform, open-loop checkouts, the fault schedule, healing, the verdict.

The platform is the one ``make run`` starts (``dev.platform``), isolated as the tests' is (free
ports, its own consumer groups, databases and Redis keys), on a local Kafka cluster of
``--brokers`` nodes (3: replication 3, min.insync.replicas 2, producers acks=all), with MySQL and
Redis behind the cuttable proxies of ``dev/faults.py``. Its folders live under
``var/chaos/<run id>/``; the workers' logs stay there after the run (the broker's log and the
tables are deleted), beside the report's JSON.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from chaos.inject import Injected, Injector
from chaos.report import Outcome, judge
from chaos.schedule import KINDS, Fault, plan
from chaos.shoppers import ChaosShoppers, Visit
from config.kafka import send_messages
from config.settings import SERVICES, Settings
from dev.broker import free_port
from dev.faults import TcpProxy
from dev.invariants import Stock, stock_levels
from dev.platform import ROOT, Platform, isolated_env, start_stores
from dev.stores import stop_store
from domain.catalog import PRODUCTS
from streams.commands import SetStock
from streams.topics import STOCK_COMMANDS
from tables.schema import drop_databases

__all__ = ["Options", "run", "SCARCE"]

log = logging.getLogger("megatron.chaos")

SCARCE = ("MACBOOK-AIR", "GALAXY-S24")  # orders race for their last units
PLENTY = 1_000_000


@dataclass
class Options:
    """What ``make chaos`` is asked for (``python -m chaos --help``)."""

    duration_s: float = 600.0
    rate: float = 10.0
    seed: int = 1
    faults: list[str] = field(default_factory=lambda: list(KINDS))
    count: int | None = None  # faults in all; default one per 5 s of the run, at least 100 for 10 minutes
    brokers: int = 3
    heal_bound_s: float = 180.0
    output: Path = ROOT / "var" / "chaos"
    env: dict[str, str] = field(default_factory=dict)  # settings for the platform (deadlines, timeouts)
    keep: bool = False  # keep the brokers' logs and the workers' tables for a post-mortem

    @property
    def fault_count(self) -> int:
        return self.count if self.count is not None else max(1, round(self.duration_s / 5))


def platform_env(opts: Options, tmp: Path, proxies: dict[str, TcpProxy]) -> dict[str, str]:
    brokers = ";".join(f"127.0.0.1:{free_port()}" for _ in range(opts.brokers))
    replicas = min(opts.brokers, 3)
    return {**isolated_env(tmp, "chaos"), "KAFKA_BROKER": f"kafka://{brokers}",
            "TOPIC_REPLICATION_FACTOR": str(replicas), "TOPIC_MIN_INSYNC_REPLICAS": str(min(replicas, 2)),
            "REDIS_URL": f"redis://127.0.0.1:{proxies['redis'].port}/0", "MYSQL_PORT": str(proxies["mysql"].port),
            **opts.env}


async def stock_up(settings: Settings, http: aiohttp.ClientSession, scarce_units: int) -> Stock:
    """Plenty of every SKU but the scarce ones; returns the levels once the inventory answers them."""
    wanted = {p.sku: scarce_units if p.sku in SCARCE else PLENTY for p in PRODUCTS}
    await send_messages(settings, STOCK_COMMANDS, [SetStock(order_id=f"chaos-{uuid.uuid4().hex}", sku=sku,
                                                            on_hand=n) for sku, n in wanted.items()])
    deadline = time.monotonic() + 60
    while True:
        levels = await stock_levels(settings, http)
        if all(levels[sku][0] == n for sku, n in wanted.items()):
            return levels
        if time.monotonic() > deadline:
            raise TimeoutError(f"stock not set after 60 s: {levels}")
        await asyncio.sleep(0.2)


async def final_orders(settings: Settings, http: aiohttp.ClientSession, order_ids: list[str],
                       bound_s: float) -> tuple[dict[str, dict[str, Any]], float | None]:
    """Every order as the order service answers it, once all are final or ``bound_s`` has passed; and
    how long after the call all were final (None if some never were)."""
    base = settings.service_url("orders")
    gate = asyncio.Semaphore(16)
    orders: dict[str, dict[str, Any]] = {}
    started = time.monotonic()

    async def one(oid: str) -> None:
        async with gate:
            try:
                async with http.get(f"{base}/orders/{oid}?wait=0") as r:
                    if r.status == 200:
                        orders[oid] = await r.json()
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass

    while True:
        await asyncio.gather(*(one(oid) for oid in order_ids
                               if orders.get(oid, {}).get("status") not in ("CONFIRMED", "FAILED")))
        open_ = [oid for oid in order_ids if orders.get(oid, {}).get("status") not in ("CONFIRMED", "FAILED")]
        took = time.monotonic() - started
        if not open_:
            return orders, round(took, 1)
        if took > bound_s:
            return orders, None
        await asyncio.sleep(1.0)


def revive(platform: Platform) -> list[str]:
    """Workers that died on their own during the run (none should): restarted, and named in the report."""
    dead = [s for s in SERVICES if s not in platform.procs or not platform.procs[s].alive]
    for service in dead:
        platform.procs.pop(service, None)
        platform.start_service(service)
        platform.wait_ready(service)
    return dead


async def drive(opts: Options, platform: Platform, proxies: dict[str, TcpProxy], faults: list[Fault],
                run_id: str) -> dict[str, Any]:
    """Load and faults at once, then heal, wait for every order, and judge."""
    s = platform.settings
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        expected_scarce = opts.rate * opts.duration_s * 0.1
        before = await stock_up(s, http, scarce_units=max(3, round(expected_scarce / len(SCARCE) * 0.3)))
        shoppers = ChaosShoppers(s.gateway_url, http, opts.seed, [p.sku for p in PRODUCTS if p.sku not in SCARCE],
                                 list(SCARCE))
        injector = Injector(platform, proxies, http)
        print(f"chaos: {len(faults)} faults over {opts.duration_s:.0f} s at {opts.rate:g} checkouts/s", flush=True)
        progress = asyncio.create_task(report_progress(injector, shoppers, opts.duration_s))
        started = time.time()
        visits_task = asyncio.create_task(shoppers.run(opts.rate, opts.duration_s))
        injected: list[Injected] = await injector.run(faults)
        tasks = await visits_task
        healed = time.time()
        crashed = await asyncio.to_thread(revive, platform)
        print(f"chaos: healed at {healed - started:.0f} s; waiting for the shoppers and every order", flush=True)
        await asyncio.gather(*tasks)
        progress.cancel()
        accepted = [v.order_id for v in shoppers.visits if v.order_id]
        orders, final_after = await final_orders(s, http, accepted, opts.heal_bound_s)
        outcome = Outcome(seed=opts.seed, duration_s=opts.duration_s, rate=opts.rate, brokers=opts.brokers,
                          heal_bound_s=opts.heal_bound_s, started=started, healed=healed, injected=injected,
                          visits=shoppers.visits, orders=orders, final_after_heal_s=final_after,
                          stock_before=before, crashed=crashed, scarce=SCARCE)
        return await judge(outcome, s, http, run_id, opts.output)


async def report_progress(injector: Injector, shoppers: ChaosShoppers, duration_s: float) -> None:
    """A line every 30 s: time, shoppers started and accepted, faults done."""
    while True:
        await asyncio.sleep(30)
        visits: list[Visit] = shoppers.visits
        print(f"chaos: {injector.now():.0f}/{duration_s:.0f} s, {len(visits)} shoppers, "
              f"{sum(1 for v in visits if v.order_id)} orders accepted, {len(injector.done)} faults done", flush=True)


def run(opts: Options) -> dict[str, Any]:
    """The whole run; returns the report (also written as ``<output>/<run id>.json``)."""
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-seed{opts.seed}"
    tmp = opts.output / run_id
    tmp.mkdir(parents=True, exist_ok=True)
    defaults = Settings()
    stores = start_stores(defaults, tmp / "log")
    redis = URL(defaults.redis_url)
    proxies = {"redis": TcpProxy(redis.host or "127.0.0.1", redis.port or 6379, free_port()).start(),
               "mysql": TcpProxy(defaults.mysql_host, defaults.mysql_port, free_port()).start()}
    platform = Platform(env=platform_env(opts, tmp, proxies), own_stores=False)
    faults = plan(opts.seed, opts.duration_s, opts.fault_count, opts.faults, tuple(SERVICES), opts.brokers,
                  platform.settings.broker_session_timeout)
    try:
        print(f"chaos: starting the platform ({opts.brokers} Kafka node(s)) under {tmp}", flush=True)
        platform.start()
        report = asyncio.run(drive(opts, platform, proxies, faults, run_id))
    finally:
        platform.stop()
        for proxy in proxies.values():
            proxy.close()
        asyncio.run(drop_databases(platform.settings.model_copy(update={"mysql_port": defaults.mysql_port})))
        for proc in stores:
            stop_store(proc)
        for folder in ("kafka", "data", "mail") if not opts.keep else ():
            shutil.rmtree(tmp / folder, ignore_errors=True)
    return report
