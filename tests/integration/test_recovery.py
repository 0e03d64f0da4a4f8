"""A worker killed with SIGKILL and restarted on an empty data dir rebuilds every table entry.

What was written before the kill is read back from the table's changelog topic
(the last value of each key); after the restart the worker must serve exactly that
for every key, with producers that batch (recovery reads each changelog to its end offset).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from config.settings import Settings
from dev.platform import Platform
from domain.orders import Order
from domain.stock import StockLevel, is_hold_key
from tests.helpers import Shopper, eventually, read_topic_records
from web.inventory import stock_body
from web.orders import order_body

pytestmark = pytest.mark.integration


async def place_orders(http: aiohttp.ClientSession, settings: Settings, count: int) -> list[str]:
    async def one(i: int) -> str:
        shopper = Shopper(http, settings)
        status, cart = await shopper.set_line("REDMI-13C", 1 + i % 2)
        assert status == 200, cart
        status, placed = await shopper.checkout("declined@upi" if i % 5 == 0 else "ravi@okhdfc")
        assert status == 202, placed
        await shopper.final_order(placed["order_id"])
        return str(placed["order_id"])

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def last_values(settings: Settings, topic: str) -> dict[str, bytes]:
    """The table as written: the last changelog value of every key."""
    return {key: value for key, value in await read_topic_records(settings, topic)}


async def restart(platform: Platform, service: str) -> None:
    platform.start_service(service)
    await asyncio.to_thread(platform.wait_ready, service)


async def get_json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_orders_worker_recovers_every_order(platform: Platform, settings: Settings) -> None:
    async with aiohttp.ClientSession() as http:
        placed = await place_orders(http, settings, 24)
        topic = f"{settings.app_id_prefix}-orders-orders-changelog"
        written = await last_values(settings, topic)
        assert set(placed) <= set(written)
        platform.kill_and_wipe("orders")
        await restart(platform, "orders")
        base = settings.service_url("orders")
        for key, value in written.items():
            served = await get_json(http, f"{base}/orders/{key}?wait=0")
            assert served == order_body(Order.model_validate_json(value)), key


async def test_inventory_worker_recovers_every_stock_level(platform: Platform, settings: Settings) -> None:
    async with aiohttp.ClientSession() as http:
        await place_orders(http, settings, 12)
        topic = f"{settings.app_id_prefix}-inventory-stock-changelog"
        # final orders still commit or release their holds just after: wait until none is held (a level is
        # written before its hold, so the level alone does not say that the hold is written too)
        written = await eventually(lambda: last_values(settings, topic), lambda w: "REDMI-13C" in w and (
            StockLevel.model_validate_json(w["REDMI-13C"]).reserved == 0
            and not any(is_hold_key(k) and json.loads(v)["state"] == "HELD" for k, v in w.items())))
        platform.kill_and_wipe("inventory")
        await restart(platform, "inventory")
        base = settings.service_url("inventory")
        assert any(is_hold_key(key) for key in written), "the holds are entries of the stock table"
        for key, value in written.items():
            if is_hold_key(key):  # SKU/order_id
                sku, order_id = key.split("/", 1)
                served = await get_json(http, f"{base}/stock/{sku}/holds/{order_id}")
                assert served == {"sku": sku, "order_id": order_id, **json.loads(value)}, key
            else:
                served = await get_json(http, f"{base}/stock/{key}")
                assert served == stock_body(StockLevel.model_validate_json(value)), key
        # and the restarted worker goes on taking orders
        assert len(await place_orders(http, settings, 2)) == 2

