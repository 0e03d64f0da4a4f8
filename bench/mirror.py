"""The MySQL mirror's lag, seen from outside and as the workers measure it.

From outside: once ``order-events`` says an order is final, its row in
``orders_db.orders`` is looked up every ``interval`` until it shows the final status;
the lag is that moment minus the final status's time in the order's history (an upper
bound, ``interval`` coarse). Only orders still pending are queried, so it costs MySQL
little. From inside: the ``megatron_mirror_lag_seconds`` histograms of the mirroring
workers' ``/metrics`` (table write to MySQL row), before and after a phase.
"""

from __future__ import annotations

import asyncio
import math
import re
import time

import aiohttp

from config.settings import Settings
from tables.schema import connect

__all__ = ["MirrorWatch", "scrape_mirror_lag", "histogram_delta", "MIRRORING_SERVICES"]

MIRRORING_SERVICES = ("orders", "inventory", "payment")
_BUCKET = re.compile(r'^megatron_mirror_lag_seconds_bucket\{(?:[^}]*,)?le="([^"]+)"[^}]*\}\s+([0-9.e+-]+)')


class MirrorWatch:
    """Times when final orders appear in ``orders_db.orders``."""

    def __init__(self, settings: Settings, interval: float = 0.05, give_up_s: float = 60.0) -> None:
        self.settings = settings
        self.interval = interval
        self.give_up_s = give_up_s
        self.pending: dict[str, float] = {}  # order_id -> when it became final (seen on the topic)
        self.seen: dict[str, float] = {}  # order_id -> when its final row was seen
        self.given_up: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def expect(self, order_id: str, status: str, when: float) -> None:
        """An :class:`~bench.load.OrderWatch` listener: this order is final, look for its row."""
        self.pending.setdefault(order_id, when)

    async def start(self) -> None:
        self._conn = await connect(self.settings)
        self._table = f"`{self.settings.database('orders_db')}`.orders"
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            ids = list(self.pending)[:1000]
            if ids:
                async with self._conn.cursor() as cur:
                    await cur.execute(
                        f"SELECT order_id FROM {self._table} WHERE status IN ('CONFIRMED', 'FAILED') "
                        f"AND order_id IN ({', '.join(['%s'] * len(ids))})", ids)
                    rows = await cur.fetchall()
                now = time.time()
                for (order_id,) in rows:
                    self.seen[order_id] = now
                    self.pending.pop(order_id, None)
                for order_id, since in list(self.pending.items()):
                    if now - since > self.give_up_s:
                        self.given_up.add(order_id)
                        del self.pending[order_id]
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def wait_empty(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        self._conn.close()


async def scrape_mirror_lag(settings: Settings, http: aiohttp.ClientSession) -> dict[float, float]:
    """The mirroring workers' lag histograms, summed: ``le`` (s) -> cumulative count."""
    total: dict[float, float] = {}

    async def one(service: str) -> str:
        try:
            async with http.get(f"{settings.service_url(service)}/metrics",
                                timeout=aiohttp.ClientTimeout(total=5)) as r:
                return await r.text() if r.status == 200 else ""
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return ""

    for text in await asyncio.gather(*(one(s) for s in MIRRORING_SERVICES)):
        for line in text.splitlines():
            m = _BUCKET.match(line)
            if m:
                le = math.inf if m.group(1) == "+Inf" else float(m.group(1))
                total[le] = total.get(le, 0.0) + float(m.group(2))
    return total


def histogram_delta(before: dict[float, float], after: dict[float, float]) -> dict[float, float]:
    return {le: count - before.get(le, 0.0) for le, count in after.items()}
