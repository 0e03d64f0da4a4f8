"""Open-loop shoppers against the gateway's HTTP API, and what becomes of their orders.

A phase offers shoppers at a fixed rate for a fixed time. Each one is started by the
clock (``t0 + k / rate``), never by the previous answer, so a slow answer cannot hide
the queue behind it; the generator records how late it started each shopper and the
report says when it fell behind. A shopper of the usual mix puts 1-3 random lines in
its cart, one of a flash sale one iPhone 15 (every order the same SKU: every reservation
is for one stock, where a synchronous service's row locks collapse), and checks out
with an ``Idempotency-Key``. When an order became final is learnt from ``order-events``
(a plain consumer, no group); its timings come from the order's own ``history``, read
once per order after the phase, so measuring adds no polling to the platform.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Literal

import aiohttp
from aiokafka import TopicPartition

from config.kafka import consumer
from config.settings import Settings
from domain.catalog import PRODUCTS
from streams.topics import ORDER_EVENTS

__all__ = ["Visit", "Phase", "OrderWatch", "Shoppers", "FINAL_TYPES", "Workload", "WORKLOADS", "flash_sku",
           "pick_skus"]

FINAL_TYPES = {"OrderConfirmed": "CONFIRMED", "OrderFailed": "FAILED"}
VPA = "bench@okhdfc"  # any well-formed VPA but declined@/timeout@ is approved by the simulator
ADDRESS = {"name": "Bench Shopper", "line": "1 Test Street", "city": "Bengaluru", "state": "Karnataka",
           "pincode": "560001", "phone": "+919812345678"}
FLASH_PRODUCT = "iPhone 15"  # by name, as a shop would announce the sale; its SKU comes from the catalog

Workload = Literal["usual", "flash"]
WORKLOADS: tuple[Workload, ...] = ("usual", "flash")


def flash_sku() -> str:
    """The SKU every flash-sale order buys (looked up by name, so a renamed SKU cannot drift)."""
    for product in PRODUCTS:
        if product.name == FLASH_PRODUCT:
            return product.sku
    raise LookupError(f"no product named {FLASH_PRODUCT!r} in domain.catalog.PRODUCTS")


def pick_skus(workload: Workload, rng: random.Random) -> list[str]:
    """A shopper's cart lines: 1-3 random SKUs (usual), or the one flash-sale SKU (flash); quantity 1 each."""
    if workload == "flash":
        return [flash_sku()]
    if workload != "usual":
        raise ValueError(f"unknown workload {workload!r}: one of {', '.join(WORKLOADS)}")
    return rng.sample([p.sku for p in PRODUCTS], rng.randint(1, 3))


@dataclass
class Visit:
    """One shopper's visit: its schedule, its calls, and its order's history."""

    n: int
    phase: str
    user_id: str
    skus: list[str]
    scheduled: float  # wall clock (epoch s) the schedule set
    started: float | None = None  # when the generator actually started it
    put_ms: list[float] = field(default_factory=list)
    checkout_started: float | None = None
    checkout_ms: float | None = None
    order_id: str | None = None
    token: str | None = None  # the guest session the visit began with: its order is only its own
    error: str | None = None
    status: str | None = None  # final status from the order's history
    reason: str | None = None
    history: dict[str, float] = field(default_factory=dict)  # status -> epoch s
    mirrored: float | None = None  # when its final row was seen in orders_db.orders

    @property
    def confirmed_at(self) -> float | None:
        return self.history.get("CONFIRMED")

    @property
    def final_at(self) -> float | None:
        return self.history.get("CONFIRMED") or self.history.get("FAILED")

    @property
    def placed_to_confirmed_ms(self) -> float | None:
        if "CONFIRMED" in self.history and "CREATED" in self.history:
            return (self.history["CONFIRMED"] - self.history["CREATED"]) * 1000
        return None

    @property
    def request_to_confirmed_ms(self) -> float | None:
        if "CONFIRMED" in self.history and self.checkout_started is not None:
            return (self.history["CONFIRMED"] - self.checkout_started) * 1000
        return None

    @property
    def start_lag_ms(self) -> float | None:
        return None if self.started is None else (self.started - self.scheduled) * 1000

    @property
    def mirror_lag_ms(self) -> float | None:
        if self.mirrored is None or self.final_at is None:
            return None
        return max(0.0, self.mirrored - self.final_at) * 1000


@dataclass
class Phase:
    """The visits of one offered rate, and how the generator kept to its schedule."""

    name: str
    rate: float
    duration: float
    started: float  # wall clock of the first scheduled visit
    ended: float = 0.0  # wall clock the schedule ended (last visit + one interval)
    visits: list[Visit] = field(default_factory=list)
    dispatch_lag_ms: list[float] = field(default_factory=list)
    unfinished: int = 0  # visits still running when the phase's time bound ran out

    @property
    def orders(self) -> list[Visit]:
        return [v for v in self.visits if v.order_id]


class OrderWatch:
    """Follows ``order-events`` from its end at start-up: which orders became final, and when seen."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.finals: dict[str, tuple[str, float]] = {}
        self.listeners: list[Callable[[str, str, float], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        self._consumer = consumer(self.settings)
        await self._consumer.start()
        await self._consumer._client.force_metadata_update()
        parts = [TopicPartition(ORDER_EVENTS.name, p)
                 for p in sorted(self._consumer.partitions_for_topic(ORDER_EVENTS.name) or ())]
        if not parts:
            raise LookupError(f"no topic {ORDER_EVENTS.name} on {self.settings.kafka_broker}")
        self._consumer.assign(parts)
        for tp, end in (await self._consumer.end_offsets(parts)).items():
            self._consumer.seek(tp, end)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batch.values():
                for record in records:
                    if b"OrderConfirmed" not in record.value and b"OrderFailed" not in record.value:
                        continue
                    event = json.loads(record.value)
                    status = FINAL_TYPES.get(event.get("type"))
                    if status and event["order_id"] not in self.finals:
                        self.finals[event["order_id"]] = (status, now)
                        for listener in self.listeners:
                            listener(event["order_id"], status, now)
            if batch:
                self._changed.set()

    async def wait_final(self, order_ids: list[str], timeout: float) -> list[str]:
        """Wait (bounded) until every order is final; returns those that are not."""
        deadline = time.monotonic() + timeout
        while True:
            missing = [o for o in order_ids if o not in self.finals]
            remaining = deadline - time.monotonic()
            if not missing or remaining <= 0:
                return missing
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
            except asyncio.TimeoutError:
                pass

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self._consumer.stop()


class Shoppers:
    """The load generator: open-loop phases of shoppers, through one aiohttp session."""

    def __init__(self, settings: Settings, http: aiohttp.ClientSession, run_id: str, seed: int = 8) -> None:
        self.base = settings.gateway_url.rstrip("/")
        self.http = http
        self.run_id = run_id
        self.rng = random.Random(seed)
        self.count = 0

    @staticmethod
    def _error(visit: Visit, kind: str) -> None:
        visit.error = kind

    async def _call(self, visit: Visit, method: str, route: str, path: str, ok: int, body: Any,
                    headers: dict[str, str] | None = None) -> tuple[float, Any] | None:
        started = time.perf_counter()
        try:
            async with self.http.request(method, self.base + path, json=body, headers=headers) as r:
                answer = await r.json(content_type=None)
                status = r.status
        except asyncio.TimeoutError:
            self._error(visit, f"{method} {route}: timeout")
            return None
        except (aiohttp.ClientError, ValueError) as exc:
            self._error(visit, f"{method} {route}: {type(exc).__name__}")
            return None
        took = (time.perf_counter() - started) * 1000
        if status != ok:
            code = answer.get("error", {}).get("code", "") if isinstance(answer, dict) else ""
            self._error(visit, f"{method} {route}: HTTP {status} {code}".rstrip())
            return None
        return took, answer

    async def visit(self, visit: Visit) -> None:
        """A new guest's visit, as the pages make it: a session, the lines, the checkout."""
        visit.started = time.time()
        session = await self._call(visit, "POST", "/session", "/session", 201, {})
        if session is None:
            return
        visit.user_id, visit.token = session[1]["user_id"], session[1]["token"]
        auth = {"Authorization": f"Bearer {visit.token}"}
        for sku in visit.skus:
            answer = await self._call(visit, "PUT", "/cart/{user_id}/items/{sku}",
                                      f"/cart/{visit.user_id}/items/{sku}", 200, {"quantity": 1}, auth)
            if answer is None:
                return
            visit.put_ms.append(answer[0])
        visit.checkout_started = time.time()
        answer = await self._call(visit, "POST", "/checkout", "/checkout", 202,
                                  {"payment": {"method": "UPI", "vpa": VPA}, "shipping_address": ADDRESS},
                                  {**auth, "Idempotency-Key": uuid.uuid4().hex})
        if answer is None:
            return
        visit.checkout_ms = answer[0]
        visit.order_id = answer[1].get("order_id")
        if not visit.order_id:
            self._error(visit, "POST /checkout: no order_id in the answer")

    def _new_visit(self, phase: str, scheduled: float, workload: Workload = "usual") -> Visit:
        self.count += 1
        skus = pick_skus(workload, self.rng)
        return Visit(self.count, phase, f"bench-{self.run_id}-{self.count}", skus, scheduled)

    async def phase(self, name: str, rate: float, duration: float, patience_s: float = 30.0,
                    workload: Workload = "usual") -> Phase:
        """Offer ``rate`` shoppers/s of ``workload`` for ``duration`` s, open loop; wait (bounded) for every call."""
        loop = asyncio.get_running_loop()
        count = max(1, round(rate * duration))
        wall_offset = time.time() - loop.time()
        t0 = loop.time() + 0.05
        phase = Phase(name, rate, duration, started=t0 + wall_offset)
        tasks = []
        for k in range(count):  # bounded: count visits
            due = t0 + k / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            phase.dispatch_lag_ms.append((loop.time() - due) * 1000)
            visit = self._new_visit(name, due + wall_offset, workload)
            phase.visits.append(visit)
            tasks.append(asyncio.create_task(self.visit(visit)))
        phase.ended = t0 + count / rate + wall_offset
        done, pending = await asyncio.wait(tasks, timeout=patience_s)  # bounded in time
        for task in pending:
            task.cancel()
        phase.unfinished = len(pending)
        for visit, task in zip(phase.visits, tasks):
            if task in pending:
                self._error(visit, "visit unfinished within the phase's bound")
        return phase


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


async def read_histories(http: aiohttp.ClientSession, settings: Settings, visits: list[Visit],
                         concurrency: int = 8) -> dict[str, int]:
    """``GET /orders/{id}`` once per order (after its phase): status, reason and history times.

    Returns errors by kind (an order the gateway could not show)."""
    base = settings.gateway_url.rstrip("/")
    gate = asyncio.Semaphore(concurrency)
    errors: dict[str, int] = {}

    async def one(visit: Visit) -> None:
        async with gate:
            try:
                async with http.get(f"{base}/orders/{visit.order_id}",
                                    headers={"Authorization": f"Bearer {visit.token}"}) as r:
                    body = await r.json(content_type=None)
                    status = r.status
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                kind = f"GET /orders/{{order_id}}: {type(exc).__name__}"
                errors[kind] = errors.get(kind, 0) + 1
                return
        if status != 200:
            kind = f"GET /orders/{{order_id}}: HTTP {status}"
            errors[kind] = errors.get(kind, 0) + 1
            return
        visit.status, visit.reason = body.get("status"), body.get("reason")
        visit.history = {h["status"]: _epoch(h["at"]) for h in body.get("history", [])}

    await asyncio.gather(*(one(v) for v in visits if v.order_id))
    return errors
