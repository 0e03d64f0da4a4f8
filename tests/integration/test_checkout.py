"""Ravi's checkout, end to end, through every real service: start reading the code here.

Ravi from Delhi puts an iPhone 15 and a Laptop in his cart and pays by UPI. The
order goes CREATED -> INVENTORY_RESERVED -> CONFIRMED; the order, its lines, the
payment and the stock are mirrored to MySQL; every step is on the documented
topics; the cart is emptied; an email reaches the mail sink.
"""

from __future__ import annotations

import uuid

import pytest

from dev.invariants import unread_orders
from dev.mail_sink import read_mail
from domain.catalog import BY_SKU
from tests.helpers import Shopper, eventually, query, read_topic

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def ravis_order(platform, settings):  # type: ignore[no-untyped-def]
    """Ravi's confirmed checkout, shared by the assertions below."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        ravi = Shopper(http, settings, user_id=f"ravi-{uuid.uuid4().hex[:6]}")
        db = settings.database("inventory_db")
        seeded = await eventually(  # the seed reaches the mirror shortly after start-up
            lambda: query(settings, f"SELECT sku, on_hand, reserved FROM `{db}`.stock "
                                    "WHERE sku IN ('IPHONE-15', 'LAPTOP')"), lambda rows: len(rows) == 2)
        stock_before = {r["sku"]: r for r in seeded}
        assert (await ravi.set_line("IPHONE-15", 1))[0] == 200
        status, cart = await ravi.set_line("LAPTOP", 1)
        assert status == 200 and cart["total_paise"] == BY_SKU["IPHONE-15"].price_paise + BY_SKU["LAPTOP"].price_paise
        key = uuid.uuid4().hex
        status, placed = await ravi.checkout("ravi@okhdfc", key)
        assert status == 202 and placed["status"] == "CREATED", placed
        order = await ravi.final_order(placed["order_id"])
        status, again = await ravi.checkout("ravi@okhdfc", key)
        yield {"user_id": ravi.user_id, "placed": placed, "order": order, "again": (status, again),
               "stock_before": stock_before, "cart_total": cart["total_paise"]}


async def test_order_confirmed_with_full_history(ravis_order):  # type: ignore[no-untyped-def]
    order = ravis_order["order"]
    assert order["status"] == "CONFIRMED" and order["reason"] is None
    assert [h["status"] for h in order["history"]] == ["CREATED", "INVENTORY_RESERVED", "CONFIRMED"]
    assert order["total_paise"] == ravis_order["cart_total"]
    assert sorted((i["sku"], i["quantity"]) for i in order["items"]) == [("IPHONE-15", 1), ("LAPTOP", 1)]


async def test_same_idempotency_key_returns_same_order(ravis_order):  # type: ignore[no-untyped-def]
    status, again = ravis_order["again"]
    assert status == 202 and again["order_id"] == ravis_order["placed"]["order_id"]


async def test_cart_emptied_after_confirmation(ravis_order, http, settings):  # type: ignore[no-untyped-def]
    shopper = Shopper(http, settings, ravis_order["user_id"])
    cart = await eventually(lambda: shopper.call("GET", f"/cart/{shopper.user_id}"), lambda r: not r[1]["items"])
    assert cart[1]["total_paise"] == 0


async def test_mysql_mirror_rows(ravis_order, settings):  # type: ignore[no-untyped-def]
    order_id = ravis_order["placed"]["order_id"]
    orders_db, payment_db = settings.database("orders_db"), settings.database("payment_db")
    rows = await eventually(lambda: query(settings, f"SELECT * FROM `{orders_db}`.orders WHERE order_id=%s", order_id),
                            lambda r: bool(r) and r[0]["status"] == "CONFIRMED", timeout=10)
    assert rows[0]["user_id"] == ravis_order["user_id"] and rows[0]["total_paise"] == ravis_order["cart_total"]
    items = await query(settings, f"SELECT sku, quantity, line_total_paise FROM `{orders_db}`.order_items "
                                  "WHERE order_id=%s ORDER BY sku", order_id)
    assert [(i["sku"], i["quantity"]) for i in items] == [("IPHONE-15", 1), ("LAPTOP", 1)]
    payments = await eventually(
        lambda: query(settings, f"SELECT * FROM `{payment_db}`.payments WHERE order_id=%s", order_id),
        lambda r: bool(r) and r[-1]["status"] == "CONFIRMED", timeout=10)
    assert len(payments) == 1 and payments[0]["amount_paise"] == ravis_order["cart_total"]
    assert payments[0]["gateway_ref"]


async def test_stock_committed_in_mirror(ravis_order, settings):  # type: ignore[no-untyped-def]
    before = ravis_order["stock_before"]
    db = settings.database("inventory_db")

    async def stock():  # type: ignore[no-untyped-def]
        return {r["sku"]: r for r in await query(settings, f"SELECT * FROM `{db}`.stock")}

    # other tests may buy too: this order took one of each and holds nothing any more
    now = await eventually(stock, lambda s: all(s[k]["on_hand"] <= before[k]["on_hand"] - 1 for k in before),
                           timeout=10)
    assert all(now[k]["reserved"] >= 0 and now[k]["on_hand"] >= 0 for k in now)


async def test_every_step_on_the_documented_topics(ravis_order, settings):  # type: ignore[no-untyped-def]
    order_id = ravis_order["placed"]["order_id"]
    expected = {
        "order-events": ["OrderPlaced", "OrderConfirmed"],
        "inventory-events": ["InventoryReserved"],
        "payment-events": ["PaymentConfirmed"],
        "notification-events": ["NotificationSent"],
    }

    async def types_on(topic: str) -> list[str]:
        return [e["type"] for e in await read_topic(settings, topic) if e["order_id"] == order_id]

    for topic, types in expected.items():
        seen = await eventually(lambda: types_on(topic), lambda t: t == types, timeout=10)
        assert seen == types
    events = [e for e in await read_topic(settings, "order-events") if e["order_id"] == order_id]
    for event in events:
        assert {"event_id", "type", "order_id", "occurred_at", "schema_version"} <= set(event)
        assert event["occurred_at"].endswith(("Z", "+00:00"))


async def test_confirmation_email_in_mail_sink(ravis_order, settings):  # type: ignore[no-untyped-def]
    email = f"{ravis_order['user_id']}@customers.megatron.store"

    async def mail():  # type: ignore[no-untyped-def]
        return read_mail(settings.mail_dir, email)

    messages = await eventually(mail, bool, timeout=10)
    assert "confirmed" in messages[0].lower() and ravis_order["placed"]["order_id"][:8] in messages[0]
    # one Message-ID per order, status and channel, so a copy re-sent after a crash is a duplicate
    assert f"Message-ID: <{ravis_order['placed']['order_id']}.confirmed.email@megatron.store>" in messages[0]


async def test_an_order_not_read_yet_by_its_service_is_told_from_a_lost_one(ravis_order, settings):  # type: ignore[no-untyped-def]
    """dev.invariants.unread_orders: a chaos check that finds an order unknown asks whether its PlaceOrder
    waits past the order service's committed offset (late, not lost). Ravi's PlaceOrder is on
    order-commands: unread for a group that never read it, read for the order service's own."""
    order_id, never_placed = ravis_order["placed"]["order_id"], uuid.uuid4().hex
    nobody = settings.model_copy(update={"app_id_prefix": f"nobody-{uuid.uuid4().hex[:8]}"})
    waiting = await unread_orders(nobody, [order_id, never_placed])
    assert list(waiting) == [order_id] and "order-commands[" in waiting[order_id]
    await eventually(lambda: unread_orders(settings, [order_id, never_placed]), lambda w: w == {})  # fails if never
