"""Open-loop shoppers of a chaos run, patient as real ones: they retry through the faults.

Each shopper is started by the clock, never by an earlier answer. Most pay with an approving
VPA, some with ``declined@`` or ``timeout@`` (the simulator declines, or never answers); a few
buy one unit of a scarce SKU, so orders race for the last units. Every call is retried while
the platform cannot answer (connection refused, 5xx, 409 while a cut-off try holds the key,
429), the checkout always under the same ``Idempotency-Key``; some shoppers click Checkout
twice. Every 202 is kept, so one key answered with two order ids is seen.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = ["Visit", "ChaosShoppers", "APPROVING_VPA", "ADDRESS"]

APPROVING_VPA = "ravi@okhdfc"
VPAS = ((APPROVING_VPA, 0.8), ("declined@upi", 0.1), ("timeout@upi", 0.1))
ADDRESS = {"name": "Ravi Kumar", "line": "12 Chandni Chowk", "city": "Delhi", "state": "Delhi",
           "pincode": "110006", "phone": "+919812345678"}
RETRIED = {409, 429, 500, 502, 503, 504}


@dataclass
class Visit:
    """One shopper: what they bought and how they paid, and what the platform answered."""

    n: int
    scheduled: float  # wall clock
    skus: list[str]
    vpa: str
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    order_ids: list[str] = field(default_factory=list)  # one per 202 (two if the shopper clicked twice)
    accepted_at: float | None = None
    tries: int = 0
    error: str | None = None

    @property
    def order_id(self) -> str | None:
        return self.order_ids[0] if self.order_ids else None


class ChaosShoppers:
    """Shoppers of plentiful SKUs, with ``scarce`` SKUs in ``scarce_share`` of the carts."""

    def __init__(self, gateway_url: str, http: aiohttp.ClientSession, seed: int, plentiful: list[str],
                 scarce: list[str], scarce_share: float = 0.1, patience_s: float = 120.0) -> None:
        self.base = gateway_url.rstrip("/")
        self.http = http
        self.rng = random.Random(seed)
        self.plentiful, self.scarce, self.scarce_share = plentiful, scarce, scarce_share
        self.patience_s = patience_s
        self.visits: list[Visit] = []

    def _new(self, scheduled: float) -> Visit:
        rng = self.rng
        vpa = rng.choices([v for v, _ in VPAS], [w for _, w in VPAS])[0]
        skus = [rng.choice(self.scarce)] if self.scarce and rng.random() < self.scarce_share else \
            rng.sample(self.plentiful, rng.randint(1, 2))
        visit = Visit(len(self.visits) + 1, scheduled, skus, vpa)
        self.visits.append(visit)
        return visit

    async def _call(self, visit: Visit, method: str, path: str, ok: int, body: Any,
                    headers: dict[str, str] | None = None, deadline: float = 0.0) -> Any:
        """The call until it answers ``ok`` (retried while the platform cannot answer), or None."""
        delay = 0.25
        while True:
            visit.tries += 1
            try:
                async with self.http.request(method, self.base + path, json=body, headers=headers) as r:
                    answer = await r.json(content_type=None)
                    if r.status == ok:
                        return answer
                    if r.status not in RETRIED:
                        visit.error = f"{method} {path.split('/')[1]}: HTTP {r.status} {answer}"
                        return None
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                pass
            if time.monotonic() + delay > deadline:
                visit.error = f"{method} {path.split('/')[1]}: no answer within {self.patience_s:.0f}s"
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 4.0)

    async def visit(self, visit: Visit) -> None:
        deadline = time.monotonic() + self.patience_s
        session = await self._call(visit, "POST", "/session", 201, {}, deadline=deadline)
        if session is None:
            return
        auth = {"Authorization": f"Bearer {session['token']}"}
        for sku in visit.skus:
            if await self._call(visit, "PUT", f"/cart/{session['user_id']}/items/{sku}", 200, {"quantity": 1},
                                auth, deadline) is None:
                return
        checkout = {"payment": {"method": "UPI", "vpa": visit.vpa}, "shipping_address": ADDRESS}
        headers = {**auth, "Idempotency-Key": visit.key}
        clicks = 2 if self.rng.random() < 0.2 else 1
        for _ in range(clicks):
            placed = await self._call(visit, "POST", "/checkout", 202, checkout, headers, deadline)
            if placed is None:
                return
            visit.order_ids.append(placed["order_id"])
            visit.accepted_at = visit.accepted_at or time.time()

    async def run(self, rate: float, duration_s: float) -> list[asyncio.Task[None]]:
        """Start ``rate`` shoppers a second for ``duration_s``; returns their tasks (still running)."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        tasks = []
        for k in range(max(1, round(rate * duration_s))):
            delay = t0 + k / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.visit(self._new(time.time()))))
        return tasks
