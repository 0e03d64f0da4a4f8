"""A notification service that is away neither holds up orders nor costs a shopper his email.

The order service hands every final order to the notification service from a relay, off the
order's partition, and tries until that service has accepted (adapters/notify_relay.py). Each
test takes the notification service away while orders become final, checks that they became
final without waiting for it, brings it back and checks that every shopper got his email, once:
with the service stopped, with it hung (connections taken, never answered), with the order
worker that owed the emails killed, and with the orders moved to another worker.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections import Counter
from contextlib import asynccontextmanager
from typing import AsyncContextManager, AsyncIterator, Callable

import aiohttp
import pytest

from config.kafka import read_topic_records
from config.settings import Settings
from dev.broker import free_port
from dev.invariants import skipped_records
from dev.mail_sink import read_mail
from dev.platform import Platform
from streams.events import default_contact
from tests.helpers import Shopper, eventually, read_topic, service_down
from tests.integration.test_failures import set_stock

pytestmark = pytest.mark.integration

SKU = "REDMI-13C"
#: every sixth shopper's payment is declined, so a FAILED order is owed its email too
VPAS = ("declined@upi", "ravi@upi", "asha@upi", "meera@upi", "arjun@upi", "kabir@upi")


def mailbox(settings: Settings, user_id: str) -> list[str]:
    return read_mail(settings.mail_dir, default_contact(user_id).email)


async def final_orders(settings: Settings, http: aiohttp.ClientSession, count: int) -> dict[str, dict[str, str]]:
    """``count`` shoppers check out at once; each order is final well within one call's HTTP timeout
    of its checkout, the most an order waited when the order service called inline (and longer:
    the order was stored only after the call). By order id: the shopper and the final status."""
    await set_stock(settings, http, SKU, 500)

    async def one(i: int) -> tuple[str, dict[str, str], float]:
        shopper = Shopper(http, settings)
        status, cart = await shopper.set_line(SKU, 1)
        assert status == 200, cart
        started = time.monotonic()
        placed = await shopper.checkout_until_accepted(VPAS[i % len(VPAS)], uuid.uuid4().hex)
        order = await shopper.final_order(placed["order_id"], timeout=30)
        return order["order_id"], {"user_id": shopper.user_id, "status": order["status"]}, time.monotonic() - started

    done = await asyncio.gather(*(one(i) for i in range(count)))
    took = {order_id: round(seconds, 2) for order_id, _, seconds in done}
    assert max(took.values()) < settings.http_timeout_s, f"orders waited for the notification service: {took}"
    orders = {order_id: order for order_id, order, _ in done}
    assert {o["status"] for o in orders.values()} == {"CONFIRMED", "FAILED"}
    return orders


async def no_mail_yet(settings: Settings, orders: dict[str, dict[str, str]]) -> None:
    """The notification service really was away: nobody could have mailed these shoppers."""
    for order in orders.values():
        assert await asyncio.to_thread(mailbox, settings, order["user_id"]) == []


async def assert_mailed_once(settings: Settings, orders: dict[str, dict[str, str]], timeout: float = 90) -> None:
    """Every shopper gets his order's email, exactly once, with the Message-ID of its order and status.

    Waits until the order service has recorded every acceptance (``OrderNotified``, after which it
    posts no more) and every mail is in, then counts."""
    async def state() -> tuple[set[str], dict[str, list[str]]]:
        accepted = {json.loads(v)["order_id"] for _, v in await read_topic_records(settings, "order-commands")
                    if b'"OrderNotified"' in v}
        mail = {oid: await asyncio.to_thread(mailbox, settings, o["user_id"]) for oid, o in orders.items()}
        return accepted, mail

    accepted, mail = await eventually(state, lambda s: set(orders) <= s[0] and all(s[1].values()),
                                      timeout=timeout, interval=0.5)
    for order_id, messages in mail.items():
        status = orders[order_id]["status"].lower()
        assert len(messages) == 1, f"{order_id}: {len(messages)} emails"
        assert f"Message-ID: <{order_id}.{status}.email@megatron.store>" in messages[0]
    # ours first: the topic also holds records of other tests, a v0 one without ``channel`` among them
    sent = Counter(e["order_id"] for e in await read_topic(settings, "notification-events")
                   if e.get("order_id") in orders and e["type"] == "NotificationSent" and e["channel"] == "email")
    assert sent == {order_id: 1 for order_id in orders}


@asynccontextmanager
async def service_hung(platform: Platform, service: str) -> AsyncIterator[None]:
    """One service frozen (SIGSTOP) for the block: its port takes connections and answers none, as a
    host that hangs does; then thawed and ready again."""
    platform.signal(service, signal.SIGSTOP)
    try:
        yield
    finally:
        platform.signal(service, signal.SIGCONT)
        await asyncio.to_thread(platform.wait_ready, service)


@pytest.mark.parametrize("away", [service_down, service_hung], ids=["stopped", "hung"])
async def test_orders_go_on_while_the_notification_service_is_away_and_every_shopper_is_mailed_once(
        platform: Platform, settings: Settings, http: aiohttp.ClientSession,
        away: Callable[[Platform, str], AsyncContextManager[None]]) -> None:
    """Stopped (connections refused) or hung (taken, never answered): orders become final without
    it, and once it is back every shopper gets his email, once."""
    async with away(platform, "notification"):
        orders = await final_orders(settings, http, 12)
        await no_mail_yet(settings, orders)
    await assert_mailed_once(settings, orders)


async def test_emails_owed_by_a_killed_order_worker_are_sent_by_its_restart(
        platform: Platform, settings: Settings, http: aiohttp.ClientSession) -> None:
    async with service_down(platform, "notification"):
        orders = await final_orders(settings, http, 8)
        platform.signal("orders", signal.SIGKILL)
        await asyncio.to_thread(platform.procs["orders"].popen.wait, 10)
        platform.start_service("orders")
        await asyncio.to_thread(platform.wait_ready, "orders")
        await no_mail_yet(settings, orders)
    await assert_mailed_once(settings, orders)
    assert skipped_records(settings.log_dir) == []


async def test_emails_owed_by_a_worker_that_left_are_sent_by_the_new_owner(
        platform: Platform, settings: Settings, http: aiohttp.ClientSession) -> None:
    """The order worker that owed the emails leaves; a second one takes all its partitions and
    must send what the first left unaccepted."""
    second = {"ORDERS_URL": f"http://127.0.0.1:{free_port()}"}
    try:
        async with service_down(platform, "notification"):
            orders = await final_orders(settings, http, 8)
            platform.start_service("orders", name="orders-2", extra_env=second)
            await asyncio.to_thread(platform.wait_ready, "orders-2")
            platform.stop_proc("orders")
            await no_mail_yet(settings, orders)
        await assert_mailed_once(settings, orders)
    finally:
        if "orders" not in platform.procs:
            platform.start_service("orders")
            await asyncio.to_thread(platform.wait_ready, "orders")
        if "orders-2" in platform.procs:
            platform.stop_proc("orders-2")
    assert skipped_records(settings.log_dir) == []
