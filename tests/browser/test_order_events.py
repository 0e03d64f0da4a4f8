"""The stream behind the confirmation page: ``GET /orders/{order_id}/events``, from the worker that owns the order.

With two order workers each owns half of the partitions, and only the owner's
RocksDB holds an order. Asked for any order, either worker must stream it to its
final status: the owner from its table, the other by relaying the owner's stream;
and so must the gateway, which relays whichever worker it asks.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiokafka.partitioner import murmur2

from config.settings import Settings
from dev.broker import free_port
from dev.platform import Platform
from tests.helpers import Shopper, eventually

pytestmark = pytest.mark.integration


async def read_stream(http: aiohttp.ClientSession, url: str,
                      token: str | None = None) -> tuple[int, str, list[dict[str, Any]]]:
    """``(status, content type, orders)`` of one event stream, read until the server ends it
    (``token``: the shopper's, for the gateway; the order workers' own ports are internal)."""
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    while True:
        async with http.get(url, headers={"Accept": "text/event-stream", **auth}) as r:
            if r.status == 429:  # the shopper's rate limit, after the burst that placed the orders
                await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                continue
            orders = []
            async for line in r.content:
                if line.startswith(b"data: "):
                    orders.append(json.loads(line[len(b"data: "):]))
            return r.status, r.content_type, orders


async def wait_healthy(http: aiohttp.ClientSession, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with http.get(f"{url}/health") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        assert time.monotonic() < deadline, f"{url} not ready in {timeout}s"
        await asyncio.sleep(0.1)


class TwoWorkers:
    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.order_ids: list[str] = []  # orders of every partition: the first worker reads them all after


@pytest.fixture
async def two_order_workers(platform: Platform, settings: Settings,
                            http: aiohttp.ClientSession) -> AsyncIterator[TwoWorkers]:
    """A second order worker beside the first, for one test; the first owns everything again after."""
    second = f"http://127.0.0.1:{free_port()}"
    platform.start_service("orders", name="orders-2", extra_env={"ORDERS_URL": second})
    workers = TwoWorkers([settings.orders_url, second])
    try:
        await wait_healthy(http, second)  # ready = partitions assigned: the group has rebalanced
        await wait_healthy(http, settings.orders_url)
        yield workers
    finally:
        await asyncio.to_thread(platform.stop_proc, "orders-2")

        async def all_read() -> list[int]:
            statuses = []
            for order_id in workers.order_ids:
                async with http.get(f"{settings.orders_url}/orders/{order_id}?wait=0") as r:
                    statuses.append(r.status)
            return statuses

        # the first worker owns and has recovered every partition again before the next test,
        # and is ready: reading its table is not yet folding new commands
        await eventually(all_read, lambda statuses: all(s == 200 for s in statuses), timeout=60)
        await wait_healthy(http, settings.orders_url)


async def orders_in_every_partition(shopper: Shopper, partitions: int) -> list[str]:
    """Declined orders (the cart stays for the next) until one lands in each partition 0..n-1, so
    both workers own some. Order ids are random: 40 tries miss a partition of 4 once in 10^5."""
    found: dict[int, str] = {}
    for _ in range(40):
        assert (await shopper.set_line("REDMI-13C", 1))[0] == 200
        status, placed = await shopper.checkout("declined@upi")
        assert status == 202, placed
        found.setdefault((murmur2(placed["order_id"].encode()) & 0x7FFFFFFF) % partitions, placed["order_id"])
        if len(found) == partitions:
            return [found[p] for p in range(partitions)]
    raise AssertionError(f"40 random order ids covered only partitions {sorted(found)}")


async def test_every_worker_streams_every_order_from_its_owner(
        two_order_workers: TwoWorkers, settings: Settings, http: aiohttp.ClientSession) -> None:
    shopper = Shopper(http, settings)
    order_ids = await orders_in_every_partition(shopper, settings.topic_partitions)
    two_order_workers.order_ids[:] = order_ids
    workers = [*two_order_workers.urls, settings.gateway_url]  # the gateway asks the first worker

    streams = await asyncio.gather(*(read_stream(http, f"{worker}/orders/{order_id}/events", shopper.token)
                                     for order_id in order_ids for worker in workers))
    for (status, content_type, orders), (order_id, worker) in zip(
            streams, [(o, w) for o in order_ids for w in workers]):
        assert (status, content_type) == (200, "text/event-stream"), (worker, order_id, orders)
        assert orders and all(o["order_id"] == order_id for o in orders)
        assert (orders[-1]["status"], orders[-1]["reason"]) == ("FAILED", "PAYMENT_DECLINED"), (worker, orders)
        versions = [len(o["history"]) for o in orders]
        assert versions == sorted(set(versions)), f"a change sent twice or out of order: {versions}"


async def test_gateway_relays_the_stream_and_passes_on_a_404(settings: Settings, http: aiohttp.ClientSession) -> None:
    shopper = Shopper(http, settings)
    await shopper.set_line("IPHONE-15", 1)
    status, placed = await shopper.checkout("ravi@okhdfc")
    assert status == 202, placed
    status, content_type, orders = await read_stream(http, f"{settings.gateway_url}/orders/{placed['order_id']}/events",
                                                     shopper.token)
    assert (status, content_type) == (200, "text/event-stream")
    assert orders[-1]["status"] == "CONFIRMED"
    assert [h["status"] for h in orders[-1]["history"]] == ["CREATED", "INVENTORY_RESERVED", "CONFIRMED"]

    async with http.get(f"{settings.gateway_url}/orders/{uuid.uuid4().hex}/events",
                        headers={"Authorization": f"Bearer {shopper.token}"}) as r:
        assert r.status == 404
        assert (await r.json())["error"]["code"] == "unknown_order"
