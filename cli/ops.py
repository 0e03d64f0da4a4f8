"""What the operators' commands do, apart from how they print: reads from the services, commands to owners.

Reads go to the services' own views (routed to the worker that owns the key) or the
MySQL mirror; changes are commands on the owners' topics, never writes behind their back.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp

from cli.errors import BadInput
from config.kafka import create_topics, partition_counts, send_messages
from config.settings import Settings
from dev.bootstrap import platform_topics
from domain.catalog import BY_SKU, PRODUCTS
from streams.commands import CancelOrder, SetStock
from streams.topics import ORDER_COMMANDS, STOCK_COMMANDS
from tables.schema import connect

__all__ = ["parse_duration", "order_details", "stuck_orders", "cancel_order", "stock", "set_stock", "check_topics"]

_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``5m``, ``2h``, ``1d``."""
    m = _DURATION.match(text.strip())
    if not m:
        raise BadInput(f"bad duration {text!r}: use a number and s, m, h or d (e.g. 5m)")
    return timedelta(seconds=int(m.group(1)) * _UNIT[m.group(2)])


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=10)) as r:
            return r.status, await r.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise BadInput(f"{url.split('/')[2]} cannot be reached: {exc or type(exc).__name__}") from None


async def order_details(settings: Settings, order_id: str) -> dict[str, Any]:
    """Status, reason, history, payment attempts, stock holds and notifications of one order."""
    async with aiohttp.ClientSession() as http:
        status, order = await _get(http, f"{settings.service_url('orders')}/orders/{order_id}?wait=0")
        if status == 404:
            raise BadInput(f"no order {order_id}")
        if status != 200:
            raise BadInput(f"the order service answered {status}: {order}")
        pay_status, payment = await _get(http, f"{settings.service_url('payment')}/payments/{order_id}")
        holds = []
        for line in order["items"]:
            h_status, hold = await _get(
                http, f"{settings.service_url('inventory')}/stock/{line['sku']}/holds/{order_id}")
            holds.append(hold if h_status == 200 else {"sku": line["sku"], "state": "NONE",
                                                       "quantity": line["quantity"]})
        _, sent = await _get(http, f"{settings.service_url('notification')}/notifications/{order_id}")
    return {"order": order, "payment": payment if pay_status == 200 else None, "holds": holds,
            "notifications": sent.get("sent", []) if isinstance(sent, dict) else []}


async def stuck_orders(settings: Settings, older_than: timedelta) -> list[dict[str, Any]]:
    """Orders with no final status, placed longer ago than ``older_than`` (from the mirror)."""
    cutoff = datetime.now(timezone.utc).replace(tzinfo=None) - older_than
    conn = await connect(settings)
    try:
        async with conn.cursor() as cur:
            await cur.execute(
                f"SELECT order_id, user_id, status, total_paise, created_at FROM "
                f"`{settings.database('orders_db')}`.orders WHERE status NOT IN ('CONFIRMED', 'FAILED') "
                "AND created_at < %s ORDER BY created_at", (cutoff,))
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row)) for row in await cur.fetchall()]
    finally:
        conn.close()


async def _wait_for(probe: Any, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if check(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


async def cancel_order(settings: Settings, order_id: str, note: str, timeout: float = 15.0) -> dict[str, Any]:
    """Send CancelOrder to the order's owner and wait for the order to be FAILED."""
    if not note.strip():
        raise BadInput("--reason must say why")
    async with aiohttp.ClientSession() as http:
        url = f"{settings.service_url('orders')}/orders/{order_id}?wait=0"
        status, order = await _get(http, url)
        if status == 404:
            raise BadInput(f"no order {order_id}")
        if order["status"] in ("CONFIRMED", "FAILED"):
            raise BadInput(f"order {order_id} is already {order['status']}: only a non-final order can be cancelled")
        await send_messages(settings, ORDER_COMMANDS, [CancelOrder(order_id=order_id, note=note.strip())])
        _, order = await _wait_for(lambda: _get(http, url), lambda r: r[1].get("status") in ("CONFIRMED", "FAILED"),
                                   timeout)
    return dict(order)


def _check_sku(sku: str | None) -> list[str]:
    if sku is None:
        return [p.sku for p in PRODUCTS]
    if sku not in BY_SKU:
        raise BadInput(f"unknown SKU {sku!r}; known: {', '.join(BY_SKU)}")
    return [sku]


async def stock(settings: Settings, sku: str | None = None) -> list[dict[str, Any]]:
    """On hand, reserved and available per SKU, from the worker that owns each SKU."""
    async with aiohttp.ClientSession() as http:
        answers = await asyncio.gather(*(_get(http, f"{settings.service_url('inventory')}/stock/{s}")
                                         for s in _check_sku(sku)))
    return [body for _, body in answers]


async def set_stock(settings: Settings, sku: str, on_hand: int, timeout: float = 15.0) -> dict[str, Any]:
    """SetStock to the SKU's owner (so it never races a reservation); waits until it shows."""
    _check_sku(sku)
    if on_hand < 0:
        raise BadInput(f"--on-hand must be 0 or more, not {on_hand}")
    [current] = await stock(settings, sku)
    if on_hand < current["reserved"]:
        raise BadInput(f"{sku}: {current['reserved']} units are reserved by open orders; "
                         f"--on-hand cannot go below that")
    await send_messages(settings, STOCK_COMMANDS, [SetStock(order_id=f"op-{uuid.uuid4().hex}", sku=sku,
                                                            on_hand=on_hand)])
    [after] = await _wait_for(lambda: stock(settings, sku), lambda r: r[0]["on_hand"] == on_hand, timeout)
    if after["on_hand"] != on_hand:
        raise BadInput(f"{sku}: the inventory service did not apply on_hand={on_hand} within {timeout:.0f}s")
    return dict(after)


async def check_topics(settings: Settings, create: bool) -> list[dict[str, Any]]:
    """Each topic the apps use: expected and actual partitions; creates the missing ones if asked."""
    expected = platform_topics(settings)
    actual = await partition_counts(settings, expected)
    created: list[str] = []
    if create:
        created, _ = await create_topics(settings, [t for t in expected if t not in actual],
                                         settings.topic_partitions, expected)
    rows = []
    for topic, config in expected.items():
        have = actual.get(topic)
        if topic in created:
            state = "created"
        elif have is None:
            state = "missing"
        else:
            state = "ok" if have == settings.topic_partitions else "wrong partitions"
        rows.append({"topic": topic, "expected": settings.topic_partitions, "actual": have, "state": state,
                     "config": ",".join(f"{k}={v}" for k, v in config.items())})
    return rows
