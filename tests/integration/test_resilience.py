"""Redelivery, worker crashes and dependencies going away: the checkout still ends right."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from typing import Any

import aiohttp
import pytest

from config.kafka import producer, read_topic_records
from config.settings import Settings
from dev.invariants import stock_levels
from dev.platform import Platform
from tests.conftest import Proxies
from tests.helpers import Shopper, eventually, query
from tests.integration.test_failures import assert_invariants, set_stock, settled_stock
from tests.integration.test_operators import metrics, total

pytestmark = pytest.mark.integration

REPLAYED = ("order-events", "inventory-events", "payment-events", "stock-results", "stock-commands",
            "order-commands", "notification-commands")


READERS = {"order-events": ("inventory", "payment", "cart"), "inventory-events": ("orders", "payment"),
           "payment-events": ("orders",), "stock-results": ("inventory",), "stock-commands": ("inventory",),
           "order-commands": ("orders",), "notification-commands": ("notification",)}


async def handled(settings: Settings, http: aiohttp.ClientSession) -> float:
    """Records the services' agents have finished with (handled or dead-lettered), from /metrics."""
    count = 0.0
    for service in sorted({s for readers in READERS.values() for s in readers}):
        samples = await metrics(http, settings.service_url(service))
        count += total(samples, "megatron_events_in_total") + total(samples, "megatron_dead_letters_total")
    return count


async def snapshot(settings: Settings, http: aiohttp.ClientSession, order_ids: list[str]) -> dict[str, Any]:
    base = settings.service_url("orders")
    orders = {}
    for oid in order_ids:
        async with http.get(f"{base}/orders/{oid}?wait=0") as r:
            orders[oid] = await r.json()
    async with http.get(f"{settings.upi_gateway_url}/v1/payments") as r:
        ledger = sorted(await r.json(), key=lambda p: p["payment_id"])
    return {"orders": orders, "stock": await stock_levels(settings, http), "ledger": ledger,
            "mail": len(list(settings.mail_dir.glob("*.eml")))}


async def test_redelivered_events_change_nothing(settings: Settings, http: aiohttp.ClientSession) -> None:
    """Re-publish every event and command so far (but operators' stock settings): nothing changes."""
    shoppers = [Shopper(http, settings) for _ in range(3)]
    for s, sku in zip(shoppers, ("IPHONE-15", "PIXEL-8", "LAPTOP")):
        await s.set_line(sku, 1)
    placed = [(await s.checkout(vpa))[1] for s, vpa in zip(shoppers, ("ravi@upi", "declined@upi", "asha@upi"))]
    for s, p in zip(shoppers, placed):
        await s.final_order(p["order_id"])
    await settled_stock(settings, http, "IPHONE-15", "PIXEL-8", "LAPTOP")
    order_ids = [json.loads(v)["order_id"] for _, v in await read_topic_records(settings, "order-commands")
                 if json.loads(v)["type"] == "PlaceOrder"]
    # quiet: nothing is being handled any more (two readings a second apart agree)
    await eventually(lambda: stable(lambda: snapshot(settings, http, order_ids)), bool, timeout=30)
    before = await snapshot(settings, http, order_ids)
    handled_before = await handled(settings, http)

    p = producer(settings)
    await p.start()
    sent = deliveries = 0
    try:
        for topic in REPLAYED:
            for key, value in await read_topic_records(settings, topic):
                if b'"SetStock"' in value:
                    continue  # an operator's absolute setting, not an event
                await p.send_and_wait(topic, key=key.encode(), value=value)
                sent += 1
                deliveries += len(READERS[topic])
    finally:
        await p.stop()
    assert sent >= 30, "three orders alone write more than this"
    # every reader has handled every re-published record before we compare
    await eventually(lambda: handled(settings, http), lambda n: n - handled_before >= deliveries,
                     timeout=90, interval=0.5)
    after = await snapshot(settings, http, order_ids)
    assert after["orders"] == before["orders"]
    assert after["stock"] == before["stock"]
    assert after["ledger"] == before["ledger"], "no new charge, not even a new request"
    assert after["mail"] == before["mail"], "nobody is told twice"


async def stable(probe):  # type: ignore[no-untyped-def]
    first = await probe()
    await asyncio.sleep(1)
    return first == await probe()


async def test_kill_9_workers_mid_flow(platform: Platform, settings: Settings, http: aiohttp.ClientSession) -> None:
    """SIGKILL every service's worker in turn while orders are in flight, and restart it."""
    await settled_stock(settings, http, "REDMI-13C")
    before = await set_stock(settings, http, "REDMI-13C", 500)
    accepted: list[str] = []

    async def shop(i: int) -> str:
        shopper = Shopper(http, settings)
        await eventually(lambda: shopper.set_line("REDMI-13C", 1 + i % 3), lambda r: r[0] == 200)
        placed = await shopper.checkout_until_accepted("declined@upi" if i % 7 == 0 else "ravi@upi", uuid.uuid4().hex)
        accepted.append(placed["order_id"])
        await shopper.final_order(placed["order_id"], timeout=90)
        return str(placed["order_id"])

    tasks: list[asyncio.Task[str]] = []
    for wave, service in enumerate(("inventory", "payment", "orders", "notification", "cart", "gateway")):
        tasks += [asyncio.create_task(shop(wave * 12 + i)) for i in range(12)]
        await eventually(lambda: asyncio.sleep(0, len(accepted)), lambda n: n >= wave * 12 + 4, timeout=60)
        platform.signal(service, signal.SIGKILL)
        await asyncio.to_thread(platform.procs[service].popen.wait, 10)
        platform.start_service(service)
        await asyncio.to_thread(platform.wait_ready, service)
    order_ids = await asyncio.gather(*tasks)
    await assert_invariants(settings, http, order_ids, before, timeout=60)  # includes: no record skipped


async def test_redis_down_gives_503_and_recovers(proxies: Proxies, settings: Settings,
                                                 http: aiohttp.ClientSession) -> None:
    shopper = Shopper(http, settings)
    assert (await shopper.set_line("IPHONE-15", 1))[0] == 200
    proxies.redis.cut()
    try:
        for status, body in (await shopper.call("GET", f"/cart/{shopper.user_id}"),
                             await shopper.set_line("LAPTOP", 1), await shopper.checkout()):
            assert status == 503, body
            assert body["error"]["code"] == "dependency_unavailable" and body["error"]["message"]
    finally:
        proxies.redis.restore()
    _, cart = await eventually(lambda: shopper.call("GET", f"/cart/{shopper.user_id}"), lambda r: r[0] == 200)
    assert [i["sku"] for i in cart["items"]] == ["IPHONE-15"], "nothing half-written"
    _, placed = await shopper.checkout()
    assert (await shopper.final_order(placed["order_id"]))["status"] == "CONFIRMED"


async def test_mysql_down_pipeline_goes_on_and_mirror_catches_up(
        proxies: Proxies, settings: Settings, http: aiohttp.ClientSession) -> None:
    direct = settings.model_copy(update={"mysql_port": 3306})  # the test's own view, around the proxy
    orders_db = settings.database("orders_db")
    proxies.mysql.cut()
    try:
        shopper = Shopper(http, settings)
        await shopper.set_line("LAPTOP", 1)
        _, placed = await shopper.checkout()
        order = await shopper.final_order(placed["order_id"])
        assert order["status"] == "CONFIRMED", "MySQL is not on the checkout's path"
        rows = await query(direct, f"SELECT status FROM `{orders_db}`.orders WHERE order_id=%s", order["order_id"])
        assert rows == [], "the mirror cannot have written while MySQL was away"
    finally:
        proxies.mysql.restore()
    rows = await eventually(
        lambda: query(direct, f"SELECT status FROM `{orders_db}`.orders WHERE order_id=%s", order["order_id"]),
        lambda r: r == [{"status": "CONFIRMED"}], timeout=30)
    assert rows == [{"status": "CONFIRMED"}]
